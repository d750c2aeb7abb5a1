#!/usr/bin/env bash
# dz1.sh: the experiment of registry entry dz1 (DeltaZip DZ-1, size): the Llama-2-7B ratio of
# 2:4 + 2-bit + a lossless stage, on synthetic deltas whose distribution is fitted to the model
# zoo's real deltas, as an interval over the fitted range. Run by `deltabench reproduce dz1`
# (`make reproduce-dz1`), which then draws plots/dz1.gp, evaluates the registry's rules and
# splices paper.md; runnable alone for the data.
#
# 1. zoo     `deltabench stats` of every fine-tune's delta ($SIZES x $TASKS): per linear tensor
#            kurtosis, row max/RMS, share of |Δ| < 0.1 RMS, row and column spreads; the medians
#            over a model's tensors describe the fine-tune.
# 2. grid    for each size, synthetic pairs (llama2-7b names and heads) of that size's shape (its layers, hidden and FFN
#            widths: row max/RMS depends on the row length) over the generator's knobs
#            ($TAILS x $ROWSIG x $COLSIG: σ of the scale mixture and of the row and column
#            scales), measured the same way.
# 3. fit     each fine-tune's nearest grid point: the sum over the five statistics (kurtosis on
#            a log scale) of the squared difference in units of that statistic's standard
#            deviation over the grid. The fitted range is the box spanned by the fine-tunes'
#            nearest points; the central fit is the median of each σ over them.
# 4. sweep   Llama-2-7B-shaped pairs (first layer, vocabulary 256, scaled to the model as fig5
#            does) at the corners of that box in tail and column σ (at the central row σ: a
#            row's scale does not change its per-row codes), at the central fit and at the generator's
#            historical defaults (σ 0.6, 0.3, 0.3: fig5's synthetic rows), each compressed
#            2:4 + 2-bit (deltazip, H = I) with zstd and DEFLATE sizes.
# The interval of the Llama-2-7B whole-checkpoint ratio is [min, max] over the box's corners
# (the ratio moves monotonically with each σ over the grid), its point the central fit.
#
# Output: $OUT/runs/*.h5 (stats and compress reports), $OUT/dz1.csv (rows: kind zoo = a
# fine-tune's statistics with its fitted σ; fit = the statistics of its nearest grid point;
# sweep / default = a Llama-2-7B point; interval = the ratio's interval per codec),
# $OUT/section.md (verdict lines from the registry's rules).
# Settings (environment): SIZES, TASKS, TAILS, ROWSIG, COLSIG, SHAPE (llama2-7b), ZOO, OUT,
# DELTABENCH, JOBS (grid pairs and Llama points measured at once, default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/dz1}
ZOO=${ZOO:-models/zoo}
SIZES=${SIZES:-small medium}
TASKS=${TASKS:-scripture code arith reverse}
TAILS=${TAILS:-0 0.1 0.2 0.3 0.45 0.6}
ROWSIG=${ROWSIG:-0.15 0.3 0.45}
COLSIG=${COLSIG:-0 0.1 0.2 0.3}
SHAPE=${SHAPE:-llama2-7b}
JOBS=${JOBS:-2}
PAPER=9.86
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=$OUT/runs
RP=dz1
# shellcheck source=scripts/reproduce/lib.sh
. scripts/reproduce/lib.sh
[ -x "$D" ] || die "$D not built (run make)"
for x in SIZES TASKS TAILS ROWSIG COLSIG; do [ -n "${!x}" ] || die "$x is empty"; done
for s in $SIZES; do
  [ -f "$ZOO/$s/stamp" ] || die "zoo size $s missing under $ZOO (run make models)"
  for t in $TASKS; do [ -d "$ZOO/$s/$t" ] || die "fine-tune $t missing under $ZOO/$s"; done
done
for v in $TAILS $ROWSIG $COLSIG; do
  awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9.]+$/ && v + 0 <= 3) }' || die "σ '$v' is not a number in [0, 3]"
