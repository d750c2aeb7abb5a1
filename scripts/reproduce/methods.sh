#!/usr/bin/env bash
# methods.sh: the experiment of registry entry methods: every delta-compression method at equal
# bytes on the model zoo, a figure of every method on one curve per target ratio. The claims it
# used to decide have entries of their own: BD-1 is bd1 (a distillation ablation), DQ-1 is equal
# (quality interpolated at exactly 16x), DQ-2 is dq2. Run by `deltabench reproduce methods`
# (`make reproduce-methods`), which then draws plots/methods.gp and splices paper.md; runnable
# alone for the data.
#
# Equal bytes: every method is set to land near each target ratio of the linear layers
# ($TARGETS; fp16 bytes of the delta tensors over bytes stored, scales and indices included).
# Parameters are chosen per zoo size by measuring: trial compressions of the first task's
# fine-tune, a secant search on the method's knob, the setting whose achieved ratio is nearest
# the target kept when it is within [0.8, 1.25] x the target (else the method cannot reach that
# ratio at this size: per-row scales, row pointers and word-padded rows cost bytes that small
# matrices cannot amortise). The knobs:
#   bitdelta          1 sign bit + one fp32 scale per matrix (~16x only); bitdelta-distill: the
#                     same container after `deltabench distill` ($DISTILL_STEPS Adam steps on the
#                     scales, logit MSE against the fine-tune on its training text: BitDelta's);
#                     bitdelta-distill-kl: the same with the KL divergence as the loss
#   rtn               1-bit asymmetric round-to-nearest per row (~14-16x only)
#   dare, magprune    drop share p = 1 - 1/x (fp16 values; DARE's positions from a seed,
#                     magnitude pruning's in CSR)
#   lowrank           rank r of a truncated SVD (fp16 factors)
#   deltazip          OBS 1:m pruning + GPTQ 2-bit + zstd (m = 4..64) with the fine-tune's
#                     Hessians (`deltabench calib`, $CALIB_TOKENS tokens, default 2,048: more
#                     than the widest layer input of the zoo); the paper's 2:4 reaches only ~12x
#   deltadq           group-wise dropout keeping 4 / x of each group (group >= x / 4), 4-bit codes
#                     in two 2-bit planes (our reading of the abstract, docs/compressors.md)
# Quality: each variant decompressed (base + decoded delta, rounded once to fp16) and evaluated
# on its task ($EVAL_TOKENS validation tokens, $EVAL_EXAMPLES exact-match prompts), the base and
# the fine-tune once; share of the fine-tuning gain kept in bits per byte (and exact match for
# arith, reverse).
#
# The evaluations (every size x task x variant: the base, the fine-tune and each chosen setting)
# run as one grid through `deltabench sweep` (docs/sweeps.md): here by default, on a Slurm cluster
# with BACKEND=slurm (`make reproduce-methods BACKEND=slurm`); the compressions, distillations and
# decompressions before it run here, JOBS fine-tunes at once.
#
# Output: $OUT/runs/*.h5 (compress reports), $OUT/runs/methods.sweep.json and
# $OUT/runs/sweep/cells/HASH.h5 (the eval reports; gathered into $OUT/runs/sweep/quality.csv),
# $OUT/runs/SIZE.params (the chosen settings), $OUT/methods.csv (one row per size, task, method and target), $OUT/methods-mean.csv
# (means over the tasks), $OUT/section.md, $OUT/verdict. Cached by an input stamp.
#   env: ZOO, SIZES (default small), TASKS, TARGETS, EVAL_TOKENS, EVAL_EXAMPLES, DISTILL_STEPS,
#        CALIB_TOKENS, JOBS (fine-tunes and local evaluations at once, default 2), BACKEND
#        (local, slurm), SWEEP_ARGS (more `deltabench sweep run` options)
# settings are argument lists built by args_of and split on purpose:
# shellcheck disable=SC2046
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/methods}
ZOO=${ZOO:-models/zoo}
SIZES=${SIZES:-small}
TASKS=${TASKS:-scripture code arith reverse}
TARGETS=${TARGETS:-16 32 64 128 256 512}
DISTILL_STEPS=${DISTILL_STEPS:-50}
CALIB=(--tokens "${CALIB_TOKENS:-2048}" --data "$ZOO/data" --threads 1)
EVAL=(--tokens "${EVAL_TOKENS:-8192}" --examples "${EVAL_EXAMPLES:-50}" --data "$ZOO/data" --threads 1)
BACKEND=${BACKEND:-local}
JOBS=${JOBS:-2}
# one thread per process, JOBS fine-tunes at once: on a shared 2-core machine OpenMP/OpenBLAS
# threads that wait for a busy core cost several times their work (measured: a rank-5 SVD
# compress 0.9 s with one thread, 16 s with two under load)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=$OUT/runs
RP=methods
. scripts/reproduce/lib.sh

