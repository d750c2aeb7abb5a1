#!/usr/bin/env bash
# nightly.sh: the nightly benchmark suite (`make nightly`). Runs a fixed suite, appends every
# metric to the history, renders the dashboard and judges the run (docs/nightly.md):
#   kernel/    bench-kernel: five delta kernels + dense at 4096 x 4096, batch 1 and 16 (time)
#   kernel_gpu/  the same on CUDA at 4096x4096 and 11008x4096, where a device answers
#   compress/  every compressor on a synthetic tiny pair: ratio (exact), error (tight), time
#   quality/   bitdelta, deltazip and rtn deltas of the micro zoo: bits/byte, gain kept,
#              exact-match accuracy (tight / exact)
#   trace/     trace generation speed, and the generated trace's statistics (exact)
#   sim/       simulator speed (simulated requests per wall second)
#   fidelity/  the simulator's results on a fixed trace (exact: any change is flagged), and its
#              error against the real cpu executor on the micro zoo (calibrated, perf)
#   serve/     the cpu executor's measured mean E2E on the micro zoo
#
#   scripts/nightly.sh [--quick]
# --quick runs a small subset (seconds; the CLI tests use it). Environment (default):
#   DELTABENCH       the binary (bin/deltabench)
#   NIGHTLY_DIR      run outputs and the history (results/nightly): RUN dirs under runs/
#   NIGHTLY_HISTORY  the history file (NIGHTLY_DIR/history.h5)
#   NIGHTLY_DASH     the dashboard directory (results/dashboard)
#   NIGHTLY_MACHINE  the machine name series are kept under (uname -n)
#   NIGHTLY_INJECT   METRIC=FACTOR[,METRIC=FACTOR...]: multiply those metrics before recording
#                    (to check the rule end to end: a 1.2 on a time is a 20 % slowdown)
#   NIGHTLY_CHECK_ARGS  rule options for check and dashboard (e.g. "--rel 0.25" on a shared machine)
#   OMP_NUM_THREADS  1 unless set: single-threaded timings are far less noisy on a shared machine
# Exit status: 0 no confirmed regression, 3 a confirmed regression (one line each on stderr:
# metric, change, since which commit), anything else: the suite itself failed (the history is
# then left as it was).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
D=${DELTABENCH:-bin/deltabench}
OUT=${NIGHTLY_DIR:-results/nightly}
HIST=${NIGHTLY_HISTORY:-$OUT/history.h5}
DASH=${NIGHTLY_DASH:-results/dashboard}
MACHINE=${NIGHTLY_MACHINE:-$(uname -n)}
INJECT=${NIGHTLY_INJECT:-}
CHECK_ARGS=${NIGHTLY_CHECK_ARGS:-}
QUICK=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "nightly: unknown argument '$1' (--quick, --help)" >&2; exit 2 ;;
esac

die() { echo "nightly: $*" >&2; exit 1; }
[ -x "$D" ] || die "$D not built (run make)"
command -v gnuplot >/dev/null || die "gnuplot missing (scripts/install-deps.sh installs it)"

# One run at a time per history: a second would rewrite it from the same old state.
mkdir -p "$(dirname "$HIST")"
exec 9>"$HIST.lock"
flock -n 9 || die "another nightly run holds $HIST.lock"

t_start=$(date +%s.%N)
commit=$("$D" --version | sed -n 's/.*(commit \([^,]*\),.*/\1/p')
[ -n "$commit" ] || commit=unknown
RUN=$OUT/runs/$(date -u +%Y%m%dT%H%M%SZ)-$commit-$$
mkdir -p "$RUN"
M=$RUN/metrics.tsv
: > "$M.tmp"
log() { printf 'nightly: %-9s %s\n' "$1" "$2" >&2; }

