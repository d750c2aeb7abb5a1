#!/usr/bin/env bash
# dz3.sh: the experiment of registry entry dz3 (DeltaZip DZ-3 "2x-12x higher serving throughput
# than the state of the art" and DZ-4 "lower latency and better SLO attainment"). Run by
# `deltabench reproduce dz3` (`make reproduce-dz3`), which then draws plots/dz3.gp and splices
# paper.md; runnable alone for the data. The logic of scripts/serving-dz3.sh, `sim` executor:
#
# The paper's setting: Llama-2-13B, TP 4, $MODELS variants, Poisson arrivals at $RATES req/s,
# popularity $POPS, $DURATION s, one trace per seed of $SEEDS (each cell runs every seed, so
# every number has its spread over seeds); lognormal lengths (medians 512 prompt / 128 output,
# the paper does not state its own); swap keeps 6 fp16 models on the GPUs (vLLM+SCB), DeltaZip
# 8 or 12 4-bit 2:4 deltas; BitDelta, DeltaDQ and one GPU set per model (dedicated) alongside.
# Every run twice for the load-bound systems: with the a100-80gb profile's datasheet load rates
# ("datasheet": PCIe 25 GB/s, disk 2 GB/s) and with the rates DeltaZip's artifact logs imply
# ("artifact": --calib with pcie_gbps = 3.25, disk_gbps = 0.81; docs/serving.md).
#
# The grid (loads x popularity x system x rate, less the artifact's rates for the systems that
# load nothing) runs through `deltabench sweep` (docs/sweeps.md): here by default, on a Slurm
# cluster with BACKEND=slurm (`make reproduce-dz3 BACKEND=slurm`), the same numbers either way.
#
# Output: $OUT/runs/trace-POP-rRATE-sSEED.csv (the traces), $OUT/runs/dz3.sweep.json (the grid),
# $OUT/runs/sweep/cells/HASH.h5 (one simulate result per cell, tables requests, summary, slo,
# memory, loads; logs/HASH.log beside), $OUT/runs/sweep/{summary,slo}.{h5,csv} (the cells'
# rows gathered), $OUT/dz3-systems.csv (per loads, popularity, rate and system: the median over
# seeds of each metric with its min and max), $OUT/dz3-slo.csv (SLO attainment against the E2E
# and TTFT thresholds, median / min / max over seeds), $OUT/dz3-cells.csv (DeltaZip against
# swap-6 per offered rate), $OUT/dz3.csv (the table the registry's DZ-3 / DZ-4 rules read: per
# load setting and popularity, each comparison summarised over the offered rates, median and
# range over seeds), $OUT/section.md (its verdict lines written by `deltabench reproduce` from
# the rules). Cached.
#   env: POPS, RATES, SEEDS (at least 3 for a spread), DURATION, MODELS, LOADS ("datasheet
#        artifact"), BACKEND (local, slurm),
#        SWEEP_ARGS (more `deltabench sweep run` options, e.g. "--jobs 4", "--partition P")
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DELTABENCH:-bin/deltabench}
OUT=${OUT:-results/dz3}
POPS=${POPS:-uniform zipf:1.5}
RATES=${RATES:-0.5 1 1.5 2}
SEEDS=${SEEDS:-1 2 3}
DURATION=${DURATION:-300}
MODELS=${MODELS:-32}
LOADS=${LOADS:-datasheet artifact}
LEN=lognormal:512,0.5,128,0.8
R=$OUT/runs
RP=dz3
. scripts/reproduce/lib.sh

[ -x "$D" ] || die "$D not built (run make)"
for x in POPS RATES SEEDS LOADS; do [ -n "${!x}" ] || die "$x is empty"; done
for l in $LOADS; do case $l in datasheet | artifact) ;; *) die "LOADS: unknown '$l' (datasheet, artifact)" ;; esac; done
for x in $SEEDS; do case $x in '' | *[!0-9]*) die "SEEDS: '$x' is not a non-negative integer" ;; esac; done
for r in $RATES; do awk -v r="$r" 'BEGIN { exit !(r + 0 > 0) }' || die "RATES: '$r' is not a positive rate"; done

