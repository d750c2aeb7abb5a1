#!/usr/bin/env bash
# test_reproduce.sh: the pieces of `make reproduce-fig5`: synth --layers/--vocab/--zero-like,
# deltazip pruning alone (--bits 16), eval --base none, the registry CLI, and the fig5
# experiment end to end on the micro zoo and a tiny synthetic pair (figure, table, verdict,
# paper.md splice, cached rerun).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
D=$DELTABENCH

# ---- synth: truncated layers, small vocabulary, zero twin -------------------------------------
expect_exit 0 "synth 1 of 2 layers" -- "$D" synth --shape tiny --layers 1 --vocab 17 \
  --out-base "$T/b.st" --out-target "$T/t.st"
expect_out_contains "1 of 2 layers, vocab 17 of 300" "synth says what it truncated"
"$D" inspect "$T/b.st" > "$T/insp" 2>&1
grep -q "model.layers.1\." "$T/insp" && fail "layer 1 written despite --layers 1"
grep -q "model.layers.0.mlp.up_proj.weight" "$T/insp" || fail "layer 0 missing"
grep -q "model.embed_tokens.weight .*\[17, 70\]" "$T/insp" || fail "embedding not [17, 70]: $(grep embed "$T/insp")"
# layer 0 does not depend on the layer count or the vocabulary
"$D" synth --shape tiny --out-base "$T/b2.st" --out-target "$T/t2.st" >/dev/null
"$D" compress --base "$T/b.st" --target "$T/t.st" --method fp16 --out "$T/d1.st" --report "$T/r1.h5" --quiet >/dev/null
"$D" compress --base "$T/b2.st" --target "$T/t2.st" --method fp16 --out "$T/d2.st" --report "$T/r2.h5" --quiet >/dev/null
a=$("$D" export "$T/r1.h5" compression | grep '^model.layers.0.self_attn.q_proj' | cut -d, -f4-10)
b=$("$D" export "$T/r2.h5" compression | grep '^model.layers.0.self_attn.q_proj' | cut -d, -f4-10)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "layer 0 differs with --layers/--vocab: '$a' vs '$b'"
expect_exit 2 "more layers than the shape" -- "$D" synth --shape tiny --layers 3 --out-base "$T/x" --out-target "$T/y"
[ -e "$T/x" ] && fail "output written on a usage error"
expect_exit 2 "zero vocabulary" -- "$D" synth --shape tiny --vocab 0 --out-base "$T/x" --out-target "$T/y"

mkdir -p "$T/m"
cp "$T/b.st" "$T/m/model.safetensors"
echo '{}' > "$T/m/config.json"
expect_exit 0 "zero twin" -- "$D" synth --zero-like "$T/m" --out-dir "$T/z"
cmp -s "$T/m/config.json" "$T/z/config.json" || fail "config.json not copied"
"$D" inspect "$T/z/model.safetensors" | grep -c "F16" > "$T/n1"
"$D" inspect "$T/m/model.safetensors" | grep -c "F16" > "$T/n2"
cmp -s "$T/n1" "$T/n2" || fail "zero twin has other tensors"
# every byte of the data area is zero: the file is the header plus zeros
hdr=$(od -An -tu8 -N8 "$T/z/model.safetensors" | tr -d ' ')
nz=$(tail -c +$((hdr + 9)) "$T/z/model.safetensors" | tr -d '\000' | wc -c)
[ "$nz" -eq 0 ] || fail "zero twin holds $nz non-zero bytes"
expect_exit 1 "zero twin refuses to overwrite" -- "$D" synth --zero-like "$T/m" --out-dir "$T/z"
expect_err_contains "refusing to overwrite" "overwrite message"
expect_exit 2 "zero-like without out-dir" -- "$D" synth --zero-like "$T/m"
expect_exit 2 "zero-like with a shape" -- "$D" synth --zero-like "$T/m" --out-dir "$T/z2" --shape tiny
expect_exit 1 "zero-like of a missing model" -- "$D" synth --zero-like "$T/nope" --out-dir "$T/z3"
[ -e "$T/z3/model.safetensors" ] && fail "output written for a missing model"

