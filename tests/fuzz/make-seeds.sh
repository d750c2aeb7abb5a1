#!/usr/bin/env bash
# make-seeds.sh: writes the seed corpora tests/fuzz/corpus/<target>/ (committed; rerun only to
# change them). Valid, small inputs of every format, made by bin/deltabench itself where it writes
# the format (containers of every method and codec cut down to one delta tensor and one full
# tensor, so an execution stays cheap), by hand where it only reads it.
#   DELTABENCH=bin/deltabench tests/fuzz/make-seeds.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
DB=${DELTABENCH:-$root/bin/deltabench}
C=$root/tests/fuzz/corpus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
rm -rf "$C"
mkdir -p "$C"/{safetensors,st_index,container,params,trace_csv,azure_llm,azure_func,trace_h5,hw_profile,tf_config,nightly_history,nightly_metrics,cli,trace_h5_table,nightly_table}

# ---- safetensors and containers: tiny synthetic pair, one layer, vocabulary 8 -------------------
"$DB" synth --shape tiny --layers 1 --vocab 8 --out-base "$T/b.safetensors" \
  --out-target "$T/t.safetensors" >/dev/null
i=0
for m in "fp16" "rtn" "rtn --bits 2 --group 0" "magprune --drop 0.9" "magprune --nm 2:4" "dare" \
         "lowrank --rank 4" "bitdelta" "deltazip" "deltazip --bits 16" "deltadq" \
         "rtn --lossless zstd" "bitdelta --lossless deflate"; do
  # shellcheck disable=SC2086
  "$DB" compress --base "$T/b.safetensors" --target "$T/t.safetensors" --method $m \
    --out "$T/d$i.safetensors" >/dev/null
  i=$((i + 1))
