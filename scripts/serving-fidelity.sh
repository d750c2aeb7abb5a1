#!/usr/bin/env bash
# serving-fidelity.sh: how well `simulate` (the cost model), calibrated on this machine, predicts
# the measured `serve --executor cpu` run of the same trace: mean E2E and mean TTFT per policy,
# as the relative error (sim - cpu) / cpu. The calibration is fitted on a different trace (seed
# 11) than the one evaluated (seed 12). Prints the tables of docs/serving.md ("Fidelity").
#
#   scripts/serving-fidelity.sh [BIN] [OUTDIR]      BIN defaults to bin/deltabench
#   ZOO=DIR/micro ...                               an existing zoo size directory (default: the
#                                                   micro zoo, built into OUTDIR in ~15 s)
#   REPEAT=N ...                                    cpu runs of each trace (default 5): the table
#                                                   gives their median and range
#   REGIME=compute ...                              (default) 8 models, few loads: iterations
#   REGIME=loads ...                                loads dominate: 24 models over 2 GPU slots, a
#                                                   host cache of 4 models (smaller than the
#                                                   working set), every host miss a cold read
#                                                   from disk (the cpu executor drops the file
#                                                   from the page cache before each read);
#                                                   full models (swap) and deltas; the
#                                                   simulator draws each load's latency from
#                                                   the strata measured in every calibration
#                                                   run (disk_lat_us, load_lat_us)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bin/deltabench}
OUT=${2:-results/serving-fidelity}
REGIME=${REGIME:-compute}
REPEAT=${REPEAT:-5}
case $REGIME in
  compute) RATE=${RATE:-400} MODELS=8 ZIPF=1.0 DURATION=2 ;;
  loads) RATE=${RATE:-50} MODELS=24 ZIPF=0.8 DURATION=4 HOST_ITEMS=4 ;;
  *) echo "serving-fidelity: REGIME must be compute or loads, not '$REGIME'" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if [ -z "${ZOO:-}" ]; then
  MODELS=micro ZOO="$OUT/zoo" DELTABENCH="$BIN" scripts/build-models.sh >/dev/null
  ZOO=$OUT/zoo/micro
fi
gen() { "$BIN" trace gen --arrival poisson --rate "$RATE" --models "$MODELS" --popularity "zipf:$ZIPF" \
          --lengths uniform:4,32,2,24 --duration "$DURATION" --seed "$1" --out "$2" >/dev/null; }
