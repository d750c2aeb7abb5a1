#!/usr/bin/env bash
# test_trace.sh: `deltabench trace gen` and `trace stats` on good and bad input: exit codes
# (0 ok, 1 failure, 2 usage), one-line errors naming FILE:LINE, no output file after a failure,
# byte-identical output for identical seeds, the committed reference traces regenerate exactly,
# and the facts of the real Azure LLM trace (when ../shared/traces is there).
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
AZ=../shared/traces/AzureLLMInferenceTrace_code.csv

# no_output FILE DESC: neither the file nor a temporary beside it exists
no_output() {
  [ -e "$1" ] && fail "$2: output $1 exists after a failure"
  ls "$1".tmp.* >/dev/null 2>&1 && fail "$2: temporary file left beside $1"
  return 0
}

# ---- help: exit 0 on stdout, every option with its default ----
expect_exit 0 "trace --help" -- "$DB" trace --help && expect_out_contains "trace gen" "trace --help"
expect_exit 0 "gen --help" -- "$DB" trace gen --help
for opt in --arrival --rate --cv --on --off --off-ratio --time-scale --models --popularity \
           --lengths --duration --requests --seed --out; do
  grep -qe "^  $opt " "$T/out" || fail "gen --help lacks $opt"
done
grep -q "\[1\]" "$T/out" || fail "gen --help shows no defaults"
expect_exit 0 "stats --help" -- "$DB" trace stats --help && expect_out_contains "--top" "stats --help"
expect_exit 0 "help trace" -- "$DB" help trace

# ---- usage errors: exit 2 ----
u() { # u DESC ARGS...
  local desc=$1; shift
  expect_exit 2 "$desc" -- "$DB" trace "$@" &&
    { head -n 1 "$T/err" | grep -q "^deltabench trace" || fail "$desc: first line: $(head -n 1 "$T/err")"; }
}
O=$T/u.csv
u "no subcommand"
u "unknown subcommand" frobnicate
u "unknown option" gen --bogus --out "$O"
u "missing value" gen --out
u "missing --out" gen --duration 10
u "rate 0" gen --rate 0 --duration 10 --out "$O"
u "negative rate" gen --rate -1 --duration 10 --out "$O"
u "rate not a number" gen --rate fast --duration 10 --out "$O"
u "negative cv" gen --arrival gamma --cv -1 --duration 10 --out "$O"
u "cv without gamma" gen --cv 2 --duration 10 --out "$O"
u "on without onoff" gen --on 2 --duration 10 --out "$O"
u "off-ratio 1" gen --arrival onoff --off-ratio 1 --duration 10 --out "$O"
u "time-scale without replay" gen --time-scale 2 --duration 10 --out "$O"
u "zero models" gen --models 0 --duration 10 --out "$O"
u "negative zipf" gen --popularity zipf:-1 --models 4 --duration 10 --out "$O"
u "zipf without a" gen --popularity zipf --models 4 --duration 10 --out "$O"
u "unknown popularity" gen --popularity pareto:1 --duration 10 --out "$O"
u "bad lengths" gen --lengths fixed:0,5 --duration 10 --out "$O"
u "bad lognormal" gen --lengths lognormal:100,1,10 --duration 10 --out "$O"
u "unknown arrival" gen --arrival weibull --duration 10 --out "$O"
u "endless poisson" gen --out "$O"
u "replay popularity without replay" gen --popularity replay --duration 10 --out "$O"
u "stats no file" stats
u "stats two files" stats a b
u "stats bad --top" stats --top -1 x
no_output "$O" "usage errors"

