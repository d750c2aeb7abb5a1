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
#                                                   the strata measured in the calibration
#                                                   runs (disk_lat_us, load_lat_us)
#   scripts/serving-fidelity.sh --merge-fits CAL... the iteration keys of the calibration
#                                                   overlays CAL merged (merge_fits below), to
#                                                   stdout; --pool-strata CAL...: their load
#                                                   strata pooled (pool_strata)
set -euo pipefail

# merge_fits CAL...: one iteration fit from the fits of several calibration runs (each overlay's
# step_*_us, eff.*, load_overhead_ms): the simulator's iteration time is linear in step_*_us and
# in 1 / eff (every roofline term is its probe-rate time / eff), so the arithmetic mean of the
# former and the harmonic mean of the latter predict, for every iteration, the mean of what the
# runs' fits predict for it. The fits' coefficients alone are not comparable (the columns are
# nearly collinear: one run puts 11 us in step_overhead_us that the next puts in eff.gemm), their
# predictions are. Every key is averaged over the overlays that have it.
merge_fits() {
  awk '/^[a-z_.]+ = / && $1 !~ /_lat_us$/ { v = $3 + 0
         if (!($1 in n)) key[++nk] = $1
         n[$1]++; s[$1] += $1 ~ /^eff\./ ? 1 / v : v }
       END { for (i = 1; i <= nk; i++) { k = key[i]
               printf "%s = %.6g   # %s mean of %d calibration runs\n", k,
                      k ~ /^eff\./ ? n[k] / s[k] : s[k] / n[k], k ~ /^eff\./ ? "harmonic" : "arithmetic", n[k] } }' "$@"
}
# pool_strata CAL...: the measured load latencies of several calibration runs pooled: for
# disk_lat_us and load_lat_us, the strata of every overlay sorted together and re-cut into 16
# strata of equal share (each run's strata are equal-count, so each weighs alike)
pool_strata() {
  local key f
  for key in disk_lat_us load_lat_us; do
    for f in "$@"; do
      sed -n "s/^$key = \([^#]*\).*/\1/p" "$f" | tr ' ' '\n' | grep . || true
    done | sort -g | awk -v key="$key" -v runs="$#" '{ v[NR] = $1 }
      END { if (!NR) exit; s = NR < 16 ? NR : 16; printf "%s =", key
            for (k = 0; k < s; k++) { a = int(k * NR / s); b = int((k + 1) * NR / s); m = 0
              for (i = a + 1; i <= b; i++) m += v[i]; printf " %.6g", m / (b - a) }
            printf "   # pooled over %d calibration runs\n", runs }'
  done
}
case ${1:-} in
  --merge-fits | --pool-strata)
    op=$1; shift
    [ $# -gt 0 ] || { echo "serving-fidelity: $op needs calibration overlays" >&2; exit 2; }
    for f in "$@"; do [ -r "$f" ] || { echo "serving-fidelity: $f: cannot read" >&2; exit 1; }; done
    if [ "$op" = --merge-fits ]; then merge_fits "$@"; else pool_strata "$@"; fi
    exit 0 ;;
esac

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
# the measured iteration time of the mean request: prefill + decode (breakdown table); one part
iter_time() { "$BIN" export "$1" breakdown | awk -F, '$1 == "prefill" || $1 == "decode" { t += $2 } END { printf "%.9g\n", t }'; }
part_time() { "$BIN" export "$1" breakdown | awk -F, -v p="$2" '$1 == p { printf "%.9g\n", $2 }'; }
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
echo "sim: one run, calibrated by the middle runs of $REPEAT of the calibration trace (iteration fits merged, load strata pooled)"
echo
head="| policy | cpu mean E2E ms | sim mean E2E ms | E2E error | cpu mean TTFT ms | sim mean TTFT ms | TTFT error |"
if [ "$REGIME" = loads ]; then
  echo "$head load share of cpu E2E | cpu / sim disk reads | E2E / TTFT error, one mean latency per load | E2E / TTFT error, calibrated as before (median-E2E run's fit, all runs' strata) | E2E / TTFT in-sample: sim of the calibration trace vs its runs' median | E2E / TTFT error of the calibration runs' median carried over (noise floor) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
else
  echo "$head cpu / sim iterations |"
  echo "|---|---|---|---|---|---|---|---|"
fi
while read -r name sys opts; do
  host=$(host_overlay "$name" "$sys" "$opts")
  # REPEAT runs of the calibration trace, each fitted, interleaved with REPEAT runs of the
  # evaluation trace (so both see the machine's load, which drifts, alike). The error is a
  # median over runs, so the calibration stands for the typical run, not the mean one: a run
  # now and then lands 1.4x slower in its iterations, or meets a burst of multi-ms reads that
  # doubles its load time, and a mean over runs follows it. So the runs are ordered twice, by
  # their measured iteration time (prefill + decode of the mean request) and by their load time
  # (load of the mean request), the int((REPEAT - 1) / 4) fastest and as many slowest dropped
  # from each order, and the others make the overlay: their iteration fits merged (merge_fits:
  # the mean of their predictions) and their load strata pooled (pool_strata).
  : >"$OUT/$name-cal.txt"
  for r in $(seq "$REPEAT"); do
    # shellcheck disable=SC2086
    "$BIN" serve --trace "$OUT/calib.csv" --system "$sys" --zoo "$ZOO" $opts -q --calib "$host" \
      --calib-out "$OUT/$name-$r.calib" --out "$OUT/$name-cal-$r.h5" 2>/dev/null
    h=$OUT/$name-cal-$r.h5
    echo "$r $(iter_time "$h") $(part_time "$h" load) $(col "$h" mean_e2e_s)" >>"$OUT/$name-cal.txt"
    # shellcheck disable=SC2086
    "$BIN" serve --trace "$OUT/eval.csv" --system "$sys" --zoo "$ZOO" $opts -q --calib "$host" \
      --out "$OUT/$name-cpu-$r.h5"
  done
  # middle K: the overlays of the runs left when ordered by column K of $name-cal.txt
  middle() { sort -g -k"$1" "$OUT/$name-cal.txt" | awk -v n="$REPEAT" -v o="$OUT/$name-" \
               'NR > int((n - 1) / 4) && NR <= n - int((n - 1) / 4) { printf "%s%s.calib\n", o, $1 }'; }
  fits=$(middle 2) loads=$(middle 3)
  # shellcheck disable=SC2086
  { echo "# $(echo $fits | wc -w) of the $REPEAT calibration runs' iteration fits merged, $(echo $loads | wc -w) runs' load strata pooled (extremes dropped)"
    merge_fits $fits
    pool_strata $loads
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
    # and the calibration as the script made it before: the iteration fit of the one
    # calibration run whose mean E2E is the median, the load strata of every run pooled
    old=$(sort -g -k4 "$OUT/$name-cal.txt" | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) { print $1 }')
    # shellcheck disable=SC2046
    { grep -v '^disk_lat_us\|^load_lat_us' "$OUT/$name-$old.calib"
      pool_strata $(seq -f "$OUT/$name-%g.calib" "$REPEAT"); cat "$host"; } >"$OUT/$name-old.calib"
    # shellcheck disable=SC2086
    "$BIN" simulate --trace "$OUT/eval.csv" --system "$sys" --model "$ZOO/base" --hw cpu \
      --calib "$OUT/$name-old.calib" $opts -q --out "$OUT/$name-sim-old.h5"
    so=$(col "$OUT/$name-sim-old.h5" mean_e2e_s); to=$(col "$OUT/$name-sim-old.h5" mean_ttft_s)
    # the noise floor: the simulator on the calibration trace against the median of its own
    # calibration runs (in-sample), and the error of a predictor that knows that median exactly
    # and carries it to the evaluation trace by the simulator's ratio eval / calib: what the
    # medians of two sets of 5 runs differ by on this machine, whatever the model
    # shellcheck disable=SC2086
    "$BIN" simulate --trace "$OUT/calib.csv" --system "$sys" --model "$ZOO/base" --hw cpu \
      --calib "$OUT/$name.calib" $opts -q --out "$OUT/$name-sim-cal.h5"
    sce=$(col "$OUT/$name-sim-cal.h5" mean_e2e_s); sct=$(col "$OUT/$name-sim-cal.h5" mean_ttft_s)
    read -r cme _ < <(for r in $(seq "$REPEAT"); do col "$OUT/$name-cal-$r.h5" mean_e2e_s; done | stats)
    read -r cmt _ < <(for r in $(seq "$REPEAT"); do col "$OUT/$name-cal-$r.h5" mean_ttft_s; done | stats)
    ie=$(awk -v s="$sce" -v c="$cme" 'BEGIN { print (s - c) / c }')
    it=$(awk -v s="$sct" -v c="$cmt" 'BEGIN { print (s - c) / c }')
    oe=$(awk -v a="$cme" -v b="$se" -v c="$sce" 'BEGIN { print a * b / c }')
    ot=$(awk -v a="$cmt" -v b="$st" -v c="$sct" 'BEGIN { print a * b / c }')
  fi
  : >"$OUT/$name-cpu.txt"
  for r in $(seq "$REPEAT"); do
    h=$OUT/$name-cpu-$r.h5
    echo "$(col "$h" mean_e2e_s) $(col "$h" mean_ttft_s) $(col "$h" iterations) $(col "$h" disk_loads) $(load_share "$h")" |
      awk -v se="$se" -v st="$st" -v sm="$sm" -v tm="$tm" -v so="${so:-$se}" -v to="${to:-$st}" \
          -v oe="${oe:-$se}" -v ot="${ot:-$st}" \
        '{ print $0, (se - $1) / $1, (st - $2) / $2, (sm - $1) / $1, (tm - $2) / $2, (so - $1) / $1, (to - $2) / $2,
                 (oe - $1) / $1, (ot - $2) / $2 }' >>"$OUT/$name-cpu.txt"
  done
  # columns of $name-cpu.txt: 1 E2E, 2 TTFT, 3 iterations, 4 disk reads, 5 load share,
  # 6 E2E error, 7 TTFT error, 8 and 9 the same with one mean latency per load (loads regime),
  # 10 and 11 with the calibration as before, 12 and 13 of the calibration runs' median carried
  # over (loads regime)
  read -r ce ce0 ce1 < <(awk '{ print $1 }' "$OUT/$name-cpu.txt" | stats)
  read -r ct ct0 ct1 < <(awk '{ print $2 }' "$OUT/$name-cpu.txt" | stats)
  read -r ci _ < <(awk '{ print $3 }' "$OUT/$name-cpu.txt" | stats)
  read -r cdr _ < <(awk '{ print $4 }' "$OUT/$name-cpu.txt" | stats)
  read -r lsh _ < <(awk '{ print $5 }' "$OUT/$name-cpu.txt" | stats)
  read -r ee ee0 ee1 < <(awk '{ print $6 }' "$OUT/$name-cpu.txt" | stats)
  read -r et et0 et1 < <(awk '{ print $7 }' "$OUT/$name-cpu.txt" | stats)
  read -r em _ < <(awk '{ print $8 }' "$OUT/$name-cpu.txt" | stats)
  read -r tmm _ < <(awk '{ print $9 }' "$OUT/$name-cpu.txt" | stats)
  read -r eo _ < <(awk '{ print $10 }' "$OUT/$name-cpu.txt" | stats)
  read -r tmo _ < <(awk '{ print $11 }' "$OUT/$name-cpu.txt" | stats)
  read -r eoo _ < <(awk '{ print $12 }' "$OUT/$name-cpu.txt" | stats)
  read -r too _ < <(awk '{ print $13 }' "$OUT/$name-cpu.txt" | stats)
  awk -v n="$name" -v ce="$ce" -v ce0="$ce0" -v ce1="$ce1" -v se="$se" -v ct="$ct" -v ct0="$ct0" \
      -v ct1="$ct1" -v st="$st" -v ci="$ci" -v si="$si" -v cd="$cdr" -v sd="$sd" -v ls="$lsh" \
      -v ee="$ee" -v ee0="$ee0" -v ee1="$ee1" -v et="$et" -v et0="$et0" -v et1="$et1" \
      -v em="$em" -v tm="$tmm" -v eo="$eo" -v to="$tmo" -v ie="${ie:-0}" -v it="${it:-0}" \
      -v eoo="$eoo" -v too="$too" \
      -v loads="$([ "$REGIME" = loads ] && echo 1 || echo 0)" 'BEGIN {
    printf "| %s | %.3f [%.3f-%.3f] | %.3f | %+.0f %% [%+.0f, %+.0f] | %.3f [%.3f-%.3f] | %.3f | %+.0f %% [%+.0f, %+.0f] |",
           n, ce * 1e3, ce0 * 1e3, ce1 * 1e3, se * 1e3, 100 * ee, 100 * ee0, 100 * ee1,
           ct * 1e3, ct0 * 1e3, ct1 * 1e3, st * 1e3, 100 * et, 100 * et0, 100 * et1
    if (loads) printf " %.0f %% | %d / %d | %+.0f %% / %+.0f %% | %+.0f %% / %+.0f %% | %+.0f %% / %+.0f %% | %+.0f %% / %+.0f %% |\n",
                      100 * ls, cd, sd, 100 * em, 100 * tm, 100 * eo, 100 * to, 100 * ie, 100 * it,
                      100 * eoo, 100 * too
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
