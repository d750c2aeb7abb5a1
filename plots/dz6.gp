# dz6.gp: DeltaZip DZ-6 and BitDelta BD-3 measured with bench-kernel: the served layer (fp16
# base GEMM + batched delta kernel) against per-delta loops and separate fp16 models.
#   gnuplot -e "data='results/dz6/dz6.csv'; out='results/dz6/dz6'" plots/dz6.gp
# Reads the table scripts/reproduce/dz6.sh writes (columns: part, n, used, batched, baseline,
# label, batched_ms, baseline_ms, speedup, speedup_lo, speedup_hi, ideal, paper_speedup,
# largest, rounds) and writes OUT.png and OUT.svg: the speed-up of the served layer over each
# baseline (ratio of medians over interleaved rounds) with its 95 % bootstrap interval as error
# bars; left DZ-6 against the number of deltas, right BD-3 against tenants with the byte-ratio
# ideal (base counted) and the paper's point.
if (!exists("data")) data = 'results/dz6/dz6.csv'
if (!exists("out")) out = 'results/dz6/dz6'
set datafile separator ','

# dz6.sh writes each count's two baselines on consecutive lines (dz6: loop, fp16; bd3: fp16,
# loop), so `every 2` keeps one baseline's points contiguous and its line unbroken
is(p, b) = strcol(1) eq p && strcol(5) eq b
do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1200,560 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1200,560 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,2 title "Served layer (base GEMM + batched delta kernel) against per-model loops: speed-up, 95 % interval over interleaved rounds" font ',12'

  set title 'DZ-6: 100 requests over D deltas, 2:4 4-bit (base + SBMM)'
  set xlabel 'distinct deltas D'
  set ylabel 'speed-up of base + SBMM (x)'
  set logscale x 2
  set logscale y 2
  set yrange [0.125:16]
  set xrange [1.4:144]
  set grid lc rgb '#dddddd'
  set key top left Left reverse font ',10' box opaque
  set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lc rgb '#888888' dt 2
  plot data every 2::2 using (is("dz6", "dense-loop") ? $2 : NaN):12 with lines lw 2 dt 3 lc rgb '#555555' title 'ideal vs separate models: byte ratio', \
       '' every 2::1 using (is("dz6", "base+sbmm-loop") ? $2 * 0.94 : NaN):9:10:11 with yerrorlines lw 2 pt 6 lc rgb '#d35400' title 'over the per-delta loop (base GEMM + SBMM per delta)', \
       '' every 2::2 using (is("dz6", "dense-loop") ? $2 * 1.06 : NaN):9:10:11 with yerrorlines lw 2 pt 7 lc rgb '#1b6ca8' title 'over separate fp16 models (one GEMM per delta)'

  set title 'BD-3: B tenants, one request each, 1-bit deltas'
  set xlabel 'tenants B'
  set ylabel 'speed-up of base + 1-bit batched (x)'
  set yrange [0.25:32]
  set xrange [0.7:96]
  set key top left
  set label 1 'BitDelta paper (GPU, 64 tenants): 2.5x' at 64, 2.5 point pt 9 ps 1.6 lc rgb '#117a65' right offset -1.2, 0 tc rgb '#117a65' font ',10'
  plot data every 2::1 using (is("bd3", "dense-loop") ? $2 : NaN):12 with lines lw 2 dt 3 lc rgb '#555555' title 'ideal vs separate models: byte ratio (base counted)', \
       '' every 2::1 using (is("bd3", "dense-loop") ? $2 * 1.06 : NaN):9:10:11 with yerrorlines lw 2 pt 7 lc rgb '#1b6ca8' title 'over B separate fp16 GEMVs', \
       '' every 2::2 using (is("bd3", "base+bitdelta-loop") ? $2 * 0.94 : NaN):9:10:11 with yerrorlines lw 2 pt 6 lc rgb '#d35400' title 'over the per-tenant loop (base GEMV + 1-bit per tenant)'
  unset logscale
  unset label 1
  unset arrow 1
  unset multiplot
  unset output
}
