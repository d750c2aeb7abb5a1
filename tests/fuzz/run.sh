#!/usr/bin/env bash
# run.sh: the fuzz campaign `make fuzz` runs: each target of tests/fuzz/ for S seconds.
#   tests/fuzz/run.sh BUILDDIR SECONDS [RUNS] [TARGET...]
# FUZZ_JOBS=J (default 1) runs J targets at a time (each still for SECONDS); .ci/run uses 2.
# Working corpora grow under BUILDDIR/corpus/<target> (the committed seeds in
# tests/fuzz/corpus/<target> are read, never written); a crash leaves its input as
# BUILDDIR/crash-<target>-*, which becomes tests/fuzz/regress/<target>/<bug> once fixed.
# Prints one line per target (executions, exec/s, coverage edges, features, crashes) and exits 1
# when any target crashed.
set -u
fb=$1 secs=$2 runs=${3:--1}
shift 3 2>/dev/null || shift $#
root=$(cd "$(dirname "$0")/../.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do t=${f##*/fuzz_}; targets+=("${t%.c}"); done
fi
jobs=${FUZZ_JOBS:-1}
# fuzz_one T: runs target T, writes its line (and the report of a crash) to $fb/sum-T.txt;
# exits 1 when it crashed
fuzz_one() {
  local t=$1 bin=$root/$fb/fuzz_$1 work=$root/$fb/corpus/$1 log=$root/$fb/log-$1.txt
  local sum=$root/$fb/sum-$1.txt
  [ -x "$bin" ] || { echo "fuzz: $bin is not built" > "$sum"; return 2; }
  mkdir -p "$work"
  # The HDF5 library leaks on some malformed files (inside libhdf5, not through our handles:
  # the targets abort when a handle stays open), so leak detection is off for the two
  # byte-level HDF5 targets; and it crashes on some: those two read each file first in a worker
  # process (tests/fuzz/h5worker.h), whose deaths and their attribution go to h5worker-T.txt.
  local extra=() asan=quarantine_size_mb=32 stats=
  case $t in trace_h5 | nightly_history)
    extra=(-detect_leaks=0) asan=$asan:detect_leaks=0 stats=$root/$fb/h5worker-$t.txt
    rm -f "$stats" ;;
  esac
  # the recipes of the structure-aware targets (tests/fuzz/h5table.h) need room at once
  case $t in *_table) extra=(-max_len=1024 -len_control=0) ;; esac
  # -close_fd_mask=3: the targets' own output (usage errors) is dropped; reports still show.
  DBFUZZ_H5_STATS=$stats ASAN_OPTIONS=${ASAN_OPTIONS:-$asan} "$bin" "$work" "$root/tests/fuzz/corpus/$t" -max_total_time="$secs" -runs="$runs" \
    -close_fd_mask=3 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" \
    -artifact_prefix="$root/$fb/crash-$t-" >"$log" 2>&1
  local rc=$?
  local execs speed last cov ft n=0
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  [ $rc -eq 0 ] || n=1
  {
    printf '%-16s %12s %9s %7s %8s %7s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" $n
    [ -n "$stats" ] && [ -s "$stats" ] && sed 's/^/    h5 worker: /' "$stats"
    if [ $rc -ne 0 ]; then
      grep -E 'ERROR|SUMMARY|runtime error|#[0-9] 0x|Test unit written' "$log" | head -n 20 | sed 's/^/    /'
    fi
  } > "$sum"
  return $n
}
printf '%-16s %12s %9s %7s %8s %7s\n' target executions exec/s cov features crashes
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  fuzz_one "$t" &
done
wait
crashed=0
for t in "${targets[@]}"; do
  cat "$root/$fb/sum-$t.txt"
  grep -qE '^[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +0$' "$root/$fb/sum-$t.txt" || crashed=1
done
exit $crashed