done
case $JOBS in '' | *[!0-9]* | 0) die "JOBS must be a positive integer, not '$JOBS'" ;; esac
# The runs' files are named by their settings (size and task; the σ of a grid or Llama point),
# so the stamp holds only the sources and the shape; a size's files are cleared when its zoo's
# stamp changes. More sizes or grid points later reuse what is done.
st=$(rp_stamp "shape $SHAPE" \
  compressors/*.c compressors/*.h core/safetensors.c core/llama_names.c \
  harness/cmd_compress.c harness/cmd_synth.c harness/cmd_stats.c)
rp_stamp_check "$st"
rp_stamp_done "$st" # every file under $R is complete (written by rename), so current
for s in $SIZES; do
  if [ "$(cat "$R/zoo-$s.stamp" 2>/dev/null)" != "$(cat "$ZOO/$s/stamp")" ]; then
    rm -f "$R/zoo-$s"-* "$R/grid-$s"-*
    cp "$ZOO/$s/stamp" "$R/zoo-$s.stamp"
  fi
done

# cfg DIR KEY: an integer of DIR/config.json
cfg() {
  sed -n "s/.*\"$2\"[^0-9]*\([0-9][0-9]*\).*/\1/p" "$1/config.json" | head -1
}
# medians FILE.h5: "kurtosis row_max_rms near_zero row_spread col_spread", medians over tensors
# (kept beside the file as FILE.med: the grid's 72 files are read once)
medians() {
  [ -s "$1.med" ] && [ "$1.med" -nt "$1" ] && { cat "$1.med"; return; }
  "$D" export "$1" delta_stats | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { n++; split("kurtosis row_max_rms near_zero row_spread col_spread", w, " ")
      for (j = 1; j <= 5; j++) v[j, n] = $(col[w[j]]) }
    END { for (j = 1; j <= 5; j++) {
            for (a = 1; a <= n; a++) x[a] = v[j, a]
            for (a = 2; a <= n; a++) { y = x[a]; b = a - 1; while (b >= 1 && x[b] > y) { x[b + 1] = x[b]; b-- } x[b + 1] = y }
            printf "%s%.6g", (j > 1 ? " " : ""), (n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2) }
          print "" }' > "$1.med.tmp" && mv "$1.med.tmp" "$1.med" && cat "$1.med"
}

# ---- 1. the zoo's deltas -------------------------------------------------------------------------
for s in $SIZES; do
  for t in $TASKS; do
    run "zoo-$s-$t" stats --base "$ZOO/$s/base" --target "$ZOO/$s/$t" --quiet --out "$R/zoo-$s-$t.h5"
  done
done

# ---- 2. the generator's grid at each size's shape -----------------------------------------------
grid_one() { # size tail row col
  local p=$R/grid-$1-$2-$3-$4
  [ -s "$p.h5" ] && return 0
  "$D" synth --shape llama2-7b --layers "$L" --vocab 256 --hidden "$C" --ffn "$F" --seed 1 \
      --tail-sigma "$2" --row-sigma "$3" --col-sigma "$4" -q --out-base "$p.b.st" --out-target "$p.t.st" \
      </dev/null >"$p.log" 2>&1 &&
    "$D" stats --base "$p.b.st" --target "$p.t.st" --quiet --out "$p.h5" </dev/null >>"$p.log" 2>&1 ||
    { cat "$p.log" >&2; rm -f "$p.b.st" "$p.t.st"; die "grid point $1 $2 $3 $4 failed"; }
  rm -f "$p.b.st" "$p.t.st"
}
for s in $SIZES; do
  L=$(cfg "$ZOO/$s/base" num_hidden_layers); C=$(cfg "$ZOO/$s/base" hidden_size)
  F=$(cfg "$ZOO/$s/base" intermediate_size)
  [ -n "$L" ] && [ -n "$C" ] && [ -n "$F" ] || die "$ZOO/$s/base/config.json: no layer count or widths"
  say "$s: grid of $(($(wc -w <<<"$TAILS") * $(wc -w <<<"$ROWSIG") * $(wc -w <<<"$COLSIG"))) synthetic pairs, $L layers, hidden $C, FFN $F"
  for a in $TAILS; do for b in $ROWSIG; do for c in $COLSIG; do
    rp_spawn grid_one "$s" "$a" "$b" "$c"
  done; done; done
  rp_wait
