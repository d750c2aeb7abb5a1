#!/usr/bin/env bash
# test_simulate.sh: `deltabench simulate` and `serve`: good runs of every policy, the HDF5
# tables, determinism of the tables, profiles and calibration files, and every bad input
# (each a clear error before anything runs, no output file left behind).
. "$(dirname "$0")/lib.sh"

D="$DELTABENCH"
expect_exit 0 "simulate --help" -- "$D" simulate --help
for opt in --trace --system --hw --calib --model --tp --models --max-resident --max-deltas \
  --delta-format --prefetch --preempt --preempt-after --max-batch --token-budget --prefill --kv-block \
  --gpu-util --host-util --mem-interval --executor --out; do
  expect_out_contains "$opt" "simulate --help lists $opt"
done
expect_exit 0 "serve --help" -- "$D" serve --help

# A small trace: 32 models, uniform, 60 s at 1 req/s.
expect_exit 0 "trace gen" -- "$D" trace gen --arrival poisson --rate 1 --models 32 \
  --popularity uniform --lengths fixed:256,32 --duration 60 --seed 3 --out "$T/t.csv"
S=(simulate --trace "$T/t.csv" --model llama2-13b --tp 4)

for sys in dedicated swap deltazip bitdelta deltadq; do
  expect_exit 0 "simulate $sys" -- "$D" "${S[@]}" --system "$sys" --out "$T/$sys.h5" &&
    expect_out_contains "$sys" "summary row of $sys"
  [ -f "$T/$sys.h5" ] || fail "simulate $sys: no result file"
done
expect_out_contains "requests / makespan" "throughput definition printed"
expect_exit 0 "deltazip prefetch+preempt" -- "$D" "${S[@]}" --system deltazip --max-deltas 12 \
  --prefetch --preempt --preempt-after 0.5 --delta-format 2bit-2:4 -q --out "$T/dzp.h5"
[ -s "$T/out" ] && fail "--quiet printed to stdout"

# Tables of the result file.
expect_exit 0 "inspect result" -- "$D" inspect "$T/deltazip.h5"
for tab in requests summary slo memory loads; do
  expect_out_contains "$tab" "result has table $tab"
done
expect_exit 0 "export requests" -- "$D" export "$T/deltazip.h5" requests
head -1 "$T/out" | grep -q "request_id,model,prompt_tokens,output_tokens,preemptions,arrival_s,queue_s,load_s,ttft_s,tpot_s,e2e_s,finish_s" ||
  fail "requests columns: $(head -1 "$T/out")"
n=$(($(wc -l <"$T/out") - 1))
m=$(($(wc -l <"$T/t.csv") - 1))
[ "$n" -eq "$m" ] || fail "requests table has $n rows, trace $m"
expect_exit 0 "export slo" -- "$D" export "$T/deltazip.h5" slo
[ "$(sed -n 2p "$T/out" | cut -d, -f1)" = "1" ] || fail "first SLO threshold is not 1 s: $(sed -n 2p "$T/out")"
[ "$(sed -n 3p "$T/out" | cut -d, -f1)" = "1.5" ] || fail "SLO step is not 0.5 s: $(sed -n 3p "$T/out")"

# Determinism: the same run twice gives identical tables.
expect_exit 0 "deltazip again" -- "$D" "${S[@]}" --system deltazip -q --out "$T/deltazip2.h5"
for tab in requests summary slo memory loads; do
  "$D" export "$T/deltazip.h5" $tab >"$T/a.csv" 2>/dev/null
  "$D" export "$T/deltazip2.h5" $tab >"$T/b.csv" 2>/dev/null
  cmp -s "$T/a.csv" "$T/b.csv" || fail "table $tab differs between identical runs"
done

# Profiles: a file in the profile format, and a calibration overlay.
"$D" simulate --help >/dev/null
cat >"$T/my.hw" <<'EOF'
# a made-up GPU
name = mygpu
hbm_gb = 48        # memory
hbm_gbps = 900     # bandwidth
peak_tflops = 150
pcie_gbps = 25
disk_gbps = 2
host_gb = 512
link_gbps = 100
link_lat_us = 10
step_overhead_us = 500
load_overhead_ms = 1
max_gpus = 4
eff.gemm.mem = 0.8
EOF
expect_exit 0 "--hw FILE" -- "$D" "${S[@]}" --system deltazip --hw "$T/my.hw" && expect_out_contains "deltazip" "--hw FILE row"
printf 'eff.delta.sbmm.mem = 0.9\neff.gemm.mem = 0.9\n' >"$T/calib.txt"
expect_exit 0 "--calib" -- "$D" "${S[@]}" --system deltazip --calib "$T/calib.txt"
printf 'hbm_gbps = fast\n' >"$T/bad.hw"
expect_exit 1 "bad profile file" -- "$D" "${S[@]}" --system deltazip --hw "$T/bad.hw" &&
  expect_err_contains "bad.hw:1" "bad profile names file and line"