# ---- helpers --------------------------------------------------------------------------------
now() { date +%s.%N; }
# secs T0: seconds since T0
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }'; }
# best lower|higher V...: "best spread n": the least (lower) or largest (higher) value, since
# interference from other work on the machine only ever adds time; spread = (max - min) / median.
best() {
  local dir=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v dir="$dir" '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.17g %.6g %d", dir == "lower" ? v[1] : v[NR], (m != 0 ? (v[NR] - v[1]) / (m < 0 ? -m : m) : 0), NR }'
}
# emit METRIC VALUE UNIT DIRECTION KIND REPEATS SPREAD SOURCE
emit() {
  local v=$2 f
  case "$v" in ""|nan|-nan|inf|-inf) die "metric $1 has no finite value ('$v', from $8)" ;; esac
  f=$(printf '%s\n' "$INJECT" | tr ',' '\n' | awk -F= -v m="$1" '$1 == m { print $2 }')
  if [ -n "$f" ]; then
    v=$(awk -v a="$v" -v b="$f" 'BEGIN { printf "%.17g", a * b }')
    log inject "$1 x $f"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$v" "$3" "$4" "$5" "$6" "$7" "$8" >> "$M.tmp"
}
# csv FILE TABLE: the table as CSV (deltabench export)
csv() { "$D" export "$1" "$2"; }
# attr FILE KEY: a root attribute
attr() { "$D" inspect "$1" | sed -n "s/^  $2 = //p"; }
# colsum FILE TABLE COLUMN [FILTERCOL FILTERVAL]: sum and mean of a column ("sum mean")
colagg() {
  csv "$1" "$2" | awk -F, -v c="$3" -v fc="${4:-}" -v fv="${5:-}" '
    NR == 1 { for (i = 1; i <= NF; i++) { h[$i] = i } ; if (!(c in h)) exit 3; next }
    fc != "" && $h[fc] != fv { next }
    { s += $h[c]; n++ }
    END { if (n) printf "%.17g %.17g", s, s / n; else printf "nan nan" }'
}

