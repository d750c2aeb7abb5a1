#!/usr/bin/env bash
# test_sweep.sh: `deltabench sweep` on the local backend: plan (cells, hashes, exclusions,
# placeholders), run, a rerun that skips done cells, a failed cell rerun once fixed, gather
# (axes as columns, provenance, CSV equal to the HDF5 table, numbers equal to each cell's own),
# the gnuplot script, and bad sweep files and options (one-line errors, exit 1 / 2).
#   DELTABENCH=bin/deltabench bash tests/cli/test_sweep.sh
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
D=$DELTABENCH

for r in 1 2; do
  "$D" trace gen --arrival poisson --rate $r --models 8 --popularity uniform --lengths fixed:64,16 \
      --duration 10 --seed 5 --out "$T/trace-r$r.csv" >/dev/null || fail "trace gen"
done
G=$T/grid.json
cat > "$G" <<EOF
{
  "deltabench_sweep": 1,
  "command": "simulate",
  "args": ["--trace", "$T/trace-r{rate}.csv", "--model", "llama2-7b", "-q"],
  "axes": [
    {"name": "policy", "values": {"swap-2": ["--system", "swap", "--max-resident", "2"],
                                  "deltazip": ["--system", "deltazip"],
                                  "dedicated": ["--system", "dedicated"]}},
    {"name": "rate", "values": [1, 2]},
    {"name": "tp", "option": "--tp", "values": [1, "2"]}
  ],
  "exclude": [{"policy": "dedicated", "tp": 2}, {"policy": ["swap-2"], "rate": 2, "tp": [2]}]
}
EOF

# ---- plan ---------------------------------------------------------------------------------
expect_exit 0 "plan" -- "$D" sweep plan "$G" --commands
# 3 x 2 x 2 = 12, less dedicated at tp 2 (2) and swap-2 at rate 2, tp 2 (1)
expect_out_contains "# 9 cells in $T/grid.d: 0 done, 0 failed, 9 pending" "plan: header"
[ "$(grep -c $'^[0-9]*\t[0-9a-f]\\{16\\}\tpending\t' "$T/out")" -eq 9 ] || fail "plan: 9 cell lines"
grep -q $'^0\t[0-9a-f]*\tpending\tswap-2\t1\t1\tdeltabench simulate --trace '"$T"'/trace-r1.csv --model llama2-7b -q --system swap --max-resident 2 --tp 1 --out '"$T"'/grid.d/cells/' "$T/out" ||
  fail "plan: cell 0's command line: $(sed -n 3p "$T/out")"
grep -q $'\tdedicated\t2\t1\t.*trace-r2.csv' "$T/out" || fail "plan: {rate} not substituted"
! grep -q $'\tdedicated\t[12]\t2\t' "$T/out" || fail "plan: an excluded cell is listed"
cp "$T/out" "$T/plan1"
# the hash is of the command line: the same cells in another directory keep their hashes
expect_exit 0 "plan in another dir" -- "$D" sweep plan "$G" --dir "$T/elsewhere"
[ "$(cut -f1,2 "$T/out" | tail -n +3)" = "$(cut -f1,2 "$T/plan1" | tail -n +3)" ] ||
  fail "plan: hashes depend on the directory"

# ---- run, rerun ---------------------------------------------------------------------------
expect_exit 0 "run" -- "$D" sweep run "$G" --jobs 2
expect_err_contains "sweep: 9 cells done (9 run now)" "run: summary line"
[ "$(grep -c '^sweep: \[[0-9]/9\] cell [0-9] (policy=' "$T/err")" -eq 9 ] || fail "run: 9 progress lines"
[ "$(find "$T/grid.d/cells" -name '*.h5' | wc -l)" -eq 9 ] || fail "run: 9 run files"
h0=$(awk -F'\t' '$1 == 0 { print $2 }' "$T/plan1")
[ -s "$T/grid.d/cells/$h0.h5" ] && [ -f "$T/grid.d/logs/$h0.log" ] || fail "run: cell 0's run file and log"
touch -d '2000-01-01' "$T/grid.d/cells/$h0.h5"
expect_exit 0 "rerun" -- "$D" sweep run "$G" --jobs 2
expect_err_contains "9 of 9 cells done before" "rerun: skips"
expect_err_contains "(0 run now)" "rerun: nothing run"
[ "$(stat -c %Y "$T/grid.d/cells/$h0.h5")" = "$(date -d '2000-01-01' +%s)" ] || fail "rerun: a done cell ran again"
expect_exit 0 "plan after run" -- "$D" sweep plan "$G"
expect_out_contains "9 done, 0 failed, 0 pending" "plan: states"

