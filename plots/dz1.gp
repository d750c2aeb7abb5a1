# dz1.gp: DeltaZip DZ-1 (size): the zoo's delta statistics against the fitted generator, and the
# Llama-2-7B ratio over the fitted range.
#   gnuplot -e "data='results/dz1/dz1.csv'; out='results/dz1/dz1'" plots/dz1.gp
# Reads the table scripts/reproduce/dz1.sh joins (columns: kind, model, tail_sigma, row_sigma,
# col_sigma, kurtosis, row_max_rms, near_zero, row_spread, col_spread, fit_distance, bits_linear,
# ratio_zstd, ratio_deflate, ratio_lo, ratio_hi, paper) and writes OUT.png and OUT.svg.
# Panels: (a) kurtosis and row max/RMS of each fine-tune's delta beside its fitted generator
# point, (b) the Llama-2-7B whole-checkpoint ratio (2:4 + 2-bit + DEFLATE) at each point of the
# fitted range, its interval, the historical default and the paper's 9.86x.
if (!exists("data")) data = 'results/dz1/dz1.csv'
if (!exists("out")) out = 'results/dz1/dz1'
set datafile separator ','
set datafile missing ''

is(k) = strcol(1) eq k
stats data every ::1 using (is('zoo') ? 1 : 0) nooutput
nz = int(STATS_sum)
stats data every ::1 using (is('sweep') || is('center') || is('default') ? 1 : 0) nooutput
npt = int(STATS_sum)
# rows: zoo and fit alternate (2 nz rows), then the npt Llama points, then the intervals
stats data every ::1 using (is('interval') ? $15 : NaN) nooutput
ivlo = STATS_min
stats data every ::1 using (is('interval') ? $16 : NaN) nooutput
ivhi = STATS_max
stats data every ::1 using (is('interval') ? $17 : NaN) nooutput
paper = STATS_max

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1400,560 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1400,560 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,2 title "DeltaZip DZ-1 (size): synthetic deltas fitted to the zoo, and Llama-2-7B over the fitted range" font ',13'
  set grid ytics lc rgb '#dddddd'
  set style fill solid 0.85 noborder
  set boxwidth 0.2

  set title '(a) the zoo''s deltas and their fitted generator points'
  set xrange [-0.6:nz - 0.4]
  set ylabel 'median over the tensors'
  set yrange [0:*]
  set xtics rotate by -30 font ',9'
  set key top left Left reverse font ',10'
  plot data every 2::1::(2 * nz) using ($0 - 0.3):6 with boxes lc rgb '#1b6ca8' title 'kurtosis, zoo', \
       '' every 2::2::(2 * nz) using ($0 - 0.1):6 with boxes lc rgb '#9cc3e0' title 'kurtosis, fitted generator', \
       '' every 2::1::(2 * nz) using ($0 + 0.1):7 with boxes lc rgb '#d35400' title 'row max/RMS, zoo', \
       '' every 2::2::(2 * nz) using ($0 + 0.3):7 with boxes lc rgb '#f0b27a' title 'row max/RMS, fitted generator', \
       '' every 2::1::(2 * nz) using 0:(NaN):xtic(2) notitle

  set title '(b) Llama-2-7B, 2:4 + 2-bit + DEFLATE, whole checkpoint'
  unset xtics
  set xtics rotate by -30 font ',9'
  set autoscale x
  set xrange [-0.6:npt - 0.4]
  set ylabel 'fp16 bytes / stored bytes'
  set yrange [0:*]
  set key top left Left reverse font ',10'
  set object 1 rect from graph 0, first ivlo to graph 1, first ivhi fc rgb '#2a9d3a' fs transparent solid 0.15 noborder
  plot paper with lines dt 2 lw 1.5 lc rgb '#aa0000' title sprintf('paper: %.2fx', paper), \
       data every ::(2 * nz + 1)::(2 * nz + npt) using 0:14 \
         with points pt 7 ps 1.4 lc rgb '#2a9d3a' title sprintf('measured at a point; band: the fitted range [%.2f, %.2f]', ivlo, ivhi), \
       '' every ::(2 * nz + 1)::(2 * nz + npt) using 0:14:(sprintf("%.2fx", $14)) with labels offset 0, 1 font ',9' notitle, \
       '' every ::(2 * nz + 1)::(2 * nz + npt) using 0:(NaN):xtic(sprintf("%s %s/%s/%s", strcol(1), strcol(3), strcol(4), strcol(5))) notitle
  unset object 1
  unset multiplot
  unset output
}
