#!/usr/bin/env bash
# test_interval.sh: `deltabench interval`, the scripts' door to core/interval.h: known values,
# determinism per seed, and one-line errors for bad files and arguments.
. "$(dirname "$0")/lib.sh"
D=$DELTABENCH
printf '1\n2\n3\n4\n5\n' > "$T/a"
printf '# doubled\n2\n4\n\n6\n8\n10\n' > "$T/b"
check_out() { # DESCRIPTION EXPECTED
  ncheck=$((ncheck + 1))
  [ "$(cat "$T/out")" = "$2" ] || fail "$1: got '$(cat "$T/out")', expected '$2'"
}
expect_exit 0 "wilson" -- "$D" interval wilson 5 10 && check_out "wilson 5 of 10" "0.5 0.236593 0.763407"
expect_exit 0 "t mean" -- "$D" interval mean "$T/a" && check_out "t mean" "3 1.03676 4.96324"
expect_exit 0 "ratio of medians, exact" -- "$D" interval ratio "$T/b" "$T/a" && check_out "ratio" "2 2 2"
expect_exit 0 "boot mean" -- "$D" interval mean "$T/a" --boot --seed 4 && cp "$T/out" "$T/m1"
expect_exit 0 "boot mean again" -- "$D" interval mean "$T/a" --boot --seed 4
ncheck=$((ncheck + 1)); cmp -s "$T/out" "$T/m1" || fail "the same seed gave another interval"
expect_exit 1 "unpaired files" -- "$D" interval ratio "$T/a" <(printf '1\n2\n') && expect_err_contains "paired" "unpaired"
printf '1\nnan\n' > "$T/c"
expect_exit 1 "not a number" -- "$D" interval mean "$T/c" && expect_err_contains "c:2:" "names the line"
expect_exit 1 "empty file" -- "$D" interval mean /dev/null
expect_exit 1 "k > n" -- "$D" interval wilson 11 10
expect_exit 2 "unknown kind" -- "$D" interval median "$T/a"
expect_exit 2 "wrong arity" -- "$D" interval ratio "$T/a"
expect_exit 2 "--boot on ratio" -- "$D" interval ratio "$T/a" "$T/a" --boot
expect_exit 2 "alpha out of range" -- "$D" interval mean "$T/a" --alpha 0.9
finish
