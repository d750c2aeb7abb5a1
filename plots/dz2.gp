# dz2.gp: DZ-2 measured: quality against ratio for the delta and the whole fine-tuned model at
# the same formats, one panel per fine-tune, with the read-off of the whole model's ratio at
# the delta's 2:4 + 2-bit quality.
#   gnuplot -e "data='results/dz2/dz2.csv'; out='results/dz2/dz2'" plots/dz2.gp
# Reads the table scripts/reproduce/dz2.sh joins (columns: side, model, format, label, primary,
# metric, ratio, q, q_lo, q_hi, ratio_delta, ratio_whole, ratio_whole_lo, ratio_whole_hi,
# advantage, adv_lo, adv_hi); draws the primary metric's rows (exact match where the task has
# one) and writes OUT.png and OUT.svg.
if (!exists("data")) data = 'results/dz2/dz2.csv'
if (!exists("out")) out = 'results/dz2/dz2'
set datafile separator ','
set datafile missing ''
models = system("awk -F, 'NR > 1 && $1 == \"delta\" && $5 == 1 && !s[$2]++ { printf \"%s \", $2 }' '".data."'")
n = words(models)
cols = n > 4 ? 4 : (n < 1 ? 1 : n)
rows = int((n + cols - 1) / cols)
is(c, s) = strcol(c) eq s
set logscale x 2
set xrange [0.8:40]
set xtics (1, 2, 4, 8, 16, 32)
set grid xtics ytics lc rgb '#dddddd'
set key bottom left font ',9' samplen 2
set xlabel 'compression ratio of the linear layers (zstd)'
set ylabel 'share of the fine-tuning gain kept'

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 420 * cols + 60, 360 * rows + 60 font 'Sans,10'; set output out.'.png' } \
  else { set terminal svg size 420 * cols + 60, 360 * rows + 60 dynamic font 'Sans,10'; set output out.'.svg' }
  set multiplot layout rows, cols title "DZ-2 measured: the delta against the whole model at the same formats (read-off: whole model's ratio at the delta's 2:4 + 2-bit quality)" font ',12'
  do for [i = 1:n] {
    m = word(models, i)
    met = system("awk -F, -v m='".m."' 'NR > 1 && $2 == m && $5 == 1 { print $6; exit }' '".data."'")
    set title m.' ('.met.')'
    plot data every ::1 using (is(2, m) && is(1, 'delta') && $5 == 1 ? $7 : NaN):8:9:10 \
           with yerrorlines lc rgb '#1b6ca8' pt 7 ps 0.7 title 'delta', \
         '' every ::1 using (is(2, m) && is(1, 'whole') && $5 == 1 ? $7 : NaN):8:9:10 \
           with yerrorlines lc rgb '#c0392b' pt 5 ps 0.7 title 'whole model', \
         '' every ::1 using (is(2, m) && is(1, 'readoff') && $5 == 1 ? $12 : NaN):8:13:14 \
           with xerrorbars lc rgb '#555555' pt 6 ps 1.2 title 'whole model at the delta''s quality'
  }
  unset multiplot
  unset output
}