[ -x "$D" ] || die "$D not built (run make)"
for x in SIZES TASKS TARGETS; do [ -n "${!x}" ] || die "$x is empty"; done
for s in $SIZES; do
  [ -f "$ZOO/$s/stamp" ] || die "zoo size $s missing under $ZOO (run make models)"
  for t in $TASKS; do [ -d "$ZOO/$s/$t" ] || die "fine-tune $t missing under $ZOO/$s"; done
done
for x in $TARGETS; do
  case $x in '' | *[!0-9]* | 0 | 1) die "TARGETS: '$x' is not a ratio above 1" ;; esac
done
case $DISTILL_STEPS in '' | *[!0-9]* | 0) die "DISTILL_STEPS must be a positive integer" ;; esac
case $JOBS in '' | *[!0-9]* | 0) die "JOBS must be a positive integer, not '$JOBS'" ;; esac

st=$(rp_stamp "sizes $SIZES tasks $TASKS targets $TARGETS distill $DISTILL_STEPS eval ${EVAL[*]} calib ${CALIB[*]}" \
     compressors/*.c compressors/*.h models/*.c models/*.h core/safetensors.c \
     harness/cmd_compress.c harness/cmd_eval.c harness/cmd_calib.c harness/cmd_distill.c \
     $(for s in $SIZES; do echo "$ZOO/$s/stamp"; done))
cached=0
[ "$(cat "$R/stamp" 2>/dev/null)" = "$st" ] && cached=1
rp_stamp_check "$st"

# ---- choosing each method's setting per size ---------------------------------------------------
# args_of METHOD X CALIB: compress arguments of METHOD at knob value X
args_of() {
  case $1 in
    bitdelta) echo "--method bitdelta" ;;
    rtn)      echo "--method rtn --bits 1 --group 0" ;;
    dare)     awk -v x="$2" 'BEGIN { printf "--method dare --drop %.6f\n", 1 - 1 / x }' ;;
    magprune) awk -v x="$2" 'BEGIN { printf "--method magprune --drop %.6f\n", 1 - 1 / x }' ;;
    lowrank)  echo "--method lowrank --rank $2" ;;
    deltazip) echo "--method deltazip --nm 1:$2 --bits 2 --hessians $3" ;;
    deltadq)  awk -v x="$2" 'BEGIN { g = 16; while (g < x / 4) g *= 2
                printf "--method deltadq --drop %.6f --group %d\n", 1 - 4 / x, g }' ;;
  esac
}
# ratio SIZE ARGS...: sets RATIO, the linear-layer ratio of one trial compression of the first
# task's fine-tune (cached in $R). No subshells here, so that a failure stops the script.
ratio() {
  local s=$1; shift
  local t=${TASKS%% *} key n lz
  key=$(echo "$*" | sha256sum | cut -c1-12)
  if [ ! -s "$R/trial-$s-$key" ]; then
    "$D" compress --base "$ZOO/$s/base" --target "$ZOO/$s/$t" "$@" --quiet --out "$R/trial.delta" \
        --report "$R/trial.h5" </dev/null >"$R/trial.log" 2>&1 ||
      { cat "$R/trial.log" >&2; die "trial compress failed: $*"; }
    read -r n _ lz _ _ _ _ _ <<<"$(sizes "$R/trial.h5")"
    [ -n "$lz" ] || die "trial compress: no sizes in its report: $*"
    awk -v n="$n" -v b="$lz" 'BEGIN { printf "%.4f\n", 2 * n / b }' > "$R/trial-$s-$key"
    rm -f "$R/trial.delta" "$R/trial.h5"
  fi
  RATIO=$(cat "$R/trial-$s-$key")
}
# consider X R: keep (PX, PR) the setting whose ratio is nearest the target $PT in log ratio
consider() {
  if [ -z "$PX" ] || awk -v r="$2" -v b="$PR" -v t="$PT" 'BEGIN { exit !((log(r / t))^2 < (log(b / t))^2) }'; then
    PX=$1; PR=$2
  fi
}
# pick SIZE METHOD TARGET CALIB: sets PX (the knob) and PR (its ratio), the best setting found
pick() {
  local s=$1 m=$2 c=$4 x x0 x1 r0 r1
  PT=$3 PX="" PR=""
  case $m in
    bitdelta | rtn)
      ratio "$s" $(args_of "$m"); consider 1 "$RATIO" ;;
    deltazip)
      for x in 4 8 16 32 64; do ratio "$s" $(args_of "$m" "$x" "$c"); consider "$x" "$RATIO"; done ;;
    lowrank) # the ratio is ~ 1 / rank: measure rank 1, then the rank that scales it to the target
      ratio "$s" $(args_of lowrank 1); consider 1 "$RATIO"
      x=$(awk -v r="$RATIO" -v t="$PT" 'BEGIN { k = int(r / t + 0.5); print k < 1 ? 1 : k }')
      if [ "$x" -gt 1 ]; then ratio "$s" $(args_of lowrank "$x"); consider "$x" "$RATIO"; fi ;;
    dare | magprune | deltadq) # secant search on log x against log ratio, from x = target
      x0=$PT; [ "$m" = deltadq ] && [ "$PT" -lt 8 ] && x0=8
      ratio "$s" $(args_of "$m" "$x0"); r0=$RATIO; consider "$x0" "$r0"
      x1=$(awk -v x="$x0" -v r="$r0" -v t="$PT" 'BEGIN { y = x * t / r; if (y > 4096) y = 4096; if (y < 1.05) y = 1.05; printf "%.4f\n", y }')
      for _ in 1 2 3; do
        ratio "$s" $(args_of "$m" "$x1"); r1=$RATIO; consider "$x1" "$r1"
        awk -v r="$r1" -v t="$PT" 'BEGIN { exit !((log(r / t))^2 < (log(1.05))^2) }' && break
        x=$(awk -v x0="$x0" -v x1="$x1" -v r0="$r0" -v r1="$r1" -v t="$PT" 'BEGIN {
              if (r1 <= r0 * 1.001 && r1 >= r0 / 1.001) { print "stuck"; exit }
              y = exp(log(x1) + (log(t) - log(r1)) * (log(x1) - log(x0)) / (log(r1) - log(r0)))
              if (y > 4096) y = 4096; if (y < 1.05) y = 1.05; printf "%.4f\n", y }')
        [ "$x" = stuck ] && break
        x0=$x1; r0=$r1; x1=$x
      done ;;
  esac
}

for s in $SIZES; do
  t1=${TASKS%% *}
  c1=$R/$s-$t1.calib.st
  [ -s "$c1" ] || "$D" calib --model "$ZOO/$s/$t1" --task "$t1" "${CALIB[@]}" --out "$c1" >/dev/null ||
    die "calib $s/$t1 failed"
  [ -s "$R/$s.params" ] && continue
  say "$s: choosing settings for ${TARGETS// /x, }x"
  : > "$R/$s.params.tmp"
  for m in bitdelta rtn dare magprune lowrank deltazip deltadq; do
    for t in $TARGETS; do
      case $m in bitdelta | rtn) [ "$t" -eq 16 ] || continue ;; esac
      pick "$s" "$m" "$t" "$c1"
      ok=$(awk -v r="$PR" -v t="$t" 'BEGIN { print (r / t >= 0.8 && r / t <= 1.25) ? 1 : 0 }')
      echo "$m $t $PX $PR $ok" >> "$R/$s.params.tmp"
      if [ "$m" = bitdelta ] && [ "$ok" = 1 ]; then
        echo "bitdelta-distill $t $PX $PR $ok" >> "$R/$s.params.tmp"
        echo "bitdelta-distill-kl $t $PX $PR $ok" >> "$R/$s.params.tmp"
      fi
    done
  done
  mv "$R/$s.params.tmp" "$R/$s.params"
done

# ---- the runs: every chosen setting on every fine-tune ----------------------------------------
# task_runs SIZE TASK: every model of one fine-tune to evaluate, $R/SIZE-TASK-METHOD-TARGET.model
# (single-threaded: JOBS of them at once); the evaluations are the sweep below
task_runs() {
  local s=$1 t=$2 z=$ZOO/$1 p=$R/$1-$2 seq m tg x ok k loss
  # distillation windows of 128 tokens (BitDelta's), or the model's context where shorter
  seq=$(sed -n 's/.*"max_position_embeddings": *\([0-9]*\).*/\1/p' "$z/base/config.json")
  [ -n "$seq" ] || die "$z/base/config.json: no max_position_embeddings"
  [ "$seq" -gt 128 ] && seq=128
  say "$s/$t"
  [ -s "$p.calib.st" ] || "$D" calib --model "$z/$t" --task "$t" "${CALIB[@]}" --out "$p.calib.st" >/dev/null ||
    die "calib $s/$t failed"
  while read -r m tg x _ ok; do
    [ "$ok" = 1 ] || continue
    k=$m-$tg
    [ -s "$p-$k.model/model.safetensors" ] && continue
    if [ "$m" = bitdelta-distill ] || [ "$m" = bitdelta-distill-kl ]; then
      loss=mse
      [ "$m" = bitdelta-distill-kl ] && loss=kl
      run "$s-$t-bitdelta-$tg-comp" compress --base "$z/base" --target "$z/$t" --method bitdelta --quiet \
          --out "$p-bitdelta-$tg.delta" --report "$R/$s-$t-bitdelta-$tg-comp.h5"
      [ -s "$p-bitdelta-$tg.delta" ] || "$D" compress --base "$z/base" --target "$z/$t" --method bitdelta \
          --quiet --out "$p-bitdelta-$tg.delta" </dev/null >/dev/null || die "compress $s/$t bitdelta failed"
      "$D" distill --base "$z/base" --target "$z/$t" --delta "$p-bitdelta-$tg.delta" --task "$t" \
          --data "$ZOO/data" --steps "$DISTILL_STEPS" --batch 4 --seq "$seq" --loss "$loss" --threads 1 --out "$p-$k.delta" \
          </dev/null >"$R/$s-$t-$k-distill.log" 2>&1 ||
        { cat "$R/$s-$t-$k-distill.log" >&2; die "distill $s/$t failed"; }
      cp "$R/$s-$t-bitdelta-$tg-comp.h5" "$R/$s-$t-$k-comp.h5"
    else
      # shellcheck disable=SC2046
      run "$s-$t-$k-comp" compress --base "$z/base" --target "$z/$t" $(args_of "$m" "$x" "$p.calib.st") \
          --quiet --out "$p-$k.delta" --report "$R/$s-$t-$k-comp.h5"
      [ -s "$p-$k.delta" ] || die "$s/$t $k: compress report present but delta missing (clear $R)"
    fi
    # scored as the merged model base + decoded delta (fp16), which runs the dense forward:
    # the same numbers as `eval --delta` up to one fp16 rounding, at a third of its time
    mkdir -p "$p-$k.model"
    cp "$z/base/config.json" "$p-$k.model/"
    "$D" decompress --base "$z/base" --delta "$p-$k.delta" --out "$p-$k.model/model.safetensors" \
        </dev/null >"$R/$s-$t-$k-decompress.log" 2>&1 ||
      { cat "$R/$s-$t-$k-decompress.log" >&2; die "decompress $s/$t $k failed"; }
    [ "$m" = bitdelta ] || rm -f "$p-$k.delta"
  done < "$R/$s.params"
  rm -f "$p"-bitdelta-*.delta
}
for s in $SIZES; do
  for t in $TASKS; do
    [ $cached = 1 ] && break 2 # evaluated already: the models were removed
    rp_spawn task_runs "$s" "$t"
  done