# whole model against the zero twin: the "delta" is the fine-tuned model itself
expect_exit 0 "compress against the zero twin" -- "$D" compress --base "$T/z/model.safetensors" \
  --target "$T/m/model.safetensors" --method fp16 --out "$T/whole.st" --quiet
expect_exit 0 "decompress against the zero twin" -- "$D" decompress --base "$T/z/model.safetensors" \
  --delta "$T/whole.st" --out "$T/back.st"

# ---- deltazip --bits 16: 2:4 pruning alone ------------------------------------------------------
expect_exit 0 "deltazip prune only" -- "$D" compress --base "$T/b2.st" --target "$T/t2.st" \
  --method deltazip --bits 16 --lossless none --out "$T/p.st" --report "$T/p.h5"
# 2:4 of fp16 values + 2-bit indices = 9 bits per parameter (plus the tails of odd widths)
bits=$("$D" export "$T/p.h5" compression | awk -F, '$1 == "TOTAL linear layers" { print $10 }')
awk -v b="$bits" 'BEGIN { exit !(b >= 9 && b < 9.5) }' || fail "prune-only bits/param $bits, expected ~9"
expect_exit 0 "prune-only decompresses" -- "$D" decompress --base "$T/b2.st" --delta "$T/p.st" --out "$T/pb.st"
expect_exit 2 "deltazip 9 bits" -- "$D" compress --base "$T/b2.st" --target "$T/t2.st" \
  --method deltazip --bits 9 --out "$T/bad.st"
[ -e "$T/bad.st" ] && fail "output written for 9 bits"

# ---- registry CLI -----------------------------------------------------------------------------------
expect_exit 0 "reproduce --list" -- "$D" reproduce --list
expect_out_contains "fig5" "list names fig5"
expect_out_contains "DZ-1 (quality)" "list names the claims"
expect_exit 0 "reproduce --help" -- "$D" reproduce --help
expect_exit 2 "unknown entry" -- "$D" reproduce nosuch
expect_exit 2 "no entry" -- "$D" reproduce
expect_exit 2 "list with an id" -- "$D" reproduce --list fig5
expect_exit 2 "bad flag" -- "$D" reproduce --bogus

# ---- fig5 end to end on the micro zoo ----------------------------------------------------------
if ! "$root/scripts/build-models.sh" --check-corpora 2>/dev/null || ! command -v gnuplot >/dev/null; then
  echo "SKIP: corpus packages or gnuplot missing (scripts/install-deps.sh installs them)"
  exit 77
fi
MODELS=micro ZOO=$T/zoo DELTABENCH=$D "$root/scripts/build-models.sh" >/dev/null 2>&1 || fail "micro zoo"
# eval --fold (the delta added into the weights once) scores what the per-call apply scores
zm=$T/zoo/micro
"$D" compress --base "$zm/base" --target "$zm/code" --method deltazip --bits 2 --out "$T/zd.st" --quiet >/dev/null
expect_exit 0 "eval applying the delta" -- "$D" eval --model "$zm/base" --delta "$T/zd.st" --base none \
  --task code --data "$T/zoo/data" --tokens 2048
a1=$(awk '$1 == "bpb" { print $2 }' "$T/out")
expect_exit 0 "eval folding the delta" -- "$D" eval --model "$zm/base" --delta "$T/zd.st" --fold --base none \
  --task code --data "$T/zoo/data" --tokens 2048
a2=$(awk '$1 == "bpb" { print $2 }' "$T/out")
awk -v a="$a1" -v b="$a2" 'BEGIN { d = a - b; exit !(a > 0 && d < 1e-3 && d > -1e-3) }' ||
  fail "--fold bpb $a2 differs from the applied delta's $a1"
