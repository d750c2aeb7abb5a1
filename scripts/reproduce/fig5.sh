#!/usr/bin/env bash
# fig5.sh: the experiment of registry entry fig5 (DeltaZip figure 5, the ΔCompress pipeline,
# with DZ-1 alongside; DZ-2, the delta against the whole model, is entry dz2). Run by `deltabench reproduce fig5` (`make reproduce-fig5`),
# which then draws plots/fig5.gp and splices paper.md; runnable alone for the data.
#
# For every fine-tune of the model zoo (sizes $SIZES, tasks scripture code arith reverse):
#   (calibration) Hessians H = 2/n XᵀX of every linear layer's input, measured while compressing
#               by running the fine-tune on 8,192 tokens of its task with every layer compressed so
#               far applied (compress --calib-task: the paper's sequential order)
#   fp16        the fp16 delta                      (compress --method fp16)
#   prune       + 2:4 OBS pruning, fp16 values      (deltazip --bits 16 --lossless none)
#   q4, q2      + GPTQ 4 / 2-bit codes              (deltazip --bits 4|2; raw, zstd, DEFLATE sizes)
# each evaluated on its task (bits per byte; exact match for arith and reverse) against the
# base and the fine-tune, every number with its 95 % interval: bits per byte a bootstrap over
# the evaluation windows, exact match Wilson over prompts, the share of the gain kept a paired
# bootstrap over the windows / prompts the three models were scored on (deltabench eval's
# items table, `deltabench interval gain`). For Llama-2-7B / 13B-shaped synthetic pairs ($SHAPES) the same stages
# are sized (H = I, no quality): the first $SYNTH_LAYERS decoder layers are generated (with a
# 256-token vocabulary) and compressed; the whole model is counted as those layers times the
# model's layer count (every synthetic layer has the same distribution) plus the embeddings and
# lm_head scaled to the real 32,000-token vocabulary (stored fp16 by every stage, so their bytes
# are per row).
#
# Output: $OUT/runs/*.h5 (one HDF5 per compress or eval run), $OUT/fig5.csv (the figure's
# table, one row per model and stage, joined from those files by this script, and the DZ-1
# (quality) rows group=dz1q / dz1qmean that the registry's rules for fig5 read),
# $OUT/section.tmp.md (`deltabench reproduce` fills in the verdicts and writes section.md).
# Settings (environment): SIZES, SHAPES, SYNTH_LAYERS, EVAL_TOKENS (16384), EVAL_EXAMPLES (200),
# JOBS (parallel single-threaded fine-tune jobs, default the core count), ZOO, OUT, DELTABENCH.
# Cached: runs are redone only when the stamp (this script, the zoo's stamps, the sources of
# the compressors, models and commands used) changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/fig5}
ZOO=${ZOO:-models/zoo}
SIZES=${SIZES:-small medium}
SHAPES=${SHAPES:-llama2-7b llama2-13b}
SYNTH_LAYERS=${SYNTH_LAYERS:-1}
TASKS="scripture code arith reverse"
EVAL=(--tokens "${EVAL_TOKENS:-16384}" --examples "${EVAL_EXAMPLES:-200}" --data "$ZOO/data" --threads 1)
JOBS=${JOBS:-$(nproc)}
R=$OUT/runs
RP=fig5
# shellcheck source=scripts/reproduce/lib.sh
. scripts/reproduce/lib.sh
[ -x "$D" ] || die "$D not built (run make)"
for s in $SIZES; do
  [ -f "$ZOO/$s/stamp" ] || die "zoo size $s missing under $ZOO (run make models)"
