# methods.gp: every delta-compression method at equal bytes on the model zoo (a figure; BD-1 is plots/bd1.gp, DQ-1 plots/equal.gp, DQ-2 plots/dq2.gp).
#   gnuplot -e "data='results/methods/methods.csv'; out='results/methods/methods'" plots/methods.gp
# Reads the tables scripts/reproduce/methods.sh joins from the compress and eval runs: the
# sibling DATA-mean.csv (size, method, label, target, reached, ratio_linear, bpb_kept,
# bpb_kept_min, acc_kept, tasks: means over the fine-tunes) and writes OUT.png and OUT.svg.
# Panels: (a) share of the fine-tuning gain kept at the 16x and 32x targets, per method, on the
# largest zoo size run, each bar labelled with its share kept and its measured ratio
# (ratio_linear); (b) the same against the achieved ratio, every target, every size.
if (!exists("data")) data = 'results/methods/methods.csv'
if (!exists("out")) out = 'results/methods/methods'
mean = data[1:strlen(data) - 4].'-mean.csv'
set datafile separator ','
set datafile missing ''

sizes = system("awk -F, 'NR > 1 && !seen[$1]++ { printf \"%s \", $1 }' '".mean."'")
nz = words(sizes)
big = word(sizes, nz)
methods = "bitdelta bitdelta-distill bitdelta-distill-kl rtn dare magprune lowrank deltazip deltadq"
labels = "'BitDelta 1-bit' 'BitDelta + distillation' 'BitDelta + distillation (KL)' 'RTN 1-bit' 'DARE' 'magnitude pruning' 'low rank (SVD)' 'DeltaZip 1:m 2-bit zstd' 'DeltaDQ (our reading)'"
colours = "#d35400 #e59866 #f5b041 #7f8c8d #1b6ca8 #5dade2 #9b59b6 #2a9d3a #c0392b"
pts = "7 5 3 9 11 13 15 4 6"
nmeth = words(methods)
idx(s) = s eq 'bitdelta' ? 1 : s eq 'bitdelta-distill' ? 2 : s eq 'bitdelta-distill-kl' ? 3 : \
         s eq 'rtn' ? 4 : s eq 'dare' ? 5 : s eq 'magprune' ? 6 : s eq 'lowrank' ? 7 : \
         s eq 'deltazip' ? 8 : s eq 'deltadq' ? 9 : NaN
dtz(z) = z == nz ? 1 : z + 1
clip(y) = y < -0.45 ? -0.45 : y
ok(sz, tg) = strcol(1) eq sz && $5 > 0 && $4 == tg
none(sz, tg) = strcol(1) eq sz && $5 == 0 && $4 == tg

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1600,640 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1600,640 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,2 title "Delta compression at equal bytes on the model zoo: share of the fine-tuning gain kept (bits per byte, mean over the fine-tunes)" font ',13'
  set grid ytics lc rgb '#dddddd'
  set bmargin 5
  set ylabel 'share of the fine-tuning gain kept (1 = fine-tune, 0 = base)'
  set yrange [-0.5:1.2]
  set ytics -0.4, 0.2, 1.2

  set title sprintf("(a) at the 16x and 32x targets, zoo %s; each bar: share kept, measured ratio\n(1-bit BitDelta and RTN have one size; values below -0.45 drawn at the floor)", big)
  set xrange [0.4:9.6]
  set xtics ('BitDelta' 1, "BitDelta +\ndistillation" 2, "BitDelta +\ndistill. (KL)" 3, 'RTN 1-bit' 4, 'DARE' 5, "magnitude\npruning" 6, "low rank\n(SVD)" 7, "DeltaZip 1:m\n2-bit + zstd" 8, "DeltaDQ\n(our reading)" 9) font ',10'
  set style fill solid 0.85 noborder
  set boxwidth 0.36
  set key top right font ',10'
  plot 1 with lines dt 3 lc rgb '#555555' notitle, 0 with lines lc rgb '#555555' notitle, \
       mean every ::1 using (ok(big, 16) ? idx(strcol(2)) - 0.19 : NaN):(clip($7)) with boxes lc rgb '#1b6ca8' title 'target 16x', \
       '' every ::1 using (ok(big, 16) ? idx(strcol(2)) - 0.19 : NaN):($7 > 0 ? clip($7) : 0):(sprintf("%.2f\n%.1fx", $7, $6)) with labels offset 0, 1.2 font ',8' notitle, \
       '' every ::1 using (ok(big, 32) ? idx(strcol(2)) + 0.19 : NaN):(clip($7)) with boxes lc rgb '#e59866' title 'target 32x', \
       '' every ::1 using (ok(big, 32) ? idx(strcol(2)) + 0.19 : NaN):($7 > 0 ? clip($7) : 0):(sprintf("%.2f\n%.1fx", $7, $6)) with labels offset 0, 1.2 font ',8' notitle, \
       '' every ::1 using (none(big, 16) ? idx(strcol(2)) - 0.19 : NaN):(0.03):(sprintf('16x target out of reach (nearest %.1fx)', $6)) with labels rotate by 90 left font ',8' tc rgb '#1b6ca8' notitle, \
       '' every ::1 using (none(big, 32) ? idx(strcol(2)) + 0.19 : NaN):(0.03):(sprintf('32x target out of reach (nearest %.1fx)', $6)) with labels rotate by 90 left font ',8' tc rgb '#c0392b' notitle

  set title '(b) against the achieved ratio (targets 16x-512x; a method stops where it cannot go further)'
  set xlabel 'compression ratio of the linear layers (fp16 bytes / stored bytes, log scale)'
  set logscale x 2
  set xrange [8:768]
  set xtics (8, 16, 32, 64, 128, 256, 512) font ',10'
  set key top right font ',9' Left reverse
  plot 1 with lines dt 3 lc rgb '#555555' notitle, 0 with lines lc rgb '#555555' notitle, \
       for [z=1:nz] for [i=1:nmeth] mean every ::1 using (strcol(1) eq word(sizes, z) && strcol(2) eq word(methods, i) && $5 > 0 ? $6 : NaN):(clip($7)) \
         with linespoints lw 2 dt dtz(z) lc rgb word(colours, i) pt (word(pts, i) + 0) ps 1.1 \
         title (z == nz ? word(labels, i) : ''), \
       NaN with lines lw 2 dt 2 lc rgb '#555555' \
         title (nz > 1 ? sprintf('solid: zoo %s; dashed: smaller sizes (%s)', big, word(sizes, 1)) : '')
  unset logscale x
  unset multiplot
  unset output
}
