#!/usr/bin/env bash
# bd4.sh: the experiment of registry entry bd4 (BitDelta BD-4, "GPU memory stays near one base
# model as tenants grow"). Run by `deltabench reproduce bd4` (`make reproduce-bd4`), which then
# draws plots/bd4.gp and splices paper.md; runnable alone for the data. The logic of
# scripts/serving-bd4.sh, on the `sim` executor:
#
# B tenants ($TENANTS) of one model shape ($MODEL, Llama-2-7B) on one GPU profile ($HW,
# a100-80gb): a Poisson trace of $RATE req/s over the B models (uniform popularity, lognormal
# lengths, $DURATION s, seed 1) served by
#   bitdelta  the base resident + every tenant's 1-bit delta resident, batched  (--system bitdelta)
#   naive     every tenant's full fp16 model resident on the same GPU           (--system swap
#             --max-resident B; "out of memory" when the simulator refuses the placement)
# The memory of a tenant count that does not fit is the simulator's own accounting
# (full_model_bytes + B x delta_bytes, and B x full_model_bytes for naive), taken from the runs
# that fit, so the figure continues the lines past the GPU.
#
# Output: $OUT/runs/bitdelta-B.h5 and naive-B.h5 (runs that fit; their logs say why not),
# $OUT/bd4.csv (one row per B), $OUT/section.md, $OUT/verdict. Cached by an input stamp.
#   env: TENANTS, MODEL, HW, RATE, DURATION
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/bd4}
TENANTS=${TENANTS:-1 2 4 5 6 8 16 24 32 40 48 64}
MODEL=${MODEL:-llama2-7b}
HW=${HW:-a100-80gb}
RATE=${RATE:-2}
DURATION=${DURATION:-120}
LEN=lognormal:512,0.5,128,0.8
PAPER_DELTA_GB=1.3 # BitDelta: base + B x 1.3 GB (Llama-2-7B)
R=$OUT/runs
RP=bd4
. scripts/reproduce/lib.sh

[ -x "$D" ] || die "$D not built (run make)"
[ -n "$TENANTS" ] || die "TENANTS is empty"
for b in $TENANTS; do
  case $b in '' | *[!0-9]* | 0) die "TENANTS: '$b' is not a positive integer" ;; esac
done

st=$(rp_stamp "tenants $TENANTS model $MODEL hw $HW rate $RATE duration $DURATION" serve/*.c serve/*.h harness/serving_cli.c harness/cmd_simulate.c harness/cmd_trace.c workloads/*.c)
rp_stamp_check "$st"

# sim NAME ARGS...: a simulate run; "fits" (with $R/NAME.h5) or "oom" (the simulator refused the
# placement: its one-line reason in $R/NAME.log); any other failure is an error.
sim() {
  local name=$1; shift
  if [ -s "$R/$name.h5" ]; then echo fits; return; fi
  if [ -s "$R/$name.oom" ]; then echo oom; return; fi
  if "$D" simulate "$@" -q --out "$R/$name.h5" >"$R/$name.log" 2>&1; then echo fits; return; fi
  grep -q 'do not fit' "$R/$name.log" || { cat "$R/$name.log" >&2; die "simulate $name failed: $D simulate $*"; }
  cp "$R/$name.log" "$R/$name.oom"
  echo oom
}

for B in $TENANTS; do
  tr=$R/trace-$B.csv
  [ -s "$tr" ] || "$D" trace gen --arrival poisson --rate "$RATE" --models "$B" --popularity uniform \
      --lengths "$LEN" --duration "$DURATION" --seed 1 --out "$tr" >/dev/null ||
    die "trace gen for $B tenants failed"
  # one GPU and every tenant resident, given explicitly: simulate's defaults would otherwise
  # choose a TP and slot count that fit
  common=(--trace "$tr" --models "$B" --model "$MODEL" --hw "$HW" --tp 1)
  fb=$(sim "bitdelta-$B" "${common[@]}" --system bitdelta --max-deltas "$B")
  fn=$(sim "naive-$B" "${common[@]}" --system swap --max-resident "$B")
  say "$B tenants: bitdelta $fb, naive $fn"
done
rp_stamp_done "$st"

# ---- the table, from the runs ------------------------------------------------------------------
# col NAME FILE: a column of the summary table of a run
col() { "$D" export "$2" summary | awk -F, -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } { print $k; exit }'; }
ref=""
for B in $TENANTS; do [ -s "$R/bitdelta-$B.h5" ] && { ref=$R/bitdelta-$B.h5; break; }; done
[ -n "$ref" ] || die "no tenant count fits one $HW with BitDelta: nothing to draw"
full=$(col full_model_bytes "$ref"); delta=$(col delta_bytes "$ref")
cap=$(col gpu_capacity_bytes "$ref"); gpus=$(col gpus "$ref")
util=$(sed -n 's/.*x \([0-9.]*\) of .*/\1/p' "$R"/*.oom 2>/dev/null | head -1)
util=${util:-0.90}

csv=$OUT/bd4.csv.tmp
echo "tenants,bitdelta_fits,bitdelta_weights_gb,bitdelta_peak_gb,naive_fits,naive_gb,gpu_gb,usable_gb,dedicated_gpus" > "$csv"
for B in $TENANTS; do
  if [ -s "$R/bitdelta-$B.h5" ]; then fb=1; peak=$(col peak_gpu_bytes "$R/bitdelta-$B.h5"); else fb=0; peak=""; fi
  if [ -s "$R/naive-$B.h5" ]; then fn=1; else fn=0; fi
  awk -v B="$B" -v fb="$fb" -v fn="$fn" -v peak="$peak" -v full="$full" -v d="$delta" -v cap="$cap" \
      -v g="$gpus" -v u="$util" 'BEGIN {
    printf "%d,%d,%.3f,%s,%d,%.3f,%.3f,%.3f,%d\n", B, fb, (full + B * d) / 1e9,
           peak == "" ? "" : sprintf("%.3f", peak / 1e9), fn, B * full / 1e9, g * cap / 1e9, g * cap * u / 1e9, B }'
