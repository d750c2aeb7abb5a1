# dz6.gp: DeltaZip DZ-6 and BitDelta BD-3 measured with bench-kernel: batched multi-delta kernels
# against per-model loops.
#   gnuplot -e "data='results/dz6/dz6.csv'; out='results/dz6/dz6'" plots/dz6.gp
# Reads the table scripts/reproduce/dz6.sh writes from the `kernels` tables (columns: part, n,
# used, batched_ms, loop_ms, dense_loop_ms, speedup_vs_loop, speedup_vs_dense, ideal_vs_dense,
# then the medians) and writes OUT.png and OUT.svg: left, DZ-6 call times against the number of
# deltas; right, BD-3 speed-up over separate fp16 GEMVs against tenants, with the byte-ratio ideal.
if (!exists("data")) data = 'results/dz6/dz6.csv'
if (!exists("out")) out = 'results/dz6/dz6'
set datafile separator ','

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1200,560 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1200,560 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,2 title "Batched multi-delta kernels against per-model loops (bench-kernel, best call)" font ',13'

  set title 'DZ-6: requests over D deltas, 2:4 4-bit (SBMM)'
  set xlabel 'distinct deltas D'
  set ylabel 'time of one call, ms'
  set logscale x 2
  set yrange [0:*]
  set grid lc rgb '#dddddd'
  set key top left Left reverse font ',10' box opaque
  plot data every ::1 using (strcol(1) eq "dz6" ? $2 : NaN):4 with linespoints lw 2 pt 7 lc rgb '#d35400' title 'SBMM, one call', \
       '' every ::1 using (strcol(1) eq "dz6" ? $2 : NaN):5 with linespoints lw 2 dt 2 pt 6 lc rgb '#d35400' title 'SBMM kernel once per delta', \
       '' every ::1 using (strcol(1) eq "dz6" ? $2 : NaN):6 with linespoints lw 2 pt 5 lc rgb '#1b6ca8' title 'fp16 GEMM once per delta'

  set title 'BD-3: B tenants, one request each, 1-bit deltas'
  set xlabel 'tenants B'
  set ylabel 'speed-up over B separate fp16 GEMVs'
  set logscale y 2
  set yrange [1:32]
  set key bottom right
  set label 1 'BitDelta paper (GPU, 64 tenants): 2.5x' at 64, 2.54 point pt 9 ps 1.6 lc rgb '#117a65' right offset -1.2, 0 tc rgb '#117a65' font ',10'
  plot data every ::1 using (strcol(1) eq "bd3" ? $2 : NaN):9 with lines lw 2 dt 3 lc rgb '#555555' title 'ideal: byte ratio', \
       '' every ::1 using (strcol(1) eq "bd3" ? $2 : NaN):8 with linespoints lw 2 pt 7 lc rgb '#d35400' title '1-bit, one batched call', \
       '' every ::1 using (strcol(1) eq "bd3" ? $2 : NaN):($6 / $5) with linespoints lw 2 dt 2 pt 6 lc rgb '#d35400' title '1-bit kernel once per tenant'
  unset logscale
  unset label 1
  unset multiplot
  unset output
}
