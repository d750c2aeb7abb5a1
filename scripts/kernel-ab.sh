#!/usr/bin/env bash
# kernel-ab.sh: A/B timing of bench-kernel between binaries on a noisy machine. Each round runs
# every binary's bench-kernel once, alternating, and the table keeps each row's best call
# (min_us) and the median of that same run, per binary: the best call is the kernel, the median
# the scheduler (docs/kernels.md).
#
#   scripts/kernel-ab.sh OPS SHAPES BATCHES DELTAS THREADS ROUNDS LABEL=BINARY [LABEL=BINARY...]
#   e.g. scripts/kernel-ab.sh bitdelta 4096x4096,4096x11008 1,8 1,8 2 3 old=../old/bin/deltabench new=bin/deltabench
#
# Prints: label op m k batch deltas best_us median_us_of_that_run, sorted by row then label.
set -euo pipefail
[ $# -ge 7 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
ops=$1 shapes=$2 batches=$3 deltas=$4 threads=$5 rounds=$6
shift 6
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$rounds"); do
  for spec in "$@"; do
    label=${spec%%=*} bin=${spec#*=}
    OMP_NUM_THREADS=$threads "$bin" bench-kernel --op "$ops" --shapes "$shapes" --batch "$batches" \
      --deltas "$deltas" --repeat 20 --warmup 2 --device cpu --out "$out/r.h5" |
      awk -v n="$label" '!/^#/ && !/^op/ { print n, $1, $3, $4, $5, $6, $11, $7 }'
  done
done | awk '{ k = $1 " " $2 " " $3 " " $4 " " $5 " " $6
              if (!(k in best) || $7 < best[k]) { best[k] = $7; med[k] = $8 } }
            END { for (k in best) print k, best[k], med[k] }' |
  sort -k2,2 -k3n -k4n -k5n -k6n -k1,1
