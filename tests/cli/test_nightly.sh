#!/usr/bin/env bash
# test_nightly.sh: `deltabench nightly record|check|dashboard` and scripts/nightly.sh: help and
# usage exits, an injected 20 % slowdown confirmed on the second run (exit 3, naming metric,
# change and commit) while a 3 % wobble passes, bad input (NaN, corrupt history) failing with
# one line naming the file and leaving the history untouched, and the suite script end to end
# (--quick) exiting 3 when a metric is made worse through NIGHTLY_INJECT.
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
H=$T/history.h5

# ---- help and usage ----
expect_exit 0 "nightly --help" -- "$DB" nightly --help && expect_out_contains "dashboard" "nightly --help"
for sub in record check dashboard; do
  expect_exit 0 "$sub --help" -- "$DB" nightly $sub --help && expect_out_contains "--history" "$sub --help"
done
grep -q "\[10\]" <(
  "$DB" nightly check --help) || fail "check --help shows no window default"
u() { # u DESC ARGS...
  local desc=$1; shift
  expect_exit 2 "$desc" -- "$DB" nightly "$@" &&
    { head -n 1 "$T/err" | grep -q "^deltabench nightly" || fail "$desc: first line: $(head -n 1 "$T/err")"; }
}
u "no subcommand"
u "unknown subcommand" frobnicate
u "record without --history" record --metrics x
u "record without --metrics" record --history "$H"
u "check unknown option" check --history "$H" --bogus
u "check --out not allowed" check --history "$H" --out d
u "check bad window" check --history "$H" --window 0
u "check bad rel" check --history "$H" --rel -1
u "check min-history > window" check --history "$H" --window 3 --min-history 4
u "dashboard without --out" dashboard --history "$H"
u "check stray argument" check --history "$H" extra
[ -e "$H" ] && fail "usage errors created the history"

# ---- a history: 12 runs, a 3 % wobble everywhere, a 20 % slowdown of one metric from run 11 ----
"$DB" trace gen --requests 10 --rate 1 --seed 1 --out "$T/src.h5" >/dev/null || fail "trace gen"
wob() { awk -v i="$1" -v s="$2" 'BEGIN { srand(i * 7 + s); printf "%.6f", 1 + 0.03 * (2 * rand() - 1) }'; }
run() { # run I SLOW
  local i=$1 slow=$2 g w
  g=$(wob "$i" 1); w=$(wob "$i" 2)
  [ "$slow" = 1 ] && g=$(awk -v g="$g" 'BEGIN { printf "%.6f", g * 1.2 }')
  printf 'kernel/gemv_s\t%s\ts\tlower\tperf\t10\t0.02\t%s\n' "$g" "$T/src.h5" > "$T/m.tsv"
  printf 'kernel/wobble_s\t%s\ts\tlower\tperf\t10\t0.02\t%s\n' "$w" "$T/src.h5" >> "$T/m.tsv"
  printf 'compress/ratio\t2.5\tx\thigher\texact\t1\t0\t%s\n' "$T/src.h5" >> "$T/m.tsv"
  "$DB" nightly record --history "$H" --metrics "$T/m.tsv" --machine ci --commit "c$i" \
    --date "2026-01-${i}T02:00:00Z" >/dev/null
}
for i in $(seq 1 10); do run "$i" 0 || fail "record run $i"; done
expect_exit 0 "check clean history" -- "$DB" nightly check --history "$H"
expect_out_contains "kernel/wobble_s" "check table"
run 11 1
expect_exit 0 "one slow run: suspect only" -- "$DB" nightly check --history "$H"
grep -q "^suspect *kernel/gemv_s" "$T/out" || fail "run 11: gemv_s not a suspect: $(cat "$T/out")"
run 12 1
ncheck=$((ncheck + 1))
"$DB" nightly check --history "$H" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] || fail "two slow runs: exit $rc, expected 3"
grep -q "REGRESSION kernel/gemv_s: +[12][0-9]\.[0-9] %.*since commit c11 (run 11.*last good c10" "$T/err" ||
  fail "regression line: $(cat "$T/err")"
grep -q "wobble" "$T/err" && fail "the 3 % wobble was reported"
head -n 2 "$T/out" | tail -n 1 | grep -q "^regression *kernel/gemv_s" || fail "regression not first"
expect_exit 0 "--fail-on tight,exact: perf only warns" -- "$DB" nightly check --history "$H" -q --fail-on tight,exact
expect_err_contains "warning: regression (not failing: --fail-on) kernel/gemv_s" "--fail-on warning"
expect_exit 3 "--fail-on perf" -- "$DB" nightly check --history "$H" -q --fail-on perf
u "--fail-on unknown kind" check --history "$H" --fail-on speed
expect_exit 0 "--rel 0.5 lets it pass" -- "$DB" nightly check --history "$H" --rel 0.5 -q
expect_exit 0 "--confirm 3 waits" -- "$DB" nightly check --history "$H" --confirm 3 -q
expect_exit 1 "unknown machine" -- "$DB" nightly check --history "$H" --machine nowhere
expect_err_contains "nowhere" "unknown machine"

