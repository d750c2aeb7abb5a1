# bd4.gp: BitDelta BD-4 measured on the `sim` executor: GPU memory against the tenant count.
#   gnuplot -e "data='results/bd4/bd4.csv'; out='results/bd4/bd4'" plots/bd4.gp
# Reads the table scripts/reproduce/bd4.sh writes from the simulate runs (columns: tenants,
# bitdelta_fits, bitdelta_weights_gb, bitdelta_peak_gb, naive_fits, naive_gb, gpu_gb, usable_gb,
# dedicated_gpus) and writes OUT.png and OUT.svg: BitDelta's weights and peak memory, every
# fp16 model resident (naive), and the one-GPU capacity; open points do not fit.
if (!exists("data")) data = 'results/bd4/bd4.csv'
if (!exists("out")) out = 'results/bd4/bd4'
set datafile separator ','
set datafile missing ''

stats data every ::1 using 1 nooutput
bmax = STATS_max
stats data every ::1 using 7 nooutput
gpu = STATS_max
stats data every ::1 using 8 nooutput
usable = STATS_max
ymax = 1.6 * gpu

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1000,620 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1000,620 dynamic font 'Sans,11'; set output out.'.svg' }
  set title "BitDelta BD-4 (sim executor): GPU memory against tenants on one GPU\n(filled points fit on the GPU, open points do not)" font ',13'
  set xlabel 'tenants B (fine-tuned models served)'
  set ylabel 'GPU memory, GB (10^9 bytes)'
  set xrange [0:bmax * 1.05]
  set yrange [0:ymax]
  set grid lc rgb '#dddddd'
  set key top left Left reverse font ',10' box opaque width 1
  set arrow 1 from 0, gpu to bmax * 1.05, gpu nohead lw 2 lc rgb '#aa0000'
  set label 1 sprintf('one GPU: %.1f GB (%.0f GiB)', gpu, gpu * 1e9 / 2**30) at bmax * 0.2, gpu + 0.03 * ymax left tc rgb '#aa0000' font ',10'
  set arrow 2 from 0, usable to bmax * 1.05, usable nohead dt 2 lw 1.5 lc rgb '#aa0000'
  set label 2 sprintf('usable for weights + KV: %.1f GB', usable) at bmax * 0.2, usable - 0.035 * ymax left tc rgb '#aa0000' font ',10'
  plot data every ::1 using 1:3 with lines lw 2 lc rgb '#d35400' title 'BitDelta weights: base + B × 1-bit delta', \
       '' every ::1 using 1:($2 > 0 ? $3 : NaN) with points pt 7 ps 1.2 lc rgb '#d35400' notitle, \
       '' every ::1 using 1:($2 > 0 ? NaN : $3) with points pt 6 ps 1.2 lw 2 lc rgb '#d35400' notitle, \
       '' every ::1 using 1:4 with linespoints lw 2 dt 3 pt 5 ps 1 lc rgb '#e59866' title 'BitDelta peak (weights + KV cache in use)', \
       '' every ::1 using 1:6 with lines lw 2 lc rgb '#1b6ca8' title 'naive: every fp16 model on the GPU', \
       '' every ::1 using 1:($5 > 0 ? $6 : NaN) with points pt 7 ps 1.2 lc rgb '#1b6ca8' notitle, \
       '' every ::1 using 1:($5 > 0 ? NaN : $6) with points pt 6 ps 1.2 lw 2 lc rgb '#1b6ca8' notitle
  unset arrow 1; unset arrow 2; unset label 1; unset label 2
  unset output
}
