#!/usr/bin/env bash
# test_reproduce_more.sh: the registry entries after fig5, each end to end on tiny inputs through
# `deltabench reproduce` (experiment, figure, table, verdict, paper.md splice) and each with a
# failure path: bd2 (a tiny synthetic pair), dz3 (short traces, two rates, two seeds), bd4 (three
# kernel-executor runs at one layer, scaled to tenant counts of which one does not fit), dz5 (a 7B layer, one format), dz6 (small kernel sweeps), methods (the micro zoo, two
# fine-tunes, two targets).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
D=$DELTABENCH
if ! command -v gnuplot >/dev/null; then
  echo "SKIP: gnuplot missing (scripts/install-deps.sh installs it)"
  exit 77
fi
cd "$root"
{
  printf '<!-- regenerated:status:begin -->\nstale\n<!-- regenerated:status:end -->\n'
  for id in bd2 dz3 bd4 dz5 dz6 methods; do
    printf '<!-- regenerated:%s:begin -->\nold\n' "$id"
    # a verdict an older run of methods wrote, for a claim that has moved to entry bd1
    [ "$id" = methods ] && printf '**Verdict BD-1**: reproduced: a stale verdict of an older run\n'
    printf '<!-- regenerated:%s:end -->\n' "$id"
  done
} > "$T/paper.md"
echo tail >> "$T/paper.md"

# entry ID DIR: the outputs every entry leaves
outputs() {
  local f
  for f in "$1.csv" "$1.png" "$1.svg" section.md verdict; do
    [ -s "$2/$f" ] || fail "$1 output $f missing"
  done
}
rows() { echo $(($(wc -l < "$1") - 1)); }

# ---- scripts/reproduce/lib.sh: rp_pick, the one reader of CSV columns ---------------------------
printf 'a,b,c\n1,2,3\n4,5,6\n' > "$T/pick.csv"
pick() { bash -c 'RP=pick; . scripts/reproduce/lib.sh; rp_pick "$@"' _ "$@"; }
expect_exit 0 "rp_pick: known columns" -- pick "$T/pick.csv" c a
[ "$(tr '\n' ' ' < "$T/out")" = "3,1 6,4 " ] || fail "rp_pick c a: got '$(cat "$T/out")'"
expect_exit 0 "rp_pick: stdin" -- bash -c 'RP=pick; . scripts/reproduce/lib.sh; rp_pick - b < "$1"' _ "$T/pick.csv"
[ "$(tr '\n' ' ' < "$T/out")" = "2 5 " ] || fail "rp_pick - b: got '$(cat "$T/out")'"
# an unknown name is a one-line error and no rows (awk's $"" would print each whole row)
expect_exit 1 "rp_pick: unknown column" -- pick "$T/pick.csv" a nosuch
expect_err_contains "pick: $T/pick.csv: no column 'nosuch' (columns: a,b,c)" "rp_pick names the column"
[ -s "$T/out" ] && fail "rp_pick printed rows for an unknown column: $(head -c 100 "$T/out")"
: > "$T/empty.csv"
expect_exit 1 "rp_pick: no header line" -- pick "$T/empty.csv" a
expect_err_contains "empty, no header line" "rp_pick names an empty file"

# ---- bd2: BitDelta footprint, one tiny pair with the side-by-side methods ----------------------
expect_exit 0 "reproduce bd2 (tiny)" -- env SHAPES=tiny SIDE_SHAPES=tiny JOBS=1 \
  "$D" reproduce bd2 --out "$T/bd2" --paper "$T/paper.md"
outputs bd2 "$T/bd2"
[ "$(rows "$T/bd2/bd2.csv")" -eq 4 ] || fail "bd2.csv: expected 4 rows (fp16, bitdelta, deltadq, deltazip)"
# 1 bit per parameter plus one fp32 scale per matrix: just under 16x on the linear layers
awk -F, '$4 == "bitdelta" { exit !($9 > 12 && $9 < 16) }' "$T/bd2/bd2.csv" ||
  fail "bd2: bitdelta linear ratio not in (12, 16): $(grep bitdelta "$T/bd2/bd2.csv")"
