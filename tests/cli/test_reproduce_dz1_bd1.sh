#!/usr/bin/env bash
# test_reproduce_dz1_bd1.sh: registry entries dz1 (the synthetic delta fitted to the zoo, the
# Llama ratio over the fitted range) and bd1 (the BitDelta distillation ablation), each end to
# end on the micro zoo through `deltabench reproduce` (experiment, figure, table, rule verdicts,
# paper.md splice), with small grids and a tiny shape; `stats` and `synth`'s knobs on the way.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
D=$DELTABENCH
if ! command -v gnuplot >/dev/null; then
  echo "SKIP: gnuplot missing (scripts/install-deps.sh installs it)"
  exit 77
fi
if ! "$root/scripts/build-models.sh" --check-corpora 2>/dev/null; then
  echo "SKIP: corpus packages missing (scripts/install-deps.sh installs them)"
  exit 77
fi
cd "$root"
MODELS=micro ZOO=$T/zoo "$root/scripts/build-models.sh" >/dev/null 2>&1 || fail "micro zoo"
{
  printf '<!-- regenerated:status:begin -->\nstale\n<!-- regenerated:status:end -->\n'
  for id in dz1 bd1; do
    printf '<!-- regenerated:%s:begin -->\nold\n<!-- regenerated:%s:end -->\n' "$id" "$id"
  done
} > "$T/paper.md"
outputs() {
  local f
  for f in "$1.csv" "$1.png" "$1.svg" section.md verdict; do
    [ -s "$2/$f" ] || fail "$1 output $f missing"
  done
}

# ---- stats and synth's knobs ----------------------------------------------------------------------
expect_exit 0 "synth with knobs" -- "$D" synth --shape llama2-7b --layers 1 --vocab 8 --hidden 64 \
  --ffn 96 --tail-sigma 0 --row-sigma 0 --col-sigma 0 --out-base "$T/b.st" --out-target "$T/t.st" -q
expect_exit 0 "stats" -- "$D" stats --base "$T/b.st" --target "$T/t.st" --out "$T/s.h5"
expect_out_contains "7 linear tensors" "stats counts the 7 projections"
# σ = 0: near Gaussian (Irwin-Hall of three: kurtosis 2.6)
"$D" export "$T/s.h5" delta_stats | awk -F, 'NR > 1 { if ($5 < 2.3 || $5 > 2.9) bad = 1; n++ } END { exit bad || n != 7 }' ||
  fail "stats: kurtosis of a σ = 0 delta not near 2.6: $("$D" export "$T/s.h5" delta_stats)"
expect_exit 2 "synth: hidden not a multiple of the heads" -- "$D" synth --shape llama2-7b --hidden 100 \
  --out-base "$T/x.st" --out-target "$T/y.st"
expect_err_contains "not a multiple" "synth names the bad width"
expect_exit 2 "synth: sigma out of range" -- "$D" synth --shape tiny --tail-sigma 4 \
  --out-base "$T/x.st" --out-target "$T/y.st"
expect_exit 1 "stats: missing target" -- "$D" stats --base "$T/b.st" --target "$T/nosuch.st"
expect_err_contains "nosuch.st" "stats names the missing file"
expect_exit 2 "stats: no target" -- "$D" stats --base "$T/b.st"

# ---- dz1 --------------------------------------------------------------------------------------------
dz=(ZOO="$T/zoo" SIZES=micro TASKS="scripture code" TAILS="0 0.6" ROWSIG="0.3" COLSIG="0" SHAPE=tiny)
expect_exit 0 "reproduce dz1 (micro)" -- env "${dz[@]}" "$D" reproduce dz1 --out "$T/dz1" --paper "$T/paper.md"
outputs dz1 "$T/dz1"
[ "$(grep -c '^zoo,' "$T/dz1/dz1.csv")" -eq 2 ] || fail "dz1: expected 2 zoo rows"
[ "$(grep -c '^fit,' "$T/dz1/dz1.csv")" -eq 2 ] || fail "dz1: expected 2 fit rows"
# the interval brackets its point and every sweep point lies inside it
awk -F, '$1 == "interval" { iv = 1; if (!($15 <= $14 && $14 <= $16)) bad = 1; lo = $15; hi = $16 }
         $1 == "sweep" { s[++n] = $14 }
         END { for (i = 1; i <= n; i++) if (s[i] < lo - 1e-9 || s[i] > hi + 1e-9) bad = 1; exit bad || !iv || !n }' "$T/dz1/dz1.csv" ||
  fail "dz1: interval does not bracket its points: $(grep -E '^(interval|sweep)' "$T/dz1/dz1.csv")"
grep -q 'Verdict DZ-1 (size)' "$T/paper.md" || fail "paper.md lacks the DZ-1 (size) verdict"
grep -q '^| DZ-1 (size) | [a-z ]* | `make reproduce-dz1` |' "$T/paper.md" || fail "status table lacks DZ-1 (size)"
expect_exit 1 "dz1: bad sigma" -- env "${dz[@]}" TAILS="0 x" "$D" reproduce dz1 --out "$T/dz1x" --no-paper
expect_err_contains "'x' is not a number in [0, 3]" "dz1 names the bad σ"
[ -e "$T/dz1x/dz1.csv" ] && fail "dz1.csv written for a bad σ"

# ---- bd1 --------------------------------------------------------------------------------------------
bd=(ZOO="$T/zoo" SIZES=micro TASKS="code" STEPS="2 800" TEXTS="task english" LOSSES="mse"
    SEEDS=1 BPB_SEEDS=2 EVAL_TOKENS=512 EVAL_EXAMPLES=10)
expect_exit 0 "reproduce bd1 (micro)" -- env "${bd[@]}" "$D" reproduce bd1 --out "$T/bd1" --paper "$T/paper.md"
outputs bd1 "$T/bd1"
# rows: 1 task x (undistilled + 2 steps x 2 texts) + the same 5 settings' means
[ "$(($(wc -l < "$T/bd1/bd1.csv") - 1))" -eq 10 ] || fail "bd1.csv: expected 10 rows, got $(wc -l < "$T/bd1/bd1.csv")"
grep -q '^mean,mean,800-english-mse,800,english,mse,1,' "$T/bd1/bd1.csv" || fail "bd1: no paper-setting mean row"
# the paper's setting ran two seeds (bits per byte): its rows carry a t interval
grep -q '^micro,code,800-english-mse,.*,t over 2 seeds,' "$T/bd1/bd1.csv" || fail "bd1: no interval over seeds"
# the 2-step containers are the snapshots of the 800-step run, not runs of their own
[ "$(ls "$T/bd1/runs/"*-distill.log | wc -l)" -eq 3 ] || fail "bd1: expected 3 distillations (2 texts, one more seed)"
grep -q 'Verdict BD-1' "$T/paper.md" || fail "paper.md lacks the BD-1 verdict"
grep -q '800 steps / english / mse' "$T/bd1/section.md" || fail "bd1 verdict does not name the paper's setting"
grep -q '^old$' "$T/paper.md" && fail "paper.md: a section was not replaced"
expect_exit 1 "bd1: steps not ascending" -- env "${bd[@]}" STEPS="800 2" "$D" reproduce bd1 --out "$T/bd1x" --no-paper
expect_err_contains "STEPS must ascend" "bd1 names the bad steps"
[ -e "$T/bd1x/bd1.csv" ] && fail "bd1.csv written for bad steps"
finish