# ---- a failed cell, then fixed --------------------------------------------------------------
F=$T/fail.json
sed -e 's/"2"\]}/"2", 3]}/' \
    -e 's/"exclude": \[/"exclude": [{"policy": ["dedicated", "swap-2"], "tp": 3}, /' "$G" > "$F"
mv "$T/trace-r2.csv" "$T/trace-r2.hidden"
"$D" sweep run "$F" --dir "$T/grid.d" -q >"$T/out" 2>"$T/err"; rc=$?
ncheck=$((ncheck + 1))
[ $rc -eq 1 ] || fail "failing run: exit $rc, expected 1"
# the new tp 3 cells: deltazip at rate 2 fails (its trace is gone), the others are done before
grep -q "deltazip rate=2 tp=3) failed (exit 1): log $T/grid.d/logs/" "$T/err" || fail "failing run: no line for the failed cell: $(cat "$T/err")"
grep -q "1 of 11 cells failed (first: cell " "$T/err" || fail "failing run: last line: $(tail -n 1 "$T/err")"
[ "$(wc -l < "$T/err")" -eq 2 ] || fail "failing run -q: expected a failure line and a last line"
log=$(sed -n 's/.*tp=3) failed (exit [0-9]*): log \(.*\)$/\1/p' "$T/err" | head -n 1)
grep -q "trace-r2.csv" "$log" || fail "failing run: the log named does not hold the cell's error: '$log'"
expect_exit 0 "plan after failure" -- "$D" sweep plan "$F" --dir "$T/grid.d"
grep -q $'\tfailed\tdeltazip\t2\t3' "$T/out" || fail "plan: the failed cell is not 'failed'"
expect_out_contains "10 done, 1 failed, 0 pending" "plan: the first sweep's cells count as done"
expect_exit 1 "gather with a cell missing" -- "$D" sweep gather "$F" --dir "$T/grid.d"
expect_err_contains "1 of 11 cells not done (first: cell " "gather: missing cells"
expect_exit 0 "gather --partial" -- "$D" sweep gather "$F" --dir "$T/grid.d" --partial --csv "$T/partial.csv" -q
[ "$(wc -l < "$T/partial.csv")" -eq 11 ] || fail "gather --partial: 10 rows"
mv "$T/trace-r2.hidden" "$T/trace-r2.csv"
expect_exit 0 "rerun after the fix" -- "$D" sweep run "$F" --dir "$T/grid.d"
expect_err_contains "sweep: 11 cells done (1 run now)" "rerun: only the failed cell ran"
expect_exit 0 "gather after the fix" -- "$D" sweep gather "$F" --dir "$T/grid.d" --out "$T/f.h5" --csv -

# ---- gather ---------------------------------------------------------------------------------
expect_exit 0 "gather" -- "$D" sweep gather "$G"
C=$T/grid.d/summary.csv
[ -s "$C" ] && [ -s "$T/grid.d/summary.h5" ] || fail "gather: outputs"
head -n 1 "$C" | grep -q '^cell,policy,rate,tp,system,executor,hw,model,delta_format,summary_tp,.*,cell_hash,git_commit,host,gpu_name$' ||
  fail "gather: columns: $(head -n 1 "$C")"
