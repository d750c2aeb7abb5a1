#!/usr/bin/env bash
# test_models.sh: `deltabench train`, `eval` and `generate` end to end on micro models: training
# and fine-tuning, determinism of the written weights, the quality table, evaluation through an
# fp16 delta equal to the fine-tune itself, and every bad input (exit codes, one error line).
. "$(dirname "$0")/lib.sh"
MICRO=(--hidden 32 --layers 2 --heads 4 --kv-heads 2 --ctx 64 --batch 4 --seq 32 --threads 2 --quiet)

for c in train generate eval; do
  expect_exit 0 "$c help" -- "$DELTABENCH" $c --help
done
expect_out_contains "--finetuned" "eval help names the gain reference"

# a small text corpus for the text:FILE task
for i in $(seq 1 400); do
  echo "line $i: the quick brown fox jumps over the lazy dog while the cat sleeps by the fire."
done > "$T/corpus.txt"

expect_exit 0 "train base" -- "$DELTABENCH" train --out "$T/base" --task "text:$T/corpus.txt" "${MICRO[@]}" --steps 8 --seed 3
[ -s "$T/base/model.safetensors" ] && [ -s "$T/base/config.json" ] && [ -s "$T/base/train.json" ] || fail "train outputs missing"
grep -q '"num_key_value_heads": 2' "$T/base/config.json" || fail "config lacks num_key_value_heads"
expect_exit 0 "train base again" -- "$DELTABENCH" train --out "$T/base2" --task "text:$T/corpus.txt" "${MICRO[@]}" --steps 8 --seed 3
cmp -s "$T/base/model.safetensors" "$T/base2/model.safetensors" || fail "same seed, different weights"
expect_exit 0 "fine-tune" -- "$DELTABENCH" train --out "$T/ft" --task arith --init "$T/base" --batch 4 --seq 32 --steps 6 --seed 4 --quiet --lr 3e-3 --dtype f16
expect_out_contains "trained $T/ft: 6 steps" "fine-tune summary line"
expect_exit 0 "fine-tune with loss log" -- "$DELTABENCH" train --out "$T/ftlog" --task reverse --init "$T/base" --batch 4 --seq 16 --steps 6 --seed 4 --quiet --log-every 3
expect_err_contains "step 6 loss" "--log-every prints the loss"
expect_exit 0 "base as f16" -- "$DELTABENCH" train --out "$T/base16" --task "text:$T/corpus.txt" "${MICRO[@]}" --steps 8 --seed 3 --dtype f16
grep -q '"torch_dtype": "float16"' "$T/base16/config.json" || fail "f16 model's config says otherwise"

expect_exit 0 "eval ft" -- "$DELTABENCH" eval --model "$T/ft" --task arith --base "$T/base" --examples 20 --tokens 2000 --out "$T/q.h5"
expect_out_contains "accuracy" "eval prints accuracy"
expect_out_contains "bpb" "eval prints bits per byte"
[ -s "$T/q.h5" ] || fail "eval --out wrote nothing"
expect_exit 0 "export quality" -- "$DELTABENCH" export "$T/q.h5" quality
expect_out_contains "accuracy" "quality table has the accuracy row"
# intervals: each point inside its interval; the items table pairs the three models' windows,
# and `interval gain` on it gives back the gain kept the run computed
expect_exit 0 "eval with gain" -- "$DELTABENCH" eval --model "$T/base16" --base "$T/base" --finetuned "$T/ft" --task arith --examples 20 --tokens 2000 --out "$T/q2.h5"
expect_out_contains "gain kept [" "eval prints the gain kept's interval"
expect_exit 0 "export items" -- "$DELTABENCH" export "$T/q2.h5" items
cp "$T/out" "$T/items.csv"
awk -F, 'NR > 1 && $1 == "bpb" { nb[$2]++ } NR > 1 && $1 == "accuracy" { na++ }
         END { exit !(nb["value"] > 0 && nb["value"] == nb["base"] && nb["base"] == nb["finetuned"] && na == 60) }' "$T/items.csv" ||
  fail "items table: unpaired windows or not 20 prompts per model"
for r in value base finetuned; do awk -F, -v r=$r 'NR > 1 && $1 == "bpb" && $2 == r { print $4 }' "$T/items.csv" > "$T/it-$r"; done
expect_exit 0 "export quality" -- "$DELTABENCH" export "$T/q2.h5" quality
cp "$T/out" "$T/qual.csv"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         $c["metric"] == "bpb" { v = $c["value"]; g = $c["gain_kept"]
           if (!($c["lo"] <= v && v <= $c["hi"] && $c["gain_lo"] <= g && g <= $c["gain_hi"] && $c["lo"] < $c["hi"])) bad = 1; n++; print g > "'"$T/gk"'" }
         END { exit (bad || n != 1) }' "$T/qual.csv" || fail "bpb or its gain kept outside its own interval: $(cat "$T/qual.csv")"