# ---- kernels ----------------------------------------------------------------------------------
# kernels DEVICE GROUP ARGS: one bench-kernel sweep; a metric per op and batch (the fastest of the
# repeats) and the copy bandwidth measured in the same run.
kernels() {
  local dev=$1 group=$2 args=$3 res=$RUN/$2.h5 copy=
  log "$group" "bench-kernel --device $dev $args"
  # shellcheck disable=SC2086
  "$D" bench-kernel --device "$dev" $args --out "$res" > "$RUN/$group.txt"
  while IFS=, read -r op m k b dl reps med mn gbs; do
    # spread: (median - min) / median (bench-kernel keeps no max)
    emit "$group/${op}_${m}x${k}_b${b}_d${dl}_s" "$mn" s lower perf "$reps" \
      "$(awk -v a="$med" -v b="$mn" 'BEGIN { printf "%.6g", (a - b) / a }')" "$res"
    copy=$gbs
  done < <(csv "$res" kernels | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
      { print $h["op"] "," $h["m"] "," $h["k"] "," $h["batch"] "," $h["deltas"] "," \
              $h["repeats"] "," $h["median_s"] "," $h["min_s"] "," $h["copy_gbs"] }')
  emit "$group/copy_gbs" "$copy" GB/s higher perf 1 0 "$res"
}

suite_kernels() {
  if [ $QUICK -eq 1 ]; then
    kernels cpu kernel "--op dense,bitdelta --m 1024 --k 1024 --batch 1 --deltas 4 --repeat 5"
    return
  fi
  kernels cpu kernel "--op dense,bitdelta,sbmm,csr,lowrank --m 4096 --k 4096 --batch 1,16 --deltas 4 --repeat 10"
  # The CUDA kernels where a device answers (not exercised where this was written: no GPU).
  if "$D" bench-kernel --op dense --device cuda --m 256 --k 256 --repeat 1 --warmup 0 > /dev/null 2>&1; then
    kernels cuda kernel_gpu "--op dense,bitdelta,sbmm,csr,lowrank --shapes 4096x4096,11008x4096 --batch 1,16 --deltas 8 --repeat 50"
  else
    log kernel_gpu "no CUDA device here: skipped (its metrics, if any, show as stale)"
  fi
}

# ---- compressors on a synthetic pair ---------------------------------------------------------
suite_compress() {
  local dir=$RUN/synth reps=3 methods
  [ $QUICK -eq 1 ] && reps=1
  mkdir -p "$dir"
  "$D" synth --shape tiny --seed 1 --out-base "$dir/base.safetensors" \
    --out-target "$dir/ft.safetensors" --out-calib "$dir/calib.safetensors" > /dev/null
  if [ $QUICK -eq 1 ]; then
    methods="bitdelta deltazip"
  else
    methods="fp16 rtn magprune-2:4 dare lowrank bitdelta deltazip deltadq"
  fi
  log compress "$methods on synth tiny ($reps runs each)"
  for name in $methods; do
    local args="--method ${name%%-*}" res=$dir/$name.h5 times=()
    case $name in
      magprune-2:4) args="$args --nm 2:4" ;;
      lowrank) args="$args --rank 8" ;; # the tiny shape's smallest matrix is 14 x 70
      deltazip) args="$args --hessians $dir/calib.safetensors" ;;
    esac
    for _ in $(seq "$reps"); do
      # shellcheck disable=SC2086
      "$D" compress --base "$dir/base.safetensors" --target "$dir/ft.safetensors" $args \
        --out "$dir/$name.dz" --report "$res" --quiet > /dev/null
      times+=("$(colagg "$res" compression seconds | cut -d' ' -f1)")
    done
    local key=${name//:/-}
    emit "compress/${key}_ratio" "$(attr "$res" ratio_all)" x higher exact 1 0 "$res"
    emit "compress/${key}_ratio_linear" "$(attr "$res" ratio_linear)" x higher exact 1 0 "$res"
    emit "compress/${key}_rel_err" "$(colagg "$res" compression rel_fro_err role delta | cut -d' ' -f2)" \
      rel lower tight 1 0 "$res"
    read -r val spread n <<<"$(best lower "${times[@]}")"
    emit "compress/${key}_s" "$val" s lower perf "$n" "$spread" "$res"
  done
}

