#!/usr/bin/env bash
# bd4.sh: the experiment of registry entry bd4 (BitDelta BD-4, "GPU memory stays near one base
# model as tenants grow": base + B x 1.3 GB for Llama-2-7B, where naive per-model serving runs
# out of memory). Run by `deltabench reproduce bd4` (`make reproduce-bd4`), which then draws
# plots/bd4.gp, writes the verdict lines from the registry's rules and splices paper.md;
# runnable alone for the data.
#
# Measured: the kernel executor (`serve --executor cpu-kernels`, serve/exec_kn.c) allocates
# what a GPU would hold (the fp16 base projections, each tenant's packed 1-bit deltas and fp16
# lm_head, its buffers) in this process's memory; the process's peak resident bytes from the OS
# (`peak_rss_bytes`, getrusage) is the measurement. A Llama-2-7B does not fit this machine B
# times, so the runs use its widths (hidden 4096, MLP 11008, vocabulary 32000, 32 heads) with
# $LAYERS decoder layers: BitDelta (--system bitdelta, every delta resident) at $TENANTS
# tenants, and naive serving (--system swap --max-resident B: every tenant's fp16 model
# resident) at $NAIVE_TENANTS, each on a trace of one short request per tenant.
#
# Scaled: the bytes the executor allocates are exact tensor sizes (the cost model's accounting
# of each run's shape, `full_model_bytes` and `delta_bytes`, less the embeddings the executor
# does not hold: it looks no token up). A least-squares line, peak = fixed + k x allocated
# bytes, over the measured runs of each system gives its fixed part and k (measured bytes per
# allocated byte); k of each layer count alone (BitDelta) widens k's range, the interval.
# Llama-2-7B on one $HW ($MODEL, exact sizes from a `simulate` run of it, embeddings included)
# is then fixed + k x (full + B x delta) for BitDelta and fixed + k x B x full for naive, against
# $GPU_UTIL of the GPU's memory. The KV cache is not counted (the executor costs attention), so
# the tenant counts that fit are upper bounds.
#
# Output: $OUT/runs/llama-L<L>/config.json (the scaled shapes), $OUT/runs/{bitdelta,naive}-L<L>-B<B>.h5
# (the measured runs) and .log, $OUT/runs/llama2-7b.h5 (the exact sizes of the target),
# $OUT/bd4-measured.csv (measured against predicted per run), $OUT/bd4-scaled.csv (Llama-2-7B
# against B), $OUT/bd4.csv (the rules' table: the memory per tenant and the tenant counts on one
# GPU), $OUT/section.md. Cached by an input stamp.
#   env: LAYERS, TENANTS, NAIVE_TENANTS, SCALE_TENANTS, MODEL, HW, GPU_UTIL
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/bd4}
LAYERS=${LAYERS:-1 2 4}
TENANTS=${TENANTS:-1 4 8}
NAIVE_TENANTS=${NAIVE_TENANTS:-1 2 4}
NAIVE_LAYERS=${NAIVE_LAYERS:-1 2}
SCALE_TENANTS=${SCALE_TENANTS:-1 2 4 5 6 8 16 24 32 40 48 56 64}
MODEL=${MODEL:-llama2-7b}
HW=${HW:-a100-80gb}
GPU_UTIL=${GPU_UTIL:-0.9}
PAPER_DELTA_GB=1.3 # BitDelta: base + B x 1.3 GB (Llama-2-7B)
# the widths of the measured runs: Llama-2-7B's
V=32000 C=4096 F=11008 NH=32
R=$OUT/runs
RP=bd4
. scripts/reproduce/lib.sh

[ -x "$D" ] || die "$D not built (run make)"
for x in LAYERS TENANTS NAIVE_TENANTS NAIVE_LAYERS SCALE_TENANTS; do
  [ -n "${!x}" ] || die "$x is empty"
  for b in ${!x}; do
    case $b in '' | *[!0-9]* | 0) die "$x: '$b' is not a positive integer" ;; esac
  done
done
awk -v u="$GPU_UTIL" 'BEGIN { exit !(u + 0 > 0 && u + 0 <= 1) }' || die "GPU_UTIL: '$GPU_UTIL' is not in (0, 1]"
[ "$(echo $TENANTS | wc -w)" -ge 2 ] || die "TENANTS: at least two counts (a slope per layer count)"

