# fig5.gp: DeltaZip figure 5 measured: the ΔCompress pipeline stage by stage.
#   gnuplot -e "data='results/fig5/fig5.csv'; out='results/fig5/fig5'" plots/fig5.gp
# Reads the table scripts/reproduce/fig5.sh joins from the runs' HDF5 files (columns: group,
# model, stage, x, bits_linear, ratio_linear, ratio_whole, bpb, bpb_kept, acc, acc_kept, then
# the 95 % intervals bpb_lo/hi, bpb_kept_lo/hi, acc_lo/hi, acc_kept_lo/hi) and
# writes OUT.png and OUT.svg. Panels: (a) bits per parameter of the linear layers after each
# stage, (b) whole-checkpoint ratio of the Llama-shaped pairs against the paper's 9.86x,
# (c) share of the fine-tuning gain kept by the zoo's fine-tunes (bits per byte; exact match),
# with its 95 % interval as error bars.
if (!exists("data")) data = 'results/fig5/fig5.csv'
if (!exists("out")) out = 'results/fig5/fig5'
set datafile separator ','
set datafile missing ''

# x column of the table -> position on the pipeline axis, for the 4-bit path (q = 4: stages
# 0 1 2 3 4) and the 2-bit path (q = 2: stages 0 1 2 6 7); DEFLATE (5, 8) drawn as open points
pos(x, q) = x <= 2 ? x : (q == 4 ? (x == 3 ? 3 : x == 4 ? 4 : NaN) : (x == 6 ? 3 : x == 7 ? 4 : NaN))
posd(x) = x == 5 || x == 8 ? 4 : NaN
has(c, s) = strstrt(strcol(c), s) == 1
ins(i) = has(2, word(names, i)) || (i == 1 && has(2, 'micro/'))
set xtics ("fp16\nmodel" 0, "fp16\ndelta" 1, "2:4\npruned" 2, "quantised" 3, "+ lossless" 4) font ',10'
set bmargin 4
set xrange [-0.3:4.5]
set grid ytics lc rgb '#dddddd'
set key top right font ',9' samplen 3 spacing 0.9
# series: name prefix in column 2, label, colour, point type
# (zoo sizes first, then the Llama shapes; the tests' micro zoo is drawn as "small")
names = "small/ medium/ llama2-7b llama2-13b"
labels = "'zoo small' 'zoo medium' 'Llama-2-7B shape (synthetic)' 'Llama-2-13B shape (synthetic)'"
colours = "#1b6ca8 #2a9d3a #d35400 #c0392b"
pts = "7 5 13 11"

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1650,580 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1650,580 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,3 title "ΔCompress stage by stage, measured; mapped to DeltaZip's figure 5 by assumption (the arXiv versions number figures differently; not checked against v3)\nsolid: 4-bit, dashed: 2-bit; lossless = zstd, open points DEFLATE" font ',13'

  set title '(a) size of the linear layers'
  set ylabel 'bits per parameter (log scale)'
  set logscale y 2
  set yrange [0.5:20]
  set ytics (0.5, 1, 2, 4, 8, 16)
  plot for [i=1:4] data every ::1 using (ins(i) ? pos($4, 4) : NaN):5 \
         with linespoints lc rgb word(colours, i) pt (word(pts, i) + 0) ps 0.7 title word(labels, i), \
       for [i=1:4] '' every ::1 using (ins(i) ? pos($4, 2) : NaN):5 \
         with linespoints lc rgb word(colours, i) dt 2 pt (word(pts, i) + 0) ps 0.7 notitle, \
       for [i=1:4] '' every ::1 using (ins(i) ? posd($4) + 0.08 : NaN):5 \
         with points lc rgb word(colours, i) pt (word(pts, i) - 1) ps 0.7 notitle
  unset logscale y

  set title '(b) whole checkpoint, Llama-shaped pairs'
  set ylabel 'compression ratio (fp16 bytes / stored bytes)'
  set yrange [0:14]
  set ytics auto
  set arrow 1 from -0.3, 9.86 to 4.5, 9.86 nohead dt 2 lw 1.5 lc rgb '#aa0000'
  set label 1 "paper: 9.86x (Vicuna-7B delta, 2-bit 2:4 + GDeflate)" at -0.2, 10.5 tc rgb '#aa0000' font ',9'
  set key top left
  plot for [i=3:4] data every ::1 using (ins(i) ? pos($4, 4) : NaN):7 \
         with linespoints lc rgb word(colours, i) lw 2 pt (word(pts, i) + 0) title word(labels, i).' 4-bit', \
       for [i=3:4] '' every ::1 using (ins(i) ? pos($4, 2) : NaN):7 \
         with linespoints lc rgb word(colours, i) lw 2 dt 2 pt (word(pts, i) + 0) title word(labels, i).' 2-bit', \
       for [i=3:4] '' every ::1 using (ins(i) ? posd($4) + 0.08 : NaN):7 \
         with points lc rgb word(colours, i) pt (word(pts, i) - 1) notitle
  unset arrow 1
  unset label 1
  set key top right

  set title '(c) quality kept on the zoo'
  set key at graph 0.02, graph 0.03 left bottom Left reverse
  set ylabel 'share of the fine-tuning gain kept'
  set yrange [*:*]
  set arrow 2 from -0.3, 1 to 4.5, 1 nohead dt 3 lc rgb '#888888'
  plot for [i=1:2] data every ::1 using (has(1, 'zoo') && ins(i) ? pos($4, 4) : NaN):9:14:15 \
         with yerrorlines lc rgb word(colours, i) pt (word(pts, i) + 0) ps 0.7 title word(labels, i).': bits per byte', \
       for [i=1:2] '' every ::1 using (has(1, 'zoo') && ins(i) ? pos($4, 2) : NaN):9:14:15 \
         with yerrorlines lc rgb word(colours, i) dt 2 pt (word(pts, i) + 0) ps 0.7 notitle, \
       for [i=1:2] '' every ::1 using (has(1, 'zoo') && ins(i) ? pos($4, 4) - 0.06 : NaN):11:18:19 \
         with yerrorbars lc rgb word(colours, i) pt 2 ps 1.1 title word(labels, i).': exact match (arith, reverse), 4-bit', \
       for [i=1:2] '' every ::1 using (has(1, 'zoo') && ins(i) ? pos($4, 2) + 0.06 : NaN):11:18:19 \
         with yerrorbars lc rgb word(colours, i) pt 1 ps 1.1 title word(labels, i).': exact match, 2-bit'
  unset arrow 2
  unset multiplot
  unset output
}