expect_exit 2 "--fold without --delta" -- "$D" eval --model "$zm/base" --fold --task code --data "$T/zoo/data"
# the static calibration dump: one tensor per linear layer, symmetric, positive diagonal
expect_exit 0 "calib on the micro zoo" -- "$D" calib --model "$zm/code" --task code --data "$T/zoo/data" \
  --tokens 1024 --out "$T/cal.st"
[ "$("$D" inspect "$T/cal.st" | grep -c '\.hessian')" -eq 14 ] || fail "calib: expected 14 Hessians"

printf '# r\n<!-- regenerated:fig5:begin -->\nold\n<!-- regenerated:fig5:end -->\ntail\n' > "$T/paper.md"
cd "$root"
export ZOO=$T/zoo SIZES=micro SHAPES=tiny EVAL_TOKENS=2048 EVAL_EXAMPLES=20
expect_exit 0 "reproduce fig5 (micro)" -- "$D" reproduce fig5 --out "$T/f5" --paper "$T/paper.md"
for f in fig5.csv fig5.png fig5.svg section.md verdict; do
  [ -s "$T/f5/$f" ] || fail "fig5 output $f missing"
done
[ "$(grep -c '^zoo,micro/' "$T/f5/fig5.csv")" -eq 36 ] || fail "fig5.csv: expected 36 zoo rows"
[ "$(grep -c '^synth,tiny,' "$T/f5/fig5.csv")" -eq 9 ] || fail "fig5.csv: expected 9 synth rows"
grep -q 'zoo,micro/arith,fp16 delta,1,16.0000,1.000,' "$T/f5/fig5.csv" || fail "fp16 delta row is not 16 bits, 1x"
grep -q '^old$' "$T/paper.md" && fail "paper.md section not replaced"
grep -q '^tail$' "$T/paper.md" || fail "paper.md text after the markers lost"
grep -q 'zoo,micro/code,2:4 + 2-bit,6,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,,,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,,,,,,,,$' "$T/f5/fig5.csv" ||
  fail "fig5.csv: the 2-bit code row lacks its bits-per-byte intervals"
# DZ-1 (quality) rows for the registry's rules: bits per byte for the 4 fine-tunes (the micro
# zoo is scored on no exact-match prompts)
[ "$(grep -c '^dz1q,micro/' "$T/f5/fig5.csv")" -eq 4 ] || fail "fig5.csv: expected 4 dz1q rows"
grep -q '^dz1qmean,,2:4 + 2-bit,6,.*,mean of 4,[0-9.]*,[0-9.]*,[0-9.]*$' "$T/f5/fig5.csv" || fail "fig5.csv: no dz1qmean row"
grep -q 'Verdict DZ-1 (quality)\*\*: .*Rules, tried in order' "$T/paper.md" || fail "paper.md lacks the DZ-1 quality verdict and its rules"
grep -q 'DZ-1 (quality): ' "$T/f5/verdict" || fail "verdict lacks DZ-1"
# cached rerun: same table, no run redone
cp "$T/f5/fig5.csv" "$T/first.csv"
expect_exit 0 "cached rerun" -- "$D" reproduce fig5 --out "$T/f5" --no-paper
cmp -s "$T/first.csv" "$T/f5/fig5.csv" || fail "cached rerun changed the table"
[ "$(find "$T/f5/runs" -name '*.h5' -newer "$T/first.csv" | wc -l)" -eq 0 ] || fail "cached rerun redid runs"
# dz2 and equal on one micro fine-tune: the read-off and the interpolation at the targets
printf '# r\n<!-- regenerated:dz2:begin -->\nold\n<!-- regenerated:dz2:end -->\n<!-- regenerated:equal:begin -->\nold\n<!-- regenerated:equal:end -->\n' > "$T/paper2.md"
expect_exit 0 "reproduce dz2 (micro)" -- env TASKS=arith "$D" reproduce dz2 --out "$T/dz2" --paper "$T/paper2.md"
[ "$(grep -c '^delta,micro/arith,' "$T/dz2/dz2.csv")" -eq 5 ] && [ "$(grep -c '^whole,micro/arith,' "$T/dz2/dz2.csv")" -eq 5 ] ||
  fail "dz2.csv: expected 5 delta and 5 whole-model points"
