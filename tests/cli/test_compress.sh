#!/usr/bin/env bash
# test_compress.sh: `deltabench synth`, `compress` and `decompress` end to end on a tiny synthetic
# pair: every method, the ratio line, the decompress round trip, every bad input (exit codes,
# one error line, no output left behind) and --help.
. "$(dirname "$0")/lib.sh"
B=$T/base.safetensors; F=$T/ft.safetensors; C=$T/calib.safetensors

expect_exit 0 "synth help" -- "$DELTABENCH" synth --help
expect_out_contains "--delta-std" "synth help"
expect_exit 0 "compress help" -- "$DELTABENCH" compress --help
expect_out_contains "deltadq" "compress help lists methods"
expect_exit 0 "decompress help" -- "$DELTABENCH" decompress --help
expect_exit 0 "synth tiny" -- "$DELTABENCH" synth --shape tiny --seed 3 --out-base "$B" --out-target "$F" --out-calib "$C" --calib-tokens 64
[ -s "$B" ] && [ -s "$F" ] && [ -s "$C" ] || fail "synth outputs missing"
cp "$B" "$T/b2"; expect_exit 0 "synth is deterministic" -- "$DELTABENCH" synth --shape tiny --seed 3 --out-base "$T/b3" --out-target "$T/f3"
cmp -s "$B" "$T/b3" && cmp -s "$F" "$T/f3" || fail "synth: same seed, different files"
rm -f "$T/b2" "$T/b3" "$T/f3"

for m in fp16 rtn magprune dare lowrank bitdelta deltazip deltadq; do
  extra=()
  case $m in lowrank) extra=(--rank 8) ;; deltazip) extra=(--hessians "$C" --bits 2) ;; esac
  expect_exit 0 "compress $m" -- "$DELTABENCH" compress --base "$B" --target "$F" --method $m "${extra[@]}" --out "$T/$m.dz" --report "$T/$m.h5" || continue
  last=$(tail -n 1 "$T/out")
  echo "$last" | grep -qE '^ratio: [0-9]+\.[0-9]{2}x \(linear layers [0-9]+\.[0-9]{2}x\)$' || fail "$m: last line '$last'"
  # the whole-checkpoint ratio is the fp16 bytes over the file's bytes
  orig=$(grep '^whole checkpoint:' "$T/out" | sed -E 's/^whole checkpoint: ([0-9]+) -> ([0-9]+) bytes.*/\1/')
  stored=$(grep '^whole checkpoint:' "$T/out" | sed -E 's/^whole checkpoint: ([0-9]+) -> ([0-9]+) bytes.*/\2/')
  [ "$stored" = "$(stat -c %s "$T/$m.dz")" ] || fail "$m: stored bytes $stored != file size"
  want=$(awk -v a="$orig" -v b="$stored" 'BEGIN{printf "%.2f", a/b}')
  echo "$last" | grep -qF "ratio: ${want}x" || fail "$m: ratio line '$last' != $want"
  [ -s "$T/$m.h5" ] || fail "$m: no report"
  expect_exit 0 "decompress $m" -- "$DELTABENCH" decompress --base "$B" --delta "$T/$m.dz" --out "$T/$m.rec.safetensors"
  expect_exit 0 "inspect rebuilt $m" -- "$DELTABENCH" inspect "$T/$m.rec.safetensors"
  expect_out_contains "model.layers.1.mlp.down_proj.weight" "rebuilt $m has every tensor"
done
grep -q "Hessian for 14 tensors" "$T/out" 2>/dev/null || true
# deltazip measured both lossless codecs and says which H it used
expect_exit 0 "deltazip without calib" -- "$DELTABENCH" compress --base "$B" --target "$F" --method deltazip --out "$T/dzI.dz"
expect_out_contains "H = I for 14" "deltazip states H = I"
expect_out_contains "lossless measured: zstd" "deltazip measures zstd and deflate"
# fp16 rebuild equals the target up to one f16 rounding: compare sizes and tensor list
cmp -s <("$DELTABENCH" inspect "$F" | grep -E '^model|^lm_head' ) <("$DELTABENCH" inspect "$T/fp16.rec.safetensors" | grep -E '^model|^lm_head') || fail "fp16 rebuild differs in tensor list"

