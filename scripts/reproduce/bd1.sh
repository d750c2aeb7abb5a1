#!/usr/bin/env bash
# bd1.sh: the experiment of registry entry bd1 (BitDelta BD-1): how much of a fine-tune's gain
# the 1-bit delta keeps, undistilled and after scale distillation in every setting of an
# ablation: distillation steps ($STEPS, default 50 200 800), the text the logits are matched on
# ($TEXTS: task = the fine-tune's own training text, english = general English, as BitDelta's
# C4) and the loss ($LOSSES: mse = BitDelta's logit MSE, kl = KL divergence of the next-token
# distributions). Run by `deltabench reproduce bd1` (`make reproduce-bd1`), which then draws
# plots/bd1.gp, evaluates the registry's rules and splices paper.md; runnable alone for the data.
#
# Per fine-tune ($SIZES x $TASKS): `compress --method bitdelta`, then per text, loss and seed
# ($SEEDS: the batch-sampling seed; $BPB_SEEDS more for the paper's text and loss on tasks
# scored in bits per byte) one distillation of the largest step count (batch 4, 128
# tokens, Adam lr 1e-4: BitDelta's) that also writes the smaller step counts' containers
# (`distill --save-at`: byte for byte what shorter runs write). Each container is evaluated on
# the fine-tune's task (bits per byte on $EVAL_TOKENS validation tokens; exact match on
# $EVAL_EXAMPLES prompts for arith, reverse), the base and fine-tune once.
# The paper's setting is 800 steps on general English with the logit MSE.
#
# Quality is the share of the gain kept, (m − m_base) / (m_ft − m_base), in the task's primary
# metric: exact match where the task has one, else bits per byte. Intervals (95 %): exact match,
# Wilson over the prompts (at the mean accuracy over seeds); bits per byte, Student t over the
# seeds when there are two or more (the unit of the interval is the distillation seed: the
# evaluation windows are fixed); with one seed a bits-per-byte row has no interval and says so.
# The mean over tasks carries the mean of the bounds.
#
# Output: $OUT/runs/*.h5 (eval reports), $OUT/bd1.csv (one row per size, task and setting,
# and task=mean rows), $OUT/section.md (verdict lines from the registry's rules for bd1).
# Settings (environment): SIZES (small), TASKS (arith scripture), STEPS, TEXTS, LOSSES, SEEDS
# (1), BPB_SEEDS (2 3), EVAL_TOKENS (8192), EVAL_EXAMPLES (200), JOBS (2), ZOO, OUT, DELTABENCH,
# ONLY_DONE (1: distil nothing new; tabulate the settings whose runs exist, e.g. a wide grid
# of which a narrower run did a part).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/bd1}
ZOO=${ZOO:-models/zoo}
SIZES=${SIZES:-small}
TASKS=${TASKS:-arith scripture}
STEPS=${STEPS:-50 200 800}
TEXTS=${TEXTS:-task english}
LOSSES=${LOSSES:-mse kl}
SEEDS=${SEEDS:-1}
BPB_SEEDS=${BPB_SEEDS:-2 3}
JOBS=${JOBS:-2}
ONLY_DONE=${ONLY_DONE:-0}
EVAL=(--tokens "${EVAL_TOKENS:-8192}" --examples "${EVAL_EXAMPLES:-200}" --data "$ZOO/data" --threads 1)
PAPER_SETTING="800 english mse"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=$OUT/runs
RP=bd1
# shellcheck source=scripts/reproduce/lib.sh
. scripts/reproduce/lib.sh
[ -x "$D" ] || die "$D not built (run make)"
for x in SIZES TASKS STEPS TEXTS LOSSES SEEDS; do [ -n "${!x}" ] || die "$x is empty"; done
for s in $SIZES; do
  [ -f "$ZOO/$s/stamp" ] || die "zoo size $s missing under $ZOO (run make models)"
  for t in $TASKS; do [ -d "$ZOO/$s/$t" ] || die "fine-tune $t missing under $ZOO/$s"; done
done
prev=0
for n in $STEPS; do
  case $n in '' | *[!0-9]* | 0) die "STEPS: '$n' is not a positive integer" ;; esac
  [ "$n" -gt "$prev" ] || die "STEPS must ascend: $STEPS"
  prev=$n