expect_exit 0 "interval gain on items" -- "$DELTABENCH" interval gain "$T/it-value" "$T/it-base" "$T/it-finetuned"
awk -v g="$(cat "$T/gk")" '{ d = $1 - g; exit !(d < 1e-5 && d > -1e-5) }' "$T/out" ||
  fail "interval gain on the items gives $(cat "$T/out"), the run said $(cat "$T/gk")"
expect_exit 0 "eval text" -- "$DELTABENCH" eval --model "$T/base" --task "text:$T/corpus.txt" --tokens 1000
expect_exit 0 "generate" -- "$DELTABENCH" generate --model "$T/ft" --bos --prompt "12+34=" --max-new 8
expect_out_contains "12+34=" "generate echoes the prompt"
expect_exit 0 "generate sampled" -- "$DELTABENCH" generate --model "$T/base" --prompt "the " --max-new 20 --temperature 0.8 --seed 2

# base + fp16 delta evaluates like the fine-tune itself: same accuracy, bits per byte within
# 1e-3 (fp16 checkpoints, as in the zoo: the delta of two fp16 tensors is exact in fp16 but for
# rare exponent crossings, and y = W_base x + delta x sums in another order than W_ft x)
if expect_exit 0 "compress fp16" -- "$DELTABENCH" compress --base "$T/base16" --target "$T/ft" --method fp16 --out "$T/ft.dz"; then
  expect_exit 0 "eval delta" -- "$DELTABENCH" eval --model "$T/base16" --delta "$T/ft.dz" --finetuned "$T/ft" --task arith --examples 20 --tokens 2000
  awk '$1 == "bpb" { d = $2 - $6; if (d < 0) d = -d; if (d > 1e-3) bad = 1; n++ }
       $1 == "accuracy" { if ($2 != $6) bad = 1; n++ }
       END { exit (bad || n != 2) }' "$T/out" || fail "fp16 delta eval differs from the fine-tune: $(tr '\n' ' ' < "$T/out")"
  expect_exit 0 "generate with delta" -- "$DELTABENCH" generate --model "$T/base16" --delta "$T/ft.dz" --bos --prompt "1+2=" --max-new 4
  # a delta made for another base is refused
  expect_exit 1 "delta on the wrong base" -- "$DELTABENCH" eval --model "$T/base" --delta "$T/ft.dz" --task arith
  expect_err_contains "$T/ft.dz" "wrong base names the delta"
fi

# sequential calibration (compress --calib-task): every layer's Hessian measured with the layers
# before it compressed; layer 0 sees the same inputs as the static file's, so only later layers
# can differ, and they do
CQ=(--base "$T/base16" --target "$T/ft" --method deltazip --bits 2)
expect_exit 0 "compress, sequential calibration" -- "$DELTABENCH" compress "${CQ[@]}" --calib-task arith --calib-tokens 256 --out "$T/seq.dz" --report "$T/seq.h5"
expect_out_contains "calibration: sequential:task=arith tokens=256; Hessian for 14 tensors, H = I for 0" "sequential calibration summary"
expect_exit 0 "static calibration file" -- "$DELTABENCH" calib --model "$T/ft" --task arith --tokens 256 --out "$T/static.calib"
expect_exit 0 "compress, static calibration" -- "$DELTABENCH" compress "${CQ[@]}" --hessians "$T/static.calib" --out "$T/static.dz" --report "$T/static.h5"
err() { "$DELTABENCH" export "$1" compression | awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $1 == n { print $h["rel_fro_err"] }'; }
for n in model.layers.0.self_attn.q_proj.weight model.layers.1.mlp.down_proj.weight; do
  a=$(err "$T/seq.h5" "$n"); b=$(err "$T/static.h5" "$n")
  [ -n "$a" ] || fail "no compression row for $n"
  case $n in
    *layers.0.self_attn.q*) [ "$a" = "$b" ] || fail "$n: sequential ($a) and static ($b) should agree" ;;
    *) [ "$a" != "$b" ] || fail "$n: sequential and static calibration gave the same error $a" ;;
  esac
done
expect_exit 2 "--hessians and --calib-task" -- "$DELTABENCH" compress "${CQ[@]}" --hessians "$T/static.calib" --calib-task arith --out "$T/x.dz"
expect_exit 2 "--calib-tokens alone" -- "$DELTABENCH" compress "${CQ[@]}" --calib-tokens 256 --out "$T/x.dz"
expect_exit 2 "--calib-task with rtn" -- "$DELTABENCH" compress --base "$T/base16" --target "$T/ft" --method rtn --calib-task arith --out "$T/x.dz"
expect_exit 1 "--calib-task on a file" -- "$DELTABENCH" compress --base "$T/base16/model.safetensors" --target "$T/ft/model.safetensors" --method deltazip --calib-task arith --out "$T/x.dz"
[ -e "$T/x.dz" ] && fail "a refused compress left $T/x.dz"