[ "$(wc -l < "$C")" -eq 10 ] || fail "gather: 9 rows"
"$D" export "$T/grid.d/summary.h5" sweep > "$T/exp.csv" || fail "export of the gathered table"
cmp -s "$T/exp.csv" "$C" || fail "gather: the CSV is not the HDF5 table"
"$D" inspect "$T/grid.d/summary.h5" > "$T/insp" || fail "inspect"
grep -q "sweep_cells = 9" "$T/insp" || fail "gather: sweep_cells attribute"
# each row's numbers are its cell's own, and the row names the cell's hash and axes
"$D" export "$T/grid.d/cells/$h0.h5" summary | sed -n 2p > "$T/cell0"
grep -q "^0,swap-2,1,1,$(cat "$T/cell0"),$h0,[^,]*,$(hostname),[^,]*$" "$C" || fail "gather: row 0 is not cell 0's summary"
# the types of the columns: axes of numbers are numbers (an integer rate column exports as 1, 2)
grep -q '^5,deltazip,2,1,' "$C" || fail "gather: row 5"
# another table: one row per row of each cell's table
expect_exit 0 "gather slo" -- "$D" sweep gather "$G" --table slo -q
n=$("$D" export "$T/grid.d/cells/$h0.h5" slo | tail -n +2 | wc -l)
[ "$(wc -l < "$T/grid.d/slo.csv")" -eq $((9 * n + 1)) ] || fail "gather slo: $n rows per cell"
expect_exit 1 "gather an unknown table" -- "$D" sweep gather "$G" --table nope
expect_err_contains "nope" "gather: unknown table named"

# ---- the plot -------------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
  gnuplot -e "data='$C'; xcol='rate'; ycol='throughput_rps'; by='policy'; out='$T/plot'" plots/sweep.gp \
    >"$T/gp.log" 2>&1 || fail "plots/sweep.gp: $(tail -n 3 "$T/gp.log")"
  [ -s "$T/plot.png" ] && [ -s "$T/plot.svg" ] || fail "plots/sweep.gp: no png/svg"
  grep -q "deltazip" "$T/plot.svg" || fail "plots/sweep.gp: no line titled deltazip"
fi

