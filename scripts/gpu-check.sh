#!/usr/bin/env bash
# gpu-check.sh: the first GPU run, prepared here and run in one call on a lent device.
#
#   scripts/gpu-check.sh prepare    on this machine: build with CUDA=yes and collect into
#                                   build/gpu-carry/ what the device needs (the binary, the GPU
#                                   suites, and a tarball of the shared libraries the device image
#                                   lacks: HDF5, cJSON, OpenBLAS, zstd... never glibc or libstdc++)
#   scripts/gpu-check.sh run        on the device (the `device` tool, carry ["build/gpu-carry"]):
#                                   every check below, everything written under $OUT
#   scripts/gpu-check.sh dry-run    here: prepare with CUDA=no, then run; the GPU steps fail with
#                                   "no CUDA device" and everything else must work
#
# The steps of `run` (each logged to $OUT/steps.tsv as name, exit status, seconds):
#   nvidia-smi -q; the GPU suites (DELTABENCH_REQUIRE_GPU=1, as make test-gpu); compute-sanitizer
#   memcheck on them; bench-kernel --device cuda for every op at batch 1, 8, 16 and 4096x4096,
#   4096x11008, 8192x8192, with the copy bandwidth of the same run and the calibration overlay
#   for h100-sxm; SBMM and the 1-bit kernel against their per-delta loops at 32 deltas; serve
#   --executor cuda at Llama-2-7B shapes for every delta policy, with the same trace through
#   simulate --hw h100-sxm (the error table: $OUT/serve-vs-sim.csv). Budget: 8 minutes on one H100.
set -u
cd "$(dirname "$0")/.." || exit 1
CARRY=build/gpu-carry
mode=${1:-}

prepare() { # CUDA=yes|no
  make -j"$(nproc)" CUDA="$1" bin/deltabench build/release/tests/check_gpu_device \
    build/release/tests/check_gpu_kernels >/dev/null || { echo "gpu-check: build failed" >&2; exit 1; }
  rm -rf "$CARRY" && mkdir -p "$CARRY/bin" "$CARRY/tests" "$CARRY/libs"
  cp bin/deltabench "$CARRY/bin/"
  cp build/release/tests/check_gpu_device build/release/tests/check_gpu_kernels "$CARRY/tests/"
  # Every resolved library but the C/C++ runtime (the device's own, newer, must win) and CUDA's.
  ldd "$CARRY"/bin/* "$CARRY"/tests/* | awk '/=> \// { print $3 }' | sort -u |
    grep -vE '/usr/local/cuda|/(libc|libm|libpthread|libdl|librt|libresolv|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$CARRY/libs/"; done
  tar -C "$CARRY" -czf "$CARRY/libs.tar.gz" libs && rm -rf "$CARRY/libs"
  git rev-parse HEAD > "$CARRY/commit"
  echo "gpu-check: $CARRY ready ($(du -sh "$CARRY" | cut -f1)); on the device: scripts/gpu-check.sh run"
}

OUT=${OUT:-$PWD/results/gpu-check}
step() { # name, command...: runs it, logs to $OUT/<name>.log and one line to steps.tsv
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  printf '%s\t%d\t%d\n' "$name" "$rc" $((SECONDS - t0)) >>"$OUT/steps.tsv"
  printf '%-16s exit %3d  %4ds  %s\n' "$name" "$rc" $((SECONDS - t0)) "$(tail -n 1 "$OUT/$name.log" | cut -c1-90)"
}

run() {
  [ -x "$CARRY/bin/deltabench" ] || { echo "gpu-check: $CARRY missing: run 'scripts/gpu-check.sh prepare' first" >&2; exit 1; }
  mkdir -p "$OUT" && : >"$OUT/steps.tsv"
  local libs; libs=$(mktemp -d)
  tar -C "$libs" -xzf "$CARRY/libs.tar.gz"
  export LD_LIBRARY_PATH=$libs/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  local DB=$PWD/$CARRY/bin/deltabench T=$CARRY/tests
  { echo "commit $(cat "$CARRY/commit")"; echo "host $(hostname)"; date -u +%FT%TZ; } >"$OUT/provenance.txt"
  step version "$DB" --version
  step nvidia-smi nvidia-smi -q
  step test-gpu env DELTABENCH_REQUIRE_GPU=1 scripts/run-tests.sh --gpu-only "$T" "$DB"
  step memcheck env CK_FORK=no DELTABENCH_REQUIRE_GPU=1 compute-sanitizer --tool memcheck --error-exitcode 1 "$T/check_gpu_kernels"
  step kernels "$DB" bench-kernel --device cuda --op dense,bitdelta,sbmm,sbmm2,csr,lowrank \
    --shapes 4096x4096,4096x11008,8192x8192 --batch 1,8,16 --repeat 50 \
    --out "$OUT/kernels.h5" --calib-out "$OUT/calib-h100-sxm.txt" --calib-hw h100-sxm
  step sbmm-vs-loop "$DB" bench-kernel --device cuda --op sbmm,sbmm-loop,bitdelta,bitdelta-loop,dense-loop \
    --shapes 4096x4096,4096x11008 --batch 32 --deltas 32 --repeat 30 --out "$OUT/sbmm-loop.h5"
  # serving: one short trace at Llama-2-7B shapes, real kernels against the simulator
  step trace "$DB" trace gen --requests 48 --rate 4 --models 8 --popularity zipf:1.5 \
    --lengths lognormal:256,0.5,64,0.3 --seed 1 --out "$OUT/trace.csv"
  echo "policy,executor,mean_ttft_s,mean_e2e_s,throughput_rps" >"$OUT/serve-vs-sim.csv"
  for pol in deltazip bitdelta deltadq; do
    step "serve-$pol" "$DB" serve --executor cuda --trace "$OUT/trace.csv" --system "$pol" \
      --model llama2-7b --hw h100-sxm --out "$OUT/serve-$pol.h5"
    step "sim-$pol" "$DB" simulate --trace "$OUT/trace.csv" --system "$pol" --model llama2-7b \
      --hw h100-sxm --out "$OUT/sim-$pol.h5"
    for ex in serve sim; do
      [ -f "$OUT/$ex-$pol.h5" ] || continue
      "$DB" export "$OUT/$ex-$pol.h5" summary | awk -F, -v p="$pol" -v e="$ex" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { print p "," e "," $c["mean_ttft_s"] "," $c["mean_e2e_s"] "," $c["throughput_rps"] }' \
        >>"$OUT/serve-vs-sim.csv"
    done
  done
  rm -rf "$libs"
  echo "== steps (name, exit, seconds)"; cat "$OUT/steps.tsv"
  echo "== serve vs sim"; cat "$OUT/serve-vs-sim.csv"
}

case $mode in
  prepare) prepare yes ;;
  run) run ;;
  dry-run) prepare no && run ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; [ "$mode" = -h ] || [ "$mode" = --help ]; exit $? ;;
esac
