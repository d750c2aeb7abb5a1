#!/usr/bin/env bash
# run-tests.sh: runs every test of the project and ends with one "N passed, N failed" line.
#   scripts/run-tests.sh [--gpu-only] TESTDIR BINARY PYTHON
# Unit suites: TESTDIR/check_* (Check binaries; check_gpu_* are the GPU suites).
# CLI tests:   tests/cli/test_*.sh, run with DELTABENCH=BINARY and a scratch TMPDIR.
# Interop:     tests/interop/test_*.py, run with PYTHON (skipped with a message when the
#              reference packages are missing).
# Unit suites run TEST_JOBS (default 2) at a time; the rest one at a time; output in order.
# A test that exits 77 is skipped. With STRICT=1 (what .ci/run sets) a skip is a failure, and so
# is a passing test that printed a line starting with SKIP (a part skipped), except in the GPU
# suites (check_gpu_*), which skip where no CUDA device exists: CI cannot go quietly green.
set -u
strict=${STRICT:-0}
gpu_only=0
if [ "${1:-}" = "--gpu-only" ]; then gpu_only=1; shift; fi
tdir=$1 bin=$2 py=${3:-python3}
export DELTABENCH=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-600}
pass=0 fail=0 skip=0 failed=()

res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT
# exec_test NAME CMD...: runs one test; its output, status and seconds go to $res/NAME.*
exec_test() {
  local name=$1; shift
  local f=$res/${name//\//_} t0=$SECONDS rc=0
  "$@" >"$f.log" 2>&1 || rc=$?
  echo $rc >"$f.rc"
  echo $((SECONDS - t0)) >"$f.secs"
}
# report NAME: the test's line (and the log's lines that explain it); counts it
report() {
  local name=$1 f=$res/${1//\//_}
  local log=$f.log rc secs gpu=0
  rc=$(cat "$f.rc") secs=$(cat "$f.secs")
  case $name in check_gpu_*) gpu=1 ;; esac
  if [ "$rc" -eq 0 ] && [ "$strict" = 1 ] && [ $gpu -eq 0 ] && grep -q '^ *SKIP' "$log"; then
    fail=$((fail + 1)); failed+=("$name")
    printf 'FAIL %-40s (skipped a part, and STRICT=1 forbids it)\n' "$name"
    grep '^ *SKIP' "$log" | sed 's/^/     /'
  elif [ "$rc" -eq 0 ]; then
    pass=$((pass + 1)); printf 'PASS %-40s (%ds)\n' "$name" "$secs"
    grep -E '^[0-9]+%: Checks|SKIP' "$log" | sed 's/^/     /'
  elif [ "$rc" -eq 77 ] && { [ "$strict" != 1 ] || [ $gpu -eq 1 ]; }; then
    skip=$((skip + 1)); printf 'SKIP %-40s %s\n' "$name" "$(tail -n 1 "$log")"
  elif [ "$rc" -eq 77 ]; then
    fail=$((fail + 1)); failed+=("$name")
    printf 'FAIL %-40s (skipped, and STRICT=1 forbids it: %s)\n' "$name" "$(tail -n 1 "$log")"
  else
    fail=$((fail + 1)); failed+=("$name"); printf 'FAIL %-40s (exit %d)\n' "$name" "$rc"
    tail -n 40 "$log" | sed 's/^/     /'
  fi
  rm -f "$f".*
}
run() { exec_test "$@"; report "$1"; } # name, command...

# The unit suites are self-contained (each makes its scratch directories with mkdtemp, and none
# asserts a timing), so they run TEST_JOBS (default 2) at a time, reported in order; the CLI
# tests, some of which use the repository's files or time a run, run one at a time.
jobs=${TEST_JOBS:-2}
units=()
for t in "$tdir"/check_*; do
  [ -x "$t" ] || continue
  case "$t" in *.d) continue ;; esac
  base=$(basename "$t")
  if [ $gpu_only -eq 1 ]; then case "$base" in check_gpu_*) ;; *) continue ;; esac; fi
  units+=("$base")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  exec_test "$base" "$t" &
done
wait
for u in "${units[@]}"; do report "$u"; done

if [ $gpu_only -eq 0 ]; then
  for t in tests/cli/test_*.sh; do
    [ -f "$t" ] || continue
    scratch=$(mktemp -d)
    run "cli/$(basename "$t")" env TMPDIR="$scratch" bash "$t"
    rm -rf "$scratch"
  done
  for t in tests/interop/test_*.py; do
    [ -f "$t" ] || continue
    scratch=$(mktemp -d)
    run "interop/$(basename "$t")" env TMPDIR="$scratch" "$py" "$t"
    rm -rf "$scratch"
  done
fi

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
