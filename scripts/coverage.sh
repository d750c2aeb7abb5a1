#!/usr/bin/env bash
# coverage.sh: line and branch coverage per module from the gcov data of a `make COVERAGE=1` run.
#   scripts/coverage.sh build/coverage
# One gcovr pass (JSON summary per file), summed per top-level directory; the table goes to
# stdout and to BUILDDIR/coverage.txt.
set -euo pipefail
obj=${1:-build/coverage}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
gcovr -r . --object-directory "$obj" --json-summary "$obj/coverage.json" \
  --filter 'core/' --filter 'kernels/' --filter 'compressors/' --filter 'models/' \
  --filter 'workloads/' --filter 'serve/' --filter 'harness/' \
  --gcov-ignore-parse-errors -j 2 >/dev/null
python3 - "$obj/coverage.json" <<'PY' | tee "$obj/coverage.txt"
import json, sys
d = json.load(open(sys.argv[1]))
mods = {}
for f in d['files']:
    m = f['filename'].split('/')[0]
    a = mods.setdefault(m, [0, 0, 0, 0])
    a[0] += f['line_covered']; a[1] += f['line_total']
    a[2] += f['branch_covered']; a[3] += f['branch_total']
order = ['core', 'kernels', 'compressors', 'models', 'workloads', 'serve', 'harness']
print(f"{'module':<12} {'lines':>15} {'line %':>7} {'branches':>15} {'branch %':>8}")
tot = [0, 0, 0, 0]
for m in order + sorted(set(mods) - set(order)):
    if m not in mods: continue
    a = mods[m]
    tot = [x + y for x, y in zip(tot, a)]
    pct = lambda c, t: 100.0 * c / t if t else 0.0
    print(f"{m:<12} {a[0]:>7}/{a[1]:<7} {pct(a[0], a[1]):>6.1f}% {a[2]:>7}/{a[3]:<7} {pct(a[2], a[3]):>7.1f}%")
pct = lambda c, t: 100.0 * c / t if t else 0.0
print(f"{'total':<12} {tot[0]:>7}/{tot[1]:<7} {pct(tot[0], tot[1]):>6.1f}% {tot[2]:>7}/{tot[3]:<7} {pct(tot[2], tot[3]):>7.1f}%")
PY
