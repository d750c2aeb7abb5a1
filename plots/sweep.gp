# sweep.gp: one metric of a gathered sweep against one axis, one line for each value of another.
#   gnuplot -e "data='DIR/summary.csv'; xcol='rate'; ycol='throughput_rps'; by='policy'; out='DIR/plot'" plots/sweep.gp
# Reads the CSV `deltabench sweep gather` writes (a header row of column names: cell, the axes,
# the table's columns, provenance); xcol, ycol and by are column names (by: optional, one line
# when absent), out the output stem: out.png and out.svg. Rows of one line are drawn in xcol
# order; rows that share xcol within a line (other axes not fixed) are averaged: fix them with
# `where`, a column=value condition (e.g. where='loads=datasheet'), when that is not meant.
if (!exists("data")) { print "sweep.gp: set data='FILE.csv' (and xcol, ycol, by, out)"; exit status 1 }
if (!exists("xcol") || !exists("ycol")) { print "sweep.gp: set xcol and ycol to column names"; exit status 1 }
if (!exists("out")) out = data[1:strlen(data) - 4]
if (!exists("by")) by = ''
if (!exists("where")) where = ''
set datafile separator ','
set datafile columnheaders
wcol = where eq '' ? '' : where[1:strstrt(where, '=') - 1]
wval = where eq '' ? '' : where[strstrt(where, '=') + 1:*]
keep = where eq '' ? 1 : 0
# the values of `by`, in order of first appearance (awk finds the column by its name)
vals = by eq '' ? 'all' : system("awk -F, -v c='".by."' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } k && !seen[$k]++ { printf \"%s \", $k }' '".data."'")
if (by ne '' && words(vals) == 0) { print sprintf("sweep.gp: %s: no column '%s' or no rows", data, by); exit status 1 }
sel(v) = (by eq '' || strcol(by) eq v) && (keep || strcol(wcol) eq wval)
do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 900, 600 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 900, 600 dynamic font 'Sans,11'; set output out.'.svg' }
  set title sprintf('%s against %s%s%s', ycol, xcol, by eq '' ? '' : ', one line per '.by, where eq '' ? '' : ' ('.where.')') noenhanced
  set xlabel xcol noenhanced
  set ylabel ycol noenhanced
  set grid lc rgb '#dddddd'
  set key outside right top noenhanced
  plot for [i = 1:words(vals)] data using (sel(word(vals, i)) ? column(xcol) : NaN):(column(ycol)) \
       smooth unique with linespoints lw 2 pt 7 title (by eq '' ? ycol : by.' = '.word(vals, i))
  unset output
}