# ---- bad sweep files: one line naming the file, exit 1 --------------------------------------
bad() { # NAME JSON EXPECTED-TEXT
  printf '%s\n' "$2" > "$T/$1.json"
  expect_exit 1 "bad file $1" -- "$D" sweep plan "$T/$1.json"
  expect_err_contains "deltabench sweep: $T/$1.json: " "bad file $1: the file named first"
  expect_err_contains "$3" "bad file $1"
}
A='"axes": [{"name": "r", "option": "--rate", "values": [1]}]'
bad nojson '{"deltabench_sweep": 1,' "not valid JSON"
bad version "{\"command\": \"simulate\", $A}" '"deltabench_sweep": 1'
bad unknownkey "{\"deltabench_sweep\": 1, \"command\": \"simulate\", \"axis\": [], $A}" "unknown key 'axis'"
bad nocmd "{\"deltabench_sweep\": 1, $A}" "command"
bad recursive "{\"deltabench_sweep\": 1, \"command\": \"sweep\", $A}" "not a subcommand a sweep can run"
bad noaxes '{"deltabench_sweep": 1, "command": "simulate", "axes": []}' "axes must be a non-empty array"
bad novalues '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "r", "option": "--rate", "values": []}]}' "axis r: no values"
bad dupvalue '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "r", "option": "--rate", "values": [1, "1"]}]}' "value '1' twice"
bad dupaxis "{\"deltabench_sweep\": 1, \"command\": \"simulate\", \"axes\": [{\"name\": \"r\", \"values\": [1]}, {\"name\": \"r\", \"values\": [2]}]}" "axis r twice"
bad badname '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "a b", "values": [1]}]}' "name must be"
bad reserved '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "host", "values": [1]}]}' "'host' is a column gather adds"
bad placeholder "{\"deltabench_sweep\": 1, \"command\": \"simulate\", \"args\": [\"x{nope}\"], $A}" "'{nope}' names no axis"
bad outputopt "{\"deltabench_sweep\": 1, \"command\": \"simulate\", \"args\": [\"--out\", \"x.h5\"], $A}" "'--out' is the output option"
bad exclaxis "{\"deltabench_sweep\": 1, \"command\": \"simulate\", $A, \"exclude\": [{\"q\": 1}]}" "exclude[0]: 'q' is not an axis"
bad exclvalue "{\"deltabench_sweep\": 1, \"command\": \"simulate\", $A, \"exclude\": [{\"r\": 7}]}" "'7' is not a value of axis r"
bad allexcl "{\"deltabench_sweep\": 1, \"command\": \"simulate\", $A, \"exclude\": [{\"r\": 1}]}" "every cell is excluded"
bad samecmd '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "r", "values": [1, 2]}]}' "cells 0 and 1 run the same command line"
bad objvalues '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "r", "option": "--rate", "values": {"a": []}}]}' "values must be an array"
bad argtype '{"deltabench_sweep": 1, "command": "simulate", "args": [true], "axes": [{"name": "r", "option": "--rate", "values": [1]}]}' "args: element 0 is not a string"
bad big '{"deltabench_sweep": 1, "command": "simulate", "axes": [{"name": "a", "option": "--a", "values": [1,2,3,4,5,6,7,8,9,10]}, {"name": "b", "option": "--b", "values": [1,2,3,4,5,6,7,8,9,10]}, {"name": "c", "option": "--c", "values": [1,2,3,4,5,6,7,8,9,10]}, {"name": "d", "option": "--d", "values": [1,2,3,4,5,6,7,8,9,10]}, {"name": "e", "option": "--e", "values": [1,2,3,4,5,6,7,8,9,10,11]}]}' "more than 100000 cells"
expect_exit 1 "missing sweep file" -- "$D" sweep plan "$T/none.json"
expect_err_contains "$T/none.json" "missing file named"
# an axis named like a column of the table: the table's column is kept as TABLE_COLUMN
sed 's/"name": "policy"/"name": "system"/; s/"policy": /"system": /g' "$G" > "$T/coll.json"
expect_exit 0 "axis named like a column" -- "$D" sweep gather "$T/coll.json" --dir "$T/grid.d" --csv "$T/coll.csv" -q
head -n 1 "$T/coll.csv" | grep -q '^cell,system,rate,tp,summary_system,executor,' || fail "collision: $(head -c 80 "$T/coll.csv")"
grep -q '^0,swap-2,1,1,swap,' "$T/coll.csv" || fail "collision: row 0"

# ---- usage errors: exit 2 -------------------------------------------------------------------
expect_exit 2 "no action" -- "$D" sweep
expect_exit 2 "unknown action" -- "$D" sweep frobnicate "$G"
expect_exit 2 "no file" -- "$D" sweep run
expect_exit 2 "two files" -- "$D" sweep plan "$G" "$G"
expect_exit 2 "bad backend" -- "$D" sweep run "$G" --backend pbs
expect_exit 2 "bad jobs" -- "$D" sweep run "$G" --jobs 0
expect_exit 2 "option of another action" -- "$D" sweep plan "$G" --jobs 2
expect_exit 2 "slurm option on local" -- "$D" sweep run "$G" --partition gpu
expect_exit 2 "cell without index" -- "$D" sweep cell "$G" --dir "$T/grid.d"
expect_exit 0 "help" -- "$D" sweep --help
expect_out_contains "deltabench sweep run FILE" "help text"
# cell: an index outside the plan, a plan hash that differs
expect_exit 1 "cell index outside" -- "$D" sweep cell "$G" --dir "$T/grid.d" --index 9
expect_exit 1 "cell plan changed" -- "$D" sweep cell "$G" --dir "$T/grid.d" --index 0 --plan 0000000000000000
expect_err_contains "the sweep file changed" "cell: plan hash"
expect_exit 0 "cell done" -- "$D" sweep cell "$G" --dir "$T/grid.d" --index 0
# slurm without sbatch on PATH: one line
expect_exit 1 "slurm without sbatch" -- env PATH=/nonexistent "$D" sweep run "$F" --dir "$T/fresh" --backend slurm
expect_err_contains "sbatch: not found on PATH" "slurm without sbatch"
finish