# ---- generation ----
G="--arrival gamma --rate 4 --cv 2 --models 16 --popularity zipf:1.2 --lengths lognormal:800,1,150,0.7 --duration 200"
expect_exit 0 "gen csv" -- "$DB" trace gen $G --seed 9 --out "$T/a.csv" && expect_out_contains "wrote" "gen csv"
expect_exit 0 "gen csv again" -- "$DB" trace gen $G --seed 9 --out "$T/b.csv"
cmp -s "$T/a.csv" "$T/b.csv" || fail "same seed, different files"
expect_exit 0 "gen other seed" -- "$DB" trace gen $G --seed 10 --out "$T/c.csv"
cmp -s "$T/a.csv" "$T/c.csv" && fail "different seeds, same file"
head -n 1 "$T/a.csv" | grep -qx "request_id,arrival_s,model,prompt_tokens,output_tokens" || fail "csv header"
sort -t, -k2,2 -g -c <(tail -n +2 "$T/a.csv") 2>/dev/null || fail "csv not sorted by arrival"
expect_exit 0 "gen stdout" -- "$DB" trace gen $G --seed 9 --out -
cmp -s "$T/out" "$T/a.csv" || fail "--out - differs from the file"
expect_exit 0 "stats csv" -- "$DB" trace stats "$T/a.csv"
for key in requests span_s mean_rate interarrival peak_to_mean models zipf_a prompt_tokens output_tokens; do
  grep -q "^$key " "$T/out" || fail "stats lacks $key"
done
expect_exit 0 "gen requests limit" -- "$DB" trace gen --requests 1000 --models 3 --out "$T/n.csv"
[ "$(wc -l < "$T/n.csv")" -eq 1001 ] || fail "--requests 1000 wrote $(wc -l < "$T/n.csv") lines"

# HDF5: same requests as the CSV, readable by stats and export
expect_exit 0 "gen h5" -- "$DB" trace gen $G --seed 9 --out "$T/a.h5"
expect_exit 0 "stats h5" -- "$DB" trace stats "$T/a.h5" && expect_out_contains "format          hdf5" "stats h5"
sed 1,2d "$T/out" > "$T/h5.stats"
"$DB" trace stats "$T/a.csv" | sed 1,2d > "$T/csv.stats"
cmp -s "$T/h5.stats" "$T/csv.stats" || fail "stats of the h5 and csv outputs differ"
expect_exit 0 "export h5" -- "$DB" export "$T/a.h5" requests
[ "$(grep -c . "$T/out")" -eq "$(grep -c . "$T/a.csv")" ] || fail "export h5: row count"

# replay: times scaled by --time-scale, or rescaled to --rate; models and lengths kept
expect_exit 0 "replay" -- "$DB" trace gen --arrival replay:"$T/a.csv" --time-scale 0.5 --models 16 \
  --popularity replay --lengths replay --out "$T/r.csv"
awk -F, 'NR==FNR{if(FNR>1)t[FNR]=$2; next} FNR>1{d=$2-t[FNR]/2; if(d<-1e-6||d>1e-6) bad=1} END{exit bad}' \
  "$T/a.csv" "$T/r.csv" || fail "replay --time-scale 0.5 did not halve the times"
cmp -s <(cut -d, -f3- "$T/a.csv") <(cut -d, -f3- "$T/r.csv") || fail "replay changed models or lengths"
expect_exit 0 "replay to rate" -- "$DB" trace gen --arrival replay:"$T/a.csv" --rate 40 --models 16 --out "$T/r2.csv"
"$DB" trace stats "$T/r2.csv" | grep -q "^mean_rate       40.000 " || fail "replay --rate 40"
u "replay rate and scale" gen --arrival replay:"$T/a.csv" --rate 4 --time-scale 2 --out "$O"

# Azure Functions invocation counts: per-model arrivals and popularity
printf 'HashOwner,HashApp,HashFunction,Trigger,1,2,3\r\no,a,f,http,5,0,1\r\no,a,g,timer,2,2,2\r\no,b,h,queue,0,0,1\r\n' > "$T/inv.csv"
expect_exit 0 "azure-functions" -- "$DB" trace gen --arrival azure-functions:"$T/inv.csv" --models 2 --out "$T/f.csv"
[ "$(tail -n +2 "$T/f.csv" | cut -d, -f3 | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')" = "0:6 1:6 " ] ||
  fail "azure-functions per-model counts: $(tail -n +2 "$T/f.csv" | cut -d, -f3 | sort | uniq -c | tr '\n' ' ')"
expect_exit 0 "azure popularity" -- "$DB" trace gen --popularity azure:"$T/inv.csv" --models 3 --requests 100 --out "$T/p.csv"

