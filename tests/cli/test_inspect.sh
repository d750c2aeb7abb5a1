#!/usr/bin/env bash
# test_inspect.sh: `deltabench --help/--version`, `inspect` and `export` on good and corrupt files.
. "$(dirname "$0")/lib.sh"

# ---- top level ----
expect_exit 0 "top --help" -- "$DELTABENCH" --help && expect_out_contains "inspect" "top --help"
expect_exit 0 "--version" -- "$DELTABENCH" --version && expect_out_contains "deltabench " "--version"
expect_exit 2 "no command" -- "$DELTABENCH"
expect_exit 2 "unknown command" -- "$DELTABENCH" frobnicate && expect_err_contains "unknown command" "unknown command"
# every listed command answers --help with exit 0
for cmd in $("$DELTABENCH" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1}'); do
  expect_exit 0 "$cmd --help" -- "$DELTABENCH" "$cmd" --help
  expect_exit 2 "$cmd bogus flag" -- "$DELTABENCH" "$cmd" --no-such-flag-xyz
done

# ---- safetensors written by hand (python's struct: no third-party packages needed) ----
mk() { # mk FILE HEADER_JSON DATA_BYTES [HEADER_LEN_OVERRIDE]
  python3 - "$@" <<'PY'
import struct, sys
path, header, ndata = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
hlen = int(sys.argv[4]) if len(sys.argv) > 4 else len(header)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", hlen)); f.write(header); f.write(bytes(range(256)) * (ndata // 256) + bytes(ndata % 256))
PY
}
good='{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}'
mk "$T/good.safetensors" "$good" 32
expect_exit 0 "inspect good" -- "$DELTABENCH" inspect "$T/good.safetensors"
expect_out_contains "[2, 3]" "inspect good shape"
expect_out_contains "format = pt" "inspect good metadata"
expect_out_contains "total: 2 tensors" "inspect good total"

bad() { # bad NAME PHRASE HEADER NDATA [HLEN]
  local name=$1 phrase=$2; shift 2
  mk "$T/$name.safetensors" "$@"
  expect_exit 1 "corrupt $name" -- "$DELTABENCH" inspect "$T/$name.safetensors" &&
    { expect_err_contains "$T/$name.safetensors" "corrupt $name names the file"
      grep -qiE -- "$phrase" "$T/err" || fail "corrupt $name: message lacks /$phrase/: $(cat "$T/err")"; }
}
bad hdr_beyond "header|beyond|exceeds|truncat" '{}' 0 4096
bad bad_json "json" '{"a":{"dtype":"F32",' 0
bad unknown_dtype "dtype" '{"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}' 4
bad size_mismatch "shape|size|bytes" '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}' 12
bad out_of_range "range|outside|beyond|exceeds" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 4
bad overlap "overlap" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
bad duplicate "duplicate" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 8
printf 'abc' > "$T/short.safetensors"
expect_exit 1 "truncated file" -- "$DELTABENCH" inspect "$T/short.safetensors" && expect_err_contains "short.safetensors" "truncated names file"
expect_exit 1 "missing file" -- "$DELTABENCH" inspect "$T/nope.safetensors" && expect_err_contains "nope.safetensors" "missing names file"
expect_exit 2 "inspect no args" -- "$DELTABENCH" inspect
expect_exit 2 "inspect two args" -- "$DELTABENCH" inspect a b

# ---- export: usage and non-HDF5 input (HDF5 content is covered by the interop tests) ----
expect_exit 2 "export no args" -- "$DELTABENCH" export
expect_exit 2 "export one arg" -- "$DELTABENCH" export "$T/good.safetensors"
expect_exit 1 "export non-hdf5" -- "$DELTABENCH" export "$T/good.safetensors" requests && expect_err_contains "good.safetensors" "export non-hdf5 names file"
expect_exit 1 "export missing" -- "$DELTABENCH" export "$T/none.h5" requests

# a compressed delta: the summary first; a CSV: what it is and which command reads it
"$DELTABENCH" synth --shape tiny --out-base "$T/ib.safetensors" --out-target "$T/it.safetensors" >/dev/null &&
  "$DELTABENCH" compress --base "$T/ib.safetensors" --target "$T/it.safetensors" --method bitdelta -q --out "$T/i.dz" >/dev/null ||
  fail "making a delta to inspect"
expect_exit 0 "inspect a delta" -- "$DELTABENCH" inspect "$T/i.dz"
head -1 "$T/out" | grep -q "^compressed delta" || fail "delta summary is not first: $(head -1 "$T/out")"
for k in method params base_hash target_hash ratio; do
  head -8 "$T/out" | grep -q "^  $k " || fail "delta summary lacks $k in its first lines"
done
expect_exit 0 "inspect a trace CSV" -- "$DELTABENCH" inspect "$(dirname "$0")/../../traces/poisson_uniform_32m_300s.csv" &&
  expect_out_contains "request trace" "CSV named a trace" && expect_out_contains "trace stats" "reader named"
printf 'a,b\n1,2\n' >"$T/plain.csv"
expect_exit 0 "inspect a plain CSV" -- "$DELTABENCH" inspect "$T/plain.csv" && expect_out_contains "text file" "plain CSV"
grep -q "header length" "$T/out" && fail "a CSV read as safetensors"

finish
