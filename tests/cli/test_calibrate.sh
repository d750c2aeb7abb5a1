#!/usr/bin/env bash
# test_calibrate.sh: `deltabench calibrate` (fits the cost model's GPU terms to measured GPU
# timings): usage errors, one-line failures, the overlay it writes as a --calib file, the held-out
# report; `simulate` uses the calibrated a100-80gb by default and records which calibration (and
# an explicit --calib over it) in the result. Needs ../shared/gpu-profiles (exit 77 without).
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
cd "$(dirname "$0")/../.." || exit 1
G=../shared/gpu-profiles

expect_exit 0 "calibrate --help" -- "$DB" calibrate --help
expect_out_contains "--holdout NAME" "help lists --holdout"
expect_exit 2 "no --gpu-profiles" -- "$DB" calibrate --report
expect_exit 2 "two outputs" -- "$DB" calibrate --gpu-profiles "$G" --report --out "$T/x"
expect_exit 2 "--out without --hw" -- "$DB" calibrate --gpu-profiles "$G" --out "$T/x"
expect_exit 2 "unknown --hw" -- "$DB" calibrate --gpu-profiles "$G" --hw tpu --report
expect_exit 2 "--holdout without --report" -- "$DB" calibrate --gpu-profiles "$G" --hw h100-sxm --out "$T/x" --holdout code
expect_exit 1 "missing directory" -- "$DB" calibrate --gpu-profiles "$T/none" --report
expect_err_contains "$T/none/compute/a100" "names the directory"
mkdir -p "$T/bad/compute/a100/org/m" "$T/bad/network/a100_dgx"
printf 'n_head,x\n1,2\n' > "$T/bad/compute/a100/org/m/mlp.csv"
expect_exit 1 "bad CSV" -- "$DB" calibrate --gpu-profiles "$T/bad" --hw a100-80gb --report
expect_err_contains "$T/bad/compute/a100/org/m/mlp.csv:1: no column 'n_kv_head'" "file:line"

# simulate: calibrated by default, provenance recorded; datasheet under its own name.
tr=traces/poisson_uniform_32m_300s.csv
expect_exit 0 "simulate default hw" -- "$DB" simulate --trace "$tr" --system deltazip --tp 4 --out "$T/cal.h5" -q
expect_exit 0 "simulate datasheet" -- "$DB" simulate --trace "$tr" --system deltazip --tp 4 --hw a100-80gb-datasheet --out "$T/ds.h5" -q
ncheck=$((ncheck + 1))
h5dump -a hw_calibration "$T/cal.h5" | grep -q 'gpucal: Vidur' || fail "hw_calibration lacks the gpucal provenance"
ncheck=$((ncheck + 1))
h5dump -a hw_calibration "$T/ds.h5" | grep -q 'none (datasheet)' || fail "datasheet run does not say so"
"$DB" export "$T/cal.h5" summary > "$T/a.csv"; "$DB" export "$T/ds.h5" summary > "$T/b.csv"
ncheck=$((ncheck + 1))
cmp -s "$T/a.csv" "$T/b.csv" && fail "the calibration did not change the simulated summary"

if [ ! -d "$G/compute" ]; then
  echo "test_calibrate: skipped the fits: $G not found"; finish || exit 1; exit 77
fi
expect_exit 0 "report held-out" -- "$DB" calibrate --gpu-profiles "$G" --report --holdout codellama
expect_out_contains "| h100-sxm | down (mlp_down_proj) | CodeLlama-34b-Instruct-hf | 1036 |" "held-out rows"
expect_out_contains "h100-sxm 2072 points, median 1.1 %, p99 14.1 %, max 39.5 % (3 > 25 %)." "repeated GEMMs"
expect_exit 0 "overlay" -- "$DB" calibrate --gpu-profiles "$G" --hw h100-sxm --out "$T/h100.txt"
ncheck=$((ncheck + 1))
grep -q '^gemm.eff.down.tp8 = ' "$T/h100.txt" && grep -q '^allreduce.tp8 = ' "$T/h100.txt" || fail "overlay lacks rows"
# A user's --calib (here a bench-kernel-style delta overlay) goes over the default calibration;
# the result records both.
printf 'eff.delta.sbmm.mem = 0.25\n' > "$T/bk.txt"
expect_exit 0 "simulate --calib over the default" -- "$DB" simulate --trace "$tr" --system deltazip --tp 4 --calib "$T/bk.txt" --out "$T/bk.h5" -q
ncheck=$((ncheck + 1))
h5dump -a hw_calibration "$T/bk.h5" | grep -q "gpucal: Vidur.*; overlay $T/bk.txt" || fail "hw_calibration lacks one of the two calibrations"
"$DB" export "$T/bk.h5" summary > "$T/c.csv"
ncheck=$((ncheck + 1))
cmp -s "$T/a.csv" "$T/c.csv" && fail "the delta overlay did not change the calibrated simulation"
expect_exit 0 "simulate --hw h100-sxm --calib overlay file" -- "$DB" simulate --trace "$tr" --system swap --tp 2 --max-resident 2 --hw h100-sxm-datasheet --calib "$T/h100.txt" -q
finish