printf 'eff.gemm.mem = 3\n' >"$T/badcal.txt"
expect_exit 1 "bad calibration" -- "$D" "${S[@]}" --system deltazip --calib "$T/badcal.txt"
# an unknown name is a usage error listing the valid names, for --hw as for --model
expect_exit 2 "unknown profile" -- "$D" "${S[@]}" --system deltazip --hw tpu-v9 &&
  expect_err_contains "unknown hardware profile" "unknown profile message" &&
  expect_err_contains "h100-sxm" "unknown profile lists the names"
expect_exit 2 "unknown model" -- "$D" "${S[@]}" --system deltazip --model llama9 &&
  expect_err_contains "llama2-7b" "unknown model lists the names"
expect_exit 1 "missing profile file" -- "$D" "${S[@]}" --system deltazip --hw "$T/none/x.hw"

# Usage errors (exit 2).
expect_exit 2 "no trace" -- "$D" simulate --system swap
expect_exit 2 "no system" -- "$D" simulate --trace "$T/t.csv"
expect_exit 2 "unknown system" -- "$D" "${S[@]}" --system vllm && expect_err_contains "unknown policy" "unknown system"
expect_exit 2 "zero delta slots" -- "$D" "${S[@]}" --system deltazip --max-deltas 0
expect_exit 2 "zero resident" -- "$D" "${S[@]}" --system swap --max-resident 0
expect_exit 2 "max-deltas on swap" -- "$D" "${S[@]}" --system swap --max-deltas 4
expect_exit 2 "max-resident on deltazip" -- "$D" "${S[@]}" --system deltazip --max-resident 4
expect_exit 2 "format on swap" -- "$D" "${S[@]}" --system swap --delta-format bitdelta
expect_exit 2 "prefetch on swap" -- "$D" "${S[@]}" --system swap --prefetch
expect_exit 2 "unknown format" -- "$D" "${S[@]}" --system deltazip --delta-format 3bit
expect_exit 2 "unknown model" -- "$D" "${S[@]}" --system deltazip --model gpt-5
expect_exit 2 "tp 0" -- "$D" "${S[@]}" --system deltazip --tp 0
expect_exit 2 "gpu-util 0" -- "$D" "${S[@]}" --system deltazip --gpu-util 0
expect_exit 2 "simulate with cpu executor" -- "$D" "${S[@]}" --system deltazip --executor cpu
expect_exit 2 "stray argument" -- "$D" "${S[@]}" --system deltazip extra

# Failures (exit 1, one line, no output file).
expect_exit 1 "tp beyond profile" -- "$D" "${S[@]}" --system deltazip --tp 16 --out "$T/x.h5" &&
  expect_err_contains "at most 8" "tp beyond profile message"
expect_exit 1 "model id beyond --models" -- "$D" "${S[@]}" --system deltazip --models 8 --out "$T/x.h5" &&
  expect_err_contains "the run has 8 models" "model id message"
expect_exit 1 "swap does not fit" -- "$D" simulate --trace "$T/t.csv" --system swap --tp 1 \
  --max-resident 6 --out "$T/x.h5" && expect_err_contains "do not fit" "swap fit message"
expect_exit 1 "base does not fit" -- "$D" simulate --trace "$T/t.csv" --system deltazip \
  --model llama2-70b --hw rtx3090 --tp 4 --out "$T/x.h5" && expect_err_contains "does not fit" "base fit message"
expect_exit 1 "deltas do not fit" -- "$D" simulate --trace "$T/t.csv" --system deltazip \
  --model llama2-13b --tp 1 --max-deltas 1000 --out "$T/x.h5" && expect_err_contains "lower --max-deltas" "delta fit message"
expect_exit 1 "missing trace" -- "$D" simulate --trace "$T/none.csv" --system swap --out "$T/x.h5"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,0,10,x\n' >"$T/bad.csv"
expect_exit 1 "malformed trace" -- "$D" simulate --trace "$T/bad.csv" --system swap --out "$T/x.h5" &&
  expect_err_contains "bad.csv" "malformed trace names the file"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,0,10,0\n' >"$T/zero.csv"
