#!/usr/bin/env bash
# test_crash.sh: crash consistency. Each writer is killed with SIGKILL (its whole process group,
# as a power cut would) at CRASH_POINTS (default 50) random moments of a run: `compress`,
# `trace gen`, `simulate`, `nightly record` and `reproduce bd4` (which runs a script and more
# deltabench processes). After every kill: (1) no file under a final name is partial or corrupt:
# each equals the complete run's bytes (same seed, same output) or, for HDF5 results (which carry
# timestamps), opens and reads in full; temporary names (*.tmp.*) may stay; (2) the earlier result
# (the previous complete output, the nightly history with its earlier runs) is intact; (3) a rerun
# succeeds and gives the complete output again.
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
root=$(cd "$(dirname "$0")/../.." && pwd)
N=${CRASH_POINTS:-50}
RANDOM=${CRASH_SEED:-7}
kills=0

# run_killed DIR SECONDS CMD...: starts CMD in DIR in its own process group, SIGKILLs the group
# after SECONDS (fractional) unless it ended first.
run_killed() {
  local dir=$1 d=$2; shift 2
  (cd "$dir" && exec setsid "$@" >/dev/null 2>&1) &
  local pid=$!
  sleep "$d"
  if kill -KILL -- -"$pid" 2>/dev/null; then
    kills=$((kills + 1)) win=$((win * 21 / 20 + 1))
  else
    win=$((win * 4 / 5 + 1)) # it had ended: runs are shorter than the window, shrink it
  fi
  wait "$pid" 2>/dev/null
  return 0
}
win=1000 # the kill window (ms): set from a timed run, then adapted to the runs seen
# delay MS: a random moment in [0, MS] milliseconds, as seconds
delay() { awk -v r="$RANDOM" -v m="$1" 'BEGIN { printf "%.3f", r / 32767 * m / 1000 }'; }
ms() { date +%s%3N; }

# h5ok FILE: an HDF5 result that reads in full (every table exports)
h5ok() {
  "$DB" inspect "$1" >/dev/null 2>&1 || return 1
  local t
  for t in $("$DB" inspect "$1" 2>/dev/null | awk '$1 == "table" { sub(":", "", $2); print $2 }'); do
    "$DB" export "$1" "$t" >/dev/null 2>&1 || return 1
  done
}

# check_final DIR REFDIR WHAT: every final-named file of DIR is complete
check_final() {
  local dir=$1 ref=$2 what=$3 f rel
  while IFS= read -r f; do
    rel=${f#"$dir"/}
    case $rel in *.tmp.*) continue ;; esac
    case $rel in
      *.h5) h5ok "$f" || { fail "$what: $rel is a corrupt HDF5 file under its final name"; return 1; } ;;
      *.log) ;; # run logs are appended as the run goes (not results)
      *) if [ -e "$ref/$rel" ] && ! cmp -s "$f" "$ref/$rel"; then
           fail "$what: $rel differs from the complete run's (partial write under a final name?)"; return 1
         fi ;;
    esac
  done < <(find "$dir" -type f)
}

# campaign NAME DIR CMD...: the complete run (reference, timed) into DIR, a copy as REF; then N
# killed reruns of CMD, each followed by the checks; then one rerun that must succeed.
# CRASH_ONLY=WORD runs only the part whose name starts with WORD (compress, trace, simulate,
# nightly, reproduce).
want() { [ -z "${CRASH_ONLY:-}" ] || [ "$CRASH_ONLY" = "${1%% *}" ]; }
campaign() {
  want "$1" || return 0
  local name=$1 dir=$2; shift 2
  rm -rf "$dir" "$dir.ref"
  mkdir -p "$dir"
  (cd "$dir" && "$@" >/dev/null 2>"$T/err") || { fail "$name: complete run failed: $(head -c 300 "$T/err")"; return; }
  cp -a "$dir" "$dir.ref"
  # the kill window: a second complete run (warm caches, as the killed runs are)
  local t0; t0=$(ms)
  (cd "$dir" && "$@" >/dev/null 2>&1)
  local dur=$(( $(ms) - t0 ))
  win=$dur
  local i=0 k0=$kills
  while [ $((kills - k0)) -lt "$N" ] && [ $i -lt $((6 * N)) ]; do
    i=$((i + 1))
    run_killed "$dir" "$(delay "$win")" "$@"
    check_final "$dir" "$dir.ref" "$name kill $i" || return
  done
  (cd "$dir" && "$@" >/dev/null 2>"$T/err") || { fail "$name: rerun after the kills failed: $(head -c 300 "$T/err")"; return; }
  check_final "$dir" "$dir.ref" "$name after rerun" || return
  [ $((kills - k0)) -ge "$N" ] || fail "$name: only $((kills - k0)) of $i kills found it running"
  echo "$name: $((kills - k0)) kills mid-run ($i tries; complete run ${dur} ms): consistent"
}

# ---- inputs ---------------------------------------------------------------------------------------
"$DB" synth --shape tiny --layers 2 --vocab 64 --out-base "$T/b.st" --out-target "$T/t.st" >/dev/null ||
  fail "synth"
"$DB" trace gen --requests 3000 --rate 40 --models 4 --seed 1 --out "$T/trace.csv" >/dev/null || fail "trace"

campaign compress "$T/c" "$DB" compress --base "$T/b.st" --target "$T/t.st" --method deltazip \
  --out d.safetensors --quiet
campaign "trace gen" "$T/g" "$DB" trace gen --requests 20000 --rate 40 --models 8 --seed 5 \
  --out trace.csv
