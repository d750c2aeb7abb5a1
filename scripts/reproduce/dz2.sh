#!/usr/bin/env bash
# dz2.sh: the experiment of registry entry dz2 (DeltaZip's DZ-2 as the paper states it: the
# ratio a delta reaches against the ratio the whole fine-tuned model reaches at equal quality;
# the paper: delta 9.86x against whole-model 5.26x (SparseGPT 4-bit 2:4) and 3.46x (AWQ 4-bit
# g128)). Run by `deltabench reproduce dz2` (`make reproduce-dz2`), which then draws
# plots/dz2.gp, evaluates the registry's rules on dz2.csv and splices paper.md.
#
# For every fine-tune of the zoo ($SIZES x $TASKS), two sides at the same four formats:
#   delta   compress --base BASE   (the fine-tune's delta)
#   whole   compress --base ZERO   (an all-zero model of the same shape, `synth --zero-like`:
#           the "delta" is the whole fine-tuned model, compressed by the same code)
#   rtn4  round-to-nearest 4-bit, groups of 128 (AWQ's format without its scaling search)
#   rtn3  round-to-nearest 3-bit, groups of 128
#   q4    2:4 OBS pruning + GPTQ 4-bit (SparseGPT's 4-bit 2:4; DeltaZip's first stage)
#   q2    2:4 + GPTQ 2-bit (DeltaZip's delta format, the paper's 9.86x)
# q4 / q2 calibrate sequentially on the fine-tune's task (--calib-task, as fig5); every format
# is stored through zstd, so both sides get the same lossless stage. Ratio: fp16 bytes of the
# linear layers over their stored bytes. Quality: the share of the fine-tuning gain kept, with
# its 95 % interval (paired bootstrap over prompts / windows, deltabench eval's items table);
# exact match is the primary metric where the task has one (arith, reverse), bits per byte
# otherwise (scripture, code). Both curves start at the uncompressed point (1x, gain kept 1).
#
# The read-off: q* = the delta's quality at 2:4 + 2-bit (with its interval); the whole model's
# ratio at q* is where its curve last stands at q* (`deltabench interval at`: the estimate on the
# curve's estimates; the interval from q*'s upper end on the curve's lower ends and q*'s lower
# end on its upper ends). advantage = delta ratio / whole-model ratio at q*: the claim holds
# when it is above 1. A whole curve still above q* at its last format gives only a lower bound
# on its ratio (written LAST+), so the advantage's lower end is then 0: a tie.
#
# Output: $OUT/runs/*.h5 (compress and eval reports), $OUT/dz2.csv (curve rows, one per
# fine-tune, side and format; read-off rows, one per fine-tune and metric), $OUT/section.md
# (with a <!-- verdicts --> line the registry's rules fill), $OUT/verdict.
# Settings (environment): SIZES (small medium), TASKS, EVAL_TOKENS (8192), EVAL_EXAMPLES (200),
# JOBS (fine-tunes at once, single-threaded each; default the core count), ZOO, OUT, DELTABENCH.
# Cached by an input stamp.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/dz2}
ZOO=${ZOO:-models/zoo}
SIZES=${SIZES:-small medium}
TASKS=${TASKS:-scripture code arith reverse}
EVAL=(--tokens "${EVAL_TOKENS:-8192}" --examples "${EVAL_EXAMPLES:-200}" --data "$ZOO/data" --threads 1)
JOBS=${JOBS:-$(nproc)}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=$OUT/runs
RP=dz2
# shellcheck source=scripts/reproduce/lib.sh
. scripts/reproduce/lib.sh
[ -x "$D" ] || die "$D not built (run make)"
case $JOBS in '' | *[!0-9]* | 0) die "JOBS must be a positive integer, not '$JOBS'" ;; esac
for s in $SIZES; do
  [ -f "$ZOO/$s/stamp" ] || die "zoo size $s missing under $ZOO (run make models)"
  for t in $TASKS; do [ -d "$ZOO/$s/$t" ] || die "fine-tune $t missing under $ZOO/$s"; done