# BitDelta scale distillation, both losses: the loss falls, the note records it, a bad loss is a
# usage error with nothing written
expect_exit 0 "compress bitdelta" -- "$DELTABENCH" compress --base "$T/base16" --target "$T/ft" --method bitdelta --out "$T/bd.dz"
for loss in mse kl; do
  expect_exit 0 "distill --loss $loss" -- "$DELTABENCH" distill --base "$T/base16" --target "$T/ft" --delta "$T/bd.dz" \
    --task arith --steps 4 --batch 2 --seq 16 --lr 1e-3 --loss "$loss" --out "$T/bd-$loss.dz"
  awk '/^distilled/ { for (i = 1; i <= NF; i++) if ($i == "->") { a = $(i - 1); b = $(i + 1) + 0 } }
       END { exit !(b < a) }' "$T/out" || fail "distill --loss $loss: the loss did not fall: $(cat "$T/out")"
  "$DELTABENCH" inspect "$T/bd-$loss.dz" | grep -q "bitdelta_distill = loss=$loss " || fail "distill --loss $loss: no note"
done
grep -q "KL divergence" "$T/out" || fail "distill --loss kl does not name its loss"
expect_exit 2 "distill --loss bogus" -- "$DELTABENCH" distill --base "$T/base16" --target "$T/ft" --delta "$T/bd.dz" \
  --task arith --loss bogus --out "$T/bd-x.dz"
[ -e "$T/bd-x.dz" ] && fail "distill with a bad loss wrote its output"

# bad input: one line, exit 1
expect_exit 1 "missing model" -- "$DELTABENCH" eval --model "$T/nothing" --task arith
expect_err_contains "config" "missing model names the config"
mkdir -p "$T/bad"
cp "$T/base/model.safetensors" "$T/bad/"
expect_exit 1 "no config" -- "$DELTABENCH" eval --model "$T/bad" --task arith
sed 's/"hidden_size": 32/"hidden_size": 30/' "$T/base/config.json" > "$T/bad/config.json"
expect_exit 1 "inconsistent config" -- "$DELTABENCH" eval --model "$T/bad" --task arith
sed 's/"intermediate_size": [0-9]*/"intermediate_size": 128/' "$T/base/config.json" > "$T/bad/config.json"
expect_exit 1 "weights do not match config" -- "$DELTABENCH" eval --model "$T/bad" --task arith
expect_err_contains "shape" "shape mismatch is named"
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$T/base/config.json" > "$T/bad/config.json"
expect_exit 1 "missing layer" -- "$DELTABENCH" eval --model "$T/bad" --task arith
expect_err_contains "model.layers.2" "missing tensor is named"
echo "{" > "$T/bad/config.json"
expect_exit 1 "malformed config" -- "$DELTABENCH" generate --model "$T/bad" --prompt x
head -c 100 "$T/base/model.safetensors" > "$T/bad/model.safetensors"
cp "$T/base/config.json" "$T/bad/config.json"
expect_exit 1 "truncated weights" -- "$DELTABENCH" eval --model "$T/bad" --task arith
expect_exit 1 "unknown task" -- "$DELTABENCH" eval --model "$T/base" --task nonsense
expect_exit 1 "missing corpus" -- "$DELTABENCH" train --out "$T/x" --task scripture --data "$T/none" --steps 1
[ -e "$T/x/model.safetensors" ] && fail "failed train left a model behind"
expect_exit 1 "resume without checkpoint" -- "$DELTABENCH" train --out "$T/y" --task arith --resume "$T/base" --steps 20 --seq 32

# usage errors: exit 2
expect_exit 2 "train without --out" -- "$DELTABENCH" train --task arith
expect_exit 2 "train bad steps" -- "$DELTABENCH" train --out "$T/z" --task arith --steps 0
expect_exit 2 "train bad heads" -- "$DELTABENCH" train --out "$T/z" --task arith --hidden 30 --heads 4
expect_exit 2 "eval without task" -- "$DELTABENCH" eval --model "$T/base"
expect_exit 2 "eval bad tokens" -- "$DELTABENCH" eval --model "$T/base" --task arith --tokens abc
expect_exit 2 "generate empty prompt" -- "$DELTABENCH" generate --model "$T/base" --prompt ""
expect_exit 2 "unknown option" -- "$DELTABENCH" train --bogus
finish