done

# ---- 3. the fit ------------------------------------------------------------------------------------
{
  for s in $SIZES; do
    for t in $TASKS; do echo "zoo $s $s/$t - - - $(medians "$R/zoo-$s-$t.h5")"; done
    for a in $TAILS; do for b in $ROWSIG; do for c in $COLSIG; do
      echo "grid $s - $a $b $c $(medians "$R/grid-$s-$a-$b-$c.h5")"
    done; done; done
  done
} > "$R/fit.in"
# fit.out: one line per fine-tune: model, its statistics, its nearest point and that point's
awk '
  { k = $1; s = $2 }
  k == "zoo" { nz++; zs[nz] = s; zm[nz] = $3; for (j = 1; j <= 5; j++) zv[nz, j] = $(6 + j) }
  k == "grid" { n[s]++; g = s SUBSEP n[s]; gp[g] = $4 " " $5 " " $6
                for (j = 1; j <= 5; j++) { v = $(6 + j); if (j == 1) v = log(v); gv[g, j] = v; sum[s, j] += v; sq[s, j] += v * v } }
  END {
    for (i = 1; i <= nz; i++) { s = zs[i]; best = -1
      for (j = 1; j <= 5; j++) { m = sum[s, j] / n[s]; sd[j] = sqrt(sq[s, j] / n[s] - m * m); if (sd[j] <= 0) sd[j] = 1 }
      for (q = 1; q <= n[s]; q++) { g = s SUBSEP q; d = 0
        for (j = 1; j <= 5; j++) { z = (j == 1 ? log(zv[i, j]) : zv[i, j]); d += ((gv[g, j] - z) / sd[j]) ^ 2 }
        if (best < 0 || d < best) { best = d; bq = q } }
      g = s SUBSEP bq
      printf "%s %s", zm[i], gp[g]
      for (j = 1; j <= 5; j++) printf " %s", zv[i, j]
      for (j = 1; j <= 5; j++) printf " %.6g", j == 1 ? exp(gv[g, j]) : gv[g, j]
      printf " %.4f\n", sqrt(best / 5) } }' "$R/fit.in" > "$R/fit.out"