# ---- bad input: one line, non-zero exit, nothing left behind -------------------------------------
O=$T/bad.dz
noout() { [ ! -e "$O" ] || { fail "$1: output left behind"; rm -f "$O"; }; ls "$T" | grep -qE '\.tmp\.|\.parts\.' && fail "$1: temporary left behind"; return 0; }
expect_exit 2 "unknown method" -- "$DELTABENCH" compress --base "$B" --target "$F" --method nosuch --out "$O"; noout "unknown method"
expect_err_contains "unknown method" "unknown method"
for bad in "--method rtn --bits 0" "--method rtn --bits 9" "--method deltazip --nm 5:4" "--method magprune --nm 3:2" \
           "--method dare --drop 1" "--method dare --drop 1.5" "--method deltadq --drop 1" "--method rtn --rank 4" \
           "--method bitdelta --bits 2" "--method deltazip --nm x" "--method lowrank --rank 0"; do
  # shellcheck disable=SC2086
  expect_exit 2 "bad params: $bad" -- "$DELTABENCH" compress --base "$B" --target "$F" $bad --out "$O"; noout "$bad"
done
expect_exit 2 "rank > min dim" -- "$DELTABENCH" compress --base "$B" --target "$F" --method lowrank --rank 71 --out "$O"; noout "rank"
expect_err_contains "exceeds" "rank > min dim"
expect_exit 2 "missing --out" -- "$DELTABENCH" compress --base "$B" --target "$F" --method fp16
expect_exit 1 "missing base file" -- "$DELTABENCH" compress --base "$T/nope" --target "$F" --method fp16 --out "$O"; noout "missing base"
expect_err_contains "$T/nope" "missing base names the file"
printf 'garbage' > "$T/garbage.safetensors"
expect_exit 1 "corrupt target" -- "$DELTABENCH" compress --base "$B" --target "$T/garbage.safetensors" --method fp16 --out "$O"; noout "corrupt"
expect_exit 1 "unreadable calib" -- "$DELTABENCH" compress --base "$B" --target "$F" --method deltazip --hessians "$T/nope.calib" --out "$O"; noout "calib missing"
expect_exit 1 "calib not a calibration file" -- "$DELTABENCH" compress --base "$B" --target "$F" --method deltazip --hessians "$B" --out "$O"; noout "calib base"
expect_err_contains "calibration" "calib message"
expect_exit 2 "calib with another method" -- "$DELTABENCH" compress --base "$B" --target "$F" --method rtn --hessians "$C" --out "$O"; noout "calib rtn"
# a different model as target: tensor sets and shapes differ (tiny vs a one-tensor file)
expect_exit 0 "synth other seed" -- "$DELTABENCH" synth --shape tiny --seed 4 --out-base "$T/ob" --out-target "$T/of"
python3 - "$F" "$T/nan.safetensors" "$T/shape.safetensors" "$T/dtype.safetensors" "$T/fewer.safetensors" <<'PY' || fail "python could not craft bad files"
import json, struct, sys
src, nanp, shapep, dtypep, fewerp = sys.argv[1:]
raw = open(src, 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = bytearray(raw[8 + n:])
def write(path, h, d):
    hb = json.dumps(h).encode(); hb += b' ' * (-len(hb) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(hb)) + hb + bytes(d))
