#!/usr/bin/env bash
# fig5.sh: the experiment of registry entry fig5 (DeltaZip figure 5, the ΔCompress pipeline,
# with DZ-1 and DZ-2 alongside). Run by `deltabench reproduce fig5` (`make reproduce-fig5`),
# which then draws plots/fig5.gp and splices paper.md; runnable alone for the data.
#
# For every fine-tune of the model zoo (sizes $SIZES, tasks scripture code arith reverse):
#   (calibration) Hessians H = 2/n XᵀX of every linear layer's input, measured while compressing
#               by running the fine-tune on 8,192 tokens of its task with every layer compressed so
#               far applied (compress --calib-task: the paper's sequential order)
#   fp16        the fp16 delta                      (compress --method fp16)
#   prune       + 2:4 OBS pruning, fp16 values      (deltazip --bits 16 --lossless none)
#   q4, q2      + GPTQ 4 / 2-bit codes              (deltazip --bits 4|2; raw, zstd, DEFLATE sizes)
#   full-q4     the same 2:4 + 4-bit applied to the whole fine-tuned model (an all-zero base)
#   rtn4, full-rtn4   4-bit g128 round-to-nearest of the delta / the whole model (AWQ's format)
# each evaluated on its task (bits per byte; exact match for arith and reverse) against the
# base and the fine-tune. For Llama-2-7B / 13B-shaped synthetic pairs ($SHAPES) the same stages
# are sized (H = I, no quality): the first $SYNTH_LAYERS decoder layers are generated (with a
# 256-token vocabulary) and compressed; the whole model is counted as those layers times the
# model's layer count (every synthetic layer has the same distribution) plus the embeddings and
# lm_head scaled to the real 32,000-token vocabulary (stored fp16 by every stage, so their bytes
# are per row).
#
# Output: $OUT/runs/*.h5 (one HDF5 per compress or eval run), $OUT/fig5.csv (the figure's
# table, one row per model and stage, joined from those files by this script), $OUT/dz2.csv.
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
  local s=$1 t=$2 z=$ZOO/$1 p=$R/$1-$2 ft=$ZOO/$1/$2 stage base args bdir
  local cal="--calib-task $t --calib-data $ZOO/data"
  run "$s-$t-eval-base" eval --model "$z/base" --task "$t" "${EVAL[@]}" --out "$p-eval-base.h5"
  run "$s-$t-eval-finetuned" eval --model "$ft" --task "$t" "${EVAL[@]}" --out "$p-eval-finetuned.h5"
  while read -r stage base args; do
    [ -n "$stage" ] || continue
    bdir=$z/base
    [ "$base" = zero ] && bdir=$R/$s-zero
    # shellcheck disable=SC2086
    run "$s-$t-$stage-comp" compress --base "$bdir" --target "$ft" $args --quiet \
        --out "$p-$stage.delta" --report "$p-$stage-comp.h5"
    run "$s-$t-$stage-eval" eval --model "$bdir" --delta "$p-$stage.delta" --fold --base none \
        --task "$t" "${EVAL[@]}" --out "$p-$stage-eval.h5"
    rm -f "$p-$stage.delta"
  done <<EOF
fp16      base --method fp16
prune     base --method deltazip --bits 16 --lossless none $cal
q4        base --method deltazip --bits 4 $cal
q2        base --method deltazip --bits 2 $cal
full-q4   zero --method deltazip --bits 4 $cal
rtn4      base --method rtn --bits 4 --group 128
full-rtn4 zero --method rtn --bits 4 --group 128
EOF
}
for s in $SIZES; do
  [ -s "$R/$s-zero/model.safetensors" ] ||
    "$D" synth --zero-like "$ZOO/$s/base" --out-dir "$R/$s-zero" >/dev/null
done
pids=()
for s in $SIZES; do
  for t in $TASKS; do
    say "$s/$t"
    OMP_NUM_THREADS=1 zoo_one "$s" "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$JOBS" ]; then
      wait "${pids[0]}" || die "a zoo job failed"
      pids=("${pids[@]:1}")
    fi
  done