grep -q 'Verdict BD-2' "$T/paper.md" || fail "paper.md lacks the BD-2 verdict"
[ "$(grep -c '^old$' "$T/paper.md")" -eq 5 ] || fail "paper.md: only the bd2 section should be replaced"
grep -q '^tail$' "$T/paper.md" || fail "paper.md text after the markers lost"
[ -s "$T/docs/figures/bd2.png" ] || fail "bd2 figure not copied beside the report"
# the data behind the section is copied beside the report, for the repository, and linked
cmp -s "$T/bd2/bd2.csv" "$T/results/reference/bd2/bd2.csv" || fail "bd2.csv not published to results/reference/bd2"
[ "$(ls "$T/results/reference/bd2/runs/"*.h5 | wc -l)" -eq 3 ] || fail "bd2: expected its 3 runs under results/reference/bd2/runs"
grep -q 'Data: \[`results/reference/bd2/`\]' "$T/paper.md" || fail "paper.md does not link results/reference/bd2"
# the status table is rebuilt from the sections' verdict lines: one row so far
grep -q '^stale$' "$T/paper.md" && fail "status table not rebuilt"
grep -q '^| BD-2 | [a-z ]* | `make reproduce-bd2` | 20[0-9-]* |$' "$T/paper.md" ||
  fail "status table lacks the BD-2 row: $(sed -n '/status:begin/,/status:end/p' "$T/paper.md")"
grep -q '^| BD-1 |' "$T/paper.md" && fail "status table shows a verdict of a claim methods no longer owns"
ls "$T/bd2/runs/"*.st >/dev/null 2>&1 && fail "bd2 left its synthetic pair behind"
expect_exit 1 "bd2: unknown shape" -- env SHAPES=nosuch "$D" reproduce bd2 --out "$T/bd2x" --no-paper
expect_err_contains "unknown shape 'nosuch'" "bd2 names the bad shape"
[ -e "$T/bd2x/bd2.csv" ] && fail "bd2.csv written for an unknown shape"

# ---- dz3: serving grid, one popularity, two rates, two seeds, 20 s -----------------------------
expect_exit 0 "reproduce dz3 (short)" -- env POPS=uniform RATES="1 2" SEEDS="1 2" DURATION=20 \
  "$D" reproduce dz3 --out "$T/dz3" --paper "$T/paper.md"
outputs dz3 "$T/dz3"
# 7 systems under datasheet load rates, the 4 load-bound ones under the artifact's, 2 rates, 2 seeds
[ "$(find "$T/dz3/runs/sweep/cells" -name '*.h5' | wc -l)" -eq 44 ] || fail "dz3: expected 44 HDF5 runs (sweep cells)"
[ "$(rows "$T/dz3/dz3-systems.csv")" -eq 22 ] || fail "dz3-systems.csv: expected 22 rows, got $(rows "$T/dz3/dz3-systems.csv")"
grep -q '^datasheet,uniform,2,swap-6,2,' "$T/dz3/dz3-systems.csv" || fail "dz3-systems.csv lacks swap-6 at 2 req/s over 2 seeds"
# the rules' table: per load setting and popularity, 5 comparisons; per rate: 2 x 2 x 5
[ "$(rows "$T/dz3/dz3.csv")" -eq 10 ] || fail "dz3.csv: expected 10 comparisons, got $(rows "$T/dz3/dz3.csv")"
[ "$(rows "$T/dz3/dz3-cells.csv")" -eq 20 ] || fail "dz3-cells.csv: expected 20 rows"
awk -F, 'NR > 1 && !($7 <= $6 && $6 <= $8) { bad = 1 } END { exit bad }' "$T/dz3/dz3.csv" ||
  fail "dz3.csv: a value outside its seeds' range"