# ---- dashboard (the browser test is test_dashboard.sh) ----
expect_exit 0 "dashboard" -- "$DB" nightly dashboard --history "$H" --out "$T/dash"
for f in index.html plots/kernel.svg plots/compress.svg plots/kernel.gp; do
  [ -s "$T/dash/$f" ] || fail "dashboard lacks $f"
done
grep -q 'id="metrics"' "$T/dash/index.html" || fail "no metrics table"
grep -q 'href="../src.h5"' "$T/dash/index.html" || fail "no relative source link"
expect_exit 3 "dashboard --fail-on-regression" -- "$DB" nightly dashboard --history "$H" --out "$T/dash" --fail-on-regression
expect_exit 1 "dashboard, gnuplot fails" -- "$DB" nightly dashboard --history "$H" --out "$T/dash2" --gnuplot false
expect_err_contains "gnuplot failed" "gnuplot fails"
[ -e "$T/dash2/index.html" ] && fail "a page was written although a plot failed"

# ---- bad input: one line naming the file, history untouched ----
cp "$H" "$T/before.h5"
printf 'kernel/gemv_s\tnan\ts\tlower\tperf\t1\t0\tx\n' > "$T/nan.tsv"
expect_exit 1 "NaN metric" -- "$DB" nightly record --history "$H" --metrics "$T/nan.tsv"
expect_err_contains "nan.tsv:1" "NaN metric"
printf 'kernel/gemv_s\t1\ts\tsideways\tperf\t1\t0\tx\n' > "$T/dir.tsv"
expect_exit 1 "bad direction" -- "$DB" nightly record --history "$H" --metrics "$T/dir.tsv"
expect_err_contains "dir.tsv:1" "bad direction"
expect_exit 1 "missing metrics file" -- "$DB" nightly record --history "$H" --metrics "$T/none.tsv"
expect_err_contains "none.tsv" "missing metrics file"
cmp -s "$H" "$T/before.h5" || fail "a failed record changed the history"
head -c 3000 "$T/before.h5" > "$T/cut.h5"
expect_exit 1 "truncated history" -- "$DB" nightly check --history "$T/cut.h5"
expect_err_contains "cut.h5" "truncated history"
printf 'not hdf5\n' > "$T/text.h5"
expect_exit 1 "text history" -- "$DB" nightly check --history "$T/text.h5"
expect_err_contains "text.h5: not an HDF5 file" "text history"
expect_exit 1 "record onto a corrupt history" -- "$DB" nightly record --history "$T/text.h5" --metrics "$T/m.tsv"
grep -q "^not hdf5" "$T/text.h5" || fail "record replaced a corrupt history"
expect_exit 1 "foreign HDF5" -- "$DB" nightly check --history "$T/src.h5"
expect_err_contains "no 'history' table" "foreign HDF5"
ls "$T"/*.tmp.* >/dev/null 2>&1 && fail "temporary files left behind"

# ---- the suite script, quick: a clean run, then a worse exact metric is exit 3 ----
if [ "${NIGHTLY_SKIP_SUITE:-0}" != 1 ]; then
  export NIGHTLY_DIR=$T/nightly NIGHTLY_DASH=$T/nd NIGHTLY_MACHINE=ci
  ncheck=$((ncheck + 1))
  scripts/nightly.sh --quick >"$T/s1" 2>&1 || fail "nightly.sh --quick: exit $?: $(tail -n 5 "$T/s1")"
  ncheck=$((ncheck + 1))
  NIGHTLY_INJECT=compress/bitdelta_ratio=0.9 scripts/nightly.sh --quick >"$T/s2" 2>&1
  rc=$?
  [ $rc -eq 3 ] || fail "nightly.sh with a worse ratio: exit $rc, expected 3: $(tail -n 5 "$T/s2")"
  grep -q "REGRESSION compress/bitdelta_ratio: -10.0 %" "$T/s2" || fail "suite regression line: $(grep REGR "$T/s2")"
  [ -s "$T/nd/index.html" ] || fail "nightly.sh wrote no dashboard"
  n=$(ls -d "$T"/nightly/runs/* | wc -l)
  [ "$n" -eq 2 ] || fail "expected 2 run directories, got $n"
fi

finish