gen 11 "$OUT/calib.csv"
gen 12 "$OUT/eval.csv"
col() { "$BIN" export "$1" "${3:-summary}" | awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i } NR == 2 { print $c }'; }
# the load part's share of mean E2E (breakdown table, row "load")
load_share() { "$BIN" export "$1" breakdown | awk -F, '$1 == "load" { print $3 }'; }
# median, min and max of the numbers on stdin
stats() { sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'; }

# host_overlay NAME SYS OPTS: loads regime: a --calib overlay whose host_gb holds HOST_ITEMS of
# the policy's items (full models or deltas, bytes as the cost model counts them); compute
# regime: an empty overlay
host_overlay() {
  local f=$OUT/$1-host.txt
  : >"$f"
  if [ "$REGIME" = loads ]; then
    # shellcheck disable=SC2086
    "$BIN" simulate --trace "$OUT/calib.csv" --system "$2" --model "$ZOO/base" --hw cpu $3 -q --out "$OUT/$1-size.h5"
    local item
    item=$(col "$OUT/$1-size.h5" "$([ "$2" = swap ] && echo full_model_bytes || echo delta_bytes)")
    awk -v b="$item" -v k="$HOST_ITEMS" 'BEGIN { printf "host_gb = %.9g   # %d items of %d bytes at --host-util 0.8\n", (k + 0.5) * b / 0.8 / 1e9, k, b }' >"$f"
  fi
  echo "$f"
}

echo "regime $REGIME: $MODELS models, Poisson $RATE req/s for $DURATION s, zipf:$ZIPF${HOST_ITEMS:+, host cache of $HOST_ITEMS models}"
echo "cpu: median of $REPEAT runs of the evaluation trace [min-max: the machine's run-to-run spread];"
echo "error: (sim - cpu run) / cpu run, median over the $REPEAT runs [min, max];"
echo "sim: one run, calibrated by the median of $REPEAT runs of the calibration trace"
echo
head="| policy | cpu mean E2E ms | sim mean E2E ms | E2E error | cpu mean TTFT ms | sim mean TTFT ms | TTFT error |"
if [ "$REGIME" = loads ]; then
  echo "$head load share of cpu E2E | cpu / sim disk reads | E2E / TTFT error, one mean latency per load |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
else
  echo "$head cpu / sim iterations |"
  echo "|---|---|---|---|---|---|---|---|"
fi
while read -r name sys opts; do
  host=$(host_overlay "$name" "$sys" "$opts")
  # REPEAT runs of the calibration trace, each fitted, interleaved with REPEAT runs of the
  # evaluation trace (so both see the machine's load, which drifts, alike); the calibration run
  # whose own mean E2E is the median of them gives the overlay (one run can land 1.5x slower
  # than the next here)
  : >"$OUT/$name-cal.txt"
  for r in $(seq "$REPEAT"); do
    # shellcheck disable=SC2086
    "$BIN" serve --trace "$OUT/calib.csv" --system "$sys" --zoo "$ZOO" $opts -q --calib "$host" \
      --calib-out "$OUT/$name-$r.calib" --out "$OUT/$name-cal-$r.h5" 2>/dev/null
    echo "$(col "$OUT/$name-cal-$r.h5" mean_e2e_s) $r" >>"$OUT/$name-cal.txt"
    # shellcheck disable=SC2086
    "$BIN" serve --trace "$OUT/eval.csv" --system "$sys" --zoo "$ZOO" $opts -q --calib "$host" \
      --out "$OUT/$name-cpu-$r.h5"
  done
  mid=$(sort -g "$OUT/$name-cal.txt" | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) { print $2 }')
  # the measured load latencies of every calibration run pooled (the disk drifts between runs
  # more than the iterations do): each run's 16 equal-count strata, sorted together and
  # re-cut into 16 strata of equal share
  { grep -v '^disk_lat_us\|^load_lat_us' "$OUT/$name-$mid.calib"
    for key in disk_lat_us load_lat_us; do
      for r in $(seq "$REPEAT"); do
        sed -n "s/^$key = \([^#]*\).*/\1/p" "$OUT/$name-$r.calib" | tr ' ' '\n' | grep .
      done | sort -g | awk -v key="$key" -v runs="$REPEAT" '{ v[NR] = $1 }
        END { if (!NR) exit; s = NR < 16 ? NR : 16; printf "%s =", key
              for (k = 0; k < s; k++) { a = int(k * NR / s); b = int((k + 1) * NR / s); m = 0
                for (i = a + 1; i <= b; i++) m += v[i]; printf " %.6g", m / (b - a) }
              printf "   # pooled over the %d calibration runs\n", runs }'
    done
    cat "$host"; } >"$OUT/$name.calib"
  # shellcheck disable=SC2086
  "$BIN" simulate --trace "$OUT/eval.csv" --system "$sys" --model "$ZOO/base" --hw cpu \
    --calib "$OUT/$name.calib" $opts -q --out "$OUT/$name-sim.h5"
  se=$(col "$OUT/$name-sim.h5" mean_e2e_s); st=$(col "$OUT/$name-sim.h5" mean_ttft_s)
  si=$(col "$OUT/$name-sim.h5" iterations); sd=$(col "$OUT/$name-sim.h5" disk_loads)
  # loads regime, for comparison: every load of a stage at the strata's mean latency (one time
  # per read, as the simulator priced loads before it drew them)
  sm=$se tm=$st
  if [ "$REGIME" = loads ]; then
    awk '/^(disk|load)_lat_us = / { n = 0; m = 0; for (i = 3; i <= NF && $i != "#"; i++) { m += $i; n++ }
           printf "%s = %.6g   # the mean of the strata\n", $1, m / n; next } { print }' \
      "$OUT/$name.calib" >"$OUT/$name-mean.calib"
    # shellcheck disable=SC2086
    "$BIN" simulate --trace "$OUT/eval.csv" --system "$sys" --model "$ZOO/base" --hw cpu \
      --calib "$OUT/$name-mean.calib" $opts -q --out "$OUT/$name-sim-mean.h5"
    sm=$(col "$OUT/$name-sim-mean.h5" mean_e2e_s); tm=$(col "$OUT/$name-sim-mean.h5" mean_ttft_s)
  fi
  : >"$OUT/$name-cpu.txt"
  for r in $(seq "$REPEAT"); do
    h=$OUT/$name-cpu-$r.h5
    echo "$(col "$h" mean_e2e_s) $(col "$h" mean_ttft_s) $(col "$h" iterations) $(col "$h" disk_loads) $(load_share "$h")" |
      awk -v se="$se" -v st="$st" -v sm="$sm" -v tm="$tm" \
        '{ print $0, (se - $1) / $1, (st - $2) / $2, (sm - $1) / $1, (tm - $2) / $2 }' >>"$OUT/$name-cpu.txt"
  done
  # columns of $name-cpu.txt: 1 E2E, 2 TTFT, 3 iterations, 4 disk reads, 5 load share,
  # 6 E2E error, 7 TTFT error, 8 and 9 the same with one mean latency per load (loads regime)
  read -r ce ce0 ce1 < <(awk '{ print $1 }' "$OUT/$name-cpu.txt" | stats)
  read -r ct ct0 ct1 < <(awk '{ print $2 }' "$OUT/$name-cpu.txt" | stats)
  read -r ci _ < <(awk '{ print $3 }' "$OUT/$name-cpu.txt" | stats)
  read -r cdr _ < <(awk '{ print $4 }' "$OUT/$name-cpu.txt" | stats)
  read -r lsh _ < <(awk '{ print $5 }' "$OUT/$name-cpu.txt" | stats)
  read -r ee ee0 ee1 < <(awk '{ print $6 }' "$OUT/$name-cpu.txt" | stats)
  read -r et et0 et1 < <(awk '{ print $7 }' "$OUT/$name-cpu.txt" | stats)
  read -r em _ < <(awk '{ print $8 }' "$OUT/$name-cpu.txt" | stats)
  read -r tmm _ < <(awk '{ print $9 }' "$OUT/$name-cpu.txt" | stats)
  awk -v n="$name" -v ce="$ce" -v ce0="$ce0" -v ce1="$ce1" -v se="$se" -v ct="$ct" -v ct0="$ct0" \
      -v ct1="$ct1" -v st="$st" -v ci="$ci" -v si="$si" -v cd="$cdr" -v sd="$sd" -v ls="$lsh" \
      -v ee="$ee" -v ee0="$ee0" -v ee1="$ee1" -v et="$et" -v et0="$et0" -v et1="$et1" \
      -v em="$em" -v tm="$tmm" \
      -v loads="$([ "$REGIME" = loads ] && echo 1 || echo 0)" 'BEGIN {
    printf "| %s | %.3f [%.3f-%.3f] | %.3f | %+.0f %% [%+.0f, %+.0f] | %.3f [%.3f-%.3f] | %.3f | %+.0f %% [%+.0f, %+.0f] |",
           n, ce * 1e3, ce0 * 1e3, ce1 * 1e3, se * 1e3, 100 * ee, 100 * ee0, 100 * ee1,
           ct * 1e3, ct0 * 1e3, ct1 * 1e3, st * 1e3, 100 * et, 100 * et0, 100 * et1
    if (loads) printf " %.0f %% | %d / %d | %+.0f %% / %+.0f %% |\n", 100 * ls, cd, sd, 100 * em, 100 * tm
    else printf " %d / %d |\n", ci, si }'
done < <(if [ "$REGIME" = loads ]; then cat <<'POLICIES'
deltazip-2 deltazip --max-deltas 2
bitdelta-2 bitdelta --max-deltas 2
deltadq-2 deltadq --max-deltas 2
swap-2 swap --max-resident 2
POLICIES
else cat <<'POLICIES'
deltazip-4 deltazip --max-deltas 4
bitdelta bitdelta
deltadq deltadq
swap-4 swap --max-resident 4
POLICIES
fi)
