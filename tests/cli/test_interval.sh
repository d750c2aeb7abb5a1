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
# the quality intervals: bits per byte as a ratio of sums, the gain kept over seeds (known:
# seeds keep 0.5, 0.7, 0.3, windows agree: t_2 interval 0.5 +- 4.302653 * 0.2 / sqrt 3), and
# curves of quality against ratio read at a ratio and at a quality
printf '2\n2\n2\n2\n' > "$T/base"; printf '1\n1\n1\n1\n' > "$T/ft"
for v in 1.5 1.7 1.3; do printf '%s\n%s\n%s\n%s\n' $v $v $v $v > "$T/c$v"; done
expect_exit 0 "gain over seeds" -- "$D" interval gain "$T/c1.5,$T/c1.7,$T/c1.3" "$T/base" "$T/ft" &&
  check_out "gain over seeds" "0.5 0.00317243 0.996828"
expect_exit 0 "gain, one seed" -- "$D" interval gain "$T/c1.5" "$T/base" "$T/ft" && check_out "gain" "0.5 0.5 0.5"
printf '1\n9\n' > "$T/num"; printf '1\n3\n' > "$T/den"
expect_exit 0 "ratio of sums" -- "$D" interval sums "$T/num" "$T/den" && check_out "sums" "2.5 1 3"
printf '1 1 1 1\n4 0.9 0.85 0.95\n# a comment\n16 0.5 0.4 0.6\n' > "$T/curve"
expect_exit 0 "ratio at quality" -- "$D" interval at 0.7 0.65 0.75 "$T/curve" && check_out "at" "8 5.44316 13.1254"
expect_exit 0 "ratio at quality, beyond" -- "$D" interval at 0.3 0.3 0.3 "$T/curve" && check_out "at, above" "16+ 16+ 16+"
expect_exit 0 "ratio at quality, before" -- "$D" interval at 1.1 1.05 1.15 "$T/curve" && check_out "at, below" "1- 1- 1-"
expect_exit 0 "interp" -- "$D" interval interp 8 "$T/curve" && check_out "interp at 8" "0.7 0.625 0.775"
expect_exit 1 "interp outside" -- "$D" interval interp 20 "$T/curve" && expect_err_contains "outside" "interp outside"
expect_exit 0 "interp within --tol" -- "$D" interval interp 16.3 "$T/curve" --tol 0.02 && check_out "interp, tol" "0.5 0.4 0.6"
printf '1 2 3\n' > "$T/short"
expect_exit 1 "curve line short" -- "$D" interval interp 2 "$T/short" && expect_err_contains "short:1:" "names the line"
printf '4 1 1 1\n2 1 1 1\n' > "$T/desc"
expect_exit 1 "curve not ascending" -- "$D" interval interp 3 "$T/desc" && expect_err_contains "ascending" "ascending"
expect_exit 2 "at: bad quality" -- "$D" interval at x 1 1 "$T/curve"
expect_exit 1 "gain: unpaired seed" -- "$D" interval gain "$T/c1.5,$T/num" "$T/base" "$T/ft" && expect_err_contains "paired" "unpaired seed"
finish
