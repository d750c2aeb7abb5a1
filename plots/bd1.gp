# bd1.gp: BitDelta BD-1: the share of the fine-tuning gain the 1-bit delta keeps, undistilled and
# in every setting of the scale-distillation ablation (steps x text x loss), mean over the zoo's
# fine-tunes with its interval, and each fine-tune's point.
#   gnuplot -e "data='results/bd1/bd1.csv'; out='results/bd1/bd1'" plots/bd1.gp
# Reads the table scripts/reproduce/bd1.sh joins (columns: size, task, setting, steps, text, loss,
# paper, label, seeds, metric, value, kept, kept_lo, kept_hi, interval, x: the bar of the setting) and writes OUT.png and
# OUT.svg: one bar per setting (the mean rows, in table order), the paper's setting in red, the
# interval as an error bar, the fine-tunes as points, the 90 % line of the verdict's first tier.
if (!exists("data")) data = 'results/bd1/bd1.csv'
if (!exists("out")) out = 'results/bd1/bd1'
set datafile separator ','
set datafile missing ''

stats data every ::1 using (strcol(2) eq 'mean' ? 1 : 0) nooutput
nset = int(STATS_sum)
stats data every ::1 using (strcol(2) eq 'mean' ? 0 : 1) nooutput
nrow = int(STATS_sum)
stats data every ::1 using 13 nooutput
ylo = STATS_min < 0 ? STATS_min - 0.05 : 0

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1400,600 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1400,600 dynamic font 'Sans,11'; set output out.'.svg' }
  set title "BitDelta BD-1: gain kept by the 1-bit delta under scale distillation (mean over fine-tunes, 95 % interval)" font ',13'
  set grid ytics lc rgb '#dddddd'
  set style fill solid 0.85 noborder
  set boxwidth 0.6
  set xrange [-0.7:nset - 0.3]
  set yrange [ylo:1.15]
  set ylabel 'share of the fine-tuning gain kept (primary metric)'
  set xtics rotate by -35 font ',9'
  set key top left Left reverse opaque box font ',10'
  # the per-task rows come first, the nset mean rows last
  plot 0.9 with lines dt 2 lw 1.5 lc rgb '#aa0000' title '90 % (the verdict''s first tier)', \
       data every ::(nrow + 1) using 0:($7 == 0 ? $12 : NaN) with boxes lc rgb '#1b6ca8' title 'mean over the fine-tunes', \
       '' every ::(nrow + 1) using 0:($7 == 1 ? $12 : NaN) with boxes lc rgb '#d35400' title 'the paper''s setting (800 steps, English, MSE)', \
       '' every ::1::nrow using 16:12 with points pt 7 ps 0.9 lc rgb '#555555' title 'each fine-tune', \
       '' every ::(nrow + 1) using 0:12:13:14 with yerrorbars pt -1 lw 1.5 lc rgb '#000000' title '95 % interval', \
       '' every ::(nrow + 1) using 0:(NaN):xtic(strcol(8)) notitle
  unset output
}
