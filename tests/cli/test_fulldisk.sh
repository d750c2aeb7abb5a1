#!/usr/bin/env bash
# test_fulldisk.sh: every writer on a full disk. A 64 KiB tmpfs is mounted (root only: elsewhere
# the test skips, exit 77); each writer's output goes there, with inputs large enough that it
# cannot fit. Each must exit 1 with one line naming the file, and leave nothing behind: no file
# under the final name, no temporary file; an earlier file of the same name stays as it was.
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: mounting a tmpfs needs root"
  exit 77
fi
M=$T/full
mkdir -p "$M"
if ! mount -t tmpfs -o size=64k tmpfs "$M" 2>"$T/err"; then
  echo "SKIP: cannot mount a tmpfs here: $(head -n 1 "$T/err")"
  exit 77
fi
trap 'umount "$M" 2>/dev/null; rm -rf "$T"' EXIT

"$DB" synth --shape tiny --layers 2 --vocab 256 --out-base "$T/b.st" --out-target "$T/t.st" >/dev/null ||
  fail "synth inputs"
"$DB" compress --base "$T/b.st" --target "$T/t.st" --method fp16 --out "$T/d.st" --quiet >/dev/null ||
  fail "compress input"
"$DB" trace gen --requests 20000 --rate 40 --models 4 --seed 1 --out "$T/trace.csv" >/dev/null ||
  fail "trace input"
printf 'kernel/gemv_s\t0.5\ts\tlower\tperf\t10\t0.02\tsrc.h5\n' > "$T/m.tsv"

# full WHAT FINAL CMD...: CMD writing FINAL (on the full disk) fails with one line, leaves nothing
full() {
  local what=$1 final=$2; shift 2
  local before=""
  [ -e "$final" ] && before=$(md5sum < "$final")
  expect_exit 1 "$what on a full disk" -- "$@" || return
  grep -q "${final##*/}" "$T/err" || fail "$what: the error does not name ${final##*/}: $(head -c 200 "$T/err")"
  if [ -n "$before" ]; then
    [ "$(md5sum < "$final")" = "$before" ] || fail "$what: the earlier ${final##*/} changed"
  else
    [ -e "$final" ] && fail "$what: left ${final##*/} under its final name"
  fi
  local left; left=$(find "$M" -name '*.tmp.*' | head -n 3)
  [ -z "$left" ] || fail "$what: left temporary files: $left"
  echo "$what: $(head -n 1 "$T/err")"
}

full "synth" "$M/b.st" "$DB" synth --shape tiny --layers 2 --vocab 256 --out-base "$M/b.st" --out-target "$M/t.st"
full "compress" "$M/d.st" "$DB" compress --base "$T/b.st" --target "$T/t.st" --method fp16 --out "$M/d.st" --quiet
full "decompress" "$M/r.st" "$DB" decompress --base "$T/b.st" --delta "$T/d.st" --out "$M/r.st"
full "trace gen (csv)" "$M/tr.csv" "$DB" trace gen --requests 20000 --rate 40 --models 4 --seed 1 --out "$M/tr.csv"
full "trace gen (hdf5)" "$M/tr.h5" "$DB" trace gen --requests 20000 --rate 40 --models 4 --seed 1 --out "$M/tr.h5"
full "simulate" "$M/sim.h5" "$DB" simulate --trace "$T/trace.csv" --system deltazip --models 4 --out "$M/sim.h5"
# nightly: a history that fits, then a record that does not (the file is rewritten whole)
for i in $(seq 1 400); do printf 'g/metric_%d\t%d.5\ts\tlower\tperf\t10\t0.02\tsrc.h5\n' "$i" "$i"; done > "$T/big.tsv"
"$DB" nightly record --history "$M/history.h5" --metrics "$T/m.tsv" --machine ci --commit c1 \
  --date 2026-01-01T02:00:00Z >/dev/null || fail "nightly record (fits)"
full "nightly record" "$M/history.h5" "$DB" nightly record --history "$M/history.h5" --metrics "$T/big.tsv" \
  --machine ci --commit c2 --date 2026-01-02T02:00:00Z
"$DB" nightly check --history "$M/history.h5" >/dev/null 2>&1 || [ $? -ne 1 ] || fail "history unreadable after a full disk"
"$DB" nightly record --history "$T/h.h5" --metrics "$T/big.tsv" --machine ci --commit c1 \
  --date 2026-01-01T02:00:00Z >/dev/null || fail "nightly record (scratch)"
rm -f "$M/history.h5"
# the dashboard is a directory of files, each written whole: a plot or script that made it stays,
# but no file is partial, and the page (written last) is absent
expect_exit 1 "nightly dashboard on a full disk" -- "$DB" nightly dashboard --history "$T/h.h5" --out "$M/dash"
[ -e "$M/dash/index.html" ] && fail "nightly dashboard: index.html written on a full disk"
for f in "$M"/dash/plots/*.svg; do
  [ -e "$f" ] || continue
  tail -c 16 "$f" | grep -q '</svg>' || fail "nightly dashboard: ${f##*/} is partial"
done
[ -z "$(find "$M" -name '*.tmp.*')" ] || fail "nightly dashboard: left temporary files"
echo "nightly dashboard: $(head -n 1 "$T/err")"
[ -n "${KEEP:-}" ] && find "$M" -ls
finish