# systems: name, the load-bound ones (run under both load rates), simulate arguments
SYSTEMS="swap-6 1 --system swap --max-resident 6
deltazip-8 1 --system deltazip --max-deltas 8
deltazip-12 1 --system deltazip --max-deltas 12
deltazip-12-pp 1 --system deltazip --max-deltas 12 --prefetch --preempt
bitdelta 0 --system bitdelta
deltadq 0 --system deltadq
dedicated 0 --system dedicated"

st=$(rp_stamp "pops $POPS rates $RATES seeds $SEEDS duration $DURATION models $MODELS loads $LOADS" serve/*.c serve/*.h harness/serving_cli.c harness/cmd_simulate.c harness/cmd_trace.c workloads/*.c)
rp_stamp_check "$st"
printf 'pcie_gbps = 3.25\ndisk_gbps = 0.81\n' > "$R/artifact.calib"

# the traces, one per popularity, rate and seed (seconds: generated here, before the grid)
for pop in $POPS; do
  for rate in $RATES; do
    for seed in $SEEDS; do
      tr=$R/trace-$pop-r$rate-s$seed
      [ -s "$tr.csv" ] || "$D" trace gen --arrival poisson --rate "$rate" --models "$MODELS" --popularity "$pop" \
          --lengths "$LEN" --duration "$DURATION" --seed "$seed" --out "$tr.csv" >"$tr.log" 2>&1 ||
        { cat "$tr.log" >&2; die "trace gen $pop at $rate req/s, seed $seed failed"; }
    done
  done
done
# the grid: every system under the datasheet load rates, the load-bound ones under the artifact's
# too; {popularity}, {rate} and {seed} name each cell's trace
list() { local x sep=""; for x in "$@"; do printf '%s%s' "$sep" "$(rp_json "$x")"; sep=", "; done; }
sys_values() {
  local sep="" name bound args
  while read -r name bound args; do
    # shellcheck disable=SC2086
    printf '%s%s: [%s]' "$sep" "$(rp_json "$name")" "$(list $args)"; sep=", "
  done <<<"$SYSTEMS"
}
unbound=$(while read -r name bound _; do [ "$bound" = 1 ] || echo "$name"; done <<<"$SYSTEMS")
load_values() {
  local sep="" l
  for l in $LOADS; do
    case $l in
      datasheet) printf '%s"datasheet": []' "$sep" ;;
      artifact) printf '%s"artifact": ["--calib", %s]' "$sep" "$(rp_json "$R/artifact.calib")" ;;
    esac
    sep=", "
  done
}
excl=""
case " $LOADS " in *" artifact "*) excl="{\"loads\": \"artifact\", \"system\": [$(list $unbound)]}" ;; esac
# shellcheck disable=SC2086
cat > "$R/dz3.sweep.json.tmp" <<JSON
{
  "deltabench_sweep": 1,
  "command": "simulate",
  "args": ["--trace", $(rp_json "$R/trace-{popularity}-r{rate}-s{seed}.csv"), "--model", "llama2-13b", "--tp", "4",
           "--hw", "a100-80gb", "-q"],
  "axes": [
    {"name": "loads", "values": {$(load_values)}},
    {"name": "popularity", "values": [$(list $POPS)]},
    {"name": "system", "values": {$(sys_values)}},
    {"name": "rate", "values": [$(list $RATES)]},
    {"name": "seed", "values": [$(list $SEEDS)]}
  ],
  "exclude": [$excl]
}
JSON
mv "$R/dz3.sweep.json.tmp" "$R/dz3.sweep.json"
rp_sweep "$R/dz3.sweep.json" "$R/sweep"
rp_stamp_done "$st"


# ---- the tables, from the runs -----------------------------------------------------------------
# the cells' rows, gathered in the grid's order (loads, popularity, system, rate, seed): the rows
# of one series together, in rate order, so that a plot draws them as one line
rp_gather "$R/dz3.sweep.json" "$R/sweep" summary
rp_gather "$R/dz3.sweep.json" "$R/sweep" slo
rp_pick "$R/sweep/summary.csv" loads popularity rate seed system throughput_rps mean_ttft_s mean_e2e_s \
    p99_e2e_s e2e_slo_5s gpu_loads > "$R/runs.csv"
rp_pick "$R/sweep/slo.csv" loads popularity rate seed system slo_s e2e_attainment ttft_attainment > "$R/slo-runs.csv"

# awk helpers: the median, min and max over seeds of the values in a " "-separated list
stats='function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
  function med(list,   a, n) { n = split(list, a, " "); sortv(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  function lo(list,   a, n) { n = split(list, a, " "); sortv(a, n); return a[1] }
  function hi(list,   a, n) { n = split(list, a, " "); sortv(a, n); return a[n] }
  function cnt(list,   a) { return split(list, a, " ") }
  function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }'

# per system: the median over seeds and its range
awk -F, "$stats"'
  { k = $1 "," $2 "," $3 "," $5; if (!(k in thr)) order[++n] = k
    add(thr, k, $6); add(ttft, k, $7); add(e2e, k, $8); add(p99, k, $9); add(slo, k, $10); add(ld, k, $11) }
  END { print "loads,popularity,rate,system,seeds,throughput_rps,throughput_lo,throughput_hi,mean_ttft_s,ttft_lo,ttft_hi,mean_e2e_s,e2e_lo,e2e_hi,p99_e2e_s,slo5,slo5_lo,slo5_hi,gpu_loads"
        for (i = 1; i <= n; i++) { k = order[i]
          printf "%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", k, cnt(thr[k]),
                 med(thr[k]), lo(thr[k]), hi(thr[k]), med(ttft[k]), lo(ttft[k]), hi(ttft[k]), med(e2e[k]), lo(e2e[k]),
                 hi(e2e[k]), med(p99[k]), med(slo[k]), lo(slo[k]), hi(slo[k]), med(ld[k]) } }' "$R/runs.csv" > "$OUT/dz3-systems.csv.tmp"
# SLO attainment against the threshold: the median over seeds and its range
awk -F, "$stats"'
  { k = $1 "," $2 "," $3 "," $5 "," $6; if (!(k in e)) order[++n] = k; add(e, k, $7); add(t, k, $8) }
  END { print "loads,popularity,rate,system,slo_s,e2e_attainment,e2e_lo,e2e_hi,ttft_attainment,ttft_lo,ttft_hi"
        for (i = 1; i <= n; i++) { k = order[i]
          printf "%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", k, med(e[k]), lo(e[k]), hi(e[k]), med(t[k]), lo(t[k]), hi(t[k]) } }' \
  "$R/slo-runs.csv" > "$OUT/dz3-slo.csv.tmp"

# DeltaZip (the better of its 8 and 12 slots, metric by metric) against swap-6, per seed: the
# throughput gain, swap's mean E2E latency and TTFT over DeltaZip's, and the SLO attainment gap
# in percentage points at every threshold from 1 s (E2E and TTFT; its least value, and the mean
# of the E2E gap over the thresholds). dz3-cells.csv: per offered rate; dz3.csv: per load
# setting and popularity over the offered rates (the gain at its best rate, every other metric
# at its worst), each as the median over seeds with the seeds' range.
awk -F, -v cells="$OUT/dz3-cells.csv.tmp" "$stats"'
  function better(a, b, larger) { return a == "" ? b : b == "" ? a : larger ? (a > b ? a : b) : (a < b ? a : b) }
  FILENAME == ARGV[1] { k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4; thr[k, $5] = $6; ttft[k, $5] = $7; e2e[k, $5] = $8
                        if (!(k in seen)) { seen[k] = 1; cell[++nc] = k } next }
  { k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
    if ($5 == "swap-6") { se[k, $6] = $7; st[k, $6] = $8 }
    else if ($5 == "deltazip-8" || $5 == "deltazip-12") { de[k, $6] = better(de[k, $6], $7, 1); dt[k, $6] = better(dt[k, $6], $8, 1) }
    if ($6 >= 1 && !((k, $6) in sl)) { sl[k, $6] = 1; add(slos, k, $6) } }
  END {
    print "loads,popularity,rate,metric,value,lo,hi,seeds" > cells
    for (i = 1; i <= nc; i++) { k = cell[i]; split(k, f, SUBSEP)
      if (!((k, "swap-6") in thr) || !((k, "deltazip-8") in thr) && !((k, "deltazip-12") in thr)) continue
      c = f[1] SUBSEP f[2] SUBSEP f[3]; lp = f[1] SUBSEP f[2]
      if (!(c in cseen)) { cseen[c] = 1; corder[++ncell] = c }
      if (!(lp in lpseen)) { lpseen[lp] = 1; lporder[++nlp] = lp }
      g = better(thr[k, "deltazip-8"], thr[k, "deltazip-12"], 1) / thr[k, "swap-6"]
      e = e2e[k, "swap-6"] / better(e2e[k, "deltazip-8"], e2e[k, "deltazip-12"], 0)
      t = ttft[k, "swap-6"] / better(ttft[k, "deltazip-8"], ttft[k, "deltazip-12"], 0)
      n = split(slos[k], S, " "); smin = 1e9; ssum = 0
      for (j = 1; j <= n; j++) { ge = 100 * (de[k, S[j]] - se[k, S[j]]); gt = 100 * (dt[k, S[j]] - st[k, S[j]])
        if (ge < smin) smin = ge; if (gt < smin) smin = gt; ssum += ge }
      add(V, c SUBSEP "throughput_gain", g); add(V, c SUBSEP "e2e_ratio", e); add(V, c SUBSEP "ttft_ratio", t)
      add(V, c SUBSEP "slo_min_pp", smin); add(V, c SUBSEP "slo_mean_pp", ssum / n)
      ks = lp SUBSEP f[4]   # per load setting, popularity and seed: best / worst over the rates
      if (!(ks in B) || g > B[ks]) B[ks] = g; if (!(ks in We) || e < We[ks]) We[ks] = e
      if (!(ks in Wt) || t < Wt[ks]) Wt[ks] = t; if (!(ks in Ws) || smin < Ws[ks]) Ws[ks] = smin
      if (!(ks in Wm) || ssum / n < Wm[ks]) Wm[ks] = ssum / n
      if (!(lp SUBSEP f[4] in sseen)) { sseen[lp SUBSEP f[4]] = 1; add(seeds, lp, f[4]) } }
    split("throughput_gain e2e_ratio ttft_ratio slo_min_pp slo_mean_pp", M, " ")
    for (i = 1; i <= ncell; i++) { c = corder[i]; split(c, f, SUBSEP)
      for (m = 1; m <= 5; m++) { v = V[c SUBSEP M[m]]
        printf "%s,%s,%s,%s,%.6g,%.6g,%.6g,%d\n", f[1], f[2], f[3], M[m], med(v), lo(v), hi(v), cnt(v) > cells } }
    if (!nlp) { print "dz3: no DeltaZip / swap pair was run" > "/dev/stderr"; exit 1 }
    print "loads,popularity,group,metric,over_rates,value,lo,hi,seeds,label"
    split("throughput throughput_gain best gain|latency e2e_ratio worst e2e|latency ttft_ratio worst ttft|slo slo_min_pp worst slo-min|slo slo_mean_pp worst slo-mean", R, "|")
    for (i = 1; i <= nlp; i++) { lp = lporder[i]; split(lp, f, SUBSEP); ns = split(seeds[lp], sd, " ")
      for (m = 1; m <= 5; m++) { split(R[m], r, " "); v = ""
        for (j = 1; j <= ns; j++) { ks = lp SUBSEP sd[j]
          add(tmp, m SUBSEP lp, m == 1 ? B[ks] : m == 2 ? We[ks] : m == 3 ? Wt[ks] : m == 4 ? Ws[ks] : Wm[ks]) }
        v = tmp[m SUBSEP lp]
        printf "%s,%s,%s,%s,%s,%.6g,%.6g,%.6g,%d,%s/%s %s\n", f[1], f[2], r[1], r[2], r[3], med(v), lo(v), hi(v), ns,
               f[1] == "datasheet" ? "ds" : f[1] == "artifact" ? "art" : f[1], f[2], r[4] } }
  }' "$R/runs.csv" "$R/slo-runs.csv" > "$OUT/dz3.csv.tmp"
mv "$OUT/dz3-systems.csv.tmp" "$OUT/dz3-systems.csv"
mv "$OUT/dz3-slo.csv.tmp" "$OUT/dz3-slo.csv"
mv "$OUT/dz3-cells.csv.tmp" "$OUT/dz3-cells.csv"
mv "$OUT/dz3.csv.tmp" "$OUT/dz3.csv"
say "wrote $OUT/dz3.csv ($(($(wc -l < "$OUT/dz3.csv") - 1)) comparisons), dz3-cells.csv, dz3-systems.csv ($(($(wc -l < "$R/runs.csv"))) runs), dz3-slo.csv"

# ---- the paper.md section (its verdict lines: the registry's rules, on dz3.csv) ----------------
nseeds=$(echo $SEEDS | wc -w)
sec=$OUT/section.md.tmp
{
  awk -F, -v pops="$POPS" -v rates="$RATES" -v ns="$nseeds" -v seeds="$SEEDS" -v dur="$DURATION" -v models="$MODELS" \
      -v len="$LEN" '
    NR == 1 { next }
    { k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4; have[k] = 1; thr[k] = $6; e2e[k] = $12; slo[k] = $16 }
    END {
      np = split(pops, P, " "); nr = split(rates, Rt, " ")
      printf "**Serving %s Llama-2-13B variants, simulated** (`sim` executor: an event engine over a cost\n", models
      printf "model of an a100-80gb, TP 4; no GPU ran), %s s of Poisson arrivals per trace, %d trace seeds (%s)\n", dur, ns, seeds
      printf "per cell, lengths `%s` (prompt median, sigma, output median, sigma). Datasheet load\n", len
      print "rates: per system, requests served per second (makespan), mean"
      print "end-to-end latency and the share of requests within a 5 s E2E SLO, each the median over"
      print "seeds; every run with its range over seeds, TTFT, p99 and load counts, also with the"
      print "artifact'"'"'s load rates: `dz3-systems.csv`. (deltazip-12 with --prefetch --preempt is there too.)"
      print ""
      ns2 = split("swap-6 deltazip-8 deltazip-12 bitdelta deltadq dedicated", S2, " ")
      line = "| popularity | req/s offered |"; sep = "|---|---:|"
      for (s = 1; s <= ns2; s++) { line = line " " S2[s] " |"; sep = sep "---:|" }
      print line; print sep
      for (p = 1; p <= np; p++) for (r = 1; r <= nr; r++) {
        line = "| " P[p] " | " Rt[r] " |"
        for (s = 1; s <= ns2; s++) { k = "datasheet" SUBSEP P[p] SUBSEP Rt[r] SUBSEP S2[s]
          line = line (have[k] ? sprintf(" %.2f · %.1f s · %.0f%% |", thr[k], e2e[k], 100 * slo[k]) : " – |") }
        print line }
      print "" }' "$OUT/dz3-systems.csv"
  awk -F, -v ns="$nseeds" '
    NR == 1 { next }
    { k = $1 SUBSEP $2 SUBSEP $3; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
      v[k, $4] = $5; l[k, $4] = $6; h[k, $4] = $7 }
    function r(k, m, f) { return sprintf(f " (" f "–" f ")", v[k, m], l[k, m], h[k, m]) }
    END {
      print "**DeltaZip against swapping, per cell, simulated** (the better of 8 and 12 delta slots against"
      printf "swap-6, metric by metric; median over %d seeds, their range in brackets): throughput gain,\n", ns
      print "swap'"'"'s mean E2E latency and mean TTFT over DeltaZip'"'"'s, and DeltaZip'"'"'s SLO attainment minus"
      print "swap'"'"'s in percentage points over every threshold from 1 s to 30 s in 0.5 s steps: the least"
      print "gap (E2E and TTFT attainment) and the mean E2E gap. Table: `dz3-cells.csv`; the rules read"
      print "`dz3.csv`, which takes each load setting and popularity over its offered rates (the gain at"
      print "its best rate, every other comparison at its worst)."
      print ""
      print "| loads | popularity | req/s offered | throughput gain | E2E swap / DeltaZip | TTFT swap / DeltaZip | SLO gap, least (pp) | SLO gap, mean (pp) |"
      print "|---|---|---:|---:|---:|---:|---:|---:|"
      for (i = 1; i <= n; i++) { k = order[i]; split(k, f, SUBSEP)
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], r(k, "throughput_gain", "%.2fx"),
               r(k, "e2e_ratio", "%.1fx"), r(k, "ttft_ratio", "%.0fx"), r(k, "slo_min_pp", "%+.0f"), r(k, "slo_mean_pp", "%+.0f") }
      print "" }' "$OUT/dz3-cells.csv"
  echo "<!-- verdicts -->"
} > "$sec"
mv "$sec" "$OUT/section.tmp.md" # reproduce writes section.md with the verdicts, atomically
rm -f "$OUT/verdict"
say "wrote $OUT/section.md (its verdict lines come from the registry's rules for dz3)"
