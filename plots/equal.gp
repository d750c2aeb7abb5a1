# equal.gp: every method's quality against its compression ratio on the zoo, one curve per
# method, one panel per fine-tune (primary metric: exact match where the task has one), the
# targets 8x / 16x / 32x marked; the values read at each target are drawn as open circles.
#   gnuplot -e "data='results/equal/equal.csv'; out='results/equal/equal'" plots/equal.gp
# Reads the table scripts/reproduce/equal.sh joins (columns: kind, size, task, method, label,
# setting, target, metric, primary, ratio, q, q_lo, q_hi, reached, seeds, baseline, diff,
# diff_lo, diff_hi) and writes OUT.png and OUT.svg.
if (!exists("data")) data = 'results/equal/equal.csv'
if (!exists("out")) out = 'results/equal/equal'
set datafile separator ','
set datafile missing ''
fts = system("awk -F, 'NR > 1 && $1 == \"point\" && $9 == 1 && !s[$2 \"/\" $3]++ { printf \"%s/%s \", $2, $3 }' '".data."'")
n = words(fts)
cols = n > 2 ? 2 : (n < 1 ? 1 : n)
rows = int((n + cols - 1) / cols)
methods = "rtn bitdelta dare magprune lowrank deltazip deltadq"
labels = "'RTN per row' 'BitDelta 1-bit' 'DARE' 'magnitude pruning' 'low rank (SVD)' 'DeltaZip n:m + GPTQ' 'DeltaDQ (our reading)'"
colours = "#7f7f7f #8e44ad #e67e22 #16a085 #2980b9 #27ae60 #c0392b"
pts = "1 2 4 6 8 10 7"
is(c, s) = strcol(c) eq s
ft(i) = strcol(2).'/'.strcol(3) eq word(fts, i)
set logscale x 2
set xrange [3:80]
set xtics (4, 8, 16, 32, 64)
set grid ytics lc rgb '#dddddd'
set key outside right top font ',9' samplen 2
set xlabel 'compression ratio of the linear layers'
set ylabel 'share of the fine-tuning gain kept'
set yrange [-0.5:1.15]

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 760 * cols + 60, 420 * rows + 60 font 'Sans,10'; set output out.'.png' } \
  else { set terminal svg size 760 * cols + 60, 420 * rows + 60 dynamic font 'Sans,10'; set output out.'.svg' }
  set multiplot layout rows, cols title "Every method at truly equal bytes: quality against ratio (95 % intervals; circles: read at 8x / 16x / 32x)" font ',12'
  do for [i = 1:n] {
    met = system("awk -F, -v f='".word(fts, i)."' 'NR > 1 && $2 \"/\" $3 == f && $9 == 1 { print $8; exit }' '".data."'")
    set title word(fts, i).' ('.met.')'
    set arrow 1 from 8, graph 0 to 8, graph 1 nohead dt 3 lc rgb '#999999'
    set arrow 2 from 16, graph 0 to 16, graph 1 nohead dt 3 lc rgb '#999999'
    set arrow 3 from 32, graph 0 to 32, graph 1 nohead dt 3 lc rgb '#999999'
    plot for [j = 1:7] data every ::1 using (is(1, 'point') && ft(i) && $9 == 1 && is(4, word(methods, j)) ? $10 : NaN):11:12:13 \
           with yerrorlines lc rgb word(colours, j) pt (word(pts, j) + 0) ps 0.7 title word(labels, j), \
         for [j = 1:7] '' every ::1 using (is(1, 'target') && ft(i) && $9 == 1 && $14 == 1 && is(4, word(methods, j)) ? $10 : NaN):11 \
           with points lc rgb word(colours, j) pt 6 ps 1.5 notitle
  }
  unset multiplot
  unset output
}