done
# shellcheck disable=SC2046
st=$(rp_stamp "sizes $SIZES shapes $SHAPES layers $SYNTH_LAYERS eval ${EVAL[*]} zoo $(cat $(for s in $SIZES; do echo "$ZOO/$s/stamp"; done))" \
  compressors/*.c compressors/*.h models/*.c models/*.h core/safetensors.c core/llama_names.c \
  harness/cmd_compress.c harness/cmd_eval.c harness/cmd_calib.c harness/cmd_synth.c)
rp_stamp_check "$st"

# ---- the zoo: stages with quality --------------------------------------------------------------
# One fine-tune's stages; fine-tunes run as JOBS parallel single-threaded jobs (on a busy 2-core
# machine two 2-thread processes cost far more wall time than two 1-thread ones).
zoo_one() { # size task
  local s=$1 t=$2 z=$ZOO/$1 p=$R/$1-$2 ft=$ZOO/$1/$2 stage args bdir
  local cal="--calib-task $t --calib-data $ZOO/data"
  run "$s-$t-eval-base" eval --model "$z/base" --task "$t" "${EVAL[@]}" --out "$p-eval-base.h5"
  run "$s-$t-eval-finetuned" eval --model "$ft" --task "$t" "${EVAL[@]}" --out "$p-eval-finetuned.h5"
  while read -r stage args; do
    [ -n "$stage" ] || continue
    bdir=$z/base
    # shellcheck disable=SC2086
    run "$s-$t-$stage-comp" compress --base "$bdir" --target "$ft" $args --quiet \
        --out "$p-$stage.delta" --report "$p-$stage-comp.h5"
    run "$s-$t-$stage-eval" eval --model "$bdir" --delta "$p-$stage.delta" --fold --base none \
        --task "$t" "${EVAL[@]}" --out "$p-$stage-eval.h5"
    rm -f "$p-$stage.delta"
  done <<EOF
fp16      --method fp16
prune     --method deltazip --bits 16 --lossless none $cal
q4        --method deltazip --bits 4 $cal
q2        --method deltazip --bits 2 $cal
EOF
}
for s in $SIZES; do
  for t in $TASKS; do
    say "$s/$t"
    OMP_NUM_THREADS=1 rp_spawn zoo_one "$s" "$t"
  done
done
rp_wait

# ---- Llama-shaped synthetic pairs: sizes only ------------------------------------------------
for shape in $SHAPES; do
  p=$R/$shape
  need=0
  for stage in fp16 prune q4 q2; do [ -s "$p-$stage-comp.h5" ] || need=1; done
  [ $need -eq 1 ] || continue
  say "$shape (first $SYNTH_LAYERS layers)"
  "$D" synth --shape "$shape" --layers "$SYNTH_LAYERS" --vocab 256 --seed 0 \
      --out-base "$p.base.st" --out-target "$p.target.st" |
    sed -n 's/.* of \([0-9]*\) layers, vocab \([0-9]*\) of \([0-9]*\).*/\1 \2 \3/p' > "$p.dims"
  while read -r stage args; do
    # shellcheck disable=SC2086
    run "$shape-$stage-comp" compress --base "$p.base.st" --target "$p.target.st" $args --quiet \
        --out "$p-$stage.delta" --report "$p-$stage-comp.h5"
    rm -f "$p-$stage.delta"
  done <<EOF
fp16  --method fp16
prune --method deltazip --bits 16 --lossless none
q4    --method deltazip --bits 4
q2    --method deltazip --bits 2
EOF
  rm -f "$p.base.st" "$p.target.st"
done
rp_stamp_done "$st"

# ---- the table: the figure's rows, joined from the runs ------------------------------------------------
csv=$OUT/fig5.csv.tmp
echo "group,model,stage,x,bits_linear,ratio_linear,ratio_whole,bpb,bpb_kept,acc,acc_kept,bpb_lo,bpb_hi,bpb_kept_lo,bpb_kept_hi,acc_lo,acc_hi,acc_kept_lo,acc_kept_hi,item,kept,kept_lo,kept_hi" > "$csv"
# row GROUP MODEL STAGE NUMEL BYTES_LIN ALL_NUMEL BYTES_ALL "BPB LO HI" "KEPT LO HI" "ACC LO HI"
#     "KEPT LO HI": one row of the table (quality: empty strings where not measured)
row() {
  awk -v g="$1" -v m="$2" -v s="$3" -v n="$4" -v b="$5" -v an="$6" -v ab="$7" \
      -v q="$8" -v k="$9" -v a="${10}" -v ak="${11}" '
    function f(v, d) { return v == "" ? "" : sprintf("%." d "f", v) }
    BEGIN {
    n_st = split("fine-tuned fp16|fp16 delta|2:4 pruned|2:4 + 4-bit|2:4 + 4-bit + zstd|" \
                 "2:4 + 4-bit + DEFLATE|2:4 + 2-bit|2:4 + 2-bit + zstd|2:4 + 2-bit + DEFLATE", st, "|")
    x = -1
    for (i = 1; i <= n_st; i++) if (st[i] == s) x = i - 1
    split(q, Q, " "); split(k, K, " "); split(a, A, " "); split(ak, AK, " ")
    printf "%s,%s,%s,%d,%.4f,%.3f,%.3f,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,,,,\n", g, m, s, x, 8 * b / n, 2 * n / b,
           2 * an / ab, f(Q[1], 4), f(K[1], 4), f(A[1], 3), f(AK[1], 4), f(Q[2], 4), f(Q[3], 4),
           f(K[2], 4), f(K[3], 4), f(A[2], 3), f(A[3], 3), f(AK[2], 4), f(AK[3], 4) }'
}
for s in $SIZES; do
  for t in $TASKS; do
    p=$R/$s-$t
    read -r n _ _ _ an _ _ _ <<<"$(sizes "$p-fp16-comp.h5" 1)"
    af=$(rp_qual "$p-eval-finetuned.h5" accuracy); ak=""
    [ -z "$af" ] || ak="1 1 1"
    row zoo "$s/$t" "fine-tuned fp16" "$n" "$((2 * n))" "$an" "$((2 * an))" \
        "$(rp_qual "$p-eval-finetuned.h5" bpb)" "1 1 1" "$af" "$ak" >> "$csv"
    for stage in fp16 prune q4 q2; do
      read -r n lr lz ld an ar az ad <<<"$(sizes "$p-$stage-comp.h5" 1)"
      e=$p-$stage-eval.h5
      q=$(rp_qual "$e" bpb); k=$(rp_gain bpb "$p-eval-base.h5" "$p-eval-finetuned.h5" "$e")
      a=$(rp_qual "$e" accuracy); ak=""
      [ -z "$a" ] || ak=$(rp_gain accuracy "$p-eval-base.h5" "$p-eval-finetuned.h5" "$e")
      case $stage in
        fp16)  row zoo "$s/$t" "fp16 delta" "$n" "$lr" "$an" "$ar" "$q" "$k" "$a" "$ak" ;;
        prune) row zoo "$s/$t" "2:4 pruned" "$n" "$lr" "$an" "$ar" "$q" "$k" "$a" "$ak" ;;
        q4|q2)
          w=${stage#q}
          row zoo "$s/$t" "2:4 + ${w}-bit" "$n" "$lr" "$an" "$ar" "$q" "$k" "$a" "$ak"
          row zoo "$s/$t" "2:4 + ${w}-bit + zstd" "$n" "$lz" "$an" "$az" "$q" "$k" "$a" "$ak"
          row zoo "$s/$t" "2:4 + ${w}-bit + DEFLATE" "$n" "$ld" "$an" "$ad" "$q" "$k" "$a" "$ak" ;;
      esac
    done >> "$csv"
  done
done
for shape in $SHAPES; do
  read -r L v V < "$R/$shape.dims"
  scale=$(awk -v L="$L" -v l="$SYNTH_LAYERS" -v V="$V" -v v="$v" 'BEGIN { print L / l, V / v }')
  # shellcheck disable=SC2086
  read -r n _ _ _ an _ _ _ <<<"$(sizes "$R/$shape-fp16-comp.h5" $scale)"
  row synth "$shape" "fine-tuned fp16" "$n" "$((2 * n))" "$an" "$((2 * an))" "" "" "" "" >> "$csv"
  for stage in fp16 prune q4 q2; do
    # shellcheck disable=SC2086
    read -r n lr lz ld an ar az ad <<<"$(sizes "$R/$shape-$stage-comp.h5" $scale)"
    case $stage in
      fp16)  row synth "$shape" "fp16 delta" "$n" "$lr" "$an" "$ar" "" "" "" "" ;;
      prune) row synth "$shape" "2:4 pruned" "$n" "$lr" "$an" "$ar" "" "" "" "" ;;
      *) w=${stage#q}
         row synth "$shape" "2:4 + ${w}-bit" "$n" "$lr" "$an" "$ar" "" "" "" ""
         row synth "$shape" "2:4 + ${w}-bit + zstd" "$n" "$lz" "$an" "$az" "" "" "" ""
         row synth "$shape" "2:4 + ${w}-bit + DEFLATE" "$n" "$ld" "$an" "$ad" "" "" "" "" ;;
    esac
  done >> "$csv"
done
# DZ-1 (quality), long form for the registry's rules: one dz1q row per fine-tune and metric after
# 2:4 + 2-bit (its gain kept and interval; a point without an interval counts as its own
# interval), and the dz1qmean row: the mean of the values and of the interval bounds.
awk -F, -v OFS=, '
  $1 == "zoo" && $3 == "2:4 + 2-bit" {
    for (e = 1; e <= 2; e++) {
      v = e == 1 ? $9 : $11; lo = e == 1 ? $14 : $18; hi = e == 1 ? $15 : $19
      if (v == "") continue
      if (lo == "") { lo = v; hi = v }
      n++; sv += v; sl += lo; sh += hi
      print "dz1q", $2, $3, $4, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
            $2 " (" (e == 1 ? "bits/byte" : "exact match") ")", v, lo, hi } }
  END { if (n) print "dz1qmean", "", "2:4 + 2-bit", 6, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
                      "mean of " n, sprintf("%.4f", sv / n), sprintf("%.4f", sl / n), sprintf("%.4f", sh / n) }
' "$csv" > "$csv.q"
cat "$csv.q" >> "$csv" && rm -f "$csv.q"
mv "$csv" "$OUT/fig5.csv"
say "wrote $OUT/fig5.csv ($(($(wc -l < "$OUT/fig5.csv") - 1)) rows)"

# ---- the paper.md section and the verdicts, from the table ------------------------------------
sec=$OUT/section.md.tmp
awk -F, -v sizes="$SIZES" -v shapes="$SHAPES" -v layers="$SYNTH_LAYERS" '
  NR == 1 || $1 ~ /^dz1q/ { next }
  { key = $2 SUBSEP $3; bits[key] = $5; rl[key] = $6; rw[key] = $7; bpb[key] = $8
    kept[key] = $9; acc[key] = $10; akept[key] = $11; klo[key] = $14; khi[key] = $15
    alo[key] = $18; ahi[key] = $19
    if ($1 == "zoo" && !seen[$2]++) zoo[++nz] = $2 }
  function f(v, d) { return v == "" ? "–" : sprintf("%." d "f", v) }
  function fi(v, lo, hi, d) { return v == "" ? "–" : lo == "" ? f(v, d) : sprintf("%." d "f [%." d "f, %." d "f]", v, lo, hi) }
  END {
    ns = split(shapes, sh, " ")
    print "**Sizes, Llama-shaped synthetic pairs** (H = I; first " layers " layer(s) measured and"
    print "scaled to the model; embeddings and lm_head stored fp16). Bits per parameter and ratio of"
    print "the linear layers; ratio of the whole checkpoint (all tensors, container header included)."
    print ""
    hdr = "| stage |"; sep = "|---|"
    for (i = 1; i <= ns; i++) { hdr = hdr " " sh[i] " bits/param | linear | whole |"; sep = sep "---:|---:|---:|" }
    print hdr; print sep
    n = split("fine-tuned fp16|fp16 delta|2:4 pruned|2:4 + 4-bit|2:4 + 4-bit + zstd|2:4 + 4-bit + DEFLATE|2:4 + 2-bit|2:4 + 2-bit + zstd|2:4 + 2-bit + DEFLATE", st, "|")
    for (j = 1; j <= n; j++) {
      line = "| " st[j] " |"
      for (i = 1; i <= ns; i++) { k = sh[i] SUBSEP st[j]
        line = line " " f(bits[k], 2) " | " f(rl[k], 2) "x | " f(rw[k], 2) "x |" }
      print line
    }
    print ""
    print "**Quality on the model zoo**: share of the fine-tuning gain kept, (m − m_base) /"
    print "(m_fine-tuned − m_base), in bits per byte on the task'"'"'s validation text, with its 95 %"
    print "interval in brackets (a paired bootstrap over the evaluation windows all three models were"
    print "scored on), exact match likewise below it for arith and reverse (paired over prompts);"
    print "and the size after the 2-bit pipeline with zstd."
    print ""
    print "| fine-tune | metric | fp16 Δ | 2:4 pruned | 2:4 + 4-bit | 2:4 + 2-bit | 2-bit + zstd: bits/param | linear | whole |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    split("fp16 delta|2:4 pruned|2:4 + 4-bit|2:4 + 2-bit", q, "|")
    for (i = 1; i <= nz; i++) { m = zoo[i]; line = "| " m " | bits/byte |"; aline = ""
      for (j = 1; j <= 4; j++) { k = m SUBSEP q[j]
        line = line " " fi(kept[k], klo[k], khi[k], 3) " |"
        if (akept[k] != "") aline = aline " " fi(akept[k], alo[k], ahi[k], 2) " |"
        if (kept[k] != "") { sum[j] += kept[k]; cnt[j]++; if (!(j in mn) || kept[k] < mn[j]) mn[j] = kept[k] }
        if (akept[k] != "") { asum[j] += akept[k]; acnt[j]++; if (!(j in amn) || akept[k] < amn[j]) amn[j] = akept[k] } }
      k = m SUBSEP "2:4 + 2-bit + zstd"
      print line " " f(bits[k], 2) " | " f(rl[k], 2) "x | " f(rw[k], 2) "x |"
      if (aline != "") print "| | exact match |" aline " | | |" }
    line = "| mean (min) | bits/byte |"
    for (j = 1; j <= 4; j++) line = line " " (cnt[j] ? f(sum[j] / cnt[j], 3) " (" f(mn[j], 3) ")" : "–") " |"
    print line " | | |"
    line = "| mean (min) | exact match |"
    for (j = 1; j <= 4; j++) line = line " " (acnt[j] ? f(asum[j] / acnt[j], 2) " (" f(amn[j], 2) ")" : "–") " |"
    print line " | | |"
    print ""
    print "DZ-2 (the delta against the whole model at equal quality) is entry dz2 below."
    print ""
    # verdicts
    k = "llama2-7b" SUBSEP "2:4 + 2-bit + DEFLATE"
    if (rw[k] != "")
      printf "**Size on the default synthetic pair**: 2-bit 2:4 + DEFLATE gives %.2fx on the Llama-2-7B-shaped pair (zstd %.2fx) against the paper'"'"'s 9.86x. DZ-1 (size) is decided by `make reproduce-dz1`, over synthetic deltas fitted to the zoo'"'"'s.\n", rw[k], rw["llama2-7b" SUBSEP "2:4 + 2-bit + zstd"]
    if (cnt[4]) {
      printf "\n**Quality after 2:4 + 2-bit**: the zoo'"'"'s fine-tunes keep %.1f%% of their gain in bits per byte on average (lowest %.1f%%)", 100 * sum[4] / cnt[4], 100 * mn[4]
      if (acnt[4]) printf " and %.1f%% of their exact-match gain (lowest %.1f%%; at 4 bits %.1f%%, lowest %.1f%%)", 100 * asum[4] / acnt[4], 100 * amn[4], 100 * asum[3] / acnt[3], 100 * amn[3]
      printf ". The verdict reads the intervals (rows group=dz1q and dz1qmean of fig5.csv).\n"
    }
    print ""
    print "<!-- verdicts -->"
  }' "$OUT/fig5.csv" > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
say "wrote $OUT/section.md"
