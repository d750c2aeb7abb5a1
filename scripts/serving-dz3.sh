#!/usr/bin/env bash
# serving-dz3.sh: the DeltaZip serving comparison (CLAIMS DZ-3, DZ-4) on the `sim` executor:
# Llama-2-13B, TP 4, 32 variants, Poisson 0.5-2 req/s, uniform / Zipf 1.5 popularity, 300 s,
# a100-80gb; swap keeps 6 full models on the GPU, DeltaZip 8 or 12 4-bit 2:4 deltas.
# Writes one HDF5 result per run under OUT (default results/serving) and prints a markdown
# table (throughput, mean TTFT and E2E, SLO attainment at 5 s) on stdout.
#   scripts/serving-dz3.sh [DELTABENCH] [OUT]
set -eu
D=${1:-bin/deltabench}
OUT=${2:-results/serving}
LEN=${LEN:-lognormal:512,0.5,128,0.8}
mkdir -p "$OUT"
printf '| popularity | rate | system | req/s | out tok/s | mean TTFT s | mean E2E s | p99 E2E s | SLO 5 s | loads |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for pop in uniform zipf:1.5; do
  for rate in 0.5 1 1.5 2; do
    tag="$(echo "$pop" | tr ':' '-')-r$rate"
    tr="$OUT/trace-$tag.csv"
    "$D" trace gen --arrival poisson --rate "$rate" --models 32 --popularity "$pop" \
      --lengths "$LEN" --duration 300 --seed 1 --out "$tr" >/dev/null
    while read -r name args; do
      res="$OUT/dz3-$tag-$name.h5"
      # shellcheck disable=SC2086
      "$D" simulate --trace "$tr" --model llama2-13b --tp 4 --hw a100-80gb $args -q --out "$res"
      "$D" export "$res" summary | python3 -c '
import csv, sys
r = next(csv.DictReader(sys.stdin))
print("| %s | %s | %s | %.3f | %.1f | %.2f | %.2f | %.2f | %.0f%% | %s |" % (sys.argv[1], sys.argv[2], sys.argv[3],
      float(r["throughput_rps"]), float(r["output_tokens_per_s"]), float(r["mean_ttft_s"]),
      float(r["mean_e2e_s"]), float(r["p99_e2e_s"]), 100 * float(r["e2e_slo_5s"]), r["gpu_loads"]))' \
        "$pop" "$rate" "$name"
    done <<'EOF'
swap-6 --system swap --max-resident 6
deltazip-8 --system deltazip --max-deltas 8
deltazip-12 --system deltazip --max-deltas 12
deltazip-12-pp --system deltazip --max-deltas 12 --prefetch --preempt
bitdelta --system bitdelta
deltadq --system deltadq
dedicated --system dedicated
EOF
  done
done