done
python3 - "$T" "$C" <<'PY'
import json, struct, sys, os
T, C = sys.argv[1], sys.argv[2]
def read(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def write(p, hdr, blobs):
    # blobs: name -> bytes, laid out in the order given
    data, h = b'', {}
    if '__metadata__' in hdr: h['__metadata__'] = hdr['__metadata__']
    for name, (dt, shape, raw) in blobs.items():
        h[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    j = json.dumps(h, separators=(',', ':')).encode()
    j += b' ' * ((8 - (8 + len(j)) % 8) % 8)
    open(p, 'wb').write(struct.pack('<Q', len(j)) + j + data)
def cut(src, dst, keep):
    hdr, data = read(src)
    meta = hdr.get('__metadata__', {})
    ents = {k: v for k, v in hdr.items() if k != '__metadata__'}
    out = {}
    for name, e in sorted(ents.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        if any(name == k or name.startswith(k + '.') for k in keep):
            a, b = e['data_offsets']
            out[name] = (e['dtype'], e['shape'], data[a:b])
    if meta:
        m2 = {}
        for k, v in meta.items():
            if k.startswith('tensor.') and k[7:] not in keep: continue
            if k.startswith('lossless.') and not any(k[9:] == t or k[9:].startswith(t + '.') for t in keep): continue
            m2[k] = v
        hdr = {'__metadata__': m2}
    else:
        hdr = {}
    write(dst, hdr, out)
keep = ['model.layers.0.self_attn.k_proj.weight', 'model.norm.weight']
cut(f'{T}/b.safetensors', f'{C}/safetensors/tiny-two.safetensors', keep)
i = 0
while os.path.exists(f'{T}/d{i}.safetensors'):
    cut(f'{T}/d{i}.safetensors', f'{C}/container/d{i}.safetensors', keep)
    meta = read(f'{T}/d{i}.safetensors')[0]['__metadata__']
    idx = ['fp16', 'rtn', 'magprune', 'dare', 'lowrank', 'bitdelta', 'deltazip', 'deltadq']
    open(f'{C}/params/p{i}', 'wb').write(bytes([idx.index(meta['method'])]) + meta['params'].encode())
    i += 1
# hand-made safetensors: every dtype, empty tensor, metadata only, empty header
raw = lambda n: bytes(range(n))
write(f'{C}/safetensors/dtypes.safetensors', {'__metadata__': {'a': 'b'}},
      {'f32': ('F32', [2], raw(8)), 'f16': ('F16', [2, 1], raw(4)), 'bf16': ('BF16', [2], raw(4)),
       'i8': ('I8', [3], raw(3)), 'u8': ('U8', [1], raw(1)), 'i32': ('I32', [1], raw(4)),
       'i64': ('I64', [1], raw(8)), 'f64': ('F64', [1], raw(8)), 'zero': ('F32', [0, 4], b'')})
write(f'{C}/safetensors/empty.safetensors', {}, {})
# sharded index over the two shards fuzz_st_index.c writes (x, y in a; z in b)
ix = {'metadata': {'total_size': 48}, 'weight_map': {'x': 'a.safetensors', 'y': 'a.safetensors', 'z': 'b.safetensors'}}
open(f'{C}/st_index/two-shards.json', 'w').write(json.dumps(ix, indent=2))
ix = {'weight_map': {'x': 'a.safetensors', 'y': 'a.safetensors'}}
open(f'{C}/st_index/one-shard.json', 'w').write(json.dumps(ix))
PY
printf '\x08zstd' > "$C/params/lossless-zstd"
printf '\x09poisson' > "$C/params/arrival-poisson"
printf '\x09gamma' > "$C/params/arrival-gamma"
printf '\x09onoff' > "$C/params/arrival-onoff"
printf '\x0azipf:1.5' > "$C/params/pop-zipf"
printf '\x0auniform' > "$C/params/pop-uniform"
printf '\x0blognormal:1000,1,200,0.8' > "$C/params/len-lognormal"
printf '\x0buniform:1,10,2,20' > "$C/params/len-uniform"
printf '\x0bfixed:512,128' > "$C/params/len-fixed"

# ---- traces ---------------------------------------------------------------------------------
"$DB" trace gen --requests 12 --rate 2 --models 3 --popularity zipf:1.2 --seed 3 \
  --out "$C/trace_csv/gen12.csv" >/dev/null
"$DB" trace gen --requests 5 --rate 1 --seed 4 --out "$C/trace_h5/gen5.h5" >/dev/null
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,0,0,5,6\n1,1.5,1,0,1\n' \
  > "$C/trace_csv/small.csv"
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,4808,10\r\n2023-11-16 18:17:04.0319600,3180,8\r\n' \
  > "$C/azure_llm/crlf.csv"
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2024-02-29 00:00:00,1,2\n2024-02-29 00:00:01.5,0,0\n' \
  > "$C/azure_llm/lf.csv"
printf '\x02HashOwner,HashApp,HashFunction,Trigger,1,2,3\r\no,a,f,http,5,0,1\r\no,a,g,timer,2,2,2\r\no,b,h,queue,0,0,1\r\n' \
  > "$C/azure_func/three.csv"
printf '\x00HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,5,0\n' > "$C/azure_func/one.csv"

# ---- hardware profiles and calibration overlays ------------------------------------------------
"$DB" simulate --help >/dev/null 2>&1 || true
cat > "$C/hw_profile/profile.txt" <<'P'
name = test-gpu
hbm_gb = 80
hbm_gbps = 2039       # comment
peak_tflops = 312
pcie_gbps = 25
disk_gbps = 2.0
host_gb = 1024
link_gbps = 300
link_lat_us = 10
step_overhead_us = 2000
load_overhead_ms = 5
max_gpus = 8
eff.gemm.mem = 0.80
eff.delta.sbmm.compute = 0.30
P
printf '# calibration overlay\neff.delta.bitdelta.mem = 0.5\nstep_token_us = 3\nstep_model_us = 12\n' \
  > "$C/hw_profile/overlay.txt"

# ---- config.json --------------------------------------------------------------------------------
cat > "$C/tf_config/llama.json" <<'J'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
 "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
 "num_hidden_layers": 2, "vocab_size": 256, "max_position_embeddings": 128,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "torch_dtype": "float32"}
J
printf '{"hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 16, "tie_word_embeddings": true}' \
  > "$C/tf_config/tied.json"

# ---- nightly: a metrics file and the history it records into -------------------------------------
printf '# metrics\nkernel/gemv_s\t0.5\ts\tlower\tperf\t10\t0.02\tsrc.h5\n\ncompress/ratio\t2.5\tx\thigher\texact\t1\t0\tsrc.h5\n' \
  > "$C/nightly_metrics/two.tsv"
(cd "$T" && "$DB" nightly record --history h.h5 --metrics "$C/nightly_metrics/two.tsv" \
  --machine ci --commit c1 --date 2026-01-01T02:00:00Z >/dev/null)
cp "$T/h.h5" "$C/nightly_history/one-run.h5"

# ---- recipes of the structure-aware HDF5 targets (tests/fuzz/h5table.h's format) -----------------
python3 - "$C" <<'PY'
import sys
C = sys.argv[1]
def recipe(flags, nrows, cols, tail=b''):
    b = bytes([flags, len(cols), nrows & 255, nrows >> 8])
    for c in cols: b += bytes(c)  # name, type, generator, a, b
    return b + tail
I32, I64, F64, STR, VSTR = 4, 7, 12, 16, 18
# requests: ids and arrivals ramp up, model 0, 100 prompt and 3 output tokens
req = [(0, I64, 1, 0, 4), (1, F64, 1, 0, 2), (2, I32, 2, 0, 0), (3, I64, 2, 6, 0), (4, I64, 2, 5, 0)]
open(f'{C}/trace_h5_table/ramp', 'wb').write(recipe(0, 100, req))
open(f'{C}/trace_h5_table/chunked-deflate-attrs', 'wb').write(
    recipe(4 | 8 | 16 | 128, 300, req, bytes([2, 0, 0, 1, 1, 2, 7])))
# history: three rows of run 1 (strings sized by b, picked by a: tests/fuzz/h5table.h fzt_str)
hist = [(0, I64, 1, 1, 0), (1, STR, 2, 10, 31), (2, STR, 2, 11, 47), (3, STR, 2, 12, 63),
        (4, STR, 2, 7, 95), (5, F64, 2, 3, 0), (6, STR, 2, 8, 15), (7, STR, 2, 1, 7),
        (8, STR, 2, 4, 7), (9, I64, 2, 1, 0), (10, F64, 2, 0, 0), (11, STR, 2, 13, 159)]
open(f'{C}/nightly_table/three-rows', 'wb').write(recipe(0, 3, hist))
PY

# ---- command lines: byte = command (fuzz_cli.c's table order), then NUL-separated arguments -------
cli() { # name, command index, args...
  local name=$1 idx=$2; shift 2
  { printf "\\x$(printf %02x "$idx")"; printf '%s\0' "$@"; } > "$C/cli/$name"
}
cli inspect 0 --json x.safetensors
cli export 1 --table requests x.h5
cli compress 2 --base b --target t --method rtn --bits 3 --group 64 --out d
cli decompress 3 --base b --delta d --out o
cli synth 4 --shape tiny --layers 1 --vocab 8 --out-base b --out-target t
cli trace-gen 5 gen --requests 10 --rate 2 --arrival gamma --cv 2 --popularity zipf:1.5 --out t.csv
cli trace-stats 5 stats t.csv
cli train 6 --task bible --steps 10 --out m
cli eval 7 --model m --task bible
cli generate 8 --model m --prompt hello --tokens 4
cli distill 9 --base b --target t --delta d --out o
cli calib 10 --model m --task bible --out c
cli simulate 11 --trace t.csv --policy deltazip --hw a100-80gb --gpus 2
cli serve 12 --trace t.csv --executor cpu --models 2
cli nightly 13 record --history h.h5 --metrics m.tsv --machine ci
cli bench-kernel 14 --kernel bitdelta --n 64 --k 64
cli reproduce 15 --list
echo "make-seeds: $(find "$C" -type f | wc -l) seeds in $C"