st=$(rp_stamp "layers $LAYERS tenants $TENANTS naive $NAIVE_TENANTS $NAIVE_LAYERS model $MODEL hw $HW util $GPU_UTIL" \
  serve/exec_kn.c serve/cost.c kernels/random.c harness/serving_cli.c harness/cmd_serve.c)
rp_stamp_check "$st"

# the target's exact sizes and GPU: one simulate run of it (one tenant, one request)
printf 'request_id,arrival_s,model,prompt_tokens,output_tokens\n0,0.0,0,8,2\n' > "$R/one.csv.tmp"
mv "$R/one.csv.tmp" "$R/one.csv"
run "$MODEL" simulate --trace "$R/one.csv" --model "$MODEL" --hw "$HW" --tp 1 --system bitdelta \
  --gpu-util "$GPU_UTIL" -q --out "$R/$MODEL.h5"

# measure KIND L B: one cpu-kernels run of B tenants of the L-layer shape
measure() {
  local kind=$1 L=$2 B=$3 m=$R/llama-L$2 tr=$R/trace-$3.csv i
  mkdir -p "$m"
  # written under a temporary name and renamed, so a killed run leaves no partial input
  if [ ! -s "$m/config.json" ]; then
    printf '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
 "vocab_size": %d, "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d,
 "num_attention_heads": %d, "num_key_value_heads": %d, "max_position_embeddings": 4096,
 "rms_norm_eps": 1e-05, "rope_theta": 10000, "tie_word_embeddings": false, "torch_dtype": "float16"}\n' \
      "$V" "$C" "$F" "$L" "$NH" "$NH" > "$m/config.json.tmp"
    mv "$m/config.json.tmp" "$m/config.json"
  fi
  if [ ! -s "$tr" ]; then
    { echo "request_id,arrival_s,model,prompt_tokens,output_tokens"
      for ((i = 0; i < B; i++)); do echo "$i,$i.0,$i,8,2"; done; } > "$tr.tmp"
    mv "$tr.tmp" "$tr"
  fi
  local sys=(--system bitdelta --max-deltas "$B")
  [ "$kind" = naive ] && sys=(--system swap --max-resident "$B")
  say "measuring $kind, $L layers, $B tenants"
  run "$kind-L$L-B$B" serve --executor cpu-kernels --trace "$tr" --models "$B" --model "$m" "${sys[@]}" \
    -q --out "$R/$kind-L$L-B$B.h5"
}
for L in $LAYERS; do for B in $TENANTS; do measure bitdelta "$L" "$B"; done; done
for L in $NAIVE_LAYERS; do for B in $NAIVE_TENANTS; do measure naive "$L" "$B"; done; done
rp_stamp_done "$st"

# ---- the table, from the runs ------------------------------------------------------------------
# summary NAME COLUMN...: columns of a run's summary table; rss NAME: its peak resident bytes
summary() { local n=$1; shift; "$D" export "$R/$n.h5" summary | rp_pick - "$@"; }
rss() {
  local v
  v=$("$D" inspect "$R/$1.h5" | sed -n 's/^  peak_rss_bytes = //p')
  [ -n "$v" ] || die "$R/$1.h5: no peak_rss_bytes attribute (a run of an older deltabench: remove $R)"
  echo "$v"
}
# one line per measured run: kind, layers, tenants, peak resident bytes, allocated bytes (exact
# tensor sizes: the cost model's full model and delta, less the embeddings: base projections
# and per tenant its delta's projections and lm_head; naive: per tenant the projections and
# lm_head)
emb=$((V * C * 2))
{
  for L in $LAYERS; do for B in $TENANTS; do echo "bitdelta $L $B"; done; done
  for L in $NAIVE_LAYERS; do for B in $NAIVE_TENANTS; do echo "naive $L $B"; done; done
} | while read -r kind L B; do
  IFS=, read -r full delta < <(summary "$kind-L$L-B$B" full_model_bytes delta_bytes)
  echo "$kind,$L,$B,$(rss "$kind-L$L-B$B"),$full,$delta,$emb"
done > "$R/measured.txt.tmp"
mv "$R/measured.txt.tmp" "$R/measured.txt"
IFS=, read -r full7 delta7 cap7 < <(summary "$MODEL" full_model_bytes delta_bytes gpu_capacity_bytes)