expect_exit 1 "zero output tokens" -- "$D" simulate --trace "$T/zero.csv" --system swap --out "$T/x.h5"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,0,9000,10\n' >"$T/long.csv"
expect_exit 1 "prompt beyond budget, whole prefill" -- "$D" simulate --trace "$T/long.csv" --system swap \
  --token-budget 4096 --prefill whole --out "$T/x.h5" &&
  expect_err_contains "token-budget" "budget message"
expect_exit 2 "unknown prefill mode" -- "$D" simulate --trace "$T/long.csv" --system swap --prefill half &&
  expect_err_contains "whole or chunked" "prefill mode message"
expect_exit 1 "chunked budget below the batch" -- "$D" simulate --trace "$T/long.csv" --system swap \
  --token-budget 100 --max-batch 256 --out "$T/x.h5" && expect_err_contains "below --max-batch" "chunked budget message"
[ -e "$T/x.h5" ] && fail "a failed run left its output file"
ls "$T"/x.h5.tmp.* >/dev/null 2>&1 && fail "a failed run left a temporary file"
expect_exit 1 "serve cpu without a zoo" -- "$D" serve --trace "$T/t.csv" --system deltazip --executor cpu \
  --zoo "$T/nozoo" && expect_err_contains "nozoo" "serve cpu names the missing zoo"
expect_exit 1 "serve cuda not built" -- "$D" serve --trace "$T/t.csv" --system deltazip --tp 4 --executor cuda