# ---- failures: exit 1, one line naming the file (and line), no output file ----
f() { # f DESC PATTERN ARGS...
  local desc=$1 pat=$2; shift 2
  expect_exit 1 "$desc" -- "$DB" trace "$@" &&
    { grep -qE -- "$pat" "$T/err" || fail "$desc: message lacks /$pat/: $(cat "$T/err")"; }
}
F=$T/fail.out.csv
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,0,5,5\n1,0.5,0,5,5\n' > "$T/unsorted.csv"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,-1.0,0,5,5\n' > "$T/negative.csv"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,1.0,0,5,5\n1,2.0,zero,5,5\n' > "$T/malformed.csv"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n' > "$T/header.csv"
: > "$T/empty.csv"
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:0x.0,1,2\n' > "$T/azbad.csv"
f "replay unsorted" "unsorted.csv:3: .*earlier" gen --arrival replay:"$T/unsorted.csv" --out "$F"
no_output "$F" "replay unsorted"
f "replay negative" "negative.csv:2: negative" gen --arrival replay:"$T/negative.csv" --out "$F"
f "replay malformed" "malformed.csv:3: model 'zero'" gen --arrival replay:"$T/malformed.csv" --out "$F"
f "replay empty" "empty.csv: empty file" gen --arrival replay:"$T/empty.csv" --out "$F"
f "replay header only" "header.csv:2: no requests" gen --arrival replay:"$T/header.csv" --out "$F"
f "replay missing" "nope.csv" gen --arrival replay:"$T/nope.csv" --out "$F"
f "azure llm malformed" "azbad.csv:3: TIMESTAMP" gen --arrival replay:"$T/azbad.csv" --out "$F"
f "lengths malformed" "malformed.csv:3:" gen --lengths trace:"$T/malformed.csv" --duration 5 --out "$F"
f "too few functions" "3 functions" gen --arrival azure-functions:"$T/inv.csv" --models 4 --out "$F"
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,4808,10\r\n2023-11-16 18:17:04.0319600,3180,8' > "$T/azgood.csv"
f "replay models without column" "no model column" gen --arrival replay:"$T/azgood.csv" --popularity replay --out "$F"
expect_exit 0 "replay azure llm" -- "$DB" trace gen --arrival replay:"$T/azgood.csv" --models 4 --popularity zipf:1 --lengths replay --out "$T/az.csv"
[ "$(sed -n 3p "$T/az.csv" | cut -d, -f2,4,5)" = "0.052000,3180,8" ] || fail "replay azure llm: $(sed -n 3p "$T/az.csv")"
f "no requests" "no requests" gen --rate 0.001 --duration 0.001 --out "$F"
no_output "$F" "failures"
f "unwritable output" "nodir" gen --duration 5 --out "$T/nodir/x.csv"
f "stats malformed" "malformed.csv:3:" stats "$T/malformed.csv"
f "stats unsorted" "unsorted.csv:3:" stats "$T/unsorted.csv"
f "stats empty" "empty file" stats "$T/empty.csv"
f "stats missing" "nope.csv" stats "$T/nope.csv"
f "stats azure functions" "invocation counts" stats "$T/inv.csv"
f "stats model beyond --models" "outside the 3 models" stats --models 3 "$T/a.csv"

# ---- the committed reference traces regenerate byte for byte (commands in traces/README.md) ----
grep -E '^deltabench trace gen ' traces/README.md | while read -r line; do
  out=$(sed -E 's/.*--out (traces\/[^ ]+).*/\1/' <<<"$line")
  args=$(sed -E 's/^deltabench trace gen //; s/--out [^ ]+//' <<<"$line")
  # shellcheck disable=SC2086
  "$DB" trace gen $args --out "$T/ref.csv" >/dev/null 2>"$T/err" || { fail "regenerate $out: $(cat "$T/err")"; continue; }
  cmp -s "$T/ref.csv" "$out" || fail "regenerated $out differs from the committed file"
  ncheck=$((ncheck + 1))
done
[ "$(grep -cE '^deltabench trace gen ' traces/README.md)" -ge 3 ] || fail "traces/README.md lists fewer than 3 reference commands"

