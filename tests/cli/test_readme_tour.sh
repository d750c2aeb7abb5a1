#!/usr/bin/env bash
# test_readme_tour.sh: the README's "A short tour" runs as written. The commands between
# <!-- tour:begin --> and <!-- tour:end --> run in order in a scratch directory (bin/ and traces/
# linked from the project), so nothing is written into the tree. Lines ending in a tour tag are
# skipped as the README says: tour:gpu, tour:slow, tour:slurm, tour:build (this test's binary stands in for
# the build), tour:needs-models (run only when the zoo exists). Indented comment lines continue
# the comment of the line before.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
README=$ROOT/README.md
S=$T/tour
mkdir -p "$S/bin"
ln -s "$DELTABENCH" "$S/bin/deltabench"
ln -s "$ROOT/traces" "$S/traces"
ln -s "$ROOT/docs" "$S/docs"
# The binary finds the project from its own path (bin/deltabench, build/<variant>/bin/...):
# no DELTABENCH_ROOT here, so the tour also checks that.
unset DELTABENCH_ROOT

grep -q '<!-- tour:begin -->' "$README" || fail "README.md has no <!-- tour:begin --> marker"
grep -q '<!-- tour:end -->' "$README" || fail "README.md has no <!-- tour:end --> marker"
sed -n '/<!-- tour:begin -->/,/<!-- tour:end -->/p' "$README" |
  grep -v -e '^<!--' -e '^```' -e '^[[:space:]]*#' -e '^[[:space:]]*$' >"$T/tour.txt"
[ "$(grep -c . "$T/tour.txt")" -ge 10 ] || fail "the tour has fewer than 10 commands"

ran=0 skipped=0
while IFS= read -r line; do
  case $line in
    *'# tour:gpu'* | *'# tour:slow'* | *'# tour:slurm'*) skipped=$((skipped + 1)); continue ;;
    *'# tour:build'*) [ -x "$DELTABENCH" ] || fail "no binary for the tour"; continue ;;
    *'# tour:needs-models'*)
      [ -d "$ROOT/models/zoo/small/base" ] || { skipped=$((skipped + 1)); continue; } ;;
  esac
  ncheck=$((ncheck + 1))
  (cd "$S" && timeout 120 bash -c "$line") >"$T/out" 2>"$T/err" </dev/null
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "tour command exited $rc: $line :: $(head -c 300 "$T/err")"
  elif grep -qiE 'AddressSanitizer|runtime error|warning' "$T/err"; then
    fail "tour command warned: $line :: $(head -c 300 "$T/err")"
  fi
  ran=$((ran + 1))
done <"$T/tour.txt"
echo "tour: $ran commands run, $skipped skipped"
[ "$ran" -ge 12 ] || fail "only $ran tour commands ran"
# what the tour says it wrote is there
for f in results/tour/ft.bitdelta results/tour/run.h5 results/tour/trace.csv results/tour/grid.csv; do
  [ -s "$S/$f" ] || fail "the tour did not write $f"
done
finish
