#!/usr/bin/env bash
# test_crash.sh: crash consistency. Each writer is killed with SIGKILL (its whole process group,
# as a power cut would) at CRASH_POINTS (default 50) random moments of a run: `compress`,
# `trace gen`, `simulate`, `nightly record` and `reproduce bd4` (which runs a script and more
# deltabench processes). After every kill: (1) no file under a final name is partial or corrupt:
# each equals the complete run's bytes (same seed, same output) or, for HDF5 results (which carry
# timestamps), opens and reads in full; temporary names (*.tmp.*) may stay; (2) the earlier result
# (the previous complete output, the nightly history with its earlier runs) is intact; (3) a rerun
# succeeds and gives the complete output again. A killed run that printed a sanitizer or crash
# report before the kill fails the test too.
# The six parts are independent (each in its own directory) and run CRASH_JOBS (default 2) at a
# time; CRASH_ONLY=WORD runs only the part whose name starts with WORD (compress, trace,
# simulate, nightly, reproduce). Each part prints its kills, tries and seconds.
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
root=$(cd "$(dirname "$0")/../.." && pwd)
N=${CRASH_POINTS:-50}
seed=${CRASH_SEED:-7}
jobs=${CRASH_JOBS:-2}

# run_killed DIR SECONDS CMD...: starts CMD in DIR in its own process group, SIGKILLs the group
# after SECONDS (fractional) unless it ended first. Counts kills in `kills`, adapts `win`; a
# sanitizer or crash report the run printed before it ended fails the part.
run_killed() {
  local dir=$1 d=$2; shift 2
  (cd "$dir" && exec setsid "$@" >/dev/null 2>"$P/killed.err") &
  local pid=$!
  sleep "$d"
  if kill -KILL -- -"$pid" 2>/dev/null; then
    kills=$((kills + 1)) win=$((win * 21 / 20 + 1))
  else
    win=$((win * 4 / 5 + 1)) # it had ended: runs are shorter than the window, shrink it
  fi
  wait "$pid" 2>/dev/null
  if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault' "$P/killed.err"; then
    fail "$part: a killed run reported: $(grep -m 3 -E 'ERROR|runtime error|SUMMARY' "$P/killed.err")"
    return 1
  fi
  return 0
}
# delay MS: a random moment in [0, MS] milliseconds, as seconds
delay() { awk -v r="$RANDOM" -v m="$1" 'BEGIN { printf "%.3f", r / 32767 * m / 1000 }'; }
ms() { date +%s%3N; }

# h5ok FILE [REF]: an HDF5 result that reads in full (every dataset and attribute) and, given
# the complete run's REF, holds the same datasets. h5dump (hdf5-tools, from install-deps.sh)
# does it in one short process; without it, deltabench inspect and an export of every table.
h5sets() { h5dump -H "$1" 2>/dev/null | grep -E '^ *DATASET "'; }
h5ok() {
  if command -v h5dump >/dev/null; then
    h5dump "$1" >/dev/null 2>&1 || return 1
    [ -z "${2:-}" ] || [ "$(h5sets "$1")" = "$(h5sets "$2")" ]
    return
  fi
  local tables t
  tables=$("$DB" inspect "$1" 2>/dev/null) || return 1
  for t in $(printf '%s\n' "$tables" | awk '$1 == "table" { sub(":", "", $2); print $2 }'); do
    "$DB" export "$1" "$t" >/dev/null 2>&1 || return 1
  done
}

# h5new FILE: true unless FILE is the very file (inode, size, change time) h5ok passed before in
# this part: a killed run that renamed nothing over it left it as it was (a rename makes a new
# inode), so only new files are read again
declare -A h5seen
h5new() { [ "${h5seen[$1]:-}" != "$(stat -c '%i %s %z' "$1")" ]; }
h5pass() { h5seen[$1]=$(stat -c '%i %s %z' "$1"); }

# check_final DIR REFDIR WHAT: every final-named file of DIR is complete
check_final() {
  local dir=$1 ref=$2 what=$3 f rel
  while IFS= read -r f; do
    rel=${f#"$dir"/}
    case $rel in *.tmp.*) continue ;; esac
    case $rel in
      *.h5) h5new "$f" || continue
            h5ok "$f" "$([ -e "$ref/$rel" ] && echo "$ref/$rel")" || { fail "$what: $rel is a corrupt HDF5 file under its final name"; return 1; }
            h5pass "$f" ;;
      *.log) ;; # run logs are appended as the run goes (not results)
      *) if [ -e "$ref/$rel" ] && ! cmp -s "$f" "$ref/$rel"; then
           fail "$what: $rel differs from the complete run's (partial write under a final name?)"; return 1
         fi ;;
    esac
  done < <(find "$dir" -type f)
}