# ---- quality on the micro zoo ----------------------------------------------------------------
suite_quality() {
  local zoo=$OUT/zoo
  log quality "micro zoo in $zoo (built once, cached by its inputs)"
  MODELS=micro ZOO=$zoo DELTABENCH=$D scripts/build-models.sh > "$RUN/zoo.txt" 2>&1 ||
    { tail -n 5 "$RUN/zoo.txt" >&2; die "building the micro zoo failed (log: $RUN/zoo.txt)"; }
  local dir=$RUN/quality
  mkdir -p "$dir"
  for ft in arith scripture; do
    for m in bitdelta deltazip rtn; do
      local d=$dir/$ft-$m.dz rep=$dir/$ft-$m-compress.h5 res=$dir/$ft-$m.h5
      "$D" compress --base "$zoo/micro/base" --target "$zoo/micro/$ft" --method $m --out "$d" \
        --report "$rep" --quiet > /dev/null
      "$D" eval --model "$zoo/micro/base" --delta "$d" --finetuned "$zoo/micro/$ft" --task $ft \
        --data "$zoo/data" --tokens 2048 --examples 20 --threads 1 --out "$res" > /dev/null
      emit "quality/${ft}_${m}_ratio" "$(attr "$rep" ratio_all)" x higher exact 1 0 "$rep"
      local q
      q=$(csv "$res" quality | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
            { print $h["metric"], $h["value"], $h["gain_kept"] }')
      emit "quality/${ft}_${m}_bpb" "$(awk '$1 == "bpb" { print $2 }' <<<"$q")" bpb lower tight 1 0 "$res"
      emit "quality/${ft}_${m}_gain_kept" "$(awk '$1 == "bpb" { print $3 }' <<<"$q")" share higher tight 1 0 "$res"
      if [ "$ft" = arith ]; then
        emit "quality/${ft}_${m}_accuracy" "$(awk '$1 == "accuracy" { print $2 }' <<<"$q")" share higher exact 1 0 "$res"
      fi
    done
  done
}

# ---- traces ---------------------------------------------------------------------------------
suite_trace() {
  local dir=$RUN/trace reps=3 dur=3600
  [ $QUICK -eq 1 ] && { reps=1; dur=600; }
  mkdir -p "$dir"
  local gen=(--arrival gamma --rate 20 --cv 2 --models 32 --popularity zipf:1.5
             --lengths lognormal:512,1,128,1 --duration $dur --seed 1)
  log trace "gen ${gen[*]} ($reps runs)"
  local times=() t0
  for _ in $(seq "$reps"); do
    t0=$(now)
    "$D" trace gen "${gen[@]}" --out "$dir/gen.h5" > /dev/null
    times+=("$(secs "$t0")")
  done
  read -r val spread n <<<"$(best lower "${times[@]}")"
  emit trace/gen_s "$val" s lower perf "$n" "$spread" "$dir/gen.h5"
  "$D" trace stats "$dir/gen.h5" > "$dir/gen-stats.txt"
  emit trace/requests "$(awk '$1 == "requests" { print $2 }' "$dir/gen-stats.txt")" requests none exact 1 0 "$dir/gen.h5"
  emit trace/mean_rate "$(awk '$1 == "mean_rate" { print $2 }' "$dir/gen-stats.txt")" req/s none exact 1 0 "$dir/gen.h5"
  emit trace/cv "$(awk '$1 == "interarrival" { print $NF }' "$dir/gen-stats.txt")" cv none exact 1 0 "$dir/gen.h5"
  emit trace/zipf_a "$(awk '$1 == "zipf_a" { print $2 }' "$dir/gen-stats.txt")" a none exact 1 0 "$dir/gen.h5"
}

# ---- simulator speed and fidelity ------------------------------------------------------------
suite_sim() {
  local dir=$RUN/sim reps=5 dur=3600 systems="deltazip swap bitdelta"
  [ $QUICK -eq 1 ] && { reps=1; dur=300; systems=deltazip; }
  mkdir -p "$dir"
  "$D" trace gen --arrival poisson --rate 5 --models 32 --popularity zipf:1.5 \
    --lengths lognormal:512,0.5,128,0.8 --duration $dur --seed 1 --out "$dir/trace.h5" > /dev/null
  log sim "$systems on a ${dur} s, 32-model trace, llama2-13b TP 4 a100-80gb ($reps runs each)"
  for s in $systems; do
    local res=$dir/$s.h5 rates=()
    for _ in $(seq "$reps"); do
      "$D" simulate --trace "$dir/trace.h5" --system "$s" --model llama2-13b --tp 4 \
        --hw a100-80gb -q --out "$res"
      rates+=("$(attr "$res" sim_requests_per_s)")
    done
    read -r val spread n <<<"$(best higher "${rates[@]}")"
    emit "sim/${s}_req_per_s" "$val" req/s higher perf "$n" "$spread" "$res"
    local row
    row=$(csv "$res" summary | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
          { print $h["throughput_rps"], $h["mean_ttft_s"], $h["p99_e2e_s"], $h["gpu_loads"] }')
    read -r thr ttft p99 loads <<<"$row"
    emit "fidelity/${s}_throughput_rps" "$thr" req/s none exact 1 0 "$res"
    emit "fidelity/${s}_mean_ttft_s" "$ttft" s none exact 1 0 "$res"
    emit "fidelity/${s}_p99_e2e_s" "$p99" s none exact 1 0 "$res"
    emit "fidelity/${s}_gpu_loads" "$loads" loads none exact 1 0 "$res"
  done
}

# ---- sim vs the real cpu executor (needs the micro zoo of suite_quality) ---------------------
# As scripts/serving-fidelity.sh: the cost model is calibrated on one trace (seed 11) served for
# real, then a second trace (seed 12) is served for real and simulated with that calibration.
suite_serving() {
  local zoo=$OUT/zoo/micro dir=$RUN/serving
  mkdir -p "$dir"
  for seed in 11 12; do
    "$D" trace gen --arrival poisson --rate 400 --models 8 --popularity zipf:1.0 \
      --lengths uniform:4,32,2,24 --duration 2 --seed $seed --out "$dir/trace-$seed.csv" > /dev/null
  done
  log serving "sim vs serve --executor cpu on the micro zoo: deltazip-4 bitdelta swap-4"
  while read -r name sys opts; do
    # shellcheck disable=SC2086
    "$D" serve --trace "$dir/trace-11.csv" --system "$sys" --zoo "$zoo" $opts -q \
      --calib-out "$dir/$name.calib" 2> "$dir/$name-calib.err"
    # shellcheck disable=SC2086
    "$D" serve --trace "$dir/trace-12.csv" --system "$sys" --zoo "$zoo" $opts -q --out "$dir/$name-cpu.h5"
    # shellcheck disable=SC2086
    "$D" simulate --trace "$dir/trace-12.csv" --system "$sys" --model "$zoo/base" --hw cpu \
      --calib "$dir/$name.calib" $opts -q --out "$dir/$name-sim.h5"
    local c s
    c=$(csv "$dir/$name-cpu.h5" summary | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
          { print $h["mean_e2e_s"], $h["mean_ttft_s"] }')
    s=$(csv "$dir/$name-sim.h5" summary | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
          { print $h["mean_e2e_s"], $h["mean_ttft_s"] }')
    read -r ce ct <<<"$c"
    read -r se st <<<"$s"
    emit "serve/${name}_cpu_mean_e2e_s" "$ce" s lower perf 1 0 "$dir/$name-cpu.h5"
    emit "fidelity/${name}_sim_vs_cpu_e2e_err" "$(awk -v a="$se" -v b="$ce" 'BEGIN { d = (a - b) / b; printf "%.6g", d < 0 ? -d : d }')" \
      rel lower perf 1 0 "$dir/$name-sim.h5"
    emit "fidelity/${name}_sim_vs_cpu_ttft_err" "$(awk -v a="$st" -v b="$ct" 'BEGIN { d = (a - b) / b; printf "%.6g", d < 0 ? -d : d }')" \
      rel lower perf 1 0 "$dir/$name-sim.h5"
  done <<'POLICIES'
deltazip-4 deltazip --max-deltas 4
bitdelta bitdelta
swap-4 swap --max-resident 4
POLICIES
}

# ---- run ------------------------------------------------------------------------------------
log run "$RUN (machine $MACHINE, commit $commit, OMP_NUM_THREADS=$OMP_NUM_THREADS)"
suite_kernels
suite_compress
[ $QUICK -eq 1 ] || suite_quality
suite_trace
suite_sim
[ $QUICK -eq 1 ] || suite_serving
emit nightly/suite_s "$(secs "$t_start")" s lower perf 1 0 ""
mv "$M.tmp" "$M"

"$D" nightly record --history "$HIST" --metrics "$M" --machine "$MACHINE" --commit "$commit" >&2
# shellcheck disable=SC2086
"$D" nightly dashboard --history "$HIST" --out "$DASH" --machine "$MACHINE" $CHECK_ARGS >&2
rc=0
# shellcheck disable=SC2086
"$D" nightly check --history "$HIST" --machine "$MACHINE" --quiet $CHECK_ARGS || rc=$?
log done "$(wc -l < "$M") metrics in $(secs "$t_start") s; dashboard $DASH/index.html"
if [ $rc -eq 3 ]; then
  log result "confirmed regression (see above); exit 3"
elif [ $rc -ne 0 ]; then
  log result "check failed (exit $rc)"
fi
exit $rc