[ -s "$T/dz3/dz3-slo.csv" ] || fail "dz3-slo.csv missing"
# the figure's sibling tables are published beside dz3.csv
for f in dz3.csv dz3-systems.csv dz3-slo.csv dz3-cells.csv; do
  cmp -s "$T/dz3/$f" "$T/results/reference/dz3/$f" || fail "dz3: $f not published to results/reference/dz3"
done
grep -q 'DZ-4 (SLO, simulated)' "$T/dz3/verdict" || fail "dz3 verdict lacks DZ-4 (SLO)"
grep -q '^\*\*Verdict DZ-3 (simulated)\*\*: .*Rules, tried in order' "$T/paper.md" || fail "paper.md lacks the DZ-3 verdict with its rules"
grep -q '^| DZ-4 (latency, simulated) |' "$T/paper.md" || fail "status table lacks the DZ-4 (latency, simulated) row"
# each claim's verdict its own paragraph: a blank line after the DZ-3 line
awk '/^\*\*Verdict DZ-3/ { getline n; found = 1; exit n != "" } END { if (!found) exit 1 }' "$T/dz3/section.md" ||
  fail "dz3 section: the verdict lines run into one paragraph"
expect_exit 1 "dz3: unknown load rates" -- env LOADS=bogus "$D" reproduce dz3 --out "$T/dz3x" --no-paper
expect_err_contains "LOADS: unknown 'bogus'" "dz3 names the bad setting"
[ -e "$T/dz3x/dz3.csv" ] && fail "dz3.csv written for bad LOADS"

# ---- bd4: memory measured on the kernel executor (1 layer), scaled to Llama-2-7B ----------------
bd4env=(LAYERS=1 TENANTS="1 2" NAIVE_LAYERS=1 NAIVE_TENANTS="1 2" SCALE_TENANTS="1 8 64")
expect_exit 0 "reproduce bd4 (1 layer, 4 runs)" -- env "${bd4env[@]}" \
  "$D" reproduce bd4 --out "$T/bd4" --paper "$T/paper.md"
outputs bd4 "$T/bd4"
[ "$(rows "$T/bd4/bd4-measured.csv")" -eq 4 ] || fail "bd4-measured.csv: expected 4 runs"
# each measured run: its peak resident bytes from the OS, within 10 % of the fitted prediction
awk -F, 'NR > 1 && !($4 > 0.3 && $7 > 0.9 && $7 < 1.1) { bad = 1 } END { exit bad }' "$T/bd4/bd4-measured.csv" ||
  fail "bd4: measured against predicted: $(cat "$T/bd4/bd4-measured.csv")"
[ "$(rows "$T/bd4/bd4-scaled.csv")" -eq 3 ] || fail "bd4-scaled.csv: expected 3 rows"
grep -q '^64,[0-9.]*,0,' "$T/bd4/bd4-scaled.csv" || fail "bd4: 64 Llama-2-7B tenants should not fit one A100"
grep -q '^8,[0-9.]*,1,[0-9.]*,0,' "$T/bd4/bd4-scaled.csv" || fail "bd4: 8 tenants: bitdelta fits, naive does not"
grep -q '^per_tenant_gb,' "$T/bd4/bd4.csv" || fail "bd4.csv lacks the memory per tenant"
grep -q 'Verdict BD-4' "$T/paper.md" || fail "paper.md lacks the BD-4 verdict"
[ "$(grep -c '^old$' "$T/paper.md")" -eq 3 ] || fail "paper.md: only the dz5, dz6 and methods sections should be left"
# cached rerun: the same table, no run redone
cp "$T/bd4/bd4.csv" "$T/bd4.first"
sleep 1
expect_exit 0 "bd4 cached rerun" -- env "${bd4env[@]}" "$D" reproduce bd4 --out "$T/bd4" --no-paper
cmp -s "$T/bd4.first" "$T/bd4/bd4.csv" || fail "bd4 cached rerun changed the table"
[ "$(find "$T/bd4/runs" -name '*.h5' -newer "$T/bd4.first" | wc -l)" -eq 0 ] || fail "bd4 cached rerun redid runs"
expect_exit 1 "bd4: zero tenants" -- env TENANTS="0" "$D" reproduce bd4 --out "$T/bd4x" --no-paper
expect_err_contains "not a positive integer" "bd4 names the bad count"
[ -e "$T/bd4x/bd4.csv" ] && fail "bd4.csv written for zero tenants"

