# dq2.gp: DeltaDQ DQ-2 measured: quality against compression ratio on the model zoo.
#   gnuplot -e "data='results/dq2/dq2.csv'; out='results/dq2/dq2'" plots/dq2.gp
# Reads the table scripts/reproduce/dq2.sh writes (columns: size, target, task, metric, label,
# ratio_linear, value, lo, hi, seeds, base, finetuned) and writes OUT.png and OUT.svg. Panels:
# (a) share of the fine-tuning gain kept in bits per byte (mean over the fine-tunes, mean over
# the dropout seeds with the 95 % t interval), (b) exact match of the exact-match fine-tunes
# (pooled over the seeds, 95 % Wilson interval), each against the achieved ratio, one curve per
# zoo size (and task); the dashed line in (a) is the 90 % the verdict asks.
if (!exists("data")) data = 'results/dq2/dq2.csv'
if (!exists("out")) out = 'results/dq2/dq2'
set datafile separator ','
set datafile missing NaN

sizes = "small medium"
colours = "#1b6ca8 #d35400 #2a9d3a #8e44ad"
sel(s, t, m) = strcol(1) eq s && strcol(3) eq t && strcol(4) eq m

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1400,560 font 'Sans,11'; set output out.'.png' } \
  else { set terminal svg size 1400,560 dynamic font 'Sans,11'; set output out.'.svg' }
  set multiplot layout 1,2 title "DeltaDQ DQ-2, measured: quality against compression ratio (our reading, format version 2)" font ',13'
  set logscale x 2
  set xrange [12:170]
  set xtics (16, 32, 64, 128)
  set xlabel 'achieved ratio of the linear layers (fp16 bytes / stored bytes)'
  set grid lc rgb '#dddddd'
  set key bottom left font ',10'

  set title '(a) gain kept in bits per byte, mean over fine-tunes (95 % t over seeds)'
  set ylabel 'share of the fine-tuning gain kept'
  set yrange [*:1.1]
  plot for [i=1:2] data every ::1 using (sel(word(sizes, i), 'mean', 'bpb_kept') ? $6 : NaN):7:8:9 \
         with yerrorlines lw 2 pt 7 lc rgb word(colours, i) title 'zoo '.word(sizes, i), \
       0.9 with lines dt 2 lc rgb '#555555' title '90 %'

  set title '(b) exact match (95 % Wilson over prompts, seeds pooled)'
  set ylabel 'share of prompts answered exactly'
  set yrange [0:1]
  set key top right
  plot for [i=1:2] data every ::1 using (sel(word(sizes, i), 'arith', 'acc') ? $6 : NaN):7:8:9 \
         with yerrorlines lw 2 pt 7 lc rgb word(colours, i) title 'zoo '.word(sizes, i).' arith', \
       for [i=1:2] data every ::1 using (sel(word(sizes, i), 'reverse', 'acc') ? $6 : NaN):7:8:9 \
         with yerrorlines lw 2 pt 5 dt 2 lc rgb word(colours, i) title 'zoo '.word(sizes, i).' reverse'
  unset multiplot
  unset logscale x
}