# kill_loop CHECK CMD...: killed runs of CMD (in $P/run) until N kills landed (6 N tries at
# most), CHECK (a function, given the try number) after each.
kill_loop() {
  local check=$1; shift
  kills=0 tries=0
  while [ "$kills" -lt "$N" ] && [ "$tries" -lt $((6 * N)) ]; do
    tries=$((tries + 1))
    touch "$P/mark"
    run_killed "$P/run" "$(delay "$win")" "$@" || return 1
    "$check" "$tries" || return 1
  done
}
# report WHAT: the part's line; fails when fewer than N kills found the writer running
report() {
  [ "$kills" -ge "$N" ] || fail "$part: only $kills of $tries kills found it running"
  echo "$part: $kills kills mid-run ($tries tries; complete run ${win0} ms; $((SECONDS - t_part)) s): $1"
}

# campaign NAME CMD...: the complete run (reference, timed) into $P/run, a copy as $P/ref; then
# the killed reruns, each followed by check_final; then one rerun that must succeed.
check_campaign() { check_final "$P/run" "$P/ref" "$part kill $1"; }
campaign() {
  mkdir -p "$P/run"
  (cd "$P/run" && "$@" >/dev/null 2>"$P/err") || { fail "$part: complete run failed: $(head -c 300 "$P/err")"; return; }
  cp -a "$P/run" "$P/ref"
  # the kill window: a second complete run (warm caches, as the killed runs are)
  local t0; t0=$(ms)
  (cd "$P/run" && "$@" >/dev/null 2>&1)
  win=$(( $(ms) - t0 )) win0=$win
  kill_loop check_campaign "$@" || return
  (cd "$P/run" && "$@" >/dev/null 2>"$P/err") || { fail "$part: rerun after the kills failed: $(head -c 300 "$P/err")"; return; }
  check_final "$P/run" "$P/ref" "$part after rerun" || return
  report consistent
}

part_compress() {
  "$DB" synth --shape tiny --layers 2 --vocab 64 --out-base "$P/b.st" --out-target "$P/t.st" >/dev/null ||
    { fail "synth"; return; }
  campaign "$DB" compress --base "$P/b.st" --target "$P/t.st" --method deltazip --out d.safetensors --quiet
}
part_trace_csv() {
  campaign "$DB" trace gen --requests 20000 --rate 40 --models 8 --seed 5 --out trace.csv
}
part_trace_h5() {
  campaign "$DB" trace gen --requests 20000 --rate 40 --models 8 --seed 5 --out trace.h5
}
part_simulate() {
  "$DB" trace gen --requests 3000 --rate 40 --models 4 --seed 1 --out "$P/trace.csv" >/dev/null ||
    { fail "trace"; return; }
  campaign "$DB" simulate --trace "$P/trace.csv" --system deltazip --models 4 --out sim.h5
}

# nightly record: each kill interrupts the 4th run's record; the history must keep runs 1-3
check_nightly() {
  h5new "$P/run/history.h5" || return 0 # the history verified after the kill before
  "$DB" export "$P/run/history.h5" history > "$P/hist.csv" 2>"$P/err" ||
    { fail "nightly kill $1: history unreadable: $(head -c 200 "$P/err")"; return 1; }
  # either the three earlier runs, or those plus run 4 recorded in full
  if ! cmp -s "$P/hist.csv" "$P/hist3.csv"; then
    head -n "$(wc -l < "$P/hist3.csv")" "$P/hist.csv" | cmp -s - "$P/hist3.csv" &&
      [ "$(( $(wc -l < "$P/hist.csv") - $(wc -l < "$P/hist3.csv") ))" -eq 1 ] ||
      { fail "nightly kill $1: earlier runs changed"; return 1; }
    cp "$P/history3.bak" "$P/run/history.h5" # run 4 made it: back to three runs
  fi
  h5pass "$P/run/history.h5"
}
part_nightly() {
  printf 'kernel/gemv_s\t0.5\ts\tlower\tperf\t10\t0.02\tsrc.h5\n' > "$P/m.tsv"
  mkdir -p "$P/run"
  local i t0
  for i in 1 2 3; do
    "$DB" nightly record --history "$P/run/history.h5" --metrics "$P/m.tsv" --machine ci --commit "c$i" \
      --date "2026-01-0${i}T02:00:00Z" >/dev/null || { fail "nightly record $i"; return; }
  done
  "$DB" export "$P/run/history.h5" history > "$P/hist3.csv" || { fail "export history"; return; }
  cp "$P/run/history.h5" "$P/history3.h5"
  cp "$P/run/history.h5" "$P/history3.bak"
  t0=$(ms)
  "$DB" nightly record --history "$P/history3.h5" --metrics "$P/m.tsv" --machine ci --commit c4 \
    --date 2026-01-04T02:00:00Z >/dev/null
  win=$(( $(ms) - t0 )) win0=$win
  kill_loop check_nightly "$DB" nightly record --history "$P/run/history.h5" --metrics "$P/m.tsv" \
    --machine ci --commit c4 --date 2026-01-04T02:00:00Z || return
  expect_exit 0 "nightly record after the kills" -- "$DB" nightly record --history "$P/run/history.h5" \
    --metrics "$P/m.tsv" --machine ci --commit c4 --date 2026-01-04T02:00:00Z
  report "history intact"
}

