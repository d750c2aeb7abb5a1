#!/usr/bin/env bash
# test_serve.sh: `deltabench serve --executor cpu` on the micro zoo (built here, ~15 s): every
# request finishes exactly once with positive, ordered times; real loads happen; the HDF5 result
# has its tables; the greedy outputs repeat for the same seed; bad input (models the run does
# not have, zero slots, requests longer than the model's context, a missing zoo) fails before
# anything runs with one line and no output file.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! "$root/scripts/build-models.sh" --check-corpora 2>/dev/null; then
  echo "SKIP: corpus packages missing (scripts/install-deps.sh installs them)"
  exit 77
fi
D="$DELTABENCH"
expect_exit 0 "serve --help" -- "$D" serve --help
expect_out_contains "cpu   works here" "help says the cpu executor works"
expect_out_contains "cpu-kernels" "help names the cpu-kernels executor"
for opt in --zoo --zoo-map --work-dir --threads --seed --calib-out; do
  expect_out_contains "$opt" "serve --help lists $opt"
done

MODELS=micro ZOO=$T/zoo expect_exit 0 "micro zoo" -- "$root/scripts/build-models.sh"
Z=$T/zoo/micro
# 6 models over the zoo's 4 fine-tunes (mapped mod 4), lengths within the micro context of 64.
expect_exit 0 "trace gen" -- "$D" trace gen --arrival poisson --rate 100 --models 6 \
  --popularity uniform --lengths uniform:4,24,2,16 --duration 0.4 --seed 5 --out "$T/t.csv"
nreq=$(($(wc -l <"$T/t.csv") - 1))
[ "$nreq" -ge 20 ] || fail "trace too short: $nreq requests"

# check_requests FILE: the requests table of FILE against the trace.
check_requests() {
  "$D" export "$1" requests >"$T/req.csv" 2>"$T/err" || { fail "export $1"; return; }
  local n
  n=$(($(wc -l <"$T/req.csv") - 1))
  [ "$n" -eq "$nreq" ] || fail "$1: $n request rows, trace has $nreq"
  [ "$(tail -n +2 "$T/req.csv" | cut -d, -f1 | sort -u | wc -l)" -eq "$nreq" ] ||
    fail "$1: a request id is missing or repeated"
  # columns: 1 id 2 model 3 prompt 4 output 5 preemptions 6 arrival 7 queue 8 load 9 ttft
  #          10 tpot 11 e2e 12 finish
  awk -F, 'NR > 1 {
      if (!($9 > 0 && $11 > 0 && $7 >= 0 && $8 >= 0 && $10 >= 0)) { print "non-positive time: " $0; bad = 1 }
      if (!($7 <= $9 && $9 <= $11)) { print "queue <= ttft <= e2e violated: " $0; bad = 1 }
      d = $6 + $11 - $12; if (d < -1e-9 || d > 1e-9) { print "finish != arrival + e2e: " $0; bad = 1 }
      if ($4 > 1 && !($10 > 0)) { print "tpot not positive: " $0; bad = 1 }
    } END { exit bad }' "$T/req.csv" >"$T/bad" || fail "$1: $(head -3 "$T/bad")"
}

S=(serve --executor cpu --zoo "$Z" --trace "$T/t.csv")
expect_exit 0 "serve deltazip" -- "$D" "${S[@]}" --system deltazip --max-deltas 2 --out "$T/dz.h5" &&
  expect_out_contains "deltazip" "summary row"
[ -f "$T/dz.h5" ] || fail "serve deltazip: no result file"
check_requests "$T/dz.h5"
expect_exit 0 "inspect" -- "$D" inspect "$T/dz.h5"
for tab in requests summary slo memory loads; do
  expect_out_contains "$tab" "result has table $tab"
done
expect_out_contains "executor = cpu" "executor attribute"
h1=$(sed -n 's/.*generated_tokens_hash = //p' "$T/out")
[ -n "$h1" ] || fail "no generated_tokens_hash attribute"
expect_exit 0 "export loads" -- "$D" export "$T/dz.h5" loads
loads=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "gpu_loads") c = i } NR > 1 { s += $c } END { print s + 0 }' "$T/out")
[ "$loads" -gt 0 ] || fail "deltazip with 2 slots for 6 models made no load"

