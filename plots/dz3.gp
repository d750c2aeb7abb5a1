# dz3.gp: DeltaZip DZ-3 / DZ-4, simulated (the `sim` executor): throughput, latency and SLO
# attainment of DeltaZip against model swapping (and BitDelta, DeltaDQ, dedicated GPUs) for
# Llama-2-13B variants, each point the median over trace seeds with the seeds' range as a bar.
#   gnuplot -e "data='results/dz3/dz3.csv'; out='results/dz3/dz3'" plots/dz3.gp
# Reads the siblings of DATA that scripts/reproduce/dz3.sh writes: DATA-systems.csv (columns:
# loads, popularity, rate, system, seeds, throughput_rps, throughput_lo, throughput_hi,
# mean_ttft_s, ttft_lo, ttft_hi, mean_e2e_s, e2e_lo, e2e_hi, p99_e2e_s, slo5, slo5_lo, slo5_hi,
# gpu_loads) and DATA-slo.csv (loads, popularity, rate, system, slo_s, e2e_attainment, e2e_lo,
# e2e_hi, ttft_attainment, ttft_lo, ttft_hi). One row of panels per popularity: throughput and
# mean E2E latency against the offered rate (bars: min-max over seeds), and E2E SLO attainment
# against the SLO at the highest rate (band: min-max over seeds). Solid: the profile's datasheet
# load rates; dashed: the load rates of DeltaZip's artifact.
if (!exists("data")) data = 'results/dz3/dz3.csv'
if (!exists("out")) out = 'results/dz3/dz3'
sys = data[1:strlen(data) - 4].'-systems.csv'
slo = data[1:strlen(data) - 4].'-slo.csv'
set datafile separator ','
set datafile missing ''

pops = system("awk -F, 'NR > 1 && !seen[$2]++ { printf \"%s \", $2 }' '".sys."'")
nseeds = system("awk -F, 'NR == 2 { print $5 }' '".sys."'")
np = words(pops)
stats sys every ::1 using 3 nooutput
rmin = STATS_min
rmax = STATS_max
systems = "swap-6 deltazip-8 deltazip-12 bitdelta deltadq dedicated"
labels = "'swap, 6 fp16 models on GPU (vLLM+SCB)' 'DeltaZip, 8 delta slots' 'DeltaZip, 12 delta slots' 'BitDelta, all deltas resident' 'DeltaDQ, all deltas resident' 'dedicated: 4 GPUs per model'"
colours = "#1b6ca8 #d35400 #e59866 #2a9d3a #9b59b6 #7f8c8d"
pts = "7 5 4 9 11 13"
sel(l, p, s) = strcol(1) eq l && strcol(2) eq p && strcol(4) eq s
atmax(p) = strcol(2) eq p && abs($3 - rmax) < 1e-9

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1650, 470 * np + 80 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1650, 470 * np + 80 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout np, 3 title sprintf("DeltaZip DZ-3 / DZ-4, SIMULATED (sim executor, no GPU ran): Llama-2-13B variants, TP 4 on an A100-80GB cost model, Poisson arrivals\nmedian over %s trace seeds, bars and bands: min-max over seeds; solid: datasheet load rates (PCIe 25 GB/s, disk 2 GB/s); dashed: load rates of the DeltaZip artifact (3.25 / 0.81 GB/s)", nseeds) font ',13'
  set grid lc rgb '#dddddd'
  do for [p = 1:np] {
    pop = word(pops, p)
    set xrange [rmin - 0.1:rmax + 0.1]
    set xlabel 'offered load, requests/s'
    set title sprintf('(%s) throughput, popularity %s', p == 1 ? 'a' : 'd', pop)
    set ylabel 'requests served / s (makespan)'
    set yrange [0:rmax * 1.25]
    set key top left Left reverse font ',9' samplen 2 spacing 0.9
    unset logscale y
    plot x with lines lc rgb '#999999' dt 3 title (p == 1 ? 'served = offered' : ''), \
         for [i=1:6] sys every ::1 using (sel('datasheet', pop, word(systems, i)) ? $3 : NaN):6:7:8 \
           with yerrorlines lw 2 lc rgb word(colours, i) pt (word(pts, i) + 0) title (p == 1 ? word(labels, i) : ''), \
         for [i=1:3] '' every ::1 using (sel('artifact', pop, word(systems, i)) ? $3 : NaN):6:7:8 \
           with yerrorlines lw 2 dt 2 lc rgb word(colours, i) pt (word(pts, i) + 0) notitle

    set title sprintf('(%s) mean end-to-end latency, popularity %s', p == 1 ? 'b' : 'e', pop)
    set ylabel 'mean E2E latency, s (log scale)'
    set logscale y
    set yrange [0.5:300]
    unset key
    plot for [i=1:6] sys every ::1 using (sel('datasheet', pop, word(systems, i)) ? $3 : NaN):12:13:14 \
           with yerrorlines lw 2 lc rgb word(colours, i) pt (word(pts, i) + 0) notitle, \
         for [i=1:3] '' every ::1 using (sel('artifact', pop, word(systems, i)) ? $3 : NaN):12:13:14 \
           with yerrorlines lw 2 dt 2 lc rgb word(colours, i) pt (word(pts, i) + 0) notitle
    unset logscale y

    set title sprintf('(%s) E2E SLO attainment at %g req/s, popularity %s', p == 1 ? 'c' : 'f', rmax, pop)
    set xlabel 'E2E latency SLO, s'
    set ylabel 'share of requests within the SLO'
    set xrange [1:30]
    set yrange [0:1.02]
    plot for [i=1:6] slo every ::1 using (sel('datasheet', pop, word(systems, i)) && atmax(pop) ? $5 : NaN):7:8 \
           with filledcurves fs transparent solid 0.2 noborder lc rgb word(colours, i) notitle, \
         for [i=1:6] slo every ::1 using (sel('datasheet', pop, word(systems, i)) && atmax(pop) ? $5 : NaN):6 \
           with lines lw 2 lc rgb word(colours, i) notitle, \
         for [i=1:3] '' every ::1 using (sel('artifact', pop, word(systems, i)) && atmax(pop) ? $5 : NaN):6 \
           with lines lw 2 dt 2 lc rgb word(colours, i) notitle
  }
  unset multiplot
  unset output
}
