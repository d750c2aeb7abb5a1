#!/usr/bin/env bash
# check-function-length.sh [ROOT]: no function of the library (every .c/.cu outside tests/) is
# longer than 150 lines, except those listed in docs/ARCHITECTURE.md under "Functions over 150
# lines" (functions that read top to bottom). A function runs from its signature (the last line
# starting in column 0 before it) to the "}" in column 0 that closes the "{" in column 0 after
# it (the project's clang-format style). Prints
# each offender as FILE:LINE: NAME is N lines, and exits 1 when there is one.
set -u
root=${1:-.}
cd "$root" || { echo "check-function-length: $root: no such directory" >&2; exit 2; }
allowed=$(sed -n '/^### Functions over 150 lines/,/^##[^#]/p' docs/ARCHITECTURE.md |
          sed -n 's/^- `\([a-z_0-9]*\)` (\([^)]*\)).*/\2:\1/p')
[ -n "$allowed" ] || { echo "check-function-length: docs/ARCHITECTURE.md lists no functions" >&2; exit 2; }
files=$(find core compressors kernels models workloads serve harness -type f \( -name '*.c' -o -name '*.cu' \) | sort)
bad=$(awk -v allowed="$allowed" '
  BEGIN { n = split(allowed, a, "\n"); for (i = 1; i <= n; i++) ok[a[i]] = 1 }
  FNR == 1 { start = 0; sig = ""; sigline = 0 }
  /^[A-Za-z_]/ && !start { sig = $0; sigline = FNR } # a column-0 line: where a signature starts
  $0 == "{" && !start { start = FNR }
  $0 == "}" && start {
    len = FNR - sigline + 1
    name = sig; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
    if (len > 150 && !ok[FILENAME ":" name]) printf "%s:%d: %s is %d lines\n", FILENAME, sigline, name, len
    start = 0 }' $files)
if [ -n "$bad" ]; then
  echo "$bad"
  echo "check-function-length: functions over 150 lines that docs/ARCHITECTURE.md does not list" >&2
  exit 1
fi
echo "check-function-length: $(echo "$files" | wc -l) files, every function over 150 lines is listed"
