#!/usr/bin/env bash
# dq2.sh: the experiment of registry entry dq2 (DeltaDQ DQ-2: "128x on WizardMath-7B and 512x on
# 70B keep quality"). Run by `deltabench reproduce dq2` (`make reproduce-dq2`), which then draws
# plots/dq2.gp and splices paper.md; runnable alone for the data.
#
# DeltaDQ (format version 2, docs/compressors.md) at its four ratio settings ($TARGETS):
#   16x   --drop 0.75   --bits 4 --parts 2   (keep 1 of 4, 2+2-bit residual stages)
#   32x   --drop 0.875  --bits 4 --parts 2   (1 of 8, 2+2)
#   64x   --drop 0.9375 --bits 4 --parts 2   (1 of 16, 2+2)
#   128x  --drop 0.9375 --bits 2 --parts 2   (1 of 16, 1+1)
# each with the group size searched per matrix against the fine-tune's Hessians (`deltabench
# calib`, $CALIB_TOKENS tokens), on every fine-tune ($TASKS) of every zoo size ($SIZES), once
# per dropout seed ($SEEDS). Each delta is decompressed (base + decoded delta, fp16) and
# evaluated on its task ($EVAL_TOKENS validation tokens, $EVAL_EXAMPLES exact-match prompts).
#
# Intervals: the share of the fine-tuning gain kept in bits per byte, averaged over the tasks,
# once per seed; its mean over the seeds with a 95 % Student t interval over the seeds
# (`deltabench interval mean`: the dropout positions are what varies; eval gives no per-window
# numbers to bootstrap over). Exact match (arith, reverse): the correct answers pooled over the
# seeds with a 95 % Wilson interval over the prompts (`deltabench interval wilson`; the same
# prompts under each seed, so the pooled count is narrower than independent prompts would
# give), its gain kept mapping the interval through (x - base) / (fine-tune - base) with the
# base and fine-tune scores as measured.
#
# Output: $OUT/runs/* (compress and eval reports, calibration files), $OUT/dq2-runs.csv (one row
# per size, task, target and seed), $OUT/dq2.csv (the verdict table: size, target, task, metric,
# value and interval), $OUT/section.md (with a '<!-- verdicts -->' line for the rules of dq2 in
# harness/registry.c). Cached by an input stamp.
#   env: ZOO, SIZES (default "small medium"), TASKS, TARGETS, SEEDS, EVAL_TOKENS,
#        EVAL_EXAMPLES, CALIB_TOKENS, JOBS (fine-tunes at once, default 2)
# settings are argument lists split on purpose:
# shellcheck disable=SC2046
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/dq2}
ZOO=${ZOO:-models/zoo}
SIZES=${SIZES:-small medium}
TASKS=${TASKS:-scripture code arith reverse}
TARGETS=${TARGETS:-16 32 64 128}
SEEDS=${SEEDS:-1 2 3}
CALIB=(--tokens "${CALIB_TOKENS:-2048}" --data "$ZOO/data" --threads 1)
EVAL=(--tokens "${EVAL_TOKENS:-8192}" --examples "${EVAL_EXAMPLES:-50}" --data "$ZOO/data" --threads 1)
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=$OUT/runs
RP=dq2
. scripts/reproduce/lib.sh

[ -x "$D" ] || die "$D not built (run make)"
for x in SIZES TASKS TARGETS SEEDS; do [ -n "${!x}" ] || die "$x is empty"; done
for s in $SIZES; do
  [ -f "$ZOO/$s/stamp" ] || die "zoo size $s missing under $ZOO (run make models)"
  for t in $TASKS; do [ -d "$ZOO/$s/$t" ] || die "fine-tune $t missing under $ZOO/$s"; done
done
setting() {
  case $1 in
    16) echo "--drop 0.75 --bits 4 --parts 2" ;;
    32) echo "--drop 0.875 --bits 4 --parts 2" ;;
    64) echo "--drop 0.9375 --bits 4 --parts 2" ;;
    128) echo "--drop 0.9375 --bits 2 --parts 2" ;;
    *) return 1 ;;
  esac
}
for x in $TARGETS; do setting "$x" >/dev/null || die "TARGETS: no DeltaDQ setting for '$x' (16, 32, 64, 128)"; done
n=0; for x in $SEEDS; do
  case $x in '' | *[!0-9]*) die "SEEDS: '$x' is not a seed" ;; esac; n=$((n + 1)); done
[ "$n" -ge 2 ] || die "SEEDS: at least 2 seeds are needed for an interval"
case $JOBS in '' | *[!0-9]* | 0) die "JOBS must be a positive integer, not '$JOBS'" ;; esac