[ -s "$R/fit.out" ] || die "fit: no fine-tune fitted"
# the box (min, max of each σ) and the central fit (median of each σ)
box=$(awk '{ for (j = 1; j <= 3; j++) v[j, NR] = $(1 + j) }
  END { for (j = 1; j <= 3; j++) { n = 0; for (i = 1; i <= NR; i++) a[++n] = v[j, i]
          for (i = 1; i <= n; i++) for (k = i + 1; k <= n; k++) if (a[k] < a[i]) { x = a[i]; a[i] = a[k]; a[k] = x }
          printf "%s %s %s ", a[1], a[n], a[int((n + 1) / 2)] } }' "$R/fit.out")
read -r tlo thi tmid rlo rhi rmid clo chi cmid <<<"$box"
say "fitted range: tail σ [$tlo, $thi] (central $tmid), row σ [$rlo, $rhi] ($rmid), col σ [$clo, $chi] ($cmid)"

# ---- 4. Llama-2-7B over the fitted range ---------------------------------------------------------
# the row σ only scales whole rows, which the per-row quantiser and the in-group 2:4 choice
# undo (only the fp16 row scales' bytes differ): the corners span tail and column σ at the
# central row σ
points=$( { for a in "$tlo" "$thi"; do for c in "$clo" "$chi"; do echo "sweep $a $rmid $c"; done; done
            echo "center $tmid $rmid $cmid"; echo "default 0.6 0.3 0.3"; } | awk '!seen[$2 " " $3 " " $4]++ || $1 != "sweep"')
echo "$points" > "$R/points"
llama_one() { # tail row col
  local p=$R/$SHAPE-$1-$2-$3
  [ -s "$p-comp.h5" ] && return 0
  "$D" synth --shape "$SHAPE" --layers 1 --vocab 256 --seed 0 --tail-sigma "$1" --row-sigma "$2" \
      --col-sigma "$3" --out-base "$p.b.st" --out-target "$p.t.st" </dev/null >"$p.synth.log" 2>&1 ||
    { cat "$p.synth.log" >&2; rm -f "$p.b.st" "$p.t.st"; die "synth $SHAPE failed"; }
  sed -n 's/.* of \([0-9]*\) layers, vocab \([0-9]*\) of \([0-9]*\).*/\1 \2 \3/p' "$p.synth.log" > "$p.dims"
  run "$SHAPE-$1-$2-$3-comp" compress --base "$p.b.st" --target "$p.t.st" --method deltazip --bits 2 \
      --quiet --out "$p.delta" --report "$p-comp.h5"
  rm -f "$p.b.st" "$p.t.st" "$p.delta"
}
while read -r kind a b c; do
  [ -s "$R/$SHAPE-$a-$b-$c-comp.h5" ] && continue
  say "$SHAPE ($kind): tail σ $a, row σ $b, col σ $c"
  rp_spawn llama_one "$a" "$b" "$c"
done <<<"$(awk '!seen[$2 " " $3 " " $4]++' <<<"$points")"
rp_wait
# the first point's dimensions (awk, not cat | head: under pipefail a SIGPIPE of cat would end the
# script without a message)
awk 'FNR == 1 { print; exit }' "$R/$SHAPE"-*.dims > "$R/$SHAPE.dims"
rp_stamp_done "$st"

# ---- the table: the figure's rows, joined from the runs -------------------------------------------
csv=$OUT/dz1.csv.tmp
echo "kind,model,tail_sigma,row_sigma,col_sigma,kurtosis,row_max_rms,near_zero,row_spread,col_spread,fit_distance,bits_linear,ratio_zstd,ratio_deflate,ratio_lo,ratio_hi,paper" > "$csv"
awk '{ printf "zoo,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,,,,,,\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $15
       printf "fit,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,,,,,,\n", $1, $2, $3, $4, $10, $11, $12, $13, $14, $15 }' "$R/fit.out" >> "$csv"
read -r L v V < "$R/$SHAPE.dims"
scale=$(awk -v L="$L" -v V="$V" -v v="$v" 'BEGIN { print L, V / v }')
while read -r kind a b c; do
  # shellcheck disable=SC2086
  read -r n _ _ ld an _ az ad <<<"$(sizes "$R/$SHAPE-$a-$b-$c-comp.h5" $scale)"
  awk -v k="$kind" -v m="$SHAPE" -v a="$a" -v b="$b" -v c="$c" -v n="$n" -v ld="$ld" -v an="$an" \
      -v az="$az" -v ad="$ad" -v p="$PAPER" 'BEGIN {
    printf "%s,%s,%s,%s,%s,,,,,,,%.4f,%.3f,%.3f,,,%s\n", k, m, a, b, c, 8 * ld / n, 2 * an / az, 2 * an / ad, p }'
done <<<"$points" >> "$csv"
# the interval per codec: [min, max] over the box's corners, the point at the central fit
awk -F, -v p="$PAPER" '
  $1 == "sweep" || $1 == "center" { for (j = 13; j <= 14; j++) { if (!(j in lo) || $j < lo[j]) lo[j] = $j; if (!(j in hi) || $j > hi[j]) hi[j] = $j } }
  $1 == "center" { cz = $13; cd = $14; m = $2 }
  END { printf "interval,%s,,,,,,,,,,,,%.3f,%.3f,%.3f,%s\n", m, cd, lo[14], hi[14], p
        printf "interval-zstd,%s,,,,,,,,,,,%.3f,,%.3f,%.3f,%s\n", m, cz, lo[13], hi[13], p }' "$csv" > "$csv.iv"