done
for pid in "${pids[@]}"; do wait "$pid" || die "a zoo job failed"; done

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
echo "group,model,stage,x,bits_linear,ratio_linear,ratio_whole,bpb,bpb_kept,acc,acc_kept" > "$csv"
row() { # group model stage numel bytes_lin all_numel bytes_all bpb bpb_b bpb_f acc acc_b acc_f
  awk -v g="$1" -v m="$2" -v s="$3" -v n="$4" -v b="$5" -v an="$6" -v ab="$7" \
      -v q="$8" -v qb="$9" -v qf="${10}" -v a="${11}" -v ab0="${12}" -v af="${13}" 'BEGIN {
    n_st = split("fine-tuned fp16|fp16 delta|2:4 pruned|2:4 + 4-bit|2:4 + 4-bit + zstd|" \
                 "2:4 + 4-bit + DEFLATE|2:4 + 2-bit|2:4 + 2-bit + zstd|2:4 + 2-bit + DEFLATE|" \
                 "whole model 2:4 + 4-bit|whole model 2:4 + 4-bit + zstd|" \
                 "whole model 2:4 + 4-bit + DEFLATE|4-bit g128|whole model 4-bit g128", st, "|")
    x = -1
    for (i = 1; i <= n_st; i++) if (st[i] == s) x = i - 1
    kept = (q == "" || qf == qb) ? "" : sprintf("%.4f", (q - qb) / (qf - qb))
    akept = (a == "" || af == ab0) ? "" : sprintf("%.4f", (a - ab0) / (af - ab0))
    printf "%s,%s,%s,%d,%.4f,%.3f,%.3f,%s,%s,%s,%s\n", g, m, s, x, 8 * b / n, 2 * n / b, 2 * an / ab,
           q == "" ? "" : sprintf("%.4f", q), kept, a == "" ? "" : sprintf("%.3f", a), akept }'
}
for s in $SIZES; do
  for t in $TASKS; do
    p=$R/$s-$t
    qb=$(metric "$p-eval-base.h5" bpb); qf=$(metric "$p-eval-finetuned.h5" bpb)
    ab=$(metric "$p-eval-base.h5" accuracy); af=$(metric "$p-eval-finetuned.h5" accuracy)
    read -r n _ _ _ an _ _ _ <<<"$(sizes "$p-fp16-comp.h5" 1)"
    row zoo "$s/$t" "fine-tuned fp16" "$n" "$((2 * n))" "$an" "$((2 * an))" "$qf" "$qb" "$qf" "$af" "$ab" "$af" >> "$csv"
    for stage in fp16 prune q4 q2 full-q4 rtn4 full-rtn4; do
      read -r n lr lz ld an ar az ad <<<"$(sizes "$p-$stage-comp.h5" 1)"
      q=$(metric "$p-$stage-eval.h5" bpb); a=$(metric "$p-$stage-eval.h5" accuracy)
      case $stage in
        fp16)  row zoo "$s/$t" "fp16 delta" "$n" "$lr" "$an" "$ar" "$q" "$qb" "$qf" "$a" "$ab" "$af" ;;
        prune) row zoo "$s/$t" "2:4 pruned" "$n" "$lr" "$an" "$ar" "$q" "$qb" "$qf" "$a" "$ab" "$af" ;;
        q4|q2|full-q4)
          w=${stage#full-}; w=${w#q}
          pre=""; [ "${stage%%-*}" = full ] && pre="whole model "
          row zoo "$s/$t" "${pre}2:4 + ${w}-bit" "$n" "$lr" "$an" "$ar" "$q" "$qb" "$qf" "$a" "$ab" "$af"
          row zoo "$s/$t" "${pre}2:4 + ${w}-bit + zstd" "$n" "$lz" "$an" "$az" "$q" "$qb" "$qf" "$a" "$ab" "$af"
          row zoo "$s/$t" "${pre}2:4 + ${w}-bit + DEFLATE" "$n" "$ld" "$an" "$ad" "$q" "$qb" "$qf" "$a" "$ab" "$af" ;;
        rtn4)      row zoo "$s/$t" "4-bit g128" "$n" "$lr" "$an" "$ar" "$q" "$qb" "$qf" "$a" "$ab" "$af" ;;
        full-rtn4) row zoo "$s/$t" "whole model 4-bit g128" "$n" "$lr" "$an" "$ar" "$q" "$qb" "$qf" "$a" "$ab" "$af" ;;
      esac
    done >> "$csv"
  done