done
MAXSTEPS=$prev
SAVE_AT=$(tr ' ' '\n' <<<"$STEPS" | grep -v "^$MAXSTEPS\$" | paste -sd, -)
for x in $TEXTS; do case $x in task | english) ;; *) die "TEXTS: '$x' is not task or english" ;; esac; done
for x in $LOSSES; do case $x in mse | kl) ;; *) die "LOSSES: '$x' is not mse or kl" ;; esac; done
for x in $SEEDS $BPB_SEEDS; do case $x in '' | *[!0-9]*) die "SEEDS, BPB_SEEDS: '$x' is not a seed" ;; esac; done
case $JOBS in '' | *[!0-9]* | 0) die "JOBS must be a positive integer, not '$JOBS'" ;; esac
# The runs' files are named by every setting (size, task, steps, text, loss, seed), so the stamp
# holds only what changes a file's content: the evaluation settings and the sources; a size's
# files are cleared when its zoo's stamp changes. More seeds or tasks later reuse what is done.
st=$(rp_stamp "eval ${EVAL[*]} batch 4 seq 128" \
  compressors/*.c compressors/*.h models/*.c models/*.h core/safetensors.c \
  harness/cmd_compress.c harness/cmd_eval.c harness/cmd_distill.c)
rp_stamp_check "$st"
rp_stamp_done "$st" # every file under $R is complete (written by rename), so current
for s in $SIZES; do
  if [ "$(cat "$R/zoo-$s.stamp" 2>/dev/null)" != "$(cat "$ZOO/$s/stamp")" ]; then
    rm -f "$R/$s"-*
    cp "$ZOO/$s/stamp" "$R/zoo-$s.stamp"
  fi
done

# ---- the runs -------------------------------------------------------------------------------------
# the undistilled delta of each fine-tune, with the base and fine-tune scored beside it
for s in $SIZES; do
  for t in $TASKS; do
    p=$R/$s-$t
    [ -s "$p-bitdelta.delta" ] || "$D" compress --base "$ZOO/$s/base" --target "$ZOO/$s/$t" --method bitdelta \
        --quiet --out "$p-bitdelta.delta" </dev/null >/dev/null || die "compress $s/$t bitdelta failed"
    run "$s-$t-none-eval" eval --model "$ZOO/$s/base" --delta "$p-bitdelta.delta" --fold \
        --base "$ZOO/$s/base" --finetuned "$ZOO/$s/$t" --task "$t" "${EVAL[@]}" --out "$R/$s-$t-none-eval.h5"
  done
done
# one unit: a fine-tune, a text, a loss and a seed: one distillation, every step count evaluated
unit() { # size task text loss seed
  local s=$1 t=$2 text=$3 loss=$4 seed=$5 z=$ZOO/$1 n k need=0 ctx seq dt
  for n in $STEPS; do [ -s "$R/$s-$t-$n-$text-$loss-$seed-eval.h5" ] || need=1; done
  [ $need -eq 1 ] && [ "$ONLY_DONE" != 1 ] || return 0
  ctx=$(sed -n 's/.*"max_position_embeddings"[^0-9]*\([0-9]*\).*/\1/p' "$z/base/config.json")
  seq=$((ctx < 128 ? ctx : 128))
  dt=$t; [ "$text" = english ] && dt=english
  k=$R/$s-$t-$MAXSTEPS-$text-$loss-$seed
  "$D" distill --base "$z/base" --target "$z/$t" --delta "$R/$s-$t-bitdelta.delta" --task "$dt" \
      --data "$ZOO/data" --steps "$MAXSTEPS" ${SAVE_AT:+--save-at "$SAVE_AT"} --batch 4 --seq "$seq" \
      --loss "$loss" --seed "$seed" --threads 1 --out "$k.delta" </dev/null >"$k-distill.log" 2>&1 ||
    { cat "$k-distill.log" >&2; die "distill $s/$t $text $loss seed $seed failed"; }
  for n in $STEPS; do
    local d=$k.delta
    [ "$n" = "$MAXSTEPS" ] || d=$k.delta.step$n
    run "$s-$t-$n-$text-$loss-$seed-eval" eval --model "$z/base" --delta "$d" --fold --base none \
        --task "$t" "${EVAL[@]}" --out "$R/$s-$t-$n-$text-$loss-$seed-eval.h5"
    rm -f "$d"
  done
}
em() { case $1 in arith | reverse | sort) echo accuracy ;; *) echo bpb ;; esac; }
# seeds_of TASK TEXT LOSS: the seeds of a setting: $SEEDS, and $BPB_SEEDS for the paper's text and
# loss on a task scored in bits per byte (its interval is over seeds; exact match has Wilson's)
seeds_of() {
  local x=$SEEDS
  [ "$(em "$1")" = bpb ] && [ "$2 $3" = "${PAPER_SETTING#* }" ] && x="$x $BPB_SEEDS"
  tr ' ' '\n' <<<"$x" | awk 'NF && !seen[$1]++' | paste -sd' ' -
}
for s in $SIZES; do for t in $TASKS; do for text in $TEXTS; do for loss in $LOSSES; do for seed in $(seeds_of "$t" "$text" "$loss"); do
  say "$s/$t: distil on $text, $loss, seed $seed"
  rp_spawn unit "$s" "$t" "$text" "$loss" "$seed"
