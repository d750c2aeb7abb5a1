#!/usr/bin/env bash
# build-models.sh: builds the model zoo (`make models`): corpora from Debian packages, then for each
# size one base model pre-trained on mixed English and full-parameter fine-tunes of it on four
# domains (scripture and C code scored by bits per byte, addition and string reversal by exact
# match), all evaluated; regenerates the zoo table of docs/models.md.
#
#   scripts/build-models.sh                 default zoo (MODELS="small medium")
#   MODELS=micro scripts/build-models.sh    the micro zoo the tests use (well under a minute)
#   ZOO=DIR DELTABENCH=BIN ...              other output directory / binary
#   JOBS=N ...                              single-threaded jobs at once (default: cores)
#   scripts/build-models.sh --check-corpora are the corpus packages installed? (exit 0, or one
#                                           line and exit 1; the tests skip on it)
#
# Every training and evaluation is one single-threaded job, JOBS at a time, all sizes together
# (the budget is 9 minutes on 2 cores). Cached: models/zoo/<size>/stamp holds the hash of every
# input (this script with its sizes, steps and seeds; the training and evaluation sources of
# models/ and of the train/eval commands; the RNG, fp16 and safetensors code; the corpus
# files). A size whose stamp matches is skipped. Deterministic: same inputs, same weights whatever JOBS (train.json records each
# model's weights hash).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DELTABENCH:-bin/deltabench}
ZOO=${ZOO:-models/zoo}
MODELS=${MODELS:-small medium}
THREADS=1                  # per job
JOBS=${JOBS:-$(nproc)}     # jobs at once (any value gives the same models)
EXAMPLES=200               # exact-match prompts per evaluation
TOKENS=65536               # scored validation tokens per bits-per-byte evaluation
DATA=$ZOO/data
DOC=docs/models.md
export LC_ALL=C

die() { echo "build-models: $*" >&2; exit 1; }
FORTUNES=/usr/share/games/fortunes JARGON=/usr/share/dictd/jargon.dict.dz # package files
check_corpora() {
  command -v bible >/dev/null || die "bible (package bible-kjv) missing: run scripts/install-deps.sh"
  [ -d "$FORTUNES" ] || die "fortunes missing: run scripts/install-deps.sh"
  [ -f "$JARGON" ] || die "dict-jargon missing: run scripts/install-deps.sh"
}
if [ "${1:-}" = --check-corpora ]; then check_corpora; exit 0; fi
[ -x "$BIN" ] || die "$BIN not built (run make)"
# jobs run a private copy: a rebuild of $BIN during the minutes the zoo takes must not break them
mkdir -p "$ZOO"
RUNBIN=$(mktemp "$ZOO/.deltabench.XXXXXX")
trap 'rm -f "$RUNBIN"' EXIT
cp "$BIN" "$RUNBIN"
chmod 755 "$RUNBIN"
BIN=$RUNBIN

# ---- sizes: architecture; steps (base, text fine-tunes, exact-match fine-tunes), batch, seq, lr --
# Exact-match tasks get more fine-tuning steps, one example per row: a new domain of text is
# picked up in a few dozen steps, while addition sits on a plateau for a few hundred (its last
# digit unlearned) before answers come out exactly right (docs/models.md).
size_args() {
  case $1 in
    micro)  echo "--hidden 32 --layers 2 --heads 4 --kv-heads 2 --ctx 64" ;;
    small)  echo "--hidden 128 --layers 4 --heads 4 --ctx 256" ;;
    medium) echo "--hidden 192 --layers 4 --heads 6 --kv-heads 2 --ffn 512 --ctx 256" ;;
    *) die "unknown size '$1' (micro, small, medium)" ;;
  esac
}
size_train() { # base_steps text_ft_steps exact_ft_steps batch seq base_lr ft_lr
               # exact_batch exact_lr
  case $1 in
    micro)  echo "30 20 20 8 32 1e-2 3e-3 8 3e-3" ;;
    small)  echo "400 60 500 16 128 3e-3 2e-3 48 3e-3" ;;
    medium) echo "400 60 500 16 128 2e-3 2e-3 48 2e-3" ;;
  esac
}
# rows of the exact-match fine-tunes: one example each (longest example - 1 tokens, so every
# answer token and <eos> is scored); the micro zoo keeps its 32
exact_seq() { case $1 in arith) echo 10 ;; reverse) echo 14 ;; sort) echo 18 ;; esac; }
FINETUNES="scripture code arith reverse"