# ---- dz5: cold loads of a 7B layer and its 1-bit delta ------------------------------------------
expect_exit 0 "reproduce dz5 (7B layer, bitdelta)" -- env SHAPE=llama2-7b FORMATS=bitdelta REPEAT=2 \
  "$D" reproduce dz5 --out "$T/dz5" --paper "$T/paper.md"
outputs dz5 "$T/dz5"
[ "$(rows "$T/dz5/dz5.csv")" -eq 2 ] || fail "dz5.csv: expected 2 rows (fp16, bitdelta)"
# the fp16 model is BitDelta's 13.48 GB; the delta is > 8x smaller and loads > 2x faster
awk -F, '$1 == "fp16" { fb = $8; fs = $9 } $1 == "bitdelta" { db = $8; ds = $9 }
  END { exit !(fb > 13.4e9 && fb < 13.6e9 && fb / db > 8 && fs / ds > 2) }' "$T/dz5/dz5.csv" ||
  fail "dz5: sizes or load times wrong: $(cat "$T/dz5/dz5.csv")"
[ "$(wc -l < "$T/dz5/runs/reads-fp16.txt")" -eq 2 ] || fail "dz5: expected 2 reads of the fp16 file"
ls "$T/dz5/runs/"*.st "$T/dz5/runs/"*.delta >/dev/null 2>&1 && fail "dz5 left its files behind"
grep -q 'Verdict DZ-5' "$T/paper.md" || fail "paper.md lacks the DZ-5 verdict"
expect_exit 1 "dz5: unknown format" -- env FORMATS=nosuch "$D" reproduce dz5 --out "$T/dz5x" --no-paper
expect_err_contains "FORMATS: unknown 'nosuch'" "dz5 names the bad format"
[ -e "$T/dz5x/dz5.csv" ] && fail "dz5.csv written for an unknown format"

# ---- dz6: batched kernels against loops, small shapes --------------------------------------------
small6=(ROUNDS=5 REPEAT=1 DZ_SHAPE=256 DZ_BATCH=20 DZ_DELTAS="2 20" BD_SHAPE=512 BD_TENANTS="1 4")
expect_exit 0 "reproduce dz6 (small)" -- env "${small6[@]}" "$D" reproduce dz6 --out "$T/dz6" --paper "$T/paper.md"
outputs dz6 "$T/dz6"
[ "$(rows "$T/dz6/dz6.csv")" -eq 8 ] || fail "dz6.csv: expected 8 rows (2 counts x 2 baselines, twice)"
grep -q '^bd3,4,4,base+bitdelta,dense-loop,' "$T/dz6/dz6.csv" || fail "dz6: BD-3 row of 4 tenants missing or not 4 deltas used"
# 20 requests over 20 deltas from Zipf 2 touch fewer than 20 of them; separate fp16 models read
# more than the served layer even with its base counted; every speed-up has its interval of 5 rounds
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
  $1 == "dz6" && $2 == 20 && $h["baseline"] == "dense-loop" { found = 1; if ($3 >= 20 || $3 < 2 || $h["ideal"] <= 1.5) bad = 1 }
  { if ($h["rounds"] != 5 || $h["speedup_lo"] > $h["speedup"] || $h["speedup"] > $h["speedup_hi"]) bad = 1 }
  END { exit !found || bad }' "$T/dz6/dz6.csv" || fail "dz6: Zipf assignment, byte ratio or interval wrong: $(cat "$T/dz6/dz6.csv")"
