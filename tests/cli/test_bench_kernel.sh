#!/usr/bin/env bash
# test_bench_kernel.sh: `deltabench bench-kernel` end to end on small shapes: the table it prints
# and writes (HDF5 `kernels`, read back with export), row-to-delta assignment (round-robin and a
# popularity law), the per-delta loop baselines, and usage errors (exit 2, nothing written).
. "$(dirname "$0")/lib.sh"
D=$DELTABENCH

expect_exit 0 "--help" -- "$D" bench-kernel --help
expect_out_contains "--assign A" "help lists --assign"
expect_out_contains "sbmm-loop" "help lists the loop baselines"

# round-robin: 6 rows over 4 deltas use all 4; zipf:2 over 64 deltas with 8 rows uses fewer than 8
expect_exit 0 "sweep" -- "$D" bench-kernel --op sbmm,sbmm-loop,bitdelta-loop,dense-loop --m 96 --k 200 \
  --batch 6 --deltas 4 --repeat 2 --warmup 1 --out "$T/rr.h5"
"$D" export "$T/rr.h5" kernels > "$T/rr.csv" || fail "export of the kernels table"
[ "$(($(wc -l < "$T/rr.csv") - 1))" -eq 4 ] || fail "rr: expected 4 rows, got $(cat "$T/rr.csv")"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
  { if ($h["assign"] != "round-robin" || $h["deltas_used"] != 4 || $h["min_s"] <= 0 || $h["bytes"] <= 0) bad = 1 }
  END { exit bad }' "$T/rr.csv" || fail "rr: assign / deltas_used / times wrong: $(cat "$T/rr.csv")"
# the loop of a format reads what its batched call reads
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } { b[$h["op"]] = $h["bytes"] }
  END { exit !(b["sbmm"] == b["sbmm-loop"] && b["dense-loop"] > 3 * b["sbmm"]) }' "$T/rr.csv" ||
  fail "rr: loop bytes differ from the batched op's: $(cat "$T/rr.csv")"

# the served-layer ops, interleaved: every op once a round in the rounds table; the base's
# fp16 bytes counted once (the loop is charged what the batched layer reads)
expect_exit 0 "base+ ops in rounds" -- "$D" bench-kernel --op sbmm,base+sbmm,base+sbmm-loop,base+bitdelta,base+bitdelta-loop,dense-loop \
  --m 96 --k 200 --batch 6 --deltas 4 --repeat 2 --rounds 3 --warmup 1 --out "$T/layer.h5"
expect_out_contains "base+bitdelta-loop" "the loop of a served layer is printed"
"$D" export "$T/layer.h5" rounds > "$T/rounds.csv" || fail "export of the rounds table"
[ "$(($(wc -l < "$T/rounds.csv") - 1))" -eq 18 ] || fail "rounds: expected 6 ops x 3 rounds, got $(cat "$T/rounds.csv")"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
  { n[$h["op"]]++; r[$h["op"], $h["round"]]++; if ($h["median_s"] <= 0) bad = 1 }
  END { for (o in n) if (n[o] != 3 || !r[o, 0] || !r[o, 2]) bad = 1; exit bad }' "$T/rounds.csv" ||
  fail "rounds: not 3 rounds of every op: $(cat "$T/rounds.csv")"
"$D" export "$T/layer.h5" kernels > "$T/layer.csv" || fail "export of the kernels table"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } { b[$h["op"]] = $h["bytes"]; rep[$h["op"]] = $h["repeats"] }
  END { exit !(b["base+sbmm"] == b["sbmm"] + 2 * 96 * 200 && b["base+sbmm-loop"] == b["base+sbmm"] &&
               b["base+bitdelta-loop"] == b["base+bitdelta"] && rep["base+sbmm"] == 6) }' "$T/layer.csv" ||
  fail "layer: the base's bytes or the call count are wrong: $(cat "$T/layer.csv")"
expect_exit 2 "--rounds 0" -- "$D" bench-kernel --op sbmm --rounds 0 --m 64 --k 64

expect_exit 0 "zipf assignment" -- "$D" bench-kernel --op sbmm --m 64 --k 64 --batch 8 --deltas 64 \
  --assign zipf:2 --repeat 1 --warmup 0 --seed 5 --out "$T/z.h5"
used=$("$D" export "$T/z.h5" kernels | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } { print $h["deltas_used"] }')
{ [ "$used" -ge 1 ] && [ "$used" -lt 8 ]; } || fail "zipf:2: 8 rows over 64 deltas used $used (expected 1..7)"
# the same seed draws the same rows
expect_exit 0 "zipf again" -- "$D" bench-kernel --op sbmm --m 64 --k 64 --batch 8 --deltas 64 \
  --assign zipf:2 --repeat 1 --warmup 0 --seed 5 --out "$T/z2.h5"
used2=$("$D" export "$T/z2.h5" kernels | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } { print $h["deltas_used"] }')
[ "$used" = "$used2" ] || fail "zipf:2 with one seed used $used then $used2 deltas"

# usage errors: exit 2, no output file
for bad in "--assign zipf:x" "--assign replay" "--assign nosuch" "--deltas 0" "--op nosuch" "--batch 1,x"; do
  # shellcheck disable=SC2086
  expect_exit 2 "bad: $bad" -- "$D" bench-kernel --op sbmm $bad --m 64 --k 64 --out "$T/bad.h5"
  [ -e "$T/bad.h5" ] && fail "bad: $bad wrote $T/bad.h5"
done
expect_exit 2 "missing --op" -- "$D" bench-kernel --m 64
expect_err_contains "--op is required" "missing --op named"
finish
