#!/usr/bin/env bash
# serving-fidelity.sh: how well `simulate` (the cost model), calibrated on this machine, predicts
# the measured `serve --executor cpu` run of the same trace: mean E2E and mean TTFT per policy,
# as the relative error (sim - cpu) / cpu. The calibration is fitted on a different trace (seed
# 11) than the one evaluated (seed 12). Prints the table of docs/serving.md ("Fidelity").
#
#   scripts/serving-fidelity.sh [BIN] [OUTDIR]      BIN defaults to bin/deltabench
#   ZOO=DIR/micro ...                               an existing zoo size directory (default: the
#                                                   micro zoo, built into OUTDIR in ~15 s)
#   REPEAT=N ...                                    cpu runs of the evaluation trace (default 5):
#                                                   the table gives their median and range
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bin/deltabench}
OUT=${2:-results/serving-fidelity}
RATE=${RATE:-400}
REPEAT=${REPEAT:-5}
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
# median, min and max of the numbers on stdin
stats() { sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'; }
echo "cpu: median of $REPEAT runs of the evaluation trace (min-max in brackets: the machine's run-to-run spread);"
echo "sim: one run, calibrated by the median of $REPEAT runs of the calibration trace"
echo
echo "| policy | cpu mean E2E ms | sim mean E2E ms | E2E error | cpu mean TTFT ms | sim mean TTFT ms | TTFT error | cpu / sim iterations |"
echo "|---|---|---|---|---|---|---|---|"
while read -r name sys opts; do
  # calibration: REPEAT runs of the calibration trace, each fitted; the run whose own mean E2E is
  # the median of them gives the overlay (one run can land 1.5x slower than the next here)
  : >"$OUT/$name-cal.txt"
  for r in $(seq "$REPEAT"); do
    # shellcheck disable=SC2086
    "$BIN" serve --trace "$OUT/calib.csv" --system "$sys" --zoo "$ZOO" $opts -q \
      --calib-out "$OUT/$name-$r.calib" --out "$OUT/$name-cal-$r.h5" 2>/dev/null
    echo "$(col "$OUT/$name-cal-$r.h5" mean_e2e_s) $r" >>"$OUT/$name-cal.txt"
  done
  mid=$(sort -g "$OUT/$name-cal.txt" | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) { print $2 }')
  cp "$OUT/$name-$mid.calib" "$OUT/$name.calib"
  : >"$OUT/$name-cpu.txt"
  for r in $(seq "$REPEAT"); do
    # shellcheck disable=SC2086
    "$BIN" serve --trace "$OUT/eval.csv" --system "$sys" --zoo "$ZOO" $opts -q --out "$OUT/$name-cpu-$r.h5"
    echo "$(col "$OUT/$name-cpu-$r.h5" mean_e2e_s) $(col "$OUT/$name-cpu-$r.h5" mean_ttft_s) $(col "$OUT/$name-cpu-$r.h5" iterations)" >>"$OUT/$name-cpu.txt"
  done
  # shellcheck disable=SC2086
  "$BIN" simulate --trace "$OUT/eval.csv" --system "$sys" --model "$ZOO/base" --hw cpu \
    --calib "$OUT/$name.calib" $opts -q --out "$OUT/$name-sim.h5"
  read -r ce ce0 ce1 < <(awk '{ print $1 }' "$OUT/$name-cpu.txt" | stats)
  read -r ct ct0 ct1 < <(awk '{ print $2 }' "$OUT/$name-cpu.txt" | stats)
  read -r ci _ < <(awk '{ print $3 }' "$OUT/$name-cpu.txt" | stats)
  se=$(col "$OUT/$name-sim.h5" mean_e2e_s); st=$(col "$OUT/$name-sim.h5" mean_ttft_s)
  si=$(col "$OUT/$name-sim.h5" iterations)
  awk -v n="$name" -v ce="$ce" -v ce0="$ce0" -v ce1="$ce1" -v se="$se" -v ct="$ct" -v ct0="$ct0" \
      -v ct1="$ct1" -v st="$st" -v ci="$ci" -v si="$si" 'BEGIN {
    printf "| %s | %.3f [%.3f-%.3f] | %.3f | %+.0f %% | %.3f [%.3f-%.3f] | %.3f | %+.0f %% | %d / %d |\n", n,
           ce * 1e3, ce0 * 1e3, ce1 * 1e3, se * 1e3, 100 * (se - ce) / ce, ct * 1e3, ct0 * 1e3,
           ct1 * 1e3, st * 1e3, 100 * (st - ct) / ct, ci, si }'
done <<'POLICIES'
deltazip-4 deltazip --max-deltas 4
bitdelta bitdelta
deltadq deltadq
swap-4 swap --max-resident 4
POLICIES
