# shellcheck shell=bash
# lib.sh: helpers shared by the experiments under scripts/reproduce/ (sourced, not run):
# one-line errors, the input stamp that clears stale runs, cached deltabench runs, and the
# size and quality readers of compress / eval reports. The sourcing script sets RP (its name
# in messages), D (the deltabench binary) and R (its runs directory) first.
#   RP=bd2 D=... R=$OUT/runs; . scripts/reproduce/lib.sh
: "${RP:?set RP before sourcing lib.sh}"
export LC_ALL=C

die() { echo "$RP: $*" >&2; exit 1; }
say() { echo "$RP: $*" >&2; }

# rp_stamp SETTINGS FILE...: the hash of an experiment's inputs: its settings (one line), the
# script up to its "# ---- the table" line (the runs' definition, not the joins below it), this
# file and FILE... (the sources of the commands it runs).
rp_stamp() {
  local settings=$1; shift
  {
    echo "$settings"
    sed '/^# ---- the table/q' "$0"
    cat scripts/reproduce/lib.sh "$@"
  } | sha256sum | cut -d' ' -f1
}

# rp_stamp_check HASH: the runs directory $R holds the runs of these inputs only: when its
# stamp differs, it is cleared (so a file present under $R is a current one). rp_stamp_done
# HASH records the stamp once every run has been made.
rp_stamp_check() {
  if [ "$(cat "$R/stamp" 2>/dev/null)" != "$1" ]; then
    rm -rf "$R"
  fi
  mkdir -p "$R"
}
rp_stamp_done() { echo "$1" > "$R/stamp"; }