grep -q '(rule\|Rules, tried in order' "$T/dz6/section.md" || fail "dz6: the verdicts lack their rules"
grep -q 'BD-3' "$T/dz6/verdict" || fail "dz6 verdict lacks BD-3"
grep -q 'Verdict DZ-6' "$T/paper.md" || fail "paper.md lacks the DZ-6 verdict"
# every verdict of the sections so far has its status row, in section order
want=$(grep -v 'stale verdict' "$T/paper.md" | grep -o '^\*\*Verdict [^*]*' | sed 's/^\*\*Verdict //' | tr '\n' ';')
have=$(sed -n '/status:begin/,/status:end/p' "$T/paper.md" | awk -F' [|] ' '/^[|] [A-Z]/ { sub(/^[|] /, "", $1); printf "%s;", $1 }')
[ -n "$want" ] && [ "$want" = "$have" ] || fail "status rows ($have) differ from the verdicts ($want)"
expect_exit 1 "dz6: too few rounds" -- env ROUNDS=3 "$D" reproduce dz6 --out "$T/dz6x" --no-paper
expect_err_contains "at least 5 interleaved rounds" "dz6 refuses fewer than 5 rounds"
expect_exit 1 "dz6: bad repeat" -- env REPEAT=x "$D" reproduce dz6 --out "$T/dz6x" --no-paper
expect_err_contains "'x' is not a positive integer" "dz6 names the bad setting"
[ -e "$T/dz6x/dz6.csv" ] && fail "dz6.csv written for a bad setting"

# ---- methods: equal bytes on the micro zoo, two fine-tunes, two targets ------------------------
if ! "$root/scripts/build-models.sh" --check-corpora 2>/dev/null; then
  echo "SKIP (methods): corpus packages missing (scripts/install-deps.sh installs them)"
  finish; exit
fi
MODELS=micro ZOO=$T/zoo "$root/scripts/build-models.sh" >/dev/null 2>&1 || fail "micro zoo"
small=(ZOO="$T/zoo" SIZES=micro TASKS="scripture arith" TARGETS="16 32" DISTILL_STEPS=5
       EVAL_TOKENS=1024 EVAL_EXAMPLES=10 CALIB_TOKENS=256)
expect_exit 0 "reproduce methods (micro)" -- env "${small[@]}" \
  "$D" reproduce methods --out "$T/me" --paper "$T/paper.md"
outputs methods "$T/me"
[ -s "$T/me/methods-mean.csv" ] || fail "methods-mean.csv missing"
[ -s "$T/me/runs/micro.params" ] || fail "methods: chosen settings not recorded"
# every chosen setting (reached = 1) has one row per fine-tune
want=$((2 * $(awk '$5 == 1' "$T/me/runs/micro.params" | wc -l)))
[ "$want" -gt 0 ] && [ "$(rows "$T/me/methods.csv")" -eq "$want" ] ||
  fail "methods.csv: expected $want rows, got $(rows "$T/me/methods.csv")"
grep -q '^micro,scripture,bitdelta-distill,' "$T/me/methods.csv" || fail "methods: no distilled BitDelta row"
# the achieved ratio of every row is within the stated band of its target
awk -F, 'NR > 1 && ($7 / $5 < 0.8 || $7 / $5 > 1.25) { bad = 1 } END { exit bad }' "$T/me/methods.csv" ||
  fail "methods: a row's achieved ratio is outside [0.8, 1.25] x its target"
grep -q 'Verdict' "$T/me/section.md" && fail "methods decides a claim (BD-1, DQ-1, DQ-2 have entries of their own)"
grep -q 'Scale distillation at ~16x' "$T/me/section.md" || fail "methods section lacks the distillation line"
grep -q '^old$' "$T/paper.md" && fail "paper.md: the methods section was not replaced"
expect_exit 1 "methods: missing zoo size" -- env "${small[@]}" SIZES=nosuch \
  "$D" reproduce methods --out "$T/mex" --no-paper
expect_err_contains "zoo size nosuch missing" "methods names the missing size"
[ -e "$T/mex/methods.csv" ] && fail "methods.csv written without a zoo"
finish