name = 'model.layers.0.self_attn.k_proj.weight'
b, e = hdr[name]['data_offsets']
d = bytearray(data); d[b + 10:b + 12] = b'\x00\x7e'   # an f16 NaN
write(nanp, hdr, d)
h = json.loads(json.dumps(hdr)); h[name]['shape'] = list(reversed(h[name]['shape']))
write(shapep, h, data)
h = json.loads(json.dumps(hdr)); h[name]['dtype'] = 'BF16'
write(dtypep, h, data)
# drop the last tensor (by offset) so offsets stay contiguous
last = max((k for k in hdr if k != '__metadata__'), key=lambda k: hdr[k]['data_offsets'][1])
h = json.loads(json.dumps(hdr)); lb, le = h.pop(last)['data_offsets']
write(fewerp, h, data[:lb])
PY
expect_exit 1 "NaN in target" -- "$DELTABENCH" compress --base "$B" --target "$T/nan.safetensors" --method bitdelta --out "$O"; noout "nan"
expect_err_contains "NaN" "NaN message"
expect_exit 1 "NaN in base" -- "$DELTABENCH" compress --base "$T/nan.safetensors" --target "$F" --method rtn --out "$O"; noout "nan base"
expect_exit 1 "shape mismatch" -- "$DELTABENCH" compress --base "$B" --target "$T/shape.safetensors" --method fp16 --out "$O"; noout "shape"
expect_err_contains "k_proj" "shape message names the tensor"
expect_exit 1 "dtype mismatch" -- "$DELTABENCH" compress --base "$B" --target "$T/dtype.safetensors" --method fp16 --out "$O"; noout "dtype"
expect_exit 1 "tensor set mismatch" -- "$DELTABENCH" compress --base "$B" --target "$T/fewer.safetensors" --method fp16 --out "$O"; noout "fewer"
expect_err_contains "missing" "tensor set message"
# decompress against the wrong base, and of a file that is not a delta
expect_exit 1 "decompress wrong base" -- "$DELTABENCH" decompress --base "$T/ob" --delta "$T/fp16.dz" --out "$O"; noout "wrong base"
expect_err_contains "another base" "wrong base message"
expect_exit 1 "decompress not a delta" -- "$DELTABENCH" decompress --base "$B" --delta "$F" --out "$O"; noout "not a delta"
expect_exit 2 "decompress missing args" -- "$DELTABENCH" decompress --base "$B"
expect_exit 2 "synth unknown shape" -- "$DELTABENCH" synth --shape huge --out-base "$T/x1" --out-target "$T/x2"
expect_exit 2 "synth bad std" -- "$DELTABENCH" synth --shape tiny --delta-std 0 --out-base "$T/x1" --out-target "$T/x2"
[ ! -e "$T/x1" ] || fail "synth left output behind"
expect_exit 1 "synth unwritable" -- "$DELTABENCH" synth --shape tiny --out-base "$T/nodir/b" --out-target "$T/nodir/f"
# --calib is simulate's efficiency overlay; compress's Hessians are --hessians
expect_exit 2 "compress --calib renamed" -- "$DELTABENCH" compress --base "$B" --target "$F" --method deltazip --calib "$C" --out "$O" &&
  expect_err_contains "--hessians" "the old name points to the new"
# decompress of a base with a config.json writes a model directory eval and HF loaders read
mkdir -p "$T/bdir" && cp "$B" "$T/bdir/model.safetensors" && printf '{"model_type":"llama"}\n' >"$T/bdir/config.json"
expect_exit 0 "compress for decompress" -- "$DELTABENCH" compress --base "$T/bdir" --target "$F" --method bitdelta -q --out "$T/bd.dz"
expect_exit 0 "decompress to a directory" -- "$DELTABENCH" decompress --base "$T/bdir" --delta "$T/bd.dz" --out "$T/ftdir" -q
[ -s "$T/ftdir/model.safetensors" ] && cmp -s "$T/ftdir/config.json" "$T/bdir/config.json" ||
  fail "decompress did not write model.safetensors + config.json"
expect_exit 0 "inspect the decompressed directory" -- "$DELTABENCH" inspect "$T/ftdir"

finish
