# bd4.gp: BitDelta BD-4: memory against tenants, measured on the kernel executor and scaled.
#   gnuplot -e "data='results/bd4/bd4.csv'; out='results/bd4/bd4'" plots/bd4.gp
# Reads what scripts/reproduce/bd4.sh writes: DATA (metric, value, lo, hi, paper, label: the fits'
# fixed_gb, k, fixed_naive_gb and k_naive among them) and its siblings DATA-measured.csv (system, layers, tenants,
# measured_gb, allocated_gb, predicted_gb, measured_over_predicted) and DATA-scaled.csv
# (tenants, bitdelta_gb, bitdelta_fits, naive_gb, naive_fits, gpu_gb, usable_gb). Left: each
# measured run's peak resident memory against the bytes the executor allocated, with the fitted
# lines; right: Llama-2-7B scaled from it, BitDelta and every fp16 model resident against the
# tenant count, with one GPU's memory (open points do not fit). Writes OUT.png and OUT.svg.
if (!exists("data")) data = 'results/bd4/bd4.csv'
if (!exists("out")) out = 'results/bd4/bd4'
meas = data[1:strlen(data) - 4].'-measured.csv'
scaled = data[1:strlen(data) - 4].'-scaled.csv'
set datafile separator ','
set datafile missing ''
val(m) = real(system("awk -F, -v m=".m." '$1 == m { print $2 }' '".data."'"))
c0 = val("fixed_gb")
k = val("k")
c0n = val("fixed_naive_gb")
kn = val("k_naive")
stats meas every ::1 using 5 nooutput
amax = STATS_max
stats scaled every ::1 using 1 nooutput
bmax = STATS_max
stats scaled every ::1 using 6 nooutput
gpu = STATS_max
stats scaled every ::1 using 7 nooutput
usable = STATS_max

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1500,620 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1500,620 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1, 2 title "BitDelta BD-4: memory against tenants, measured on the kernel executor (serve --executor cpu-kernels) and scaled by exact tensor sizes" font ',13'
  set grid lc rgb '#dddddd'
  set key top left Left reverse font ',10' box opaque width 1

  set title "(a) measured: peak resident memory of each run (Llama-2-7B widths, fewer layers)"
  set xlabel 'bytes the executor allocates (exact tensor sizes), GB'
  set ylabel 'peak resident memory (OS), GB'
  set xrange [0:amax * 1.1]
  set yrange [0:*]
  plot c0 + k * x with lines lw 2 lc rgb '#d35400' title sprintf('BitDelta fit: %.2f GB + %.4f × allocated', c0, k), \
       c0n + kn * x with lines lw 1.5 dt 2 lc rgb '#1b6ca8' title sprintf('naive fit: %.2f GB + %.4f × allocated', c0n, kn), \
       meas every ::1 using (strcol(1) eq 'bitdelta' ? $5 : NaN):4 with points pt 7 ps 1.4 lc rgb '#d35400' title 'BitDelta: base + B × (1-bit delta + lm\_head)', \
       '' every ::1 using (strcol(1) eq 'naive' ? $5 : NaN):4 with points pt 5 ps 1.3 lc rgb '#1b6ca8' title 'naive: B fp16 models'

  set title "(b) scaled: Llama-2-7B tenants on one GPU (KV cache not counted)"
  set xlabel 'tenants B (fine-tuned models served)'
  set ylabel 'GPU memory, GB (10^9 bytes)'
  set xrange [0:bmax * 1.05]
  set yrange [0:1.6 * gpu]
  set arrow 1 from 0, gpu to bmax * 1.05, gpu nohead lw 2 lc rgb '#aa0000'
  set label 1 sprintf('one GPU: %.1f GB', gpu) at bmax * 0.55, gpu + 0.04 * gpu left tc rgb '#aa0000' font ',10'
  set arrow 2 from 0, usable to bmax * 1.05, usable nohead dt 2 lw 1.5 lc rgb '#aa0000'
  set label 2 sprintf('usable: %.1f GB', usable) at bmax * 0.55, usable - 0.06 * gpu left tc rgb '#aa0000' font ',10'
  set key top right
  plot scaled every ::1 using 1:2 with lines lw 2 lc rgb '#d35400' title 'BitDelta: fixed + k × (base + B × delta)', \
       '' every ::1 using 1:($3 > 0 ? $2 : NaN) with points pt 7 ps 1.2 lc rgb '#d35400' notitle, \
       '' every ::1 using 1:($3 > 0 ? NaN : $2) with points pt 6 ps 1.2 lw 2 lc rgb '#d35400' notitle, \
       '' every ::1 using 1:4 with lines lw 2 lc rgb '#1b6ca8' title 'naive: fixed + k × B × fp16 model', \
       '' every ::1 using 1:($5 > 0 ? $4 : NaN) with points pt 7 ps 1.2 lc rgb '#1b6ca8' notitle, \
       '' every ::1 using 1:($5 > 0 ? NaN : $4) with points pt 6 ps 1.2 lw 2 lc rgb '#1b6ca8' notitle
  unset arrow 1; unset arrow 2; unset label 1; unset label 2
  unset multiplot
  unset output
}