awk -F, -v out="$OUT" -v full7="$full7" -v delta7="$delta7" -v cap="$cap7" -v util="$GPU_UTIL" \
    -v pd="$PAPER_DELTA_GB" -v scale="$SCALE_TENANTS" -v model="$MODEL" '
  # allocated bytes of a run: shared base projections + B sets (bitdelta), or B full sets (naive)
  function alloc(kind, B, full, delta, emb) {
    return kind == "bitdelta" ? (full - 2 * emb) + B * (delta - emb) : B * (full - emb) }
  # fit(SYS, L): least squares rss = c + k W over the runs of SYS (and of L layers when L > 0);
  # sets FK and FC
  function fit(sys, l,   i, m, x, y, xx, xy) {
    for (i = 1; i <= n; i++) if (kind[i] == sys && (l == 0 || L[i] == l)) {
      m++; x += W[i]; y += rss[i]; xx += W[i] * W[i]; xy += W[i] * rss[i] }
    if (m < 2 || m * xx == x * x) { print "bd4: " sys (l ? " at " l " layers" : "") ": fewer than two tenant counts to fit" > "/dev/stderr"; exit 1 }
    FK = (m * xy - x * y) / (m * xx - x * x); FC = (y - FK * x) / m }
  { n++; kind[n] = $1; L[n] = $2; B[n] = $3; rss[n] = $4; W[n] = alloc($1, $3, $5, $6, $7)
    if ($1 == "bitdelta" && !($2 in seenL)) { seenL[$2] = 1; Lorder[++nl] = $2 } }
  END {
    fit("naive", 0); kn = FK; cn = FC
    fit("bitdelta", 0); k = FK; c0 = FC
    # the interval of k: the fit of every BitDelta run and of each layer count alone
    klo = khi = k
    for (j = 1; j <= nl; j++) { fit("bitdelta", Lorder[j]); if (FK < klo) klo = FK; if (FK > khi) khi = FK }
    mf = out "/bd4-measured.csv.tmp"
    print "system,layers,tenants,measured_gb,allocated_gb,predicted_gb,measured_over_predicted" > mf
    for (i = 1; i <= n; i++) { p = kind[i] == "naive" ? cn + kn * W[i] : c0 + k * W[i]
      printf "%s,%d,%d,%.4f,%.4f,%.4f,%.4f\n", kind[i], L[i], B[i], rss[i] / 1e9, W[i] / 1e9, p / 1e9, rss[i] / p > mf }
    usable = cap * util
    sf = out "/bd4-scaled.csv.tmp"
    print "tenants,bitdelta_gb,bitdelta_fits,naive_gb,naive_fits,gpu_gb,usable_gb" > sf
    ns = split(scale, S, " ")
    for (i = 1; i <= ns; i++) { b = c0 + k * (full7 + S[i] * delta7); v = cn + kn * S[i] * full7
      printf "%d,%.3f,%d,%.3f,%d,%.3f,%.3f\n", S[i], b / 1e9, b <= usable, v / 1e9, v <= usable, cap / 1e9, usable / 1e9 > sf }
    # tenants on one GPU: the largest B whose memory fits, at k and at the ends of its range
    tn = int((usable - cn) / (kn * full7))
    for (j = 0; j < 3; j++) { kk = j == 0 ? k : j == 1 ? klo : khi; tb[j] = int((usable - c0 - kk * full7) / (kk * delta7)) }
    rf = out "/bd4.csv.tmp"
    print "metric,value,lo,hi,paper,label" > rf
    printf "per_tenant_gb,%.4f,%.4f,%.4f,%s,per tenant (GB)\n", k * delta7 / 1e9, klo * delta7 / 1e9, khi * delta7 / 1e9, pd > rf
    printf "tenants_ratio,%.4f,%.4f,%.4f,,tenants BitDelta / naive (%d / %d)\n", tb[0] / tn, tb[2] / tn, tb[1] / tn, tb[0], tn > rf
    printf "fixed_gb,%.4f,,,,fixed part (BitDelta runs)\n", c0 / 1e9 > rf
    printf "k,%.5f,%.5f,%.5f,,measured bytes per allocated byte (BitDelta runs)\n", k, klo, khi > rf
    printf "fixed_naive_gb,%.4f,,,,fixed part (naive runs)\n", cn / 1e9 > rf
    printf "k_naive,%.5f,,,,measured bytes per allocated byte (naive runs)\n", kn > rf
    printf "base_gb,%.4f,,,,%s base\n", k * full7 / 1e9, model > rf
    printf "tenants_bitdelta,%d,%d,%d,,%s tenants BitDelta\n", tb[0], tb[2], tb[1], model > rf
    printf "tenants_naive,%d,,,,%s tenants naive\n", tn, model > rf
    printf "gpu_gb,%.4f,,,,GPU memory\n", cap / 1e9 > rf
    printf "usable_gb,%.4f,,,,usable share\n", usable / 1e9 > rf
  }' "$R/measured.txt"
