#!/usr/bin/env bash
# test_cli_dialect.sh: the one CLI dialect (harness/cli.c option tables): -q on every command
# that prints a result (and silence with it), defaults in brackets in every --help, the range
# helper's messages (option named, range shown, exit 2), missing values and unknown options.
. "$(dirname "$0")/lib.sh"
D=$DELTABENCH

# ---- every --help shows the options in one form: the heading and -h, --help last ----
for c in inspect export compress decompress synth train eval generate distill calib simulate \
         serve bench-kernel reproduce "trace gen" "trace stats" "nightly record" "nightly check" \
         "nightly dashboard"; do
  expect_exit 0 "$c --help" -- $D $c --help
  expect_out_contains "options (default in brackets):" "$c --help heading"
  grep -q "^  -h, --help  *this text$" "$T/out" || fail "$c --help lacks the -h, --help line"
  expect_exit 2 "$c unknown option" -- $D $c --no-such-flag
  expect_err_contains "unknown option '--no-such-flag'" "$c names the unknown option"
done
# commands with values show their default in brackets on the option's line
for c in compress synth train eval generate distill calib simulate bench-kernel "trace gen"; do
  $D $c --help | grep -qE '^  --[a-z-]+ [A-Za-z0-9.:|,]+ .*\[[^]]+\]$' || fail "$c --help: no '[default]'"
done
$D export --help | grep -q -- "--csv" && fail "export --help still lists --csv"
expect_exit 2 "export --csv is gone" -- $D export --csv x.h5 t

# ---- -q is accepted by every command that prints a result ----
for c in compress decompress synth train eval distill calib simulate serve reproduce \
         "trace gen" "nightly check" "nightly dashboard"; do
  $D $c --help | grep -q "^  -q, --quiet " || fail "$c --help lists no -q, --quiet"
done
expect_exit 0 "synth -q" -- $D synth -q --shape tiny --layers 1 --out-base "$T/b.st" --out-target "$T/t.st"
[ -s "$T/out" ] && fail "synth -q printed: $(head -c 200 "$T/out")"
expect_exit 0 "compress -q" -- $D compress -q --base "$T/b.st" --target "$T/t.st" --method rtn --out "$T/d.st"
grep -q "^ratio: " "$T/out" || fail "compress -q lost the summary"
grep -q "q_proj" "$T/out" && fail "compress -q printed the per-tensor table"
expect_exit 0 "decompress -q" -- $D decompress -q --base "$T/b.st" --delta "$T/d.st" --out "$T/f.st"
[ -s "$T/out" ] && fail "decompress -q printed: $(head -c 200 "$T/out")"
[ -s "$T/f.st" ] || fail "decompress -q wrote nothing"
expect_exit 0 "trace gen -q" -- $D trace gen -q --requests 5 --out "$T/tr.csv"
[ -s "$T/out" ] && fail "trace gen -q printed: $(head -c 200 "$T/out")"
expect_exit 0 "simulate -q" -- $D simulate -q --trace "$T/tr.csv" --system dedicated
[ -s "$T/out" ] && fail "simulate -q printed: $(head -c 200 "$T/out")"

# ---- the range helper: integer and float, the option named, its range, exit 2 ----
expect_exit 2 "int below range" -- $D calib --tokens 1 --model m --task t --out o
expect_err_contains "deltabench calib: --tokens: '1' is not an integer in [2, 10000000]" "int range message"
expect_exit 2 "int not a number" -- $D trace stats --top 3x f
expect_err_contains "--top: '3x' is not an integer in [0, 10000000]" "int syntax message"
expect_exit 2 "float above range" -- $D eval --model m --task t --threads 2 --seq 1
expect_err_contains "--seq: '1' is not an integer in [2, 65536]" "eval --seq range"
expect_exit 2 "float range" -- $D generate --model m --prompt p --temperature 11
expect_err_contains "--temperature: '11' is not a number in [0, 10]" "float range message"
expect_exit 2 "open interval" -- $D trace gen --rate 0 --out "$T/x.csv"
expect_err_contains "--rate: '0' is not a number in (0, 1e+09]" "open interval message"
expect_exit 2 "float syntax" -- $D simulate --trace t --system dedicated --gpu-util nan
expect_err_contains "--gpu-util: 'nan' is not a number in" "non-finite refused"
expect_exit 2 "missing value" -- $D compress --bits
expect_err_contains "option '--bits' needs a value" "missing value message"
expect_exit 2 "unknown short" -- $D compress -x
expect_err_contains "unknown option '-x'" "unknown short option"
expect_exit 2 "stray argument" -- $D decompress extra
expect_err_contains "unexpected argument 'extra'" "stray argument"
# a method parameter is range-checked by its table row and refused for a method without it
expect_exit 2 "param range" -- $D compress --base "$T/b.st" --target "$T/t.st" --method rtn --sym 2 --out "$T/x.st"
expect_err_contains "--sym: '2' is not an integer in [0, 1]" "param row range"
expect_exit 2 "param not used" -- $D compress --base "$T/b.st" --target "$T/t.st" --method rtn --rank 4 --out "$T/x.st"
expect_err_contains "--rank does not apply to method rtn" "param row use bit"
[ -e "$T/x.st" ] && fail "a refused compress left $T/x.st"

finish