done
rp_wait
# the evaluations: size x task x variant (base, finetuned, METHOD-TARGET), less the settings a
# size could not reach; {size} and {task} name each cell's model
list() { local x sep=""; for x in "$@"; do printf '%s%s' "$sep" "$(rp_json "$x")"; sep=", "; done; }
keys=$(for s in $SIZES; do awk '$5 == 1 { print $1 "-" $2 }' "$R/$s.params"; done | awk '!seen[$0]++')
variants() {
  printf '"base": ["--model", %s], "finetuned": ["--model", %s]' "$(rp_json "$ZOO/{size}/base")" \
    "$(rp_json "$ZOO/{size}/{task}")"
  local k
  for k in $keys; do printf ', %s: ["--model", %s]' "$(rp_json "$k")" "$(rp_json "$R/{size}-{task}-$k.model")"; done
}
excl=$(for s in $SIZES; do
  miss=$(for k in $keys; do awk -v k="$k" '$1 "-" $2 == k && $5 == 1 { f = 1 } END { exit !f }' "$R/$s.params" || echo "$k"; done)
  # shellcheck disable=SC2086
  [ -z "$miss" ] || printf '{"size": %s, "variant": [%s]}\n' "$(rp_json "$s")" "$(list $miss)"
done | paste -sd, -)
# shellcheck disable=SC2086
cat > "$R/methods.sweep.json.tmp" <<JSON
{
  "deltabench_sweep": 1,
  "command": "eval",
  "args": ["--task", "{task}", $(list "${EVAL[@]}")],
  "table": "quality",
  "axes": [
    {"name": "size", "values": [$(list $SIZES)]},
    {"name": "task", "values": [$(list $TASKS)]},
    {"name": "variant", "values": {$(variants)}}
  ],
  "exclude": [$excl]
}
JSON
mv "$R/methods.sweep.json.tmp" "$R/methods.sweep.json"
if [ $cached = 0 ]; then
  sweep_jobs=(); [ "$BACKEND" = local ] && sweep_jobs=(--jobs "$JOBS")
  rp_sweep "$R/methods.sweep.json" "$R/sweep" "${sweep_jobs[@]}"
  rm -rf "$R"/*.model
fi
rp_stamp_done "$st"

# ---- the table, joined from the runs -----------------------------------------------------------
# every evaluation's metrics, gathered: Q["SIZE TASK VARIANT METRIC"] = value
rp_gather "$R/methods.sweep.json" "$R/sweep" quality
declare -A Q
while read -r key val; do Q[$key]=$val; done < <(rp_pick "$R/sweep/quality.csv" size task variant metric value |
  awk -F, '{ print $1 "|" $2 "|" $3 "|" $4, $5 }')
# metric SIZE TASK VARIANT NAME: the value of metric NAME (bpb, accuracy) of one evaluation
metric() { echo "${Q[$1|$2|$3|$4]:-}"; }
label() {
  case $1 in
    bitdelta) echo "BitDelta 1-bit" ;; bitdelta-distill) echo "BitDelta + scale distillation" ;;
    bitdelta-distill-kl) echo "BitDelta + distillation (KL loss)" ;;
    rtn) echo "RTN 1-bit per row" ;; dare) echo "DARE" ;; magprune) echo "magnitude pruning" ;;
    lowrank) echo "low rank (SVD)" ;; deltazip) echo "DeltaZip 1:m + 2-bit + zstd" ;;
    deltadq) echo "DeltaDQ (our reading)" ;;
  esac
}
knob() { # human form of a setting
  case $1 in
    bitdelta | bitdelta-distill | bitdelta-distill-kl | rtn) echo "" ;;
    dare | magprune) awk -v x="$2" 'BEGIN { printf "drop %.4f", 1 - 1 / x }' ;;
    lowrank) echo "rank $2" ;; deltazip) echo "1:$2" ;;
    deltadq) args_of deltadq "$2" | sed 's/--method deltadq //; s/--//g' ;;
  esac
}
csv=$OUT/methods.csv.tmp
echo "size,task,method,label,target,setting,ratio_linear,ratio_whole,bpb,bpb_base,bpb_ft,bpb_kept,acc,acc_base,acc_ft,acc_kept" > "$csv"
for s in $SIZES; do
  for t in $TASKS; do
    qb=$(metric "$s" "$t" base bpb); qf=$(metric "$s" "$t" finetuned bpb)
    ab=$(metric "$s" "$t" base accuracy); af=$(metric "$s" "$t" finetuned accuracy)
    while read -r m tg x _ ok; do
      [ "$ok" = 1 ] || continue
      k=$m-$tg
      read -r n _ lz _ an _ az _ <<<"$(sizes "$R/$s-$t-$k-comp.h5")"
      q=$(metric "$s" "$t" "$k" bpb); a=$(metric "$s" "$t" "$k" accuracy)
      awk -v s="$s" -v t="$t" -v m="$m" -v l="$(label "$m")" -v tg="$tg" -v kn="$(knob "$m" "$x")" \
          -v n="$n" -v b="$lz" -v an="$an" -v ab="$az" -v q="$q" -v qb="$qb" -v qf="$qf" \
          -v a="$a" -v a0="$ab" -v af="$af" 'BEGIN {
        kept = (qf == qb) ? "" : sprintf("%.4f", (q - qb) / (qf - qb))
        akept = (a == "" || af == a0) ? "" : sprintf("%.4f", (a - a0) / (af - a0))
        printf "%s,%s,%s,%s,%d,%s,%.3f,%.3f,%.4f,%.4f,%.4f,%s,%s,%s,%s,%s\n", s, t, m, l, tg, kn, 2 * n / b,
               2 * an / ab, q, qb, qf, kept, a == "" ? "" : sprintf("%.3f", a), a0 == "" ? "" : sprintf("%.3f", a0),
               af == "" ? "" : sprintf("%.3f", af), akept }'
    done < "$R/$s.params"
  done
done >> "$csv"
mv "$csv" "$OUT/methods.csv"
# means over the tasks, per size, method and target (and the settings that could not reach it)
mean=$OUT/methods-mean.csv.tmp
{
  echo "size,method,label,target,reached,ratio_linear,bpb_kept,bpb_kept_min,acc_kept,tasks"
  awk -F, 'NR > 1 { k = $1 "," $3 "," $4 "," $5; if (!(k in n)) o[++no] = k
      n[k]++; r[k] += $7; q[k] += $12; if (!(k in mn) || $12 < mn[k]) mn[k] = $12
      if ($16 != "") { a[k] += $16; na[k]++ } }
    END { for (i = 1; i <= no; i++) { k = o[i]
      printf "%s,1,%.3f,%.4f,%.4f,%s,%d\n", k, r[k] / n[k], q[k] / n[k], mn[k], na[k] ? sprintf("%.4f", a[k] / na[k]) : "", n[k] } }' "$OUT/methods.csv"
  for s in $SIZES; do
    while read -r m tg _ r ok; do
      [ "$ok" = 1 ] || echo "$s,$m,$(label "$m"),$tg,0,$r,,,,0"
    done < "$R/$s.params"
  done
} > "$mean"
mv "$mean" "$OUT/methods-mean.csv"
say "wrote $OUT/methods.csv ($(($(wc -l < "$OUT/methods.csv") - 1)) rows) and $OUT/methods-mean.csv"

# ---- the paper.md section and the verdicts -----------------------------------------------------
sec=$OUT/section.md.tmp
awk -F, -v out="$OUT" -v sizes="$SIZES" -v targets="$TARGETS" '
  FNR == 1 { next }
  FILENAME ~ /methods\.csv$/ { # per fine-tune rows
    if (!seenT[$2]++) task[++ntask] = $2
    k = $1 SUBSEP $3 SUBSEP $5 SUBSEP $2; tq[k] = $12; ta[k] = $16; next }
  { k = $1 SUBSEP $2 SUBSEP $4; reach[k] = $5; rl[k] = $6; q[k] = $7; qmin[k] = $8; acc[k] = $9; lab[$2] = $3 }
  function cell(k) { return !(k in reach) ? "–" : (reach[k] == 1 ? sprintf("%.3f (%.1fx)", q[k], rl[k]) : sprintf("n/a (%.1fx)", rl[k])) }
  END {
    nsz = split(sizes, S, " "); nt = split(targets, T, " ")
    nm = split("bitdelta bitdelta-distill bitdelta-distill-kl rtn dare magprune lowrank deltazip deltadq", M, " ")
    big = S[nsz]
    print "**Equal bytes.** Share of the fine-tuning gain kept in bits per byte, mean over the fine-tunes,"
    print "with the achieved ratio of the linear layers in brackets; *n/a (Nx)*: no setting found within"
    print "0.8–1.25x of the target at this size (N: the nearest ratio found, mostly the largest the format"
    print "reaches on rows this short). Achieved ratios differ from the target by up to 0.8–1.25x;"
    print "compare rows at the bytes in brackets."
    print ""
    for (z = 1; z <= nsz; z++) {
      line = "| zoo " S[z] " |"; sep = "|---|"
      for (j = 1; j <= nt; j++) { line = line " ~" T[j] "x |"; sep = sep "---:|" }
      print line; print sep
      for (i = 1; i <= nm; i++) { line = "| " lab[M[i]] " |"; any = 0
        for (j = 1; j <= nt; j++) { k = S[z] SUBSEP M[i] SUBSEP T[j]; line = line " " cell(k) " |"; if (k in reach) any = 1 }
        if (any) print line }
      print "" }
    # per fine-tune at ~16x on the largest size: the mean hides how differently tasks fare
    printf "**Per fine-tune at ~16x** (zoo %s): gain kept in bits per byte, exact match in brackets.\n\n", big
    line = "| method |"; sep = "|---|"
    for (j = 1; j <= ntask; j++) { line = line " " task[j] " |"; sep = sep "---:|" }
    print line; print sep
    for (i = 1; i <= nm; i++) { if (reach[big SUBSEP M[i] SUBSEP 16] != 1) continue
      line = "| " lab[M[i]] " |"
      for (j = 1; j <= ntask; j++) { k = big SUBSEP M[i] SUBSEP 16 SUBSEP task[j]
        line = line " " (tq[k] == "" ? "–" : sprintf("%.3f", tq[k])) (ta[k] != "" ? sprintf(" (%.2f)", ta[k]) : "") " |" }
      print line }
    print ""
    # where quality breaks: the largest target still keeping >= 90 %, the first below 50 %
    print "**Where quality breaks** (per size and method: the largest target ratio whose mean gain kept is"
    print "≥ 0.9, and the smallest below 0.5; – where none):"
    print ""
    line = "| method |"; sep = "|---|"
    for (z = 1; z <= nsz; z++) { line = line " " S[z] ": holds to | breaks at |"; sep = sep "---:|---:|" }
    print line; print sep
    for (i = 1; i <= nm; i++) { m = M[i]; if (m ~ /^bitdelta/ || m == "rtn") continue
      line = "| " lab[m] " |"
      for (z = 1; z <= nsz; z++) { hold = ""; brk = ""
        for (j = 1; j <= nt; j++) { k = S[z] SUBSEP m SUBSEP T[j]; if (reach[k] != 1) continue
          if (q[k] >= 0.9) hold = T[j] "x"; if (q[k] < 0.5 && brk == "") brk = T[j] "x" }
        line = line " " (hold == "" ? "–" : hold) " | " (brk == "" ? "–" : brk) " |" }
      print line }
    print ""
    # scale distillation at ~16x (BD-1 itself is decided by the ablation of entry bd1)
    a = big SUBSEP "bitdelta" SUBSEP 16; b = big SUBSEP "bitdelta-distill" SUBSEP 16
    if ((a in reach) && (b in reach) && reach[b] == 1) {
      printf "**Scale distillation at ~16x** (zoo %s; BD-1 is decided by `make reproduce-bd1`, an ablation of steps, text and loss): 1-bit BitDelta keeps %.1f%% of the gain without scale distillation and %.1f%% with it (lowest fine-tune %.1f%%).", big, 100 * q[a], 100 * q[b], 100 * qmin[b]
      c = big SUBSEP "bitdelta-distill-kl" SUBSEP 16
      if ((c in reach) && reach[c] == 1)
        printf " With the KL divergence as the loss instead of the logit MSE: %.1f%% (lowest fine-tune %.1f%%).", 100 * q[c], 100 * qmin[c]
      printf "\n\n" }
    # this entry decides no claim: DQ-1 is decided by entry equal, DQ-2 by dq2, BD-1 by bd1
    print "" > (out "/verdict.tmp")
  }' "$OUT/methods.csv" "$OUT/methods-mean.csv" > "$sec"
mv "$OUT/verdict.tmp" "$OUT/verdict"
mv "$sec" "$OUT/section.md"
say "wrote $OUT/section.md; verdict: $(cat "$OUT/verdict")"