# Same seed: the same greedy tokens (times differ, the work does not).
expect_exit 0 "serve deltazip again" -- "$D" "${S[@]}" --system deltazip --max-deltas 2 -q --out "$T/dz2.h5"
"$D" inspect "$T/dz2.h5" >"$T/out" 2>&1
h2=$(sed -n 's/.*generated_tokens_hash = //p' "$T/out")
[ "$h1" = "$h2" ] || fail "same seed, different generated tokens: $h1 vs $h2"
expect_exit 0 "serve deltazip seed 2" -- "$D" "${S[@]}" --system deltazip --max-deltas 2 -q --seed 2 --out "$T/dz3.h5"
"$D" inspect "$T/dz3.h5" >"$T/out" 2>&1
h3=$(sed -n 's/.*generated_tokens_hash = //p' "$T/out")
[ "$h1" != "$h3" ] || fail "other seed, same generated tokens"
# Chunked prefill on the real model: prompts of 4..24 tokens in chunks of a budget of 8 build
# the same KV as whole prompts, so the greedy tokens are those of whole prefill.
expect_exit 0 "serve chunked, budget 8" -- "$D" "${S[@]}" --system deltazip --max-deltas 2 -q \
  --max-batch 4 --token-budget 8 --out "$T/ch.h5"
check_requests "$T/ch.h5"
expect_exit 0 "serve whole, budget 64" -- "$D" "${S[@]}" --system deltazip --max-deltas 2 -q \
  --max-batch 4 --token-budget 64 --prefill whole --out "$T/wh.h5"
hc=$("$D" inspect "$T/ch.h5" | sed -n 's/.*generated_tokens_hash = //p')
hw=$("$D" inspect "$T/wh.h5" | sed -n 's/.*generated_tokens_hash = //p')
[ -n "$hc" ] && [ "$hc" = "$hw" ] || fail "chunked and whole prefill generated other tokens: $hc vs $hw"

# Calibration: the fitted overlay is a valid --calib file for simulate on the zoo's shape.
expect_exit 0 "calib-out" -- "$D" "${S[@]}" --system deltazip --max-deltas 2 -q --calib-out "$T/cal.txt"
grep -q '^step_overhead_us = ' "$T/cal.txt" || fail "calibration lacks step_overhead_us"
expect_exit 0 "simulate with the calibration" -- "$D" simulate --trace "$T/t.csv" --system deltazip \
  --max-deltas 2 --model "$Z/base" --hw cpu --calib "$T/cal.txt" -q --out "$T/sim.h5"
check_requests "$T/sim.h5"

# The other policies (full models for swap; every delta resident for bitdelta, deltadq).
expect_exit 0 "serve swap" -- "$D" "${S[@]}" --system swap --max-resident 2 -q --out "$T/sw.h5"
check_requests "$T/sw.h5"
expect_exit 0 "serve bitdelta" -- "$D" "${S[@]}" --system bitdelta -q --out "$T/bd.h5"
check_requests "$T/bd.h5"
expect_exit 0 "serve deltadq" -- "$D" "${S[@]}" --system deltadq --work-dir "$T/workdir" -q --out "$T/dq.h5"
[ -f "$T/workdir/model5.dz.safetensors" ] || fail "--work-dir keeps one file per model"

# The kernel executor (cuda's loop) on this CPU at the micro zoo's shape: every policy serves the
# whole trace; a model without a set takes the least recently used one (6 models, 2 slots).
K=("$D" serve --executor cpu-kernels --trace "$T/t.csv" --model "$Z/base")
for sys in "deltazip --max-deltas 2" "deltazip --max-deltas 3 --delta-format 2bit-2:4" \
           "deltazip --max-deltas 2 --delta-format fp16" "bitdelta" "deltadq" \
           "deltadq --delta-format deltadq-32x" "swap --max-resident 2" "dedicated"; do
  # shellcheck disable=SC2086
  expect_exit 0 "cpu-kernels $sys" -- "${K[@]}" --system $sys -q --out "$T/k.h5" && check_requests "$T/k.h5"
done
"$D" inspect "$T/k.h5" | grep -q 'executor = cpu-kernels' || fail "cpu-kernels: executor attribute"
expect_exit 1 "cpu-kernels: a format without a kernel" -- "${K[@]}" --system deltazip \
  --delta-format int4 --out "$T/x.h5" && expect_err_contains "has no kernel" "int4 message"
[ ! -e "$T/x.h5" ] || fail "a failed cpu-kernels run left $T/x.h5"
# cuda: runs where a GPU is (make test-gpu machines); here one line naming the executor, exit 1
"$D" serve --executor cuda --trace "$T/t.csv" --model "$Z/base" --system bitdelta -q \
  --out "$T/cu.h5" 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then
  check_requests "$T/cu.h5"