mv "$OUT/bd4-measured.csv.tmp" "$OUT/bd4-measured.csv"
mv "$OUT/bd4-scaled.csv.tmp" "$OUT/bd4-scaled.csv"
mv "$OUT/bd4.csv.tmp" "$OUT/bd4.csv"
say "wrote $OUT/bd4.csv, bd4-measured.csv ($(($(wc -l < "$OUT/bd4-measured.csv") - 1)) runs), bd4-scaled.csv"

# ---- the paper.md section (its verdict line: the registry's rules, on bd4.csv) -----------------
sec=$OUT/section.md.tmp
{
  awk -F, 'NR > 1 { v[$1] = $2; lo[$1] = $3; hi[$1] = $4 }
    END {
      print "**Measured**: peak resident bytes (the OS'"'"'s, `getrusage`) of `serve --executor cpu-kernels`, which"
      print "allocates in this process what a GPU would hold, at Llama-2-7B'"'"'s widths with fewer decoder"
      print "layers; **predicted**: the fixed part plus k × the bytes the executor allocates (exact tensor"
      printf "sizes), by least squares over the runs of each system: BitDelta fixed %.2f GB, k = %.4f\n", v["fixed_gb"], v["k"]
      printf "(%.4f–%.4f with each layer count alone); naive fixed %.2f GB, k = %.4f.\n", lo["k"], hi["k"], v["fixed_naive_gb"], v["k_naive"]
      print "" }' "$OUT/bd4.csv"
  echo "| system | layers | tenants B | measured GB | allocated GB | predicted GB | measured / predicted |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  rp_pick "$OUT/bd4-measured.csv" system layers tenants measured_gb allocated_gb predicted_gb measured_over_predicted |
    awk -F, '{ printf "| %s | %d | %d | %.3f | %.3f | %.3f | %.3f |\n", $1, $2, $3, $4, $5, $6, $7 }'
  echo
  awk -F, -v model="$MODEL" -v hw="$HW" 'NR > 1 { v[$1] = $2; lo[$1] = $3; hi[$1] = $4 }
    END {
      printf "**Scaled** to %s on one %s (%.1f GB): the fixed part plus k × its exact tensor bytes, the\n", model, hw, v["gpu_gb"]
      printf "base %.2f GB and %.3f GB per tenant (%.4f–%.4f with k'"'"'s range; the embeddings the executor does\n", v["base_gb"], v["per_tenant_gb"], lo["per_tenant_gb"], hi["per_tenant_gb"]
      printf "not hold counted at their exact size), against %.1f GB usable for weights and KV cache. The KV\n", v["usable_gb"]
      printf "cache is not counted, so these tenant counts are upper bounds: BitDelta fits %d tenants, naive\n", v["tenants_bitdelta"]
      printf "serving %d (every tenant'"'"'s fp16 model resident); one GPU per tenant is the dedicated alternative.\n", v["tenants_naive"]
      print "" }' "$OUT/bd4.csv"
  echo "| tenants B | BitDelta GB | BitDelta on one GPU | naive GB | naive on one GPU |"
  echo "|---:|---:|---|---:|---|"
  rp_pick "$OUT/bd4-scaled.csv" tenants bitdelta_gb bitdelta_fits naive_gb naive_fits |
    awk -F, '{ printf "| %d | %.2f | %s | %.1f | %s |\n", $1, $2, $3 ? "fits" : "out of memory", $4, $5 ? "fits" : "out of memory" }'
  echo
  echo "<!-- verdicts -->"
} > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
rm -f "$OUT/verdict"
say "wrote $OUT/section.md (its verdict line comes from the registry's rules for bd4)"
