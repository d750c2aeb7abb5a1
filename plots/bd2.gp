# bd2.gp: BitDelta BD-2 measured: per-model footprint of the 1-bit delta on Llama-shaped pairs.
#   gnuplot -e "data='results/bd2/bd2.csv'; out='results/bd2/bd2'" plots/bd2.gp
# Reads the table scripts/reproduce/bd2.sh joins from the compress reports (columns: shape, x,
# xpos (the bar's position), method, label, lin_numel, lin_fp16_bytes, lin_bytes, ratio_linear, all_numel, all_fp16_bytes,
# all_bytes, ratio_whole, ratio_gb_over_gib, paper_reported, paper_one_unit) and writes OUT.png
# and OUT.svg. Panels: (a) whole-checkpoint size per model and method, (b) BitDelta's ratio
# against the paper's, as reported (GB over GiB) and restated in one unit, with the 10x line.
if (!exists("data")) data = 'results/bd2/bd2.csv'
if (!exists("out")) out = 'results/bd2/bd2'
set datafile separator ','
set datafile missing ''

stats data every ::1 using 2 nooutput
nx = STATS_max + 1
methods = "fp16 bitdelta deltadq deltazip"
labels = "'fp16 fine-tune' 'BitDelta 1-bit' 'DeltaDQ 16x (our reading)' 'DeltaZip 2:4 + 2-bit + zstd'"
colours = "#7f8c8d #d35400 #1b6ca8 #2a9d3a"
bw = 0.19
is(m) = strcol(4) eq m

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1400,560 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1400,560 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,2 title "BitDelta BD-2, measured: per-model footprint on Llama-shaped synthetic checkpoints (exact byte counts)" font ',13'
  set xrange [-0.6:nx - 0.4]
  set grid ytics lc rgb '#dddddd'
  set style fill solid 0.85 noborder
  set boxwidth bw

  set title '(a) whole checkpoint size'
  set ylabel 'GB (10^9 bytes, log scale)'
  set logscale y
  set yrange [0.5:300]
  set key top left Left reverse font ',10'
  plot for [i=1:4] data every ::1 using (is(word(methods, i)) ? $3 : NaN):($12 / 1e9) \
         with boxes lc rgb word(colours, i) title word(labels, i), \
       for [i=1:4] '' every ::1 using (is(word(methods, i)) ? $3 : NaN):($12 / 1e9):(sprintf(i == 1 ? "%.1f" : "%.2f", $12 / 1e9)) \
         with labels offset 0, 0.7 font ',9' notitle, \
       '' every ::1 using 2:(NaN):xtic(1) notitle
  unset logscale y

  set title '(b) BitDelta compression ratio, whole checkpoint'
  set ylabel 'fp16 bytes / stored bytes'
  set yrange [0:21]
  set key top left Left reverse font ',10'
  plot 10 with lines dt 2 lw 1.5 lc rgb '#aa0000' title 'the claim: > 10x', \
       data every ::1 using (is('bitdelta') ? $2 - 0.12 : NaN):13 with boxes lc rgb '#d35400' title 'measured here (one unit: GB / GB)', \
       '' every ::1 using (is('bitdelta') ? $2 - 0.12 : NaN):13:(sprintf("%.2fx", $13)) with labels offset 0, 0.7 font ',9' notitle, \
       '' every ::1 using (is('bitdelta') ? $2 + 0.12 : NaN):16 with boxes lc rgb '#f0b27a' title 'paper, restated in one unit', \
       '' every ::1 using (is('bitdelta') ? $2 + 0.12 : NaN):15 with points pt 6 ps 1.6 lw 2 lc rgb '#000000' title 'paper as reported (GB / GiB)', \
       '' every ::1 using (is('bitdelta') ? $2 + 0.12 : NaN):15:(sprintf("%.2fx", $15)) with labels offset 0, 1.1 font ',9' notitle, \
       '' every ::1 using 2:(NaN):xtic(1) notitle
  unset multiplot
  unset output
}