# rp_spawn CMD...: run CMD (a command or a function) in the background, at most $JOBS at once:
# with $JOBS running, it first waits for whichever ends first. rp_wait waits for all of them.
# A job that fails stops the script (its own error is above: a job ends with `die`).
RP_PIDS=()
rp_spawn() {
  while [ ${#RP_PIDS[@]} -ge "${JOBS:?set JOBS}" ]; do rp_reap; done
  "$@" &
  RP_PIDS+=($!)
}
rp_wait() {
  while [ ${#RP_PIDS[@]} -gt 0 ]; do rp_reap; done
}
# rp_reap: wait for one of $RP_PIDS to end (one that ended already counts), drop it from the list.
rp_reap() {
  local ended p keep=()
  wait -n -p ended "${RP_PIDS[@]}" || die "a background job failed (see above)"
  for p in "${RP_PIDS[@]}"; do [ "$p" = "$ended" ] || keep+=("$p"); done
  RP_PIDS=("${keep[@]}")
}

# run NAME CMD...: one deltabench run writing $R/NAME.h5 (skipped when present); its log in
# $R/NAME.log, shown when it fails.
run() {
  local name=$1; shift
  [ -s "$R/$name.h5" ] && return 0
  "$D" "$@" </dev/null >"$R/$name.log" 2>&1 || { cat "$R/$name.log" >&2; die "run $name failed: $D $*"; }
}

# synth_layer SHAPE P: the first decoder layer of a SHAPE-shaped synthetic pair with a 256-token
# vocabulary, P.base.st and P.target.st (seed 0), and "L v V" (the model's layers, the vocabulary
# used, the real one) in P.dims: what `sizes` scales by.
synth_layer() {
  local shape=$1 p=$2
  say "$shape: first layer, vocab 256"
  "$D" synth --shape "$shape" --layers 1 --vocab 256 --seed 0 \
      --out-base "$p.base.st" --out-target "$p.target.st" >"$p.synth.log" 2>&1 ||
    { cat "$p.synth.log" >&2; die "synth $shape failed"; }
  sed -n 's/.* of \([0-9]*\) layers, vocab \([0-9]*\) of \([0-9]*\).*/\1 \2 \3/p' "$p.synth.log" > "$p.dims.tmp"
  [ -s "$p.dims.tmp" ] || die "synth $shape: no 'N of L layers, vocab v of V' line in its output"
  mv "$p.dims.tmp" "$p.dims"
}

# sizes REPORT.h5 [LAYER_SCALE VOCAB_SCALE]: size of a compress report as "lin_numel lin_raw
# lin_zstd lin_deflate all_numel all_raw all_zstd all_deflate": linear layers (the delta
# tensors) and the whole checkpoint, the latter with the container header. With scales, the
# tensors of model.layers.0 count LAYER_SCALE times and embed_tokens / lm_head VOCAB_SCALE
# times (a synthetic pair of the first layer and a small vocabulary, scaled to the model); the
# header scales with the layers. Where no lossless codec was measured, zstd = deflate = stored.
sizes() {
  "$D" export "$1" compression | awk -F, -v L="${2:-1}" -v V="${3:-1}" '
    NR == 1 { next }
    $1 == "TOTAL whole checkpoint" { hdr = $7 - sumst; next }
    $1 ~ /^TOTAL/ { next }
    { k = ($1 ~ /^model\.layers\.0\./) ? L : ($1 ~ /embed_tokens|lm_head/) ? V : 1
      sumst += $7
      if ($2 == "delta") { ln += k*$4; lr += k*$6; lz += k*($8 ? $8 : $7); ld += k*($9 ? $9 : $7) }
      an += k*$4; ar += k*$6; az += k*($8 ? $8 : $7); ad += k*($9 ? $9 : $7) }
    END { h = hdr * (L > 1 ? L : 1)
          printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", ln, lr, lz, ld, an, ar + h, az + h, ad + h }'
}

# metric EVAL.h5 NAME: the value of metric NAME (bpb, accuracy, ...) in an eval report.
metric() {
  "$D" export "$1" quality | awk -F, -v m="$2" 'NR > 1 && $2 == m { print $5; exit }'
}

# rp_need CMD...: one-line error before any run when a command the entry needs is missing.
rp_need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || die "$c missing (run scripts/install-deps.sh)"; done
}

# ---- grids through `deltabench sweep` (docs/sweeps.md) ------------------------------------------
# rp_json S: S as a JSON string (for the sweep files the experiments write).
rp_json() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# rp_sweep FILE DIR [OPTION...]: runs every cell of sweep FILE not yet done in DIR, on $BACKEND (local, the
# default: a pool of processes here; slurm: one job array, from a login node of a cluster whose
# nodes share this filesystem) with $SWEEP_ARGS (more `sweep run` options, split on spaces, e.g.
# "--jobs 4" or "--partition gpu --time 30") after the OPTIONs the caller gives. A failed cell
# stops the experiment; its log is named.
rp_sweep() {
  local f=$1 dir=$2; shift 2
  case ${BACKEND:-local} in local | slurm) ;; *) die "BACKEND: '$BACKEND' is not local or slurm" ;; esac
  # shellcheck disable=SC2086
  "$D" sweep run "$f" --dir "$dir" --backend "${BACKEND:-local}" -q "$@" ${SWEEP_ARGS:-} ||
    die "sweep $f: cells failed (their logs are named above); rerun to retry only those"
}

# rp_gather FILE DIR TABLE: the rows of table TABLE of every cell, joined by `sweep gather` into
# DIR/TABLE.h5 and DIR/TABLE.csv (columns: cell, the axes, the table's, provenance).
rp_gather() {
  "$D" sweep gather "$1" --dir "$2" --table "$3" -q || die "sweep gather $1 $3 failed"
}

# rp_pick CSV NAME...: the named columns of a CSV with a header row (no quoted commas), one
# comma-separated line per row, no header; CSV "-" reads stdin (`"$D" export F summary | rp_pick -
# NAME`). The one reader of CSV columns in these scripts: a name the header lacks, or a file
# without a header line, is a one-line error ("RP: CSV: no column 'NAME' ...") and exit 1, never
# a silent whole row (awk's $"" is the whole line).
rp_pick() {
  local f=$1; shift
  [ $# -gt 0 ] || die "rp_pick $f: no column named"
  awk -F, -v want="$*" -v rp="$RP" -v file="$([ "$f" = - ] && echo stdin || echo "$f")" '
    NR == 1 { n = split(want, w, " ")
              for (j = 1; j <= n; j++) {
                for (i = 1; i <= NF; i++) if ($i == w[j]) k[j] = i
                if (!k[j]) { printf "%s: %s: no column '"'"'%s'"'"' (columns: %s)\n", rp, file, w[j], $0 > "/dev/stderr"
                             bad = 1; exit 1 } }
              next }
    { line = ""; for (j = 1; j <= n; j++) line = line (j > 1 ? "," : "") $k[j]; print line }
    END { if (bad) exit 1
          if (NR == 0) { printf "%s: %s: empty, no header line\n", rp, file > "/dev/stderr"; exit 1 } }' "$f"
}

# ---- quality with intervals (deltabench eval's quality and items tables) -------------------------
# rp_qual EVAL.h5 METRIC: "value lo hi" of metric NAME (bpb, accuracy) in an eval report: the
# value and its 95 % interval (bits per byte: bootstrap over windows; exact match: Wilson).
rp_qual() {
  "$D" export "$1" quality | awk -F, -v m="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["metric"] == m { print $c["value"], $c["lo"], $c["hi"]; exit }'
}
# rp_items EVAL.h5 METRIC: the path of a file of the evaluated model's per-item scores, one a
# line (bpb: each window's loss in bits; accuracy: each prompt's 1 or 0), EVAL.h5.METRIC.items,
# made once beside the report.
rp_items() {
  local f=$1.$2.items tmp=$1.$2.items.$BASHPID
  if [ ! -s "$f" ]; then
    "$D" export "$1" items | awk -F, -v m="$2" 'NR > 1 && $1 == m && $2 == "value" { print $4 }' > "$tmp"
    mv "$tmp" "$f"
  fi
  echo "$f"
}
# rp_gain METRIC BASE.h5 FT.h5 C.h5...: "est lo hi" of the share of the gain kept by C (several:
# the seeds of a stochastic method, their mean), paired over the windows or prompts the three
# were scored on; empty where the fine-tune gains nothing on METRIC.
rp_gain() {
  local m=$1 b f list="" c
  b=$(rp_items "$2" "$m")
  f=$(rp_items "$3" "$m")
  shift 3
  for c in "$@"; do list="$list${list:+,}$(rp_items "$c" "$m")"; done
  "$D" interval gain "$list" "$b" "$f" 2>/dev/null || true
}
