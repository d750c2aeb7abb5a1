#!/usr/bin/env bash
# serving-bd4.sh: BitDelta's memory claim (CLAIMS BD-4) on the `sim` executor: GPU memory of
# serving B Llama-2-7B fine-tunes on one A100-80GB with every 1-bit delta resident, against
# naive per-model serving (every full fp16 model resident on the same GPU: swap with
# --max-resident B) and one GPU per model (dedicated), all on one GPU (--tp 1) with every tenant
# resident (simulate's defaults would choose a TP and slot count that fit). Prints a markdown
# table and the tenant counts that fit. paper.md's BD-4 measures the kernel executor instead
# (`make reproduce-bd4`); this is the simulator's accounting, with its KV cache in use.
#   scripts/serving-bd4.sh [DELTABENCH] [OUT]   env: TENANTS
set -u
D=${1:-bin/deltabench}
OUT=${2:-results/serving}
TENANTS=${TENANTS:-1 2 4 5 6 8 16 24 32 40 48 64}
mkdir -p "$OUT"
fit=0 oom=0
printf '| tenants B | bitdelta weights GB (base + B x delta) | bitdelta peak GB (weights + KV in use) | naive: every fp16 model on 1 GPU | dedicated: GPUs (GB) |\n'
printf '|---|---|---|---|---|\n'
for B in $TENANTS; do
  tr="$OUT/trace-bd4-$B.csv"
  "$D" trace gen --arrival poisson --rate 2 --models "$B" --popularity uniform \
    --lengths lognormal:512,0.5,128,0.8 --duration 120 --seed 1 --out "$tr" >/dev/null
  res="$OUT/bd4-$B.h5"
  if ! "$D" simulate --trace "$tr" --models "$B" --model llama2-7b --hw a100-80gb --tp 1 --system bitdelta \
      --max-deltas "$B" -q --out "$res" 2>"$OUT/bd4.err"; then
    printf '| %s | does not fit: %s | | | |\n' "$B" "$(cut -c 21- "$OUT/bd4.err")"
    continue
  fi
  row=$("$D" export "$res" summary | python3 -c '
import csv, sys
r = next(csv.DictReader(sys.stdin))
full, d = float(r["full_model_bytes"]), float(r["delta_bytes"])
B = int(r["n_models"])
print("%.2f|%.2f" % ((full + B * d) / 1e9, float(r["peak_gpu_bytes"]) / 1e9))')
  fit=$B
  if "$D" simulate --trace "$tr" --models "$B" --model llama2-7b --hw a100-80gb --tp 1 --system swap \
      --max-resident "$B" -q 2>"$OUT/bd4-naive.err"; then naive="fits"
  else naive="out of memory"; [ "$oom" -gt 0 ] || oom=$B; fi
  IFS='|' read -r w p <<<"$row"
  printf '| %s | %s | %s | %s | %s (%s) |\n' "$B" "$w" "$p" "$naive" "$B" "$(python3 -c "print('%.0f' % ($B * 85.9))")"
done
printf '\nOn one GPU in this table: BitDelta up to %s tenants; naive serving out of memory from %s.\n' "$fit" "$oom"