done
FORMATS="rtn4 rtn3 q4 q2"
# shellcheck disable=SC2046
st=$(rp_stamp "sizes $SIZES tasks $TASKS eval ${EVAL[*]} zoo $(cat $(for s in $SIZES; do echo "$ZOO/$s/stamp"; done))" \
  compressors/*.c compressors/*.h models/*.c models/*.h core/safetensors.c core/llama_names.c \
  harness/cmd_compress.c harness/cmd_eval.c harness/cmd_synth.c)
rp_stamp_check "$st"

# fmt_args FORMAT TASK: compress arguments of one format
fmt_args() {
  local cal="--calib-task $2 --calib-data $ZOO/data"
  case $1 in
    rtn4) echo "--method rtn --bits 4 --group 128 --lossless zstd" ;;
    rtn3) echo "--method rtn --bits 3 --group 128 --lossless zstd" ;;
    q4)   echo "--method deltazip --bits 4 $cal" ;;
    q2)   echo "--method deltazip --bits 2 $cal" ;;
  esac
}
# one fine-tune: the base and the fine-tune scored, then every side and format compressed and
# scored (the delta folded into its base, as fig5)
zoo_one() { # size task
  local s=$1 t=$2 z=$ZOO/$1 p=$R/$1-$2 side fmt bdir
  run "$s-$t-eval-base" eval --model "$z/base" --task "$t" "${EVAL[@]}" --out "$p-eval-base.h5"
  run "$s-$t-eval-finetuned" eval --model "$z/$t" --task "$t" "${EVAL[@]}" --out "$p-eval-finetuned.h5"
  for side in delta whole; do
    bdir=$z/base
    [ $side = whole ] && bdir=$R/$s-zero
    for fmt in $FORMATS; do
      # shellcheck disable=SC2046
      run "$s-$t-$side-$fmt-comp" compress --base "$bdir" --target "$z/$t" $(fmt_args "$fmt" "$t") --quiet \
          --out "$p-$side-$fmt.delta" --report "$p-$side-$fmt-comp.h5"
      run "$s-$t-$side-$fmt-eval" eval --model "$bdir" --delta "$p-$side-$fmt.delta" --fold --base none \
          --task "$t" "${EVAL[@]}" --out "$p-$side-$fmt-eval.h5"
      rm -f "$p-$side-$fmt.delta"
    done
  done
}
for s in $SIZES; do
  [ -s "$R/$s-zero/model.safetensors" ] ||
    "$D" synth --zero-like "$ZOO/$s/base" --out-dir "$R/$s-zero" >/dev/null || die "synth --zero-like $s failed"
done
for s in $SIZES; do
  for t in $TASKS; do
    say "$s/$t"
    rp_spawn zoo_one "$s" "$t"
  done
done
rp_wait
rp_stamp_done "$st"

# ---- the table, joined from the runs -----------------------------------------------------------
label() {
  case $1 in
    fp16) echo "fp16" ;; rtn4) echo "4-bit g128" ;; rtn3) echo "3-bit g128" ;;
    q4) echo "2:4 + 4-bit" ;; q2) echo "2:4 + 2-bit" ;;
  esac
}
csv=$OUT/dz2.csv.tmp
echo "side,model,format,label,primary,metric,ratio,q,q_lo,q_hi,ratio_delta,ratio_whole,ratio_whole_lo,ratio_whole_hi,advantage,adv_lo,adv_hi" > "$csv"
for s in $SIZES; do
  for t in $TASKS; do
    p=$R/$s-$t b=$p-eval-base.h5 f=$p-eval-finetuned.h5
    prim=bpb
    [ -n "$(rp_qual "$f" accuracy)" ] && [ -n "$(rp_gain accuracy "$b" "$f" "$f")" ] && prim=accuracy
    for m in accuracy bpb; do
      [ $m = bpb ] || [ $prim = accuracy ] || continue
      pr=0; [ $m = $prim ] && pr=1
      mname="exact match"; [ $m = bpb ] && mname="bits per byte"
      for side in delta whole; do
        printf '1 1 1 1\n' > "$p-$side-$m.curve.tmp"
        echo "$side,$s/$t,fp16,fp16,$pr,$mname,1,1,1,1,,,,,,," >> "$csv"
        for fmt in $FORMATS; do
          read -r n _ lz _ _ _ _ _ <<<"$(sizes "$p-$side-$fmt-comp.h5")"
          r=$(awk -v n="$n" -v b="$lz" 'BEGIN { printf "%.4f", 2 * n / b }')
          read -r k klo khi <<<"$(rp_gain $m "$b" "$f" "$p-$side-$fmt-eval.h5")"
          [ -n "$k" ] || die "$s/$t $side $fmt: no gain kept in $m"
          echo "$r $k $klo $khi" >> "$p-$side-$m.curve.tmp"
          echo "$side,$s/$t,$fmt,$(label "$fmt"),$pr,$mname,$r,$k,$klo,$khi,,,,,,," >> "$csv"
          [ $side = delta ] && [ "$fmt" = q2 ] && { rd=$r; q="$k $klo $khi"; }
        done
        sort -g "$p-$side-$m.curve.tmp" > "$p-$side-$m.curve"
        rm -f "$p-$side-$m.curve.tmp"
      done
      # shellcheck disable=SC2086
      read -r we wl wh <<<"$("$D" interval at $q "$p-whole-$m.curve")" || die "interval at failed for $s/$t"
      awk -v side=readoff -v m="$s/$t" -v pr=$pr -v mn="$mname" -v q="$q" -v rd="$rd" -v we="$we" -v wl="$wl" -v wh="$wh" 'BEGIN {
        split(q, Q, " ")
        # "X+": the whole model still holds q* at its last format, a lower bound: no upper end
        adv = rd / we; lo = (wh ~ /\+$/) ? 0 : rd / wh; hi = rd / wl
        printf "%s,%s,q2,2:4 + 2-bit,%d,%s,%.4f,%s,%s,%s,%.4f,%s,%s,%s,%.4f,%.4f,%.4f\n", side, m, pr, mn, rd,
               Q[1], Q[2], Q[3], rd, we, wl, wh, adv, lo, hi }' >> "$csv"
    done
  done
done
mv "$csv" "$OUT/dz2.csv"
say "wrote $OUT/dz2.csv ($(($(wc -l < "$OUT/dz2.csv") - 1)) rows)"

# ---- the paper.md section (the verdict lines come from the registry's rules) -------------------
sec=$OUT/section.md.tmp
awk -F, -v sizes="$SIZES" '
  NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  function v(k) { return $c[k] }
  $c["side"] != "readoff" && $c["primary"] == 1 {
    k = $c["model"] SUBSEP $c["side"] SUBSEP $c["format"]
    cell[k] = sprintf("%.3f [%.3f, %.3f] @ %.2fx", v("q"), v("q_lo"), v("q_hi"), v("ratio"))
    if (!seen[$c["model"]]++) { mod[++nm] = $c["model"]; met[$c["model"]] = $c["metric"] } }
  $c["side"] == "readoff" { k = $c["model"] SUBSEP $c["metric"]
    ro[k] = sprintf("%.3f [%.3f, %.3f] | %.2fx | %s [%s, %s] | %.2f [%.2f, %.2f]", v("q"), v("q_lo"), v("q_hi"),
                    v("ratio_delta"), fx(v("ratio_whole")), fx(v("ratio_whole_lo")), fx(v("ratio_whole_hi")),
                    v("advantage"), v("adv_lo"), v("adv_hi")) }
  function fx(x) { return x ~ /\+$/ ? "≥ " sprintf("%.2f", x) "x" : (x ~ /-$/ ? "≤ " sprintf("%.2f", x) "x" : sprintf("%.2fx", x)) }
  END {
    print "**Quality against ratio, the delta and the whole model at the same formats** (share of the"
    print "fine-tuning gain kept with its 95 % interval, @ the linear layers'"'"' ratio with zstd; exact"
    print "match for arith and reverse, bits per byte for scripture and code):"
    print ""
    print "| fine-tune | metric | side | 4-bit g128 | 3-bit g128 | 2:4 + 4-bit | 2:4 + 2-bit |"
    print "|---|---|---|---:|---:|---:|---:|"
    split("rtn4 rtn3 q4 q2", F, " ")
    for (i = 1; i <= nm; i++) for (s = 1; s <= 2; s++) { side = s == 1 ? "delta" : "whole model"
      line = "| " mod[i] " | " met[mod[i]] " | " side " |"
      for (j = 1; j <= 4; j++) line = line " " cell[mod[i] SUBSEP (s == 1 ? "delta" : "whole") SUBSEP F[j]] " |"
      print line }
    print ""
    print "**The read-off**: q* = the delta'"'"'s gain kept at 2:4 + 2-bit; the ratio the whole model"
    print "reaches at q* (its curve read in log ratio between formats, interval from q*'"'"'s and the"
    print "curve'"'"'s intervals; ≥: still above q* at its last format); advantage = delta ratio / whole"
    print "ratio (the paper: 9.86 / 5.26 = 1.87 against SparseGPT, 9.86 / 3.46 = 2.85 against AWQ)."
    print ""
    print "| fine-tune | metric | q* | delta ratio | whole-model ratio at q* | advantage |"
    print "|---|---|---:|---:|---:|---:|"
    for (i = 1; i <= nm; i++) for (e = 1; e <= 2; e++) { mt = e == 1 ? "exact match" : "bits per byte"
      k = mod[i] SUBSEP mt; if (k in ro) print "| " mod[i] " | " mt " | " ro[k] " |" }
    print ""
    print "<!-- verdicts -->"
  }' "$OUT/dz2.csv" > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
say "wrote $OUT/section.md"