grep -q '^readoff,micro/arith,q2,2:4 + 2-bit,1,' "$T/dz2/dz2.csv" || fail "dz2.csv: no primary read-off row"
grep -q '^\*\*Verdict DZ-2\*\*' "$T/paper2.md" || fail "paper.md lacks the DZ-2 verdict"
expect_exit 0 "reproduce equal (micro)" -- env TASKS=arith NOMINAL="8 16 23" METHODS="bitdelta lowrank dare" \
  "$D" reproduce equal --out "$T/eq" --paper "$T/paper2.md"
# low rank at 16x lies between the two ranks bracketing it (interpolated, not extrapolated)
awk -F, '$1 == "point" && $4 == "lowrank" && $9 == 1 { r[++n] = $10; q[n] = $11 }
         $1 == "target" && $4 == "lowrank" && $9 == 1 && $7 == 16 { t = $11; reached = $14 }
         END { lo = q[1] < q[2] ? q[1] : q[2]; hi = q[1] < q[2] ? q[2] : q[1]
               exit !(n == 2 && reached == 1 && t >= lo && t <= hi && (r[1] - 16) * (r[2] - 16) < 0) }' "$T/eq/equal.csv" ||
  fail "equal.csv: low rank at 16x is not read between its settings"
[ "$(grep -c '^point,micro,arith,dare,.*,3,,,,,,$' "$T/eq/equal.csv")" -ge 2 ] || fail "equal.csv: DARE points are not over 3 seeds"
grep -q '^\*\*Verdict DQ-1\*\*' "$T/paper2.md" || fail "paper.md lacks the DQ-1 verdict"
# missing zoo: one-line error, non-zero
expect_exit 1 "missing zoo" -- env ZOO="$T/nozoo" "$D" reproduce fig5 --out "$T/f5b" --no-paper
[ -e "$T/f5b/fig5.csv" ] && fail "table written without a zoo"

# dq2 (DeltaDQ at 16x and 128x) on the micro zoo: two seeds, the table, its intervals, the verdict
printf '<!-- regenerated:dq2:begin -->\nold\n<!-- regenerated:dq2:end -->\n' > "$T/paper2.md"
expect_exit 0 "reproduce dq2 (micro)" -- env TASKS=arith TARGETS="16 128" SEEDS="1 2" \
  "$D" reproduce dq2 --out "$T/dq2" --paper "$T/paper2.md"
for f in dq2.csv dq2-runs.csv dq2.png dq2.svg section.md verdict; do
  [ -s "$T/dq2/$f" ] || fail "dq2 output $f missing"
done
[ "$(grep -c '^micro,arith,' "$T/dq2/dq2-runs.csv")" -eq 4 ] || fail "dq2-runs.csv: expected 2 targets x 2 seeds"
awk -F, '$1 == "micro" && $3 == "mean" && $4 == "bpb_kept" { n++; if (!($8 <= $7 && $7 <= $9)) bad = 1 }
  $1 == "micro" && $3 == "arith" && $4 == "acc" { m++; if (!($8 <= $7 && $7 <= $9 && $8 >= 0 && $9 <= 1)) bad = 1 }
  END { exit !(n == 2 && m == 2 && !bad) }' "$T/dq2/dq2.csv" || fail "dq2.csv: rows or intervals wrong"
awk -F, '$1 == "micro" && $3 == "128" && $5 > 100 { ok = 1 } END { exit !ok }' "$T/dq2/dq2-runs.csv" ||
  fail "dq2: the 128x setting stores more than 1/100 of the fp16 bytes"
grep -q 'Verdict DQ-2' "$T/paper2.md" || fail "paper lacks the DQ-2 verdict"
expect_exit 1 "dq2: a target without a setting" -- env TARGETS="16 100" "$D" reproduce dq2 --out "$T/dq2b" --no-paper
finish
