#!/usr/bin/env bash
# test_serving_fidelity.sh: the calibration that scripts/serving-fidelity.sh builds from several
# calibration runs, on hand-written overlays with known answers: --merge-fits (the iteration
# keys: arithmetic means of step_*_us, harmonic means of eff.*, so the merged fit predicts the
# mean of the runs' predictions) and --pool-strata (every run's load strata sorted together
# and re-cut into 16 of equal share). The whole script (a zoo, 40 cpu runs) is not run here.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
sf=$root/scripts/serving-fidelity.sh

{ echo "# calibration of the cost model (a comment: skipped)"
  echo "step_overhead_us = 10"
  echo "step_token_us = 2"
  echo "eff.gemm.mem = 0.5"
  echo "eff.gemm.compute = 0.5"
  echo "eff.delta.sbmm.mem = 0.2"
  echo "disk_lat_us = $(seq -s ' ' 1 16)   # 160 cold reads: strata means"
  echo "load_lat_us = 10 20   # 2 builds"
  echo "load_overhead_ms = 0.5   # their mean"; } >"$T/a.calib"
{ echo "step_overhead_us = 20"
  echo "step_token_us = 4"
  echo "eff.gemm.mem = 0.25"
  echo "eff.gemm.compute = 0.25"
  echo "disk_lat_us = $(seq -s ' ' 17 32)"
  echo "load_overhead_ms = 1.5"; } >"$T/b.calib"

expect_exit 0 "merge two fits" -- "$sf" --merge-fits "$T/a.calib" "$T/b.calib"
got=$(sed 's/ *#.*//' "$T/out")
want="step_overhead_us = 15
step_token_us = 3
eff.gemm.mem = 0.333333
eff.gemm.compute = 0.333333
eff.delta.sbmm.mem = 0.2
load_overhead_ms = 1"
[ "$got" = "$want" ] || fail "merge two fits: got [$got], expected [$want]"
grep -q '^eff.gemm.mem = 0.333333   # harmonic mean of 2 calibration runs$' "$T/out" ||
  fail "merge two fits: the eff line does not say how it was merged: $(cat "$T/out")"
grep -q 'lat_us' "$T/out" && fail "merge two fits: strata keys are not fit keys"

# one overlay: its fit, unchanged
expect_exit 0 "merge one fit" -- "$sf" --merge-fits "$T/b.calib"
[ "$(sed -n 's/^step_token_us = \([^ ]*\).*/\1/p' "$T/out")" = 4 ] || fail "merge one fit: $(cat "$T/out")"

expect_exit 0 "pool two runs' strata" -- "$sf" --pool-strata "$T/a.calib" "$T/b.calib"
got=$(sed 's/ *#.*//' "$T/out")
want="disk_lat_us = 1.5 3.5 5.5 7.5 9.5 11.5 13.5 15.5 17.5 19.5 21.5 23.5 25.5 27.5 29.5 31.5
load_lat_us = 10 20"
[ "$got" = "$want" ] || fail "pool two runs' strata: got [$got], expected [$want]"
expect_out_contains "# pooled over 2 calibration runs" "pool two runs' strata"

# the order of the overlays does not matter (the strata are sorted before they are re-cut)
expect_exit 0 "pool in the other order" -- "$sf" --pool-strata "$T/b.calib" "$T/a.calib"
[ "$(sed 's/ *#.*//' "$T/out")" = "$want" ] || fail "pool in the other order: $(cat "$T/out")"

expect_exit 2 "merge without overlays" -- "$sf" --merge-fits
expect_err_contains "--merge-fits needs calibration overlays" "merge without overlays"
expect_exit 1 "an unreadable overlay" -- "$sf" --pool-strata "$T/a.calib" "$T/missing.calib"
expect_err_contains "missing.calib: cannot read" "an unreadable overlay"

finish