# the runs' inputs but the zoo; each size's runs are kept apart under the hash of its zoo stamp,
# so adding a size to SIZES keeps the runs of the others
st=$(rp_stamp "tasks $TASKS targets $TARGETS seeds $SEEDS eval ${EVAL_TOKENS:-8192} ${EVAL_EXAMPLES:-50} calib ${CALIB_TOKENS:-2048}" \
     compressors/*.c compressors/*.h models/*.c models/*.h core/safetensors.c \
     harness/cmd_compress.c harness/cmd_eval.c harness/cmd_calib.c harness/cmd_decompress.c)
rp_stamp_check "$st"
for s in $SIZES; do
  zs=$(sha256sum < "$ZOO/$s/stamp" | cut -d' ' -f1)
  if [ "$(cat "$R/zoo-$s" 2>/dev/null)" != "$zs" ]; then
    rm -rf "$R/$s"-*
    echo "$zs" > "$R/zoo-$s"
  fi
done

# task_runs SIZE TASK: the base, the fine-tune and every target x seed of one fine-tune
task_runs() {
  local s=$1 t=$2 z=$ZOO/$1 p=$R/$1-$2 tg sd k
  say "$s/$t"
  [ -s "$p.calib.st" ] || "$D" calib --model "$z/$t" --task "$t" "${CALIB[@]}" --out "$p.calib.st" \
      </dev/null >"$p.calib.log" 2>&1 || { cat "$p.calib.log" >&2; die "calib $s/$t failed"; }
  run "$s-$t-base-eval" eval --model "$z/base" --task "$t" "${EVAL[@]}" --base none -q --out "$R/$s-$t-base-eval.h5"
  run "$s-$t-ft-eval" eval --model "$z/$t" --task "$t" "${EVAL[@]}" --base none -q --out "$R/$s-$t-ft-eval.h5"
  for tg in $TARGETS; do
    for sd in $SEEDS; do
      k=$s-$t-$tg-$sd
      [ -s "$R/$k-eval.h5" ] && continue
      run "$k-comp" compress --base "$z/base" --target "$z/$t" --method deltadq $(setting "$tg") \
          --seed "$sd" --hessians "$p.calib.st" --quiet --out "$R/$k.delta" --report "$R/$k-comp.h5"
      mkdir -p "$R/$k.model"
      cp "$z/base/config.json" "$R/$k.model/"
      "$D" decompress --base "$z/base" --delta "$R/$k.delta" --out "$R/$k.model/model.safetensors" \
          </dev/null >"$R/$k-decompress.log" 2>&1 ||
        { cat "$R/$k-decompress.log" >&2; die "decompress $k failed"; }
      run "$k-eval" eval --model "$R/$k.model" --task "$t" "${EVAL[@]}" --base none -q --out "$R/$k-eval.h5"
      rm -rf "$R/$k.model" "$R/$k.delta"
    done
  done
}
for s in $SIZES; do for t in $TASKS; do rp_spawn task_runs "$s" "$t"; done; done
rp_wait
rp_stamp_done "$st"

# ---- the table, joined from the runs -----------------------------------------------------------
# acc_n EVAL.h5: the exact-match prompt count of an eval report
acc_n() { "$D" export "$1" quality | awk -F, 'NR > 1 && $2 == "accuracy" { print $9; exit }'; }
runs=$OUT/dq2-runs.csv.tmp
echo "size,task,target,seed,ratio_linear,bpb,bpb_base,bpb_ft,bpb_kept,acc,acc_n,acc_base,acc_ft" > "$runs"
for s in $SIZES; do
  for t in $TASKS; do
    qb=$(metric "$R/$s-$t-base-eval.h5" bpb); qf=$(metric "$R/$s-$t-ft-eval.h5" bpb)
    ab=$(metric "$R/$s-$t-base-eval.h5" accuracy); af=$(metric "$R/$s-$t-ft-eval.h5" accuracy)
    for tg in $TARGETS; do
      for sd in $SEEDS; do
        k=$s-$t-$tg-$sd
        read -r nl _ lz _ <<<"$(sizes "$R/$k-comp.h5")"
        q=$(metric "$R/$k-eval.h5" bpb); a=$(metric "$R/$k-eval.h5" accuracy)
        an=""; [ -n "$a" ] && an=$(acc_n "$R/$k-eval.h5")
        awk -v s="$s" -v t="$t" -v tg="$tg" -v sd="$sd" -v n="$nl" -v b="$lz" -v q="$q" -v qb="$qb" \
            -v qf="$qf" -v a="$a" -v an="$an" -v ab="$ab" -v af="$af" 'BEGIN {
          printf "%s,%s,%d,%s,%.3f,%.5f,%.5f,%.5f,%.5f,%s,%s,%s,%s\n", s, t, tg, sd, 2 * n / b, q, qb, qf,
                 (q - qb) / (qf - qb), a, an, ab, af }'
      done
    done
  done
done >> "$runs"
mv "$runs" "$OUT/dq2-runs.csv"

# the verdict table: per size and target, the bits-per-byte gain kept (mean over tasks per seed,
# then mean and t interval over seeds); per exact-match task, the pooled Wilson interval and the
# gain over the base with its interval (gain / ft_gain is the share kept; ft_gain is empty where
# the fine-tune does not beat the base, so a rule reading it fails there instead of dividing by 0)
tab=$OUT/dq2.csv.tmp
echo "size,target,task,metric,label,ratio_linear,value,lo,hi,seeds,base,finetuned,gain,gain_lo,gain_hi,ft_gain" > "$tab"
for s in $SIZES; do
  for tg in $TARGETS; do
    awk -F, -v s="$s" -v tg="$tg" 'NR > 1 && $1 == s && $3 == tg { k[$4] += $9; n[$4]++ }
      END { for (sd in k) print k[sd] / n[sd] }' "$OUT/dq2-runs.csv" > "$R/kept-$s-$tg.txt"
    read -r v lo hi <<<"$("$D" interval mean "$R/kept-$s-$tg.txt")"
    rl=$(awk -F, -v s="$s" -v tg="$tg" 'NR > 1 && $1 == s && $3 == tg { r += $5; n++ } END { printf "%.2f", r / n }' "$OUT/dq2-runs.csv")
    echo "$s,$tg,mean,bpb_kept,zoo $s ${tg}x,$rl,$v,$lo,$hi,$n,,,,,," >> "$tab"
    for t in $TASKS; do
      read -r K N ab af <<<"$(awk -F, -v s="$s" -v t="$t" -v tg="$tg" 'NR > 1 && $1 == s && $2 == t && $3 == tg && $10 != "" {
          k += $10 * $11; n += $11; ab = $12; af = $13 } END { if (n) printf "%.0f %d %s %s\n", k, n, ab, af }' "$OUT/dq2-runs.csv")"
      [ -n "${N:-}" ] || continue
      read -r a alo ahi <<<"$("$D" interval wilson "$K" "$N")"
      awk -v s="$s" -v tg="$tg" -v t="$t" -v rl="$rl" -v a="$a" -v lo="$alo" -v hi="$ahi" -v ab="$ab" -v af="$af" -v n="$n" 'BEGIN {
        printf "%s,%d,%s,acc,zoo %s %s %dx,%s,%.4f,%.4f,%.4f,%d,%s,%s,%.4f,%.4f,%.4f,%s\n", s, tg, t, s, t, tg, rl,
               a, lo, hi, n, ab, af, a - ab, lo - ab, hi - ab, af != ab ? sprintf("%.4f", af - ab) : "" }' >> "$tab"
      K="" N=""
    done
  done
done
mv "$tab" "$OUT/dq2.csv"
say "wrote $OUT/dq2-runs.csv and $OUT/dq2.csv ($(($(wc -l < "$OUT/dq2.csv") - 1)) rows)"

# ---- the paper.md section ----------------------------------------------------------------------
sec=$OUT/section.md.tmp
awk -F, -v sizes="$SIZES" -v targets="$TARGETS" -v tasks="$TASKS" '
  NR == 1 { next }
  { k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4; v[k] = $7; lo[k] = $8; hi[k] = $9; rl[$1 SUBSEP $2] = $6; seeds = $10 }
  function iv(k) { return (k in v) ? sprintf("%.3f [%.3f, %.3f]", v[k], lo[k], hi[k]) : "–" }
  END {
    nsz = split(sizes, S, " "); nt = split(targets, T, " "); nk = split(tasks, K, " ")
    print "**Gain kept in bits per byte** (share of the fine-tuning gain, mean over the fine-tunes;"
    printf "mean over %d dropout seeds, [95 %% t interval over the seeds]), and the achieved ratio of the\n", seeds
    print "linear layers:"
    print ""
    line = "| zoo |"; sep = "|---|"
    for (j = 1; j <= nt; j++) { line = line " " T[j] "x |"; sep = sep "---:|" }
    print line; print sep
    for (z = 1; z <= nsz; z++) { line = "| " S[z] " |"
      for (j = 1; j <= nt; j++) line = line " " iv(S[z] SUBSEP T[j] SUBSEP "mean" SUBSEP "bpb_kept") sprintf(" (%.1fx)", rl[S[z] SUBSEP T[j]]) " |"
      print line }
    print ""
    print "**Exact match** (share of prompts answered exactly, correct answers pooled over the seeds,"
    print "[95 % Wilson interval]; the base and the uncompressed fine-tune in the first columns):"
    print ""
    line = "| zoo / task | base | fine-tune |"; sep = "|---|---:|---:|"
    for (j = 1; j <= nt; j++) { line = line " " T[j] "x |"; sep = sep "---:|" }
    print line; print sep
    for (z = 1; z <= nsz; z++) for (i = 1; i <= nk; i++) {
      k1 = S[z] SUBSEP T[1] SUBSEP K[i] SUBSEP "acc"; if (!(k1 in v)) continue
      line = "| " S[z] " / " K[i] " | " ab[S[z] SUBSEP K[i]] " | " af[S[z] SUBSEP K[i]] " |"
      for (j = 1; j <= nt; j++) line = line " " iv(S[z] SUBSEP T[j] SUBSEP K[i] SUBSEP "acc") " |"
      print line }
    print ""
    print "<!-- verdicts -->"
  }
  $4 == "acc" { ab[$1 SUBSEP $3] = $11; af[$1 SUBSEP $3] = $12 }' "$OUT/dq2.csv" > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
say "wrote $OUT/section.md (its verdict lines come from the registry's rules for dq2)"