# ---- the real Azure code trace ----
if [ -r "$AZ" ]; then
  expect_exit 0 "stats azure code" -- "$DB" trace stats "$AZ"
  expect_out_contains "requests        8819" "azure requests"
  expect_out_contains "mean_rate       2.566 req/s" "azure mean rate"
  grep -qE "cv 13\.1[0-9]" "$T/out" || fail "azure CV: $(grep interarrival "$T/out")"
  expect_out_contains "prompt_tokens   p50 1469," "azure prompt median"
  expect_out_contains "output_tokens   p50 13," "azure output median"
  expect_out_contains "models          none" "azure has no models"
else
  echo "SKIP: $AZ is absent (the Azure traces live in ../shared/traces beside the clone)"
fi

# ---- bounded work, no silent loss (a new user's first hour) ----
D="$DELTABENCH"
expect_exit 1 "1e11 requests refused" -- "$D" trace gen --rate 1e9 --duration 100 --out "$T/huge.csv" &&
  expect_err_contains "--limit" "limit named"
[ -e "$T/huge.csv" ] && fail "a refused gen left its file"
expect_exit 1 "beyond the free space" -- "$D" trace gen --rate 1e9 --duration 1000 --limit 1000000000000 --out "$T/huge.csv" &&
  expect_err_contains "GB free" "free space named"
expect_exit 0 "a raised limit is accepted" -- "$D" trace gen --rate 1000 --duration 10 --limit 20000 --out "$T/l.csv"
expect_exit 1 "a lowered limit refuses" -- "$D" trace gen --rate 1000 --duration 10 --limit 5000 --out "$T/l2.csv"
expect_exit 2 "popularity over 1 model" -- "$D" trace gen --arrival replay:traces/gamma_zipf1.5_32m_600s.csv --popularity zipf:1.5 --out "$T/p.csv" &&
  expect_err_contains "--models" "popularity error names --models"
expect_exit 0 "replay keeps lengths and models" -- "$D" trace gen --arrival replay:traces/gamma_zipf1.5_32m_600s.csv --out "$T/rp.csv"
cmp -s <(cut -d, -f3-5 traces/gamma_zipf1.5_32m_600s.csv) <(cut -d, -f3-5 "$T/rp.csv") ||
  fail "replay changed the models or lengths"
expect_exit 0 "replay with a law keeps lengths" -- "$D" trace gen --arrival replay:traces/gamma_zipf1.5_32m_600s.csv --popularity zipf:1 --models 8 --out "$T/rp2.csv"
cmp -s <(cut -d, -f4-5 traces/gamma_zipf1.5_32m_600s.csv) <(cut -d, -f4-5 "$T/rp2.csv") ||
  fail "replay with a popularity law changed the lengths"
if [ -s "$AZ" ]; then
  expect_exit 0 "azure replay keeps lengths" -- "$D" trace gen --arrival replay:"$AZ" --out "$T/az.csv"
  "$D" trace stats "$AZ" | grep tokens >"$T/s1"
  "$D" trace stats "$T/az.csv" | grep tokens >"$T/s2"
  cmp -s "$T/s1" "$T/s2" || fail "azure replay changed the length percentiles"
fi
# generation beyond a second says how far it is, on stderr (stdout carries the trace)
# (30M requests with a Zipf law and lognormal lengths: about 4 s on an idle core)
G=(trace gen --rate 1e6 --duration 30 --models 1000 --popularity zipf:1.2 --lengths lognormal:1000,1,200,0.8)
"$D" "${G[@]}" --out - >/dev/null 2>"$T/progress.txt" || fail "30M requests to stdout"
grep -q "of about 30000000 requests" "$T/progress.txt" || fail "no progress line: $(head -c 200 "$T/progress.txt")"
"$D" "${G[@]}" -q --duration 3 --out - 2>&1 >/dev/null | grep -q . && fail "-q printed progress"
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n3,1.0,0,10,10\n3,2.0,0,10,10\n' >"$T/dup.csv"
expect_exit 1 "duplicate ids" -- "$D" trace stats "$T/dup.csv" && expect_err_contains "request_id 3" "duplicate id named"

finish