done >> "$csv"
mv "$csv" "$OUT/bd4.csv"
say "wrote $OUT/bd4.csv ($(($(wc -l < "$OUT/bd4.csv") - 1)) rows)"

# ---- the paper.md section and the verdict ------------------------------------------------------
sec=$OUT/section.md.tmp
awk -F, -v out="$OUT" -v model="$MODEL" -v hw="$HW" -v full="$full" -v d="$delta" -v pd="$PAPER_DELTA_GB" '
  NR == 1 { next }
  { n++; B[n] = $1; fb[n] = $2; w[n] = $3; pk[n] = $4; fn[n] = $5; nv[n] = $6; gpu = $7; use = $8 }
  END {
    printf "**GPU memory against tenants**, %s fine-tunes on one %s (%.1f GB; %.1f GB usable for\n", model, hw, gpu, use
    print "weights and KV cache). BitDelta: base + B × delta resident, weights and peak with the KV"
    print "cache in use; naive: every tenant'"'"'s fp16 model resident on the same GPU; dedicated: one GPU"
    print "per tenant."
    print ""
    print "| tenants B | BitDelta weights GB | BitDelta peak GB | naive GB | naive on one GPU | dedicated GPUs |"
    print "|---:|---:|---:|---:|---|---:|"
    maxb = 0; oomn = 0
    for (i = 1; i <= n; i++) {
      printf "| %d | %.2f%s | %s | %.1f | %s | %d |\n", B[i], w[i], fb[i] ? "" : " (does not fit)",
             pk[i] == "" ? "–" : sprintf("%.2f", pk[i]), nv[i], fn[i] ? "fits" : "out of memory", B[i]
      if (fb[i] && B[i] > maxb) maxb = B[i]
      if (fb[i] && !fn[i]) both++
      if (!fn[i] && (!oomn || B[i] < oomn)) oomn = B[i] }
    slope = d / 1e9
    print ""
    printf "Memory per extra tenant: %.3f GB (the paper: %.1f GB); base %.2f GB. BitDelta fits up to %d tenants here", slope, pd, full / 1e9, maxb
    if (oomn) printf "; naive serving is out of memory from %d tenants in this sweep", oomn
    print "."
    print ""
    v = (slope / pd >= 0.9 && slope / pd <= 1.1 && both) ? "reproduced" : (both ? "reproduced in trend" : "not reproduced")
    printf "**Verdict BD-4**: %s: memory grows as base + B × %.2f GB and one GPU holds %d tenants, where naive serving runs out of memory at %d. Rule: reproduced when the memory per tenant is within ±10 %% of the paper'"'"'s 1.3 GB and BitDelta fits one GPU at a tenant count where naive serving does not; in trend when only the latter holds.\n", v, slope, maxb, oomn
    printf "BD-4: %s (base + B x %.2f GB; %d tenants on one GPU)\n", v, slope, maxb > (out "/verdict.tmp")
  }' "$OUT/bd4.csv" > "$sec"
mv "$OUT/verdict.tmp" "$OUT/verdict"
mv "$sec" "$OUT/section.md"
say "wrote $OUT/section.md; verdict: $(cat "$OUT/verdict")"
