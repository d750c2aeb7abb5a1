#!/usr/bin/env bash
# test_zoo.sh: `make models` machinery on the micro zoo (MODELS=micro): corpora extracted from the
# Debian packages, a base and four fine-tunes trained and evaluated, the results table written,
# the cache honoured on a second run, the same weights whatever the number of parallel jobs, and
# the fine-tunes better than the base on their own text.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! "$root/scripts/build-models.sh" --check-corpora 2>/dev/null; then
  echo "SKIP: corpus packages missing (scripts/install-deps.sh installs them)"
  exit 77
fi
export MODELS=micro ZOO=$T/zoo
expect_exit 0 "micro zoo" -- "$root/scripts/build-models.sh"
res=$T/zoo/micro/results.tsv
[ -s "$res" ] || fail "results.tsv missing"
[ "$(grep -c . "$res")" -eq 10 ] || fail "results.tsv should have a header and 9 rows"
for m in base scripture code arith reverse; do
  [ -s "$T/zoo/micro/$m/model.safetensors" ] || fail "model $m missing"
  grep -q '"torch_dtype": "float16"' "$T/zoo/micro/$m/config.json" || fail "$m is not stored as F16"
done
# each text fine-tune beats the base on its own domain (bits per byte)
for t in scripture code; do
  awk -F'\t' -v t="$t" '$3 == t && $2 == "base" { b = $5 } $3 == t && $2 == t { f = $5 }
                        END { exit !(f < b) }' "$res" || fail "$t fine-tune does not beat the base"
done
h1=$(sed -n 's/.*"weights_hash": "\(.*\)".*/\1/p' "$T/zoo/micro/arith/train.json")
expect_exit 0 "cached rerun" -- "$root/scripts/build-models.sh"
expect_err_contains "up to date" "second run is skipped"
rm "$T/zoo/micro/stamp"
# the rebuild runs one job at a time (the first ran JOBS = cores at once): same weights
JOBS=1 expect_exit 0 "rebuild, one job at a time" -- "$root/scripts/build-models.sh"
h2=$(sed -n 's/.*"weights_hash": "\(.*\)".*/\1/p' "$T/zoo/micro/arith/train.json")
[ -n "$h1" ] && [ "$h1" = "$h2" ] || fail "rebuilt zoo differs: $h1 vs $h2"
MODELS=bogus expect_exit 1 "unknown size" -- "$root/scripts/build-models.sh"
finish