# ---- corpora ----------------------------------------------------------------------------------
build_corpora() {
  mkdir -p "$DATA"
  check_corpora
  local tmp
  tmp=$(mktemp -d)
  # mixed English: every fortune file (ASCII-art collections left out), then the Jargon File
  for f in $(ls "$FORTUNES" | grep -v -e '\.' -e '^art$' -e '^ascii-art$' | sort); do
    cat "$FORTUNES/$f"
  done > "$tmp/english.txt"
  zcat "$JARGON" >> "$tmp/english.txt"
  bible gen1:1-rev22:21 < /dev/null > "$tmp/scripture.txt"
  # C: the top-level system headers, in name order
  for f in $(ls /usr/include/*.h | sort); do cat "$f"; done > "$tmp/code.txt"
  for f in english scripture code; do
    [ -s "$tmp/$f.txt" ] || die "corpus $f is empty"
    cmp -s "$tmp/$f.txt" "$DATA/$f.txt" 2>/dev/null || mv "$tmp/$f.txt" "$DATA/$f.txt"
  done
  rm -rf "$tmp"
}

stamp_of() { # size
  {
    echo "size $1 $(size_args "$1") $(size_train "$1") threads $THREADS tasks $FINETUNES"
    # what training and the zoo table depend on (not the serving, calibration or distillation
    # code that also lives in models/)
    cat scripts/build-models.sh models/tf.c models/tf.h models/tf_io.c models/train.c \
        models/train.h models/task.c models/task.h models/eval.c models/eval.h \
        harness/cmd_train.c harness/cmd_eval.c core/rng.c core/half.c core/safetensors.c
    sha256sum "$DATA"/english.txt "$DATA"/scripture.txt "$DATA"/code.txt | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

json_num() { sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }
metric() { awk -v m="$1" '$1 == m { print $2 }'; }

# ---- jobs -------------------------------------------------------------------------------------
# Every model and every evaluation is one single-threaded job; JOBS of them run at once. On a
# 2-core machine this beats one job on 2 threads by far: OpenMP barriers of small GEMMs cost more
# than they save, and a busy shared machine makes spinning threads wait on each other. A job's
# result does not depend on which jobs run beside it, so the zoo stays deterministic.
run_job() { # size kind name (kind: base, ft, eval; name: the fine-tune, or "base:TASK")
  local size=$1 kind=$2 name=$3 dir=$ZOO/$1.tmp
  local bsteps tsteps xsteps batch seq blr flr xbatch xlr
  read -r bsteps tsteps xsteps batch seq blr flr xbatch xlr <<<"$(size_train "$size")"
  case $kind in
  base)
    # shellcheck disable=SC2046
    "$BIN" train --out "$dir/base" --task english --data "$DATA" $(size_args "$size") \
        --steps "$bsteps" --batch "$batch" --seq "$seq" --lr "$blr" --seed 1 --init-seed 1 \
        --threads $THREADS --dtype f16 --quiet ;;
  ft)
    local seed=$(( $(ft_index "$name") + 2 )) st=$tsteps b=$batch sq=$seq lr=$flr
    case $name in arith|reverse|sort)
      st=$xsteps b=$xbatch lr=$xlr
      [ "$size" = micro ] || sq=$(exact_seq "$name") ;;
    esac
    "$BIN" train --out "$dir/$name" --task "$name" --data "$DATA" --init "$dir/base" \
        --steps "$st" --batch "$b" --seq "$sq" --lr "$lr" --warmup $((st / 10)) \
        --seed "$seed" --threads $THREADS --dtype f16 --quiet ;;
  eval) # name: MODEL:TASK; one row of results.tsv
    local model=${name%%:*} task=${name#*:} ex=$EXAMPLES tok=$TOKENS out acc
    [ "$size" = micro ] && { ex=20; tok=2048; }
    out=$("$BIN" eval --model "$dir/$model" --task "$task" --data "$DATA" --tokens $tok \
          --examples $ex --threads $THREADS)
    acc=$(echo "$out" | metric accuracy)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$model" "$task" \
      "$(json_num "$dir/$model/train.json" params)" "$(echo "$out" | metric bpb)" "${acc:--}" \
      "$(json_num "$dir/$model/train.json" seconds)" > "$dir/rows/$model-$task.tsv" ;;
  esac
}

ft_index() { # position of fine-tune $1 in FINETUNES (its batch seed is 2 + this)
  local i=0 t
  for t in $FINETUNES; do
    [ "$t" = "$1" ] && { echo $i; return; }
    i=$((i + 1))
  done
}

# prerequisite of a job: "size kind name" -> the job that must be done first ("" for none)
job_dep() {
  case $2 in
  base) echo "" ;;
  ft) echo "$1 base base" ;;
  eval) local model=${3%%:*}; [ "$model" = base ] && echo "$1 base base" || echo "$1 ft $model" ;;
  esac
}

# Runs the queue ("size kind name" per element) JOBS at a time; a job starts once its
# prerequisite is done, the first ready one in queue order first (the queue lists long jobs
# first). A failed job stops the build after the running ones end, with its log's last lines.
run_queue() {
  local -a queue=("$@")
  local -A running=() done_=()
  local failed=
  while :; do
    if [ -z "$failed" ] && [ ${#running[@]} -lt "$JOBS" ]; then
      local i pick=-1
      for i in "${!queue[@]}"; do
        local dep
        dep=$(job_dep ${queue[$i]})
        if [ -z "$dep" ] || [ -n "${done_[$dep]:-}" ]; then pick=$i; break; fi
      done
      if [ "$pick" -ge 0 ]; then
        local job=${queue[$pick]} log
        unset "queue[$pick]"
        queue=("${queue[@]}")
        set -- $job
        log=$ZOO/$1.tmp/logs/$2-${3/:/-}.log
        [ "$2" = eval ] || echo "build-models: $1: $(job_title $job)" >&2
        run_job $job > "$log" 2>&1 &
        running[$!]=$job
        continue
      fi
    fi
    [ ${#running[@]} -eq 0 ] && break
    local pid rc=0
    wait -n -p pid "${!running[@]}" || rc=$?
    local job=${running[$pid]}
    unset "running[$pid]"
    if [ $rc -ne 0 ]; then
      set -- $job
      echo "build-models: $1: $(job_title $job) failed:" >&2
      tail -n 5 "$ZOO/$1.tmp/logs/$2-${3/:/-}.log" >&2
      failed=1
    else
      done_[$job]=1
    fi
  done
  [ -z "$failed" ] && [ ${#queue[@]} -eq 0 ] || die "build failed"
}

job_title() {
  local bsteps tsteps xsteps rest
  read -r bsteps tsteps xsteps rest <<<"$(size_train "$1")"
  case $2 in
  base) echo "base on english ($bsteps steps)" ;;
  ft) case $3 in arith|reverse|sort) echo "fine-tune on $3 ($xsteps steps)" ;;
                 *) echo "fine-tune on $3 ($tsteps steps)" ;; esac ;;
  eval) echo "evaluate ${3%%:*} on ${3#*:}" ;;
  esac
}

# ---- all sizes ----------------------------------------------------------------------------------
build_sizes() {
  local size todo=() t0=$SECONDS
  for size in $MODELS; do
    local stamp
    stamp=$(stamp_of "$size")
    if [ -f "$ZOO/$size/stamp" ] && [ "$(cat "$ZOO/$size/stamp")" = "$stamp" ]; then
      echo "build-models: $size is up to date ($ZOO/$size)" >&2
      continue
    fi
    rm -rf "$ZOO/$size.tmp"
    mkdir -p "$ZOO/$size.tmp/logs" "$ZOO/$size.tmp/rows"
    echo "$stamp" > "$ZOO/$size.tmp/stamp.new"
    todo+=("$size")
  done
  [ ${#todo[@]} -eq 0 ] && return
  # the queue: largest size first; bases, then fine-tunes (exact-match ones, the longest,
  # first), then evaluations: the base on English and on every task, each fine-tune on its own
  local -a queue=() rev=()
  for size in "${todo[@]}"; do rev=("$size" "${rev[@]}"); done
  for size in "${rev[@]}"; do queue+=("$size base base"); done
  for size in "${rev[@]}"; do
    for t in $FINETUNES; do
      case $t in arith|reverse|sort) queue+=("$size ft $t") ;; esac
    done
    for t in $FINETUNES; do
      case $t in arith|reverse|sort) ;; *) queue+=("$size ft $t") ;; esac
    done
  done
  for size in "${rev[@]}"; do
    queue+=("$size eval base:english")
    for t in $FINETUNES; do queue+=("$size eval base:$t" "$size eval $t:$t"); done
  done
  run_queue "${queue[@]}"
  local wall=$((SECONDS - t0)) run
  run=$(date -u +%Y%m%dT%H%M%SZ)-$$
  for size in "${todo[@]}"; do
    local dir=$ZOO/$size
    {
      printf 'size\tmodel\ttask\tparams\tbpb\taccuracy\ttrain_s\n'
      cat "$dir.tmp/rows/base-english.tsv"
      for t in $FINETUNES; do cat "$dir.tmp/rows/base-$t.tsv" "$dir.tmp/rows/$t-$t.tsv"; done
    } > "$dir.tmp/results.tsv"
    # the wall time of the whole run that built this size (sizes are built together)
    echo "$wall $run" > "$dir.tmp/build_s"
    mv "$dir.tmp/stamp.new" "$dir.tmp/stamp"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  done
  echo "build-models: ${todo[*]} built in $wall s" >&2
}

# ---- the docs table ---------------------------------------------------------------------------
render_table() {
  echo "| size | params | model | task | bits/byte | exact match | base bits/byte | base exact match | training s |"
  echo "|---|---:|---|---|---:|---:|---:|---:|---:|"
  for size in $MODELS; do
    local res=$ZOO/$size/results.tsv
    [ -f "$res" ] || continue
    awk -F'\t' -v size="$size" '
      NR == 1 { next }
      $2 == "base" { bb[$3] = $5; ba[$3] = $6; bt = $7; bp = $4; next }
      { rows[++n] = $0 }
      END {
        printf "| %s | %d | base | english | %.3f | - | - | - | %.0f |\n", size, bp, bb["english"], bt
        for (i = 1; i <= n; i++) {
          split(rows[i], f, "\t")
          acc = f[6] == "-" ? "-" : sprintf("%.3f", f[6])
          bacc = ba[f[3]] == "-" ? "-" : sprintf("%.3f", ba[f[3]])
          printf "| %s | %d | %s | %s | %.3f | %s | %.3f | %s | %.0f |\n", size, f[4], f[2], f[3],
                 f[5], acc, bb[f[3]], bacc, f[7]
        }
      }' "$res"
  done
  local total # sizes built in one run share its wall time: count each run once
  total=$(for size in $MODELS; do cat "$ZOO/$size/build_s" 2>/dev/null; done |
          awk '!seen[$2]++ { s += $1 } END { print s + 0 }')
  echo
  echo "Built by \`make models\` (MODELS=\"$MODELS\") in $total s of wall time on $(nproc) cores" \
       "(training + evaluation; $JOBS jobs of $THREADS thread); $(date -u +%Y-%m-%d)."
}

update_doc() {
  [ -f "$DOC" ] || return 0
  grep -q '<!-- zoo-table:begin -->' "$DOC" || return 0
  local table tmp
  table=$(mktemp)
  render_table > "$table"
  tmp="$DOC.tmp.$$"
  awk -v tf="$table" '
    /<!-- zoo-table:begin -->/ { print; while ((getline l < tf) > 0) print l; skip = 1; next }
    /<!-- zoo-table:end -->/ { skip = 0 }
    !skip { print }' "$DOC" > "$tmp" && mv "$tmp" "$DOC"
  rm -f "$table"
}

for size in $MODELS; do size_args "$size" >/dev/null; done # unknown sizes fail before any work
build_corpora
build_sizes
case " $MODELS " in *" micro "*) ;; *) update_doc ;; esac
for size in $MODELS; do
  echo "== zoo $size ($ZOO/$size)"
  column -t -s "$(printf '\t')" "$ZOO/$size/results.tsv" 2>/dev/null || cat "$ZOO/$size/results.tsv"
done