done
for shape in $SHAPES; do
  read -r L v V < "$R/$shape.dims"
  scale=$(awk -v L="$L" -v l="$SYNTH_LAYERS" -v V="$V" -v v="$v" 'BEGIN { print L / l, V / v }')
  # shellcheck disable=SC2086
  read -r n _ _ _ an _ _ _ <<<"$(sizes "$R/$shape-fp16-comp.h5" $scale)"
  row synth "$shape" "fine-tuned fp16" "$n" "$((2 * n))" "$an" "$((2 * an))" "" "" "" "" "" "" >> "$csv"
  for stage in fp16 prune q4 q2; do
    # shellcheck disable=SC2086
    read -r n lr lz ld an ar az ad <<<"$(sizes "$R/$shape-$stage-comp.h5" $scale)"
    case $stage in
      fp16)  row synth "$shape" "fp16 delta" "$n" "$lr" "$an" "$ar" "" "" "" "" "" "" ;;
      prune) row synth "$shape" "2:4 pruned" "$n" "$lr" "$an" "$ar" "" "" "" "" "" "" ;;
      *) w=${stage#q}
         row synth "$shape" "2:4 + ${w}-bit" "$n" "$lr" "$an" "$ar" "" "" "" "" "" ""
         row synth "$shape" "2:4 + ${w}-bit + zstd" "$n" "$lz" "$an" "$az" "" "" "" "" "" ""
         row synth "$shape" "2:4 + ${w}-bit + DEFLATE" "$n" "$ld" "$an" "$ad" "" "" "" "" "" "" ;;
    esac
  done >> "$csv"
done
mv "$csv" "$OUT/fig5.csv"
say "wrote $OUT/fig5.csv ($(($(wc -l < "$OUT/fig5.csv") - 1)) rows)"

# ---- the paper.md section and the verdicts, from the table ------------------------------------
sec=$OUT/section.md.tmp
awk -F, -v sizes="$SIZES" -v shapes="$SHAPES" -v layers="$SYNTH_LAYERS" '
  NR == 1 { next }
  { key = $2 SUBSEP $3; bits[key] = $5; rl[key] = $6; rw[key] = $7; bpb[key] = $8
    kept[key] = $9; acc[key] = $10; akept[key] = $11
    if ($1 == "zoo" && !seen[$2]++) zoo[++nz] = $2 }
  function f(v, d) { return v == "" ? "–" : sprintf("%." d "f", v) }
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
    print "(m_fine-tuned − m_base), in bits per byte on the task'"'"'s validation text (exact match in"
    print "brackets for arith and reverse), and the size after the 2-bit pipeline with zstd."
    print ""
    print "| fine-tune | fp16 Δ | 2:4 pruned | 2:4 + 4-bit | 2:4 + 2-bit | 2-bit + zstd: bits/param | linear | whole |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nz; i++) { m = zoo[i]; line = "| " m " |"
      split("fp16 delta|2:4 pruned|2:4 + 4-bit|2:4 + 2-bit", q, "|")
      for (j = 1; j <= 4; j++) { k = m SUBSEP q[j]
        line = line " " f(kept[k], 3) (akept[k] != "" ? " (" f(akept[k], 2) ")" : "") " |"
        if (kept[k] != "") { sum[j] += kept[k]; cnt[j]++; if (!(j in mn) || kept[k] < mn[j]) mn[j] = kept[k] }
        if (akept[k] != "") { asum[j] += akept[k]; acnt[j]++; if (!(j in amn) || akept[k] < amn[j]) amn[j] = akept[k] } }
      k = m SUBSEP "2:4 + 2-bit + zstd"
      print line " " f(bits[k], 2) " | " f(rl[k], 2) "x | " f(rw[k], 2) "x |" }
    line = "| mean (min) |"
    for (j = 1; j <= 4; j++) line = line " " (cnt[j] ? f(sum[j] / cnt[j], 3) " (" f(mn[j], 3) ")" : "–") " |"
    print line " | | |"
    print ""
    print "**DZ-2, the delta against the whole model** at the same format (gain kept in bits per"
    print "byte, exact match in brackets; ratio of the linear layers, zstd for 2:4 + 4-bit):"
    print ""
    print "| fine-tune | delta 2:4 + 4-bit | whole model 2:4 + 4-bit | ratio delta / whole | delta 4-bit g128 | whole model 4-bit g128 |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nz; i++) { m = zoo[i]
      a = m SUBSEP "2:4 + 4-bit"; b = m SUBSEP "whole model 2:4 + 4-bit"
      c = m SUBSEP "4-bit g128"; d = m SUBSEP "whole model 4-bit g128"
      az = m SUBSEP "2:4 + 4-bit + zstd"; bz = m SUBSEP "whole model 2:4 + 4-bit + zstd"
      printf "| %s | %s%s | %s%s | %sx / %sx | %s%s | %s%s |\n", m, f(kept[a], 3), (akept[a] != "" ? " (" f(akept[a], 2) ")" : ""),
        f(kept[b], 3), (akept[b] != "" ? " (" f(akept[b], 2) ")" : ""), f(rl[az], 2), f(rl[bz], 2),
        f(kept[c], 3), (akept[c] != "" ? " (" f(akept[c], 2) ")" : ""), f(kept[d], 3), (akept[d] != "" ? " (" f(akept[d], 2) ")" : "")
      if (kept[a] != "" && kept[b] != "") { dz2n++; if (kept[a] > kept[b]) dz2w++; dsum += kept[a]; wsum += kept[b] }
    }
    print ""
    # verdicts
    k = "llama2-7b" SUBSEP "2:4 + 2-bit + DEFLATE"
    if (rw[k] != "") {
      r = rw[k] / 9.86
      v = (r >= 0.8 && r <= 1.25) ? "reproduced" : (r > 1.25 ? "reproduced in trend (we compress further)" : "not reproduced (we compress less)")
      printf "**Verdict DZ-1 (size)**: %s: 2-bit 2:4 + DEFLATE gives %.2fx on the Llama-2-7B-shaped pair (zstd %.2fx) against the paper'"'"'s 9.86x (%.0f%%).\n", v, rw[k], rw["llama2-7b" SUBSEP "2:4 + 2-bit + zstd"], 100 * r
      verdict = verdict "DZ-1 size: " v "; "
    }
    if (cnt[4]) {
      lo = mn[4]; all = sum[4]; n_all = cnt[4]
      if (acnt[4]) { if (amn[4] < lo) lo = amn[4]; all += asum[4]; n_all += acnt[4] }
      v = (lo >= 0.9) ? "reproduced" : (all / n_all >= 0.9 ? "reproduced in trend" : "not reproduced")
      printf "\n**Verdict DZ-1 (quality)**: %s: after 2:4 + 2-bit the zoo'"'"'s fine-tunes keep %.1f%% of their gain in bits per byte on average (lowest %.1f%%)", v, 100 * sum[4] / cnt[4], 100 * mn[4]
      if (acnt[4]) printf " and %.1f%% of their exact-match gain (lowest %.1f%%; at 4 bits %.1f%%, lowest %.1f%%)", 100 * asum[4] / acnt[4], 100 * amn[4], 100 * asum[3] / acnt[3], 100 * amn[3]
      printf "; rule: reproduced when every fine-tune keeps ≥ 90%% on every metric, in trend when the mean over all fine-tunes and metrics does.\n"
      verdict = verdict "DZ-1 quality: " v "; "
    }
    if (dz2n) {
      v = (dz2w == dz2n) ? "reproduced" : (dsum > wsum ? "reproduced in trend" : "not reproduced")
      printf "\n**Verdict DZ-2**: %s: compressing the delta kept more of the gain than compressing the whole model at the same 2:4 + 4-bit format for %d of %d fine-tunes (mean %.3f against %.3f); rule: reproduced when the delta wins for every fine-tune, in trend when it wins on the mean.\n", v, dz2w, dz2n, dsum / dz2n, wsum / dz2n
      verdict = verdict "DZ-2: " v
    }
    print verdict > "'"$OUT"'/verdict.tmp"
  }' "$OUT/fig5.csv" > "$sec"
mv "$OUT/verdict.tmp" "$OUT/verdict"
mv "$sec" "$OUT/section.md"
say "wrote $OUT/section.md; verdict: $(cat "$OUT/verdict")"