cat "$csv.iv" >> "$csv" && rm -f "$csv.iv"
mv "$csv" "$OUT/dz1.csv"
say "wrote $OUT/dz1.csv ($(($(wc -l < "$OUT/dz1.csv") - 1)) rows)"

# ---- the paper.md section (verdict lines from the registry's rules for dz1) -----------------------
sec=$OUT/section.md.tmp
awk -F, -v tails="$TAILS" -v rows="$ROWSIG" -v cols="$COLSIG" '
  NR == 1 { next }
  $1 == "zoo" { z[++nz] = $0 } $1 == "fit" { f[++nf] = $0 }
  $1 == "sweep" || $1 == "center" || $1 == "default" { w[++nw] = $0 }
  $1 == "interval" { iv = $0 } $1 == "interval-zstd" { ivz = $0 }
  function g(v, d) { return v == "" ? "–" : sprintf("%." d "f", v) }
  END {
    print "**The zoo'"'"'s deltas against the fitted generator.** `deltabench stats` per linear tensor,"
    print "medians over a model'"'"'s tensors: kurtosis (Gaussian 3), mean row max/RMS, share of |Δ| <"
    print "0.1 RMS, spread (std of ln RMS) of rows and of columns. Each fine-tune'"'"'s nearest point"
    print "of the generator'"'"'s grid (σ of the scale mixture " tails ", of the row scales " rows ", of the"
    print "column scales " cols "), generated at that zoo size'"'"'s shape, is the row below it;"
    print "distance: RMS over the statistics in units of their spread over the grid."
    print ""
    print "| fine-tune | | σ tail / row / col | kurtosis | row max/RMS | near zero | row spread | col spread | distance |"
    print "|---|---|---|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nz; i++) { split(z[i], a, ","); split(f[i], b, ",")
      printf "| %s | zoo | | %s | %s | %s | %s | %s | |\n", a[2], g(a[6], 2), g(a[7], 2), g(a[8], 3), g(a[9], 3), g(a[10], 3)
      printf "| | fit | %s / %s / %s | %s | %s | %s | %s | %s | %s |\n", b[3], b[4], b[5], g(b[6], 2), g(b[7], 2), g(b[8], 3), g(b[9], 3), g(b[10], 3), g(b[11], 2) }
    print ""
    print "**Llama-2-7B over the fitted range** (first layer measured, scaled to 32 layers and the"
    print "32,000-token vocabulary; embeddings and lm_head fp16): 2:4 + 2-bit (H = I), bits per"
    print "parameter of the linear layers after DEFLATE, and the whole-checkpoint ratio."
    print ""
    print "| point | σ tail / row / col | bits/param (DEFLATE) | ratio, zstd | ratio, DEFLATE |"
    print "|---|---|---:|---:|---:|"
    for (i = 1; i <= nw; i++) { split(w[i], a, ",")
      nm = a[1] == "sweep" ? "corner of the fitted range" : a[1] == "center" ? "central fit" : "historical default (fig5)"
      printf "| %s | %s / %s / %s | %s | %sx | %sx |\n", nm, a[3], a[4], a[5], g(a[12], 2), g(a[13], 2), g(a[14], 2) }
    split(iv, a, ","); split(ivz, b, ",")
    print ""
    printf "Interval of the Llama-2-7B whole-checkpoint ratio over the fitted range: **%.2fx [%.2f, %.2f]**\n", a[14], a[15], a[16]
    printf "with DEFLATE (zstd %.2fx [%.2f, %.2f]); the paper: %sx (2-bit + 2:4 + GDeflate, Vicuna-7B).\n", b[13], b[15], b[16], a[17]
    print ""
    print "<!-- verdicts -->"
  }' "$OUT/dz1.csv" > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
say "wrote $OUT/section.md (its verdict lines come from the registry's rules for dz1)"
