#!/usr/bin/env bash
# test_layering.sh: the library's includes point down its layers (scripts/check-layering.sh:
# core <- kernels <- compressors <- models <- workloads <- serve <- harness). The tree must pass;
# copies with a planted upward include must fail and name the offending line.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
check=$root/scripts/check-layering.sh

expect_exit 0 "the tree's layering" -- "$check" "$root" && expect_out_contains "every include points down" "tree"

# A copy of the layer directories' headers and sources (no build outputs) to plant faults in.
copy() {
  rm -rf "$T/tree" && mkdir -p "$T/tree"
  (cd "$root" && tar cf - core kernels compressors models workloads serve harness) | (cd "$T/tree" && tar xf -)
}
plant() { # plant FILE LINE_TEXT: appends an include to FILE of the copy
  printf '%s\n' "$2" >>"$T/tree/$1"
}

copy
plant workloads/trace.h '#include "serve/engine.h"'
expect_exit 1 "workloads includes serve" -- "$check" "$T/tree"
n=$(grep -c '^workloads/trace.h:[0-9]*: #include "serve/engine.h"' "$T/out")
[ "$n" -eq 1 ] || fail "workloads includes serve: the offending line is not named: $(head -c 300 "$T/out")"

copy
plant core/results.c '  #  include "harness/cli.h"'
plant kernels/kernels.h '#include "compressors/compressor.h"'
expect_exit 1 "core and kernels include upward" -- "$check" "$T/tree"
grep -q '^core/results.c:[0-9]*: .*harness/cli.h' "$T/out" || fail "core -> harness not named"
grep -q '^kernels/kernels.h:[0-9]*: .*compressors/compressor.h' "$T/out" || fail "kernels -> compressors not named"
expect_err_contains "2 include(s) point upward" "count of offending includes"

copy
plant harness/cli.c '#include "serve/engine.h"'      # down: allowed
plant compressors/m_rtn.c '#include "kernels/kernels.h"' # down: allowed
expect_exit 0 "downward includes" -- "$check" "$T/tree"

expect_exit 2 "missing root" -- "$check" "$T/nonexistent"

# ---- function length: over 150 lines only when docs/ARCHITECTURE.md lists it ----
flen=$root/scripts/check-function-length.sh
expect_exit 0 "the tree's function lengths" -- "$flen" "$root"
copy
mkdir -p "$T/tree/docs"
grep -v '^- `gen_main`' "$root/docs/ARCHITECTURE.md" > "$T/tree/docs/ARCHITECTURE.md"
expect_exit 1 "an unlisted long function" -- "$flen" "$T/tree"
expect_out_contains "harness/cmd_trace.c:" "the long function's file and line"
expect_out_contains "gen_main is" "the long function's name"
finish