# reproduce bd4 (a script and many deltabench runs): killed reruns of a cached entry, run from
# the repository root; the figure files (png/svg) are not byte-stable across gnuplot runs:
# compare the table and text, and read every run file the killed rerun wrote
check_reproduce() {
  local f
  for f in bd4.csv section.md verdict; do
    [ ! -e "$P/o/bd4/$f" ] || cmp -s "$P/o/bd4/$f" "$P/rref/$f" ||
      { fail "reproduce kill $1: $f is not the complete run's"; return 1; }
  done
  for f in $(find "$P/o/bd4/runs" -name '*.h5' -newer "$P/mark"); do
    case $f in *.tmp.*) continue ;; esac
    h5ok "$f" || { fail "reproduce kill $1: ${f##*/} corrupt under its final name"; return 1; }
  done
}
part_reproduce() {
  [ "${CRASH_REPRODUCE:-1}" = 1 ] || return 0
  local t0 f
  mkdir -p "$P/o" "$P/rref"
  ln -s "$root" "$P/run"
  cd "$root" || return
  # bd4 at its smallest: four kernel-executor runs at one layer
  export LAYERS=1 TENANTS="1 2" NAIVE_LAYERS=1 NAIVE_TENANTS="1 2"
  "$DB" reproduce bd4 --out "$P/o/bd4" --no-paper >/dev/null 2>"$P/err" ||
    { fail "reproduce bd4: $(head -c 300 "$P/err")"; return; }
  cp "$P/o"/bd4/{bd4.csv,section.md,verdict} "$P/rref/"
  t0=$(ms)
  "$DB" reproduce bd4 --out "$P/o/bd4" --no-paper >/dev/null 2>&1
  win=$(( $(ms) - t0 )) win0=$win
  kill_loop check_reproduce "$DB" reproduce bd4 --out "$P/o/bd4" --no-paper || return
  expect_exit 0 "reproduce bd4 after the kills" -- "$DB" reproduce bd4 --out "$P/o/bd4" --no-paper
  for f in bd4.csv section.md verdict; do
    cmp -s "$P/o/bd4/$f" "$P/rref/$f" || fail "reproduce rerun: $f differs"
  done
  report consistent
}

# ---- the parts, CRASH_JOBS at a time (the longest first); output in this order ---------------
parts=(reproduce nightly compress trace_csv trace_h5 simulate)
want() { [ -z "${CRASH_ONLY:-}" ] || [ "$CRASH_ONLY" = "${1%%_*}" ]; }
k=0
for part in "${parts[@]}"; do
  k=$((k + 1))
  want "$part" || continue
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  (
    P=$T/$part t_part=$SECONDS RANDOM=$((seed * 100 + k)) nfail=0
    mkdir -p "$P"
    T=$P # expect_exit's out and err files: the part's own
    "part_$part"
    echo "$nfail" > "$P.nfail"
  ) > "$T/$part.log" 2>&1 &
done
wait
for part in "${parts[@]}"; do
  want "$part" || continue
  cat "$T/$part.log"
  ncheck=$((ncheck + 1))
  [ "$(cat "$T/$part.nfail" 2>/dev/null)" = 0 ] || nfail=$((nfail + 1))
done
finish