else
  [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "executor cuda: " "$T/err" ||
    fail "cuda without a device: exit $rc, $(cat "$T/err")"
  [ ! -e "$T/cu.h5" ] || fail "a failed cuda run left its output"
fi

# Bad input: exit non-zero, one line, no output file.
expect_exit 1 "models not present" -- "$D" "${S[@]}" --system deltazip --models 3 --out "$T/x.h5" &&
  expect_err_contains "the run has 3 models" "model id message"
expect_exit 1 "zoo-map exact" -- "$D" "${S[@]}" --system deltazip --zoo-map exact --out "$T/x.h5" &&
  expect_err_contains "4 fine-tunes" "exact map message"
expect_exit 2 "zero delta slots" -- "$D" "${S[@]}" --system deltazip --max-deltas 0 --out "$T/x.h5"
[ "$(grep -c "^deltabench serve: " "$T/err")" -eq 1 ] || fail "zero slots: not one message line: $(cat "$T/err")"
expect_exit 2 "zero resident models" -- "$D" "${S[@]}" --system swap --max-resident 0 --out "$T/x.h5"
[ "$(grep -c "^deltabench serve: " "$T/err")" -eq 1 ] || fail "zero resident: not one message line: $(cat "$T/err")"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,0.0,0,60,10\n' >"$T/long.csv"
expect_exit 1 "longer than the context" -- "$D" serve --zoo "$Z" --trace "$T/long.csv" --system deltazip \
  --out "$T/x.h5" && expect_err_contains "max_position_embeddings" "context message"
expect_exit 1 "missing zoo" -- "$D" serve --zoo "$T/nozoo" --trace "$T/t.csv" --system deltazip --out "$T/x.h5" &&
  expect_err_contains "nozoo" "missing zoo names it"
expect_exit 2 "Llama shape on cpu" -- "$D" "${S[@]}" --system deltazip --model llama2-7b
expect_exit 2 "zoo on simulate" -- "$D" simulate --trace "$T/t.csv" --system deltazip --zoo "$Z"
[ -e "$T/x.h5" ] && fail "a failed run left its output file"
ls "$T"/x.h5.tmp.* >/dev/null 2>&1 && fail "a failed run left a temporary file"
sysdir=$(dirname "$(mktemp -u)") # where the executor makes its work directory: $TMPDIR or the default
ls "$sysdir"/deltabench-serve.* >/dev/null 2>&1 && fail "a run left its work directory"

# a real executor reports requests served per second of wall time, not "simulated"
expect_exit 0 "cpu-kernels footer" -- "${K[@]}" --system bitdelta --out "$T/kf.h5" &&
  expect_out_contains "served in" "real footer" && expect_out_contains "where time went" "breakdown"
grep -q "simulated)" "$T/out" && fail "a real run's footer says simulated"
"$D" inspect "$T/kf.h5" | grep -q 'served_requests_per_wall_s = ' || fail "served_requests_per_wall_s attribute"

# defaults (the zoo, the cpu profile cache) are found from the project root, from any directory
mkdir -p "$T/root/models/zoo" "$T/root/results" && ln -s "$Z" "$T/root/models/zoo/small"
expect_exit 0 "serve from another directory" -- env DELTABENCH_ROOT="$T/root" bash -c \
  "cd / && '$D' serve --trace '$T/t.csv' --system bitdelta --executor cpu -q --out '$T/root.h5'"
[ -s "$T/root/results/hw-cpu.txt" ] || fail "the cpu profile cache is not under the project root"
"$D" inspect "$T/root.h5" | grep -qF "zoo = $T/root/models/zoo/small" || fail "zoo attribute: the resolved path"
"$D" inspect "$T/root.h5" | grep -qxF "  model = $T/root/models/zoo/small/base" || fail "model attribute: the whole path"
"$D" export "$T/root.h5" summary | grep -q "small/base" || fail "summary model column: small/base"
# on a terminal a real run shows its progress (requests done, simulated and wall time)
if command -v script >/dev/null; then
  script -qec "'$D' serve --trace '$T/t.csv' --system bitdelta --executor cpu --zoo '$Z' >/dev/null" /dev/null >"$T/tty.txt" 2>&1
  grep -q "requests done" "$T/tty.txt" || fail "no progress line on a terminal: $(head -c 300 "$T/tty.txt")"
fi

finish