done; done; done; done; done
rp_wait
rm -f "$R"/*-bitdelta.delta
rp_stamp_done "$st"

# ---- the table: the figure's rows, joined from the runs -------------------------------------------
csv=$OUT/bd1.csv.tmp
echo "size,task,setting,steps,text,loss,paper,label,seeds,metric,value,kept,kept_lo,kept_hi,interval" > "$csv"
# q FILE METRIC: "value base finetuned n" of an eval report
q() { "$D" export "$1" quality | awk -F, -v m="$2" 'NR > 1 && $2 == m { print $5, $6, $7, $9; exit }'; }
for s in $SIZES; do
  for t in $TASKS; do
    m=$(em "$t")
    read -r v0 b f n <<<"$(q "$R/$s-$t-none-eval.h5" "$m")"
    settings="none - - 0"
    for n_ in $STEPS; do for text in $TEXTS; do for loss in $LOSSES; do settings="$settings
$text $loss $n_ 1"; done; done; done
    while read -r text loss steps distilled; do
      vals=""
      if [ "$distilled" = 0 ]; then vals=$v0; nseeds=1
      else
        nseeds=0 missing=0
        for seed in $(seeds_of "$t" "$text" "$loss"); do
          [ -s "$R/$s-$t-$steps-$text-$loss-$seed-eval.h5" ] || missing=1
        done
        # a setting not run for this fine-tune (a narrower earlier run): no row
        [ $missing -eq 0 ] || continue
        for seed in $(seeds_of "$t" "$text" "$loss"); do
          read -r v _ _ _ <<<"$(q "$R/$s-$t-$steps-$text-$loss-$seed-eval.h5" "$m")"
          vals="$vals $v"; nseeds=$((nseeds + 1))
        done
      fi
      kept_file=$R/kept.tmp
      for v in $vals; do awk -v v="$v" -v b="$b" -v f="$f" 'BEGIN { printf "%.6f\n", (v - b) / (f - b) }'; done > "$kept_file"
      mean=$(awk '{ s += $1 } END { printf "%.6f", s / NR }' "$kept_file")
      mv_=$(awk -v l="$vals" 'BEGIN { n = split(l, a, " "); for (i = 1; i <= n; i++) s += a[i]; printf "%.6f", s / n }')
      lo=$mean; hi=$mean; how="none (one seed)"
      if [ "$nseeds" -ge 2 ]; then
        read -r _ lo hi <<<"$("$D" interval mean "$kept_file")"; how="t over $nseeds seeds"
      fi
      if [ "$m" = accuracy ]; then
        k=$(awk -v a="$mv_" -v n="$n" 'BEGIN { printf "%d", a * n + 0.5 }')
        read -r _ alo ahi <<<"$("$D" interval wilson "$k" "$n")"
        read -r lo hi <<<"$(awk -v alo="$alo" -v ahi="$ahi" -v b="$b" -v f="$f" -v lo="$lo" -v hi="$hi" -v ns="$nseeds" 'BEGIN {
          wl = (alo - b) / (f - b); wh = (ahi - b) / (f - b); if (wl > wh) { x = wl; wl = wh; wh = x }
          if (ns >= 2) { if (lo < wl) wl = lo; if (hi > wh) wh = hi }
          printf "%.6f %.6f", wl, wh }')"
        how="Wilson over $n prompts"; [ "$nseeds" -ge 2 ] && how="$how + t over $nseeds seeds (union)"
      fi
      rm -f "$kept_file"
      if [ "$distilled" = 0 ]; then setting=none; label="undistilled"; steps=0
      else setting="$steps-$text-$loss"; label="$steps steps / $text / $loss"; fi
      paper=0; [ "$steps $text $loss" = "$PAPER_SETTING" ] && paper=1
      echo "$s,$t,$setting,$steps,$text,$loss,$paper,$label,$nseeds,$m,$mv_,$mean,$lo,$hi,$how"
    done <<<"$settings"
  done
done >> "$csv"
# the mean over the fine-tunes per setting (bounds: the mean of the bounds), for the settings
# every fine-tune has
awk -F, 'NR > 1 { k = $3; if (!(k in n)) { ord[++no] = k; row[k] = $4 "," $5 "," $6 "," $7 "," $8 "," $9 }
                  if (!($1 SUBSEP $2 in ft)) { ft[$1 SUBSEP $2] = 1; nft++ }
                  n[k]++; v[k] += $12; lo[k] += $13; hi[k] += $14 }
  END { for (i = 1; i <= no; i++) { k = ord[i]; if (n[k] < nft) continue
          printf "mean,mean,%s,%s,kept,,%.6f,%.6f,%.6f,mean of the tasks'"'"' bounds\n", k, row[k], v[k] / n[k], lo[k] / n[k], hi[k] / n[k] } }' "$csv" > "$csv.mean"
cat "$csv.mean" >> "$csv" && rm -f "$csv.mean"
# x: the setting's place among the mean rows (the figure's bar), for every row; empty when the
# setting has no mean row
# setting has no mean row; name: "task: setting", what a verdict line calls the row
# verdict: 1 on the rows BD-1's rules read: per fine-tune, its English / MSE distillation of the
# most steps measured (the paper's 800 where it finished), and their mean when they agree
awk -F, 'NR == FNR { if ($1 == "mean") x[$3] = nx++
                     else if ($5 == "english" && $6 == "mse" && $4 + 0 > best[$1 SUBSEP $2] + 0) best[$1 SUBSEP $2] = $4
                     next }
         FNR == 1 { for (k in best) { if (b == "") b = best[k]; else if (best[k] != b) b = "-" }
                    print $0 ",x,name,verdict"; next }
         { v = $1 == "mean" ? ($5 == "english" && $6 == "mse" && $4 == b) : ($5 == "english" && $6 == "mse" && $4 == best[$1 SUBSEP $2])
           print $0 "," (($3 in x) ? x[$3] : "") "," $2 ": " $8 "," (v ? 1 : 0) }' "$csv" "$csv" > "$csv.x" && mv "$csv.x" "$csv"
mv "$csv" "$OUT/bd1.csv"
say "wrote $OUT/bd1.csv ($(($(wc -l < "$OUT/bd1.csv") - 1)) rows)"

# ---- the paper.md section (verdict lines from the registry's rules for bd1) ------------------------
sec=$OUT/section.md.tmp
awk -F, -v sizes="$SIZES" -v seeds="$SEEDS" -v bseeds="$BPB_SEEDS" '
  NR == 1 { next }
  { k = $3; if (!(k in lab)) { ord[++no] = k; lab[k] = $8; pap[k] = $7 }
    if ($2 != "mean" && !($2 in seen)) { seen[$2] = 1; tk[++nt] = $2; met[$2] = $10; how[$2] = $15 }
    c = $2 SUBSEP k; kept[c] = $12; lo[c] = $13; hi[c] = $14 }
  function f(c) { return (c in kept) ? (lo[c] == hi[c] ? sprintf("%.3f", kept[c]) : sprintf("%.3f [%.3f, %.3f]", kept[c], lo[c], hi[c])) : "–" }
  END {
    printf "**Gain kept by the 1-bit delta** (zoo %s; share of the fine-tuning gain kept in each task'"'"'s\n", sizes
    print "primary metric: exact match where it has one, else bits per byte). 95 % intervals: exact"
    print "match, Wilson over the prompts (joined with a t interval over seeds where a setting has"
    print "several); bits per byte, Student t over the distillation seeds where a setting has several,"
    print "else none (a point: the evaluation windows are fixed, so one seed gives no spread)."
    print "Distillation seeds: " seeds " (and " bseeds " for the paper'"'"'s text and loss on tasks scored in bits per byte). The row in bold is the paper'"'"'s setting (800 steps on general English, logit MSE); \"–\": not run here. The verdict reads, per fine-tune, the English / MSE distillation of the most steps measured: the paper'"'"'s 800 where it finished."
    print ""
    hdr = "| setting |"; sep = "|---|"
    for (i = 1; i <= nt; i++) { hdr = hdr " " tk[i] " |"; sep = sep "---:|" }
    print hdr " mean |"; print sep "---:|"
    for (j = 1; j <= no; j++) { k = ord[j]; b = pap[k] ? "**" : ""
      line = "| " b lab[k] b " |"
      for (i = 1; i <= nt; i++) line = line " " f(tk[i] SUBSEP k) " |"
      print line " " f("mean" SUBSEP k) " |" }
    print ""
    print "<!-- verdicts -->"
  }' "$OUT/bd1.csv" > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
say "wrote $OUT/section.md (its verdict lines come from the registry's rules for bd1)"
