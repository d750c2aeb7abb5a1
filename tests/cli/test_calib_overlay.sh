#!/usr/bin/env bash
# test_calib_overlay.sh: `bench-kernel --calib-out` writes the serving cost model's calibration
# overlay from measured kernel shares, and `simulate --calib` reads it (the one documented way
# measured kernels reach the simulator).
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
cd "$(dirname "$0")/../.." || exit 1
O=$T/cal.txt

expect_exit 0 "bench-kernel --calib-out" -- "$DB" bench-kernel --op dense,bitdelta,sbmm,sbmm2,csr \
  --m 256 --k 512 --batch 1,2 --repeat 3 --warmup 1 --calib-out "$O"
expect_out_contains "calibration overlay for profile cpu" "bench-kernel --calib-out says where"
for key in eff.gemm.mem eff.delta.bitdelta.mem eff.delta.sbmm.mem; do
  ncheck=$((ncheck + 1))
  v=$(awk -v k="$key" '$1 == k { print $3 }' "$O")
  [ -n "$v" ] || { fail "$key missing from the overlay"; continue; }
  awk -v v="$v" 'BEGIN { exit !(v > 0 && v <= 1) }' || fail "$key = $v outside (0, 1]"
done
ncheck=$((ncheck + 1))
[ "$(grep -c '^eff\.' "$O")" -eq 3 ] || fail "expected 3 eff lines (csr calibrates nothing, sbmm and sbmm2 share a key): $(cat "$O")"
grep -q '^# calibration overlay written by: bench-kernel --op' "$O" || fail "the overlay does not name its command"

# simulate reads it, and it changes the prediction (the overlay is not ignored)
tr=traces/poisson_uniform_32m_300s.csv
expect_exit 0 "simulate --calib overlay" -- "$DB" simulate --trace "$tr" --system bitdelta --hw cpu --model tiny --calib "$O" --out "$T/a.h5" -q
expect_exit 0 "simulate without overlay" -- "$DB" simulate --trace "$tr" --system bitdelta --hw cpu --model tiny --out "$T/b.h5" -q
"$DB" export "$T/a.h5" summary > "$T/a.csv" && "$DB" export "$T/b.h5" summary > "$T/b.csv"
ncheck=$((ncheck + 1))
cmp -s "$T/a.csv" "$T/b.csv" && fail "the overlay did not change the simulated summary"

# errors: usage (2), nothing to calibrate (1, no file), unknown profile (1, before any timing)
expect_exit 2 "--calib-hw without --calib-out" -- "$DB" bench-kernel --op dense --calib-hw cpu
expect_exit 2 "cuda without --calib-hw" -- "$DB" bench-kernel --op dense --device cuda --calib-out "$T/x"
expect_err_contains "--calib-hw" "cuda without --calib-hw"
expect_exit 1 "nothing calibrates" -- "$DB" bench-kernel --op csr --m 64 --k 64 --repeat 2 --calib-out "$T/none.txt"
expect_err_contains "no measured op calibrates" "nothing calibrates"
ncheck=$((ncheck + 1))
ls "$T"/none.txt* >/dev/null 2>&1 && fail "a failed --calib-out left a file"
expect_exit 1 "unknown profile" -- "$DB" bench-kernel --op dense --calib-out "$T/y" --calib-hw no-such-gpu
ncheck=$((ncheck + 1))
grep -q '^op ' "$T/out" && fail "an unknown profile was detected only after timing"
finish