# ---- a new user's first hour (defaults that fit, caps, memory, metadata, breakdown) ----
# every policy runs with default options on every shipped trace; what was chosen is printed
for tr in traces/*.csv; do
  for p in dedicated swap deltazip bitdelta deltadq; do
    expect_exit 0 "defaults fit: $p on $tr" -- "$D" simulate --trace "$tr" --system $p -q
  done
done
# and on the replayed Azure traces (beside the clone in ../shared/traces)
for az in ../shared/traces/AzureLLMInferenceTrace_code.csv ../shared/traces/AzureLLMInferenceTrace_conv.csv; do
  [ -s "$az" ] || { echo "SKIP: $az is absent"; continue; }
  expect_exit 0 "replay $az" -- "$D" trace gen --arrival replay:"$az" --popularity zipf:1.5 --models 32 -q --out "$T/az.csv"
  for p in dedicated swap deltazip bitdelta deltadq; do
    expect_exit 0 "defaults fit: $p on $(basename "$az")" -- "$D" simulate --trace "$T/az.csv" --system $p -q
  done
done
expect_exit 0 "swap picks the resident count" -- "$D" simulate --trace traces/poisson_uniform_32m_300s.csv --system swap &&
  expect_err_contains "chose --max-resident" "chosen resident count printed"
expect_exit 0 "70b picks the TP" -- "$D" simulate --trace traces/poisson_uniform_32m_300s.csv --system swap --model llama2-70b --hw h100-sxm &&
  expect_err_contains "--tp 2" "chosen TP printed"
expect_exit 0 "-q prints no chosen line" -- "$D" simulate --trace traces/poisson_uniform_32m_300s.csv --system swap -q
[ -s "$T/err" ] && fail "-q printed on stderr: $(head -c 200 "$T/err")"
# explicit options are kept as given (and fail as before)
expect_exit 1 "explicit resident count kept" -- "$D" simulate --trace traces/poisson_uniform_32m_300s.csv --system swap --max-resident 6 --tp 1 &&
  expect_err_contains "lower --max-resident" "explicit overfull swap"
expect_exit 0 "long prompt, whole prefill: default budget grows" -- "$D" simulate --trace "$T/long.csv" --system swap --prefill whole &&
  expect_err_contains "--token-budget 9000" "chosen budget printed"
expect_exit 0 "long prompt, chunked: budget 4096 kept" -- "$D" simulate --trace "$T/long.csv" --system swap --out "$T/long.h5"
grep -q "token-budget" "$T/err" && fail "chunked prefill changed the budget: $(cat "$T/err")"
expect_exit 0 "prefill attribute" -- "$D" inspect "$T/long.h5" && expect_out_contains "prefill = chunked" "prefill mode recorded"
# chunked prefill (the default) serves a lognormal trace (median prompt 512, sigma 1) whose
# longest prompts exceed the budget of 4096; whole prefill refuses it at that budget
expect_exit 0 "lognormal trace" -- "$D" trace gen --arrival poisson --rate 4 --models 8 --popularity zipf:1.5 \
  --lengths lognormal:512,1,128,1 --duration 120 --seed 1 -q --out "$T/ln.csv"
[ "$(awk -F, 'NR > 1 && $4 > 4096' "$T/ln.csv" | wc -l)" -gt 0 ] || fail "lognormal trace has no prompt over 4096"
for p in dedicated swap deltazip bitdelta deltadq; do
  expect_exit 0 "lognormal chunked $p" -- "$D" simulate --trace "$T/ln.csv" --system $p --token-budget 4096 -q
done
expect_exit 0 "lognormal chunked with preemption" -- "$D" simulate --trace "$T/ln.csv" --system deltazip \
  --token-budget 4096 --preempt --prefetch --out "$T/ln1.h5" -q
expect_exit 0 "lognormal chunked again" -- "$D" simulate --trace "$T/ln.csv" --system deltazip \
  --token-budget 4096 --preempt --prefetch --out "$T/ln2.h5" -q
"$D" export "$T/ln1.h5" requests >"$T/ln1.csv" && "$D" export "$T/ln2.h5" requests >"$T/ln2.csv" &&
  cmp -s "$T/ln1.csv" "$T/ln2.csv" || fail "chunked runs differ between two runs"
expect_exit 1 "lognormal whole refused" -- "$D" simulate --trace "$T/ln.csv" --system deltazip \
  --token-budget 4096 --prefill whole && expect_err_contains "exceeds --token-budget 4096" "whole refuses long prompts"
# hints name only remedies the profile has: cpu has one GPU, so no "raise --tp"
expect_exit 1 "13b on cpu" -- "$D" simulate --trace traces/poisson_uniform_32m_300s.csv --system swap --hw cpu
grep -q "raise --tp" "$T/err" && fail "cpu hint offers --tp: $(cat "$T/err")"
# the --models cap holds for the count inferred from the trace
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,9721133,10,10\n' >"$T/bigid.csv"
expect_exit 1 "inferred models capped" -- "$D" simulate --trace "$T/bigid.csv" --system dedicated &&
  expect_err_contains "at most 1000000 models" "cap message"
# the engine's tables are estimated before they are allocated
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,999999,10,10\n' >"$T/wide.csv"
expect_exit 1 "dedicated tables beyond memory" -- "$D" simulate --trace "$T/wide.csv" --system dedicated &&
  expect_err_contains "needs about" "memory estimate message"
# duplicate request ids are refused
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,0,10,10\n0,2.0,0,10,10\n' >"$T/dup.csv"
expect_exit 1 "duplicate ids" -- "$D" simulate --trace "$T/dup.csv" --system swap &&
  expect_err_contains "appears more than once" "duplicate id message"
# the summary explains itself: where time went, on stdout and in HDF5
expect_exit 0 "breakdown" -- "$D" simulate --trace traces/gamma_zipf1.5_32m_600s.csv --system deltazip --out "$T/bd.h5" &&
  expect_out_contains "where time went" "breakdown line"
expect_exit 0 "breakdown table" -- "$D" export "$T/bd.h5" breakdown
for part in queue load prefill decode; do grep -q "^$part," "$T/out" || fail "breakdown lacks $part"; done
# metadata is true: a model directory's whole path, the run's duration
M="$T/$(printf 'd%.0s' $(seq 1 150))/models/zoo/medium/base"
mkdir -p "$M"
printf '{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":256,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":4,"max_position_embeddings":256,"rms_norm_eps":1e-5,"rope_theta":10000,"hidden_act":"silu","torch_dtype":"float16"}\n' >"$M/config.json"
expect_exit 0 "model directory" -- "$D" simulate --trace traces/zoo_poisson_4m_60s.csv --system bitdelta --model "$M" --out "$T/md.h5" --hw cpu
expect_exit 0 "inspect model attr" -- "$D" inspect "$T/md.h5" && expect_out_contains "model = $M" "root model attribute whole"
expect_exit 0 "summary model" -- "$D" export "$T/md.h5" summary && expect_out_contains "medium/base" "summary model names the size"
dur=$("$D" inspect "$T/md.h5" | sed -n 's/^  duration_s = //p')
wall=$("$D" inspect "$T/md.h5" | sed -n 's/^  sim_wall_s = //p')
awk -v d="$dur" -v w="$wall" 'BEGIN { exit !(d >= w) }' || fail "duration_s $dur does not cover the run ($wall s)"

finish
