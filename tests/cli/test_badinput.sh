#!/usr/bin/env bash
# test_badinput.sh: numeric and semantic bad input (docs/reliability.md lists the behaviour of
# each): NaN, Inf and denormals in checkpoints and deltas, zero-size tensors; requests of 0
# tokens, duplicate request ids, unsorted arrivals, arrivals at 1e12 s; a 10-million-row trace
# (generated streaming, bounded memory; peak RSS printed); a delta applied to the wrong base; a
# container from a future format version.
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH

"$DB" synth --shape tiny --layers 1 --vocab 16 --out-base "$T/b.st" --out-target "$T/t.st" >/dev/null ||
  fail "synth"
"$DB" synth --shape tiny --layers 1 --vocab 16 --seed 9 --out-base "$T/b2.st" --out-target "$T/t2.st" >/dev/null ||
  fail "synth 2"

# poke FILE TENSOR HEX: overwrites the first element of TENSOR (F16) with the 16-bit pattern HEX
poke() {
  python3 - "$@" <<'PY'
import json, struct, sys
path, name, hexv = sys.argv[1], sys.argv[2], int(sys.argv[3], 16)
b = bytearray(open(path, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
e = json.loads(b[8:8 + n])[name]
o = 8 + n + e['data_offsets'][0]
b[o:o + 2] = struct.pack('<H', hexv)
open(path, 'wb').write(bytes(b))
PY
}
W=model.layers.0.mlp.up_proj.weight
for v in "7e00 NaN" "7c00 Inf" "fc00 -Inf"; do
  set -- $v
  cp "$T/t.st" "$T/bad.st"; poke "$T/bad.st" "$W" "$1"
  expect_exit 1 "$2 in the fine-tuned checkpoint" -- "$DB" compress --base "$T/b.st" --target "$T/bad.st" \
    --method rtn --out "$T/d.st" --quiet && expect_err_contains "$W" "$2 names the tensor"
  [ -e "$T/d.st" ] && fail "$2: a delta was written"
  cp "$T/b.st" "$T/bad.st"; poke "$T/bad.st" "$W" "$1"
  expect_exit 1 "$2 in the base checkpoint" -- "$DB" compress --base "$T/bad.st" --target "$T/t.st" \
    --method bitdelta --out "$T/d.st" --quiet
done
# denormals are finite values: compressed like any other (a documented behaviour, not an error)
cp "$T/t.st" "$T/den.st"; poke "$T/den.st" "$W" 0001
expect_exit 0 "denormal in the fine-tuned checkpoint" -- "$DB" compress --base "$T/b.st" --target "$T/den.st" \
  --method rtn --out "$T/den.d" --quiet
# a delta with a NaN in its stored parts (an fp16 delta's values) is refused when loaded
"$DB" compress --base "$T/b.st" --target "$T/t.st" --method fp16 --out "$T/f.d" --quiet >/dev/null || fail "fp16 delta"
part=$(python3 -c "
import json,struct,sys; b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]
print([k for k in json.loads(b[8:8+n]) if k.startswith('$W')][0])" "$T/f.d")
poke "$T/f.d" "$part" 7e00
expect_exit 1 "NaN in a stored delta" -- "$DB" decompress --base "$T/b.st" --delta "$T/f.d" --out "$T/r.st"
[ -e "$T/r.st" ] && fail "NaN delta: a checkpoint was written"
# zero-size tensors: a checkpoint whose tensor has a 0 dimension
python3 - "$T/zero.st" <<'PY'
import json, struct, sys
h = json.dumps({"e": {"dtype": "F16", "shape": [0, 4], "data_offsets": [0, 0]}}).encode()
h += b' ' * ((8 - len(h) % 8) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h)
PY
expect_exit 0 "inspect a zero-size tensor" -- "$DB" inspect "$T/zero.st" && expect_out_contains "[0, 4]" "zero-size shape"
# documented: a zero-size tensor is not a linear projection; it is stored whole (0 bytes)
expect_exit 0 "compress a zero-size tensor" -- "$DB" compress --base "$T/zero.st" --target "$T/zero.st" \
  --method rtn --out "$T/z.d" --quiet
expect_exit 0 "decompress a zero-size tensor" -- "$DB" decompress --base "$T/zero.st" --delta "$T/z.d" --out "$T/z.st"

# ---- traces ------------------------------------------------------------------------------------
H=request_id,arrival_s,model,prompt_tokens,output_tokens
printf '%s\n0,0,0,0,5\n1,0.5,0,8,0\n2,1,0,0,0\n' "$H" > "$T/zero.csv"
expect_exit 0 "requests of 0 tokens: stats" -- "$DB" trace stats "$T/zero.csv"
# a trace may hold them (stats counts them); serving needs >= 1 prompt and output token
expect_exit 1 "requests of 0 tokens: simulate" -- "$DB" simulate --trace "$T/zero.csv" --system deltazip --models 1 &&
  expect_err_contains "at least 1 token" "0 tokens"
printf '%s\n0,0,0,5,5\n0,1,0,5,5\n' "$H" > "$T/dup.csv"
# request ids name the rows of the results: a trace that repeats one is refused (issue 21)
expect_exit 1 "duplicate request ids" -- "$DB" simulate --trace "$T/dup.csv" --system deltazip --models 1 &&
  expect_err_contains "request_id 0 appears more than once" "the repeated id named"
printf '%s\n0,2,0,5,5\n1,1,0,5,5\n' "$H" > "$T/unsorted.csv"
expect_exit 1 "unsorted arrivals" -- "$DB" trace stats "$T/unsorted.csv" && expect_err_contains "unsorted.csv:3" "line"
printf '%s\n0,0,0,5,5\n1,1e12,0,5,5\n' "$H" > "$T/far.csv"
expect_exit 0 "an arrival at 1e12 s: stats" -- "$DB" trace stats "$T/far.csv"
# the memory timeline would take a row per second of the span: refused, with the way out
expect_exit 1 "an arrival at 1e12 s: simulate" -- "$DB" simulate --trace "$T/far.csv" --system deltazip --models 1 &&
  expect_err_contains "--mem-interval" "1e12 s"
expect_exit 0 "an arrival at 1e12 s: simulate, --mem-interval 0" -- "$DB" simulate --trace "$T/far.csv" \
  --system deltazip --models 1 --mem-interval 0
printf '%s\n0,0,0,5,5\n1,1.5e12,0,5,5\n' "$H" > "$T/beyond.csv"
expect_exit 1 "an arrival beyond 1e12 s" -- "$DB" trace stats "$T/beyond.csv"

# ---- 10 million rows: generated streaming (bounded); read whole (text + table) --------------------
ROWS=${BADINPUT_ROWS:-10000000}
if [ -x /usr/bin/time ]; then tm=(/usr/bin/time -f '%M'); else tm=(); fi
rss() { # CMD...: runs it, prints peak RSS (KiB) from GNU time, or 0 without it
  if [ ${#tm[@]} -gt 0 ]; then "${tm[@]}" -o "$T/rss" "$@" >/dev/null 2>"$T/err"; local rc=$?; cat "$T/rss"; return $rc
  else "$@" >/dev/null 2>"$T/err"; local rc=$?; echo 0; return $rc; fi
}
base=$(rss "$DB" --version)
g=$(rss "$DB" trace gen --requests "$ROWS" --rate 1000 --models 8 --seed 1 --out "$T/big.csv") ||
  fail "trace gen $ROWS rows: $(head -c 200 "$T/err")"
[ "$(($(wc -l < "$T/big.csv") - 1))" -eq "$ROWS" ] || fail "trace gen: not $ROWS rows"
s=$(rss "$DB" trace stats "$T/big.csv") || fail "trace stats $ROWS rows: $(head -c 200 "$T/err")"
echo "trace of $ROWS rows ($(du -m "$T/big.csv" | cut -f1) MB): peak RSS trace gen $((g / 1024)) MiB," \
  "trace stats $((s / 1024)) MiB (deltabench --version: $((base / 1024)) MiB)"
# streamed: 64 MiB above what the binary takes to start, whatever the row count
[ ${#tm[@]} -eq 0 ] || [ $((g - base)) -lt 65536 ] ||
  fail "trace gen of $ROWS rows peaked $(((g - base) / 1024)) MiB above the baseline"
# read: the file's text and the table (24 B a row) are held: documented as at most 64 B a row
[ ${#tm[@]} -eq 0 ] || [ $((s - base)) -lt $((ROWS * 64 / 1024 + 65536)) ] ||
  fail "trace stats of $ROWS rows peaked $(((s - base) / 1024)) MiB above the baseline (> 64 B a row)"
rm -f "$T/big.csv"

# ---- containers: the wrong base, a future format version ---------------------------------------
"$DB" compress --base "$T/b.st" --target "$T/t.st" --method bitdelta --out "$T/bd.d" --quiet >/dev/null || fail "bitdelta"
expect_exit 1 "a delta applied to the wrong base" -- "$DB" decompress --base "$T/b2.st" --delta "$T/bd.d" --out "$T/w.st" &&
  expect_err_contains "another base" "wrong base"
[ -e "$T/w.st" ] && fail "wrong base: a checkpoint was written"
sed 's/"format_version":"2"/"format_version":"3"/' "$T/bd.d" > "$T/future.d"
cmp -s "$T/bd.d" "$T/future.d" && fail "could not make the future container"
expect_exit 1 "a container from a future format version" -- "$DB" decompress --base "$T/b.st" --delta "$T/future.d" --out "$T/w.st" &&
  expect_err_contains "format version '3' (this build reads 1 to 2)" "future version"

# ---- HDF5 files on which the HDF5 library itself crashes (found by fuzzing; core/results.h) ------
R=$(cd "$(dirname "$0")/../fuzz/regress" && pwd)
expect_exit 1 "an HDF5 trace that crashes libhdf5" -- "$DB" trace stats "$R/trace_h5/hdf5-h5c-protect-huge-alloc.h5"
expect_exit 1 "an HDF5 history that crashes libhdf5" -- "$DB" nightly check \
  --history "$R/nightly_history/hdf5-xstrdup-overflow.h5"
finish