campaign "trace gen (hdf5)" "$T/g5" "$DB" trace gen --requests 20000 --rate 40 --models 8 --seed 5 \
  --out trace.h5
campaign simulate "$T/s" "$DB" simulate --trace "$T/trace.csv" --system deltazip --models 4 --out sim.h5

if want nightly; then
# nightly record: each kill interrupts the 4th run's record; the history must keep runs 1-3
printf 'kernel/gemv_s\t0.5\ts\tlower\tperf\t10\t0.02\tsrc.h5\n' > "$T/m.tsv"
mkdir -p "$T/n"
for i in 1 2 3; do
  "$DB" nightly record --history "$T/n/history.h5" --metrics "$T/m.tsv" --machine ci --commit "c$i" \
    --date "2026-01-0${i}T02:00:00Z" >/dev/null || fail "nightly record $i"
done
"$DB" export "$T/n/history.h5" history > "$T/hist3.csv" || fail "export history"
cp "$T/n/history.h5" "$T/history3.h5"
cp "$T/n/history.h5" "$T/history3.bak"
t0=$(ms)
"$DB" nightly record --history "$T/history3.h5" --metrics "$T/m.tsv" --machine ci --commit c4 \
  --date 2026-01-04T02:00:00Z >/dev/null
win=$(( $(ms) - t0 ))
k0=$kills i=0
while [ $((kills - k0)) -lt "$N" ] && [ $i -lt $((6 * N)) ]; do
  i=$((i + 1))
  run_killed "$T" "$(delay "$win")" "$DB" nightly record --history "$T/n/history.h5" --metrics "$T/m.tsv" \
    --machine ci --commit c4 --date 2026-01-04T02:00:00Z
  "$DB" export "$T/n/history.h5" history > "$T/hist.csv" 2>"$T/err" ||
    { fail "nightly kill $i: history unreadable: $(head -c 200 "$T/err")"; break; }
  # either the three earlier runs, or those plus run 4 recorded in full
  if ! cmp -s "$T/hist.csv" "$T/hist3.csv"; then
    head -n "$(wc -l < "$T/hist3.csv")" "$T/hist.csv" | cmp -s - "$T/hist3.csv" &&
      [ "$(( $(wc -l < "$T/hist.csv") - $(wc -l < "$T/hist3.csv") ))" -eq 1 ] ||
      { fail "nightly kill $i: earlier runs changed"; break; }
    cp "$T/history3.bak" "$T/n/history.h5" # run 4 made it: back to three runs
  fi
done
expect_exit 0 "nightly record after the kills" -- "$DB" nightly record --history "$T/n/history.h5" \
  --metrics "$T/m.tsv" --machine ci --commit c4 --date 2026-01-04T02:00:00Z
[ $((kills - k0)) -ge "$N" ] || fail "nightly record: only $((kills - k0)) of $i kills found it running"
echo "nightly record: $((kills - k0)) kills mid-run ($i tries): history intact"
fi

# reproduce bd4 (a script and many deltabench runs): killed reruns of a cached entry
if [ "${CRASH_REPRODUCE:-1}" = 1 ] && want reproduce; then
  cd "$root" || exit 1
  campaign_dir=$T/r
  mkdir -p "$campaign_dir"
  # bd4 at its smallest: four kernel-executor runs at one layer
  export LAYERS=1 TENANTS="1 2" NAIVE_LAYERS=1 NAIVE_TENANTS="1 2"
  "$DB" reproduce bd4 --out "$campaign_dir/bd4" --no-paper >/dev/null 2>"$T/err" ||
    fail "reproduce bd4: $(head -c 300 "$T/err")"
  # the figure files (png/svg) are not byte-stable across gnuplot runs: compare the table and text
  mkdir -p "$T/rref"
  cp "$campaign_dir"/bd4/{bd4.csv,section.md,verdict} "$T/rref/"
  t0=$(ms)
  "$DB" reproduce bd4 --out "$campaign_dir/bd4" --no-paper >/dev/null 2>&1
  win=$(( $(ms) - t0 ))
  k0=$kills i=0
  while [ $((kills - k0)) -lt "$N" ] && [ $i -lt $((6 * N)) ]; do
    i=$((i + 1))
    touch "$T/mark"
    run_killed "$root" "$(delay "$win")" "$DB" reproduce bd4 --out "$campaign_dir/bd4" --no-paper
    for f in bd4.csv section.md verdict; do
      [ ! -e "$campaign_dir/bd4/$f" ] || cmp -s "$campaign_dir/bd4/$f" "$T/rref/$f" ||
        { fail "reproduce kill $i: $f is not the complete run's"; break 2; }
    done
    # the run files this rerun wrote (the others were checked after an earlier kill)
    for f in $(find "$campaign_dir/bd4/runs" -name '*.h5' -newer "$T/mark"); do
      case $f in *.tmp.*) continue ;; esac
      h5ok "$f" || { fail "reproduce kill $i: ${f##*/} corrupt under its final name"; break 2; }
    done
  done
  expect_exit 0 "reproduce bd4 after the kills" -- "$DB" reproduce bd4 --out "$campaign_dir/bd4" --no-paper
  for f in bd4.csv section.md verdict; do
    cmp -s "$campaign_dir/bd4/$f" "$T/rref/$f" || fail "reproduce rerun: $f differs"
  done
  [ $((kills - k0)) -ge "$N" ] || fail "reproduce bd4: only $((kills - k0)) of $i kills found it running"
  echo "reproduce bd4: $((kills - k0)) kills mid-run ($i tries): consistent"
fi
finish
