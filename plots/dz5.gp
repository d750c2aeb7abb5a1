# dz5.gp: DeltaZip DZ-5 measured here: the time to load a full model and its compressed deltas
# from disk to RAM (cold reads), against the paper's.
#   gnuplot -e "data='results/dz5/dz5.csv'; out='results/dz5/dz5'" plots/dz5.gp
# Reads the table scripts/reproduce/dz5.sh writes (columns: name, label, file_bytes,
# read_s_median, read_s_min, read_s_max, read_gbs, full_bytes, full_s, read_mode) and writes
# OUT.png and OUT.svg: one bar per file, its full-model load time in seconds (log scale), with
# the paper's full model (~32 s) and delta (~1.5 s) as lines.
if (!exists("data")) data = 'results/dz5/dz5.csv'
if (!exists("out")) out = 'results/dz5/dz5'
set datafile separator ','

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1000,600 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1000,600 dynamic font 'Sans,11'; set output out.'.svg' }
  set title "DeltaZip DZ-5: loading a model against loading its delta, disk → RAM (measured here, cold reads)" font ',13'
  set ylabel 'full-model load time from disk, s (log scale)'
  set logscale y 10
  set yrange [0.1:500]
  set style fill solid 0.85 border -1
  set boxwidth 0.6
  set grid ytics lc rgb '#dddddd'
  set xtics rotate by -12 font ',10' nomirror
  set key top right font ',10' box opaque
  set arrow 1 from graph 0, first 32 to graph 1, first 32 nohead dt 2 lw 2 lc rgb '#1b6ca8'
  set arrow 2 from graph 0, first 1.5 to graph 1, first 1.5 nohead dt 2 lw 2 lc rgb '#d35400'
  plot data every ::1 using 0:9:(column(0) == 0 ? 0x1b6ca8 : 0xd35400):xtic(2) with boxes lc rgb variable notitle, \
       '' every ::1 using 0:9:(sprintf('%.1f s (%.1f GB)', $9, $8 / 1e9)) with labels offset 0, 1 font ',10' notitle, \
       NaN with lines dt 2 lw 2 lc rgb '#1b6ca8' title 'paper (13B): full model ≈ 32 s', \
       NaN with lines dt 2 lw 2 lc rgb '#d35400' title 'paper (13B): delta ≈ 1.5 s'
  unset arrow 1; unset arrow 2
  unset output
}
