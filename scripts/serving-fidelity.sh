#!/usr/bin/env bash
# serving-fidelity.sh: how well `simulate` (the cost model), calibrated on this machine, predicts
# the measured `serve --executor cpu` run of the same trace: mean E2E and mean TTFT per policy,
# as the relative error (sim - cpu) / cpu. The calibration is fitted on a different trace (seed
# 11) than the one evaluated (seed 12). Prints the table of docs/serving.md ("Fidelity").
#
#   scripts/serving-fidelity.sh [BIN] [OUTDIR]      BIN defaults to bin/deltabench
#   ZOO=DIR/micro ...                               an existing zoo size directory (default: the
#                                                   micro zoo, built into OUTDIR in ~15 s)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bin/deltabench}
OUT=${2:-results/serving-fidelity}
RATE=${RATE:-400}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if [ -z "${ZOO:-}" ]; then
  MODELS=micro ZOO="$OUT/zoo" DELTABENCH="$BIN" scripts/build-models.sh >/dev/null
  ZOO=$OUT/zoo/micro
fi
gen() { "$BIN" trace gen --arrival poisson --rate "$RATE" --models 8 --popularity zipf:1.0 \
          --lengths uniform:4,32,2,24 --duration 2 --seed "$1" --out "$2" >/dev/null; }
gen 11 "$OUT/calib.csv"
gen 12 "$OUT/eval.csv"
col() { "$BIN" export "$1" summary | awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i } NR == 2 { print $c }'; }
echo "| policy | cpu mean E2E ms | sim mean E2E ms | E2E error | cpu mean TTFT ms | sim mean TTFT ms | TTFT error | cpu / sim iterations |"
echo "|---|---|---|---|---|---|---|---|"
while read -r name sys opts; do
  # shellcheck disable=SC2086
  "$BIN" serve --trace "$OUT/calib.csv" --system "$sys" --zoo "$ZOO" $opts -q \
    --calib-out "$OUT/$name.calib" 2>/dev/null
  # shellcheck disable=SC2086
  "$BIN" serve --trace "$OUT/eval.csv" --system "$sys" --zoo "$ZOO" $opts -q --out "$OUT/$name-cpu.h5"
  # shellcheck disable=SC2086
  "$BIN" simulate --trace "$OUT/eval.csv" --system "$sys" --model "$ZOO/base" --hw cpu \
    --calib "$OUT/$name.calib" $opts -q --out "$OUT/$name-sim.h5"
  ce=$(col "$OUT/$name-cpu.h5" mean_e2e_s); se=$(col "$OUT/$name-sim.h5" mean_e2e_s)
  ct=$(col "$OUT/$name-cpu.h5" mean_ttft_s); st=$(col "$OUT/$name-sim.h5" mean_ttft_s)
  ci=$(col "$OUT/$name-cpu.h5" iterations); si=$(col "$OUT/$name-sim.h5" iterations)
  awk -v n="$name" -v ce="$ce" -v se="$se" -v ct="$ct" -v st="$st" -v ci="$ci" -v si="$si" 'BEGIN {
    printf "| %s | %.3f | %.3f | %+.0f %% | %.3f | %.3f | %+.0f %% | %d / %d |\n", n, ce * 1e3, se * 1e3,
           100 * (se - ce) / ce, ct * 1e3, st * 1e3, 100 * (st - ct) / ct, ci, si }'
done <<'POLICIES'
deltazip-4 deltazip --max-deltas 4
bitdelta bitdelta
deltadq deltadq
swap-4 swap --max-resident 4
POLICIES
