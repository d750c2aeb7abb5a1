#!/usr/bin/env bash
# build-models.sh: builds the model zoo (`make models`): corpora from Debian packages, then for each
# size one base model pre-trained on mixed English and full-parameter fine-tunes of it on four
# domains (scripture and C code scored by bits per byte, addition and string reversal by exact
# match), all evaluated; regenerates the zoo table of docs/models.md.
#
#   scripts/build-models.sh                 default zoo (MODELS="small medium")
#   MODELS=micro scripts/build-models.sh    the micro zoo the tests use (well under a minute)
#   ZOO=DIR DELTABENCH=BIN ...              other output directory / binary
#
# Cached: models/zoo/<size>/stamp holds the hash of every input (this script with its sizes,
# steps and seeds; the sources of models/ and of the train/eval commands; the RNG and fp16 code;
# the corpus files). A size whose stamp matches is skipped. Deterministic: same inputs and thread
# count, same weights (train.json records each model's weights hash).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DELTABENCH:-bin/deltabench}
ZOO=${ZOO:-models/zoo}
MODELS=${MODELS:-small medium}
THREADS=2
DATA=$ZOO/data
DOC=docs/models.md
export LC_ALL=C

die() { echo "build-models: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN not built (run make)"

# ---- sizes: architecture; steps (base, text fine-tunes, exact-match fine-tunes), batch, seq, lr --
# Exact-match tasks get more fine-tuning steps: a new domain of text is picked up in a few dozen
# steps, while addition and reversal need a few hundred before answers come out exactly right.
size_args() {
  case $1 in
    micro)  echo "--hidden 32 --layers 2 --heads 4 --kv-heads 2 --ctx 64" ;;
    small)  echo "--hidden 128 --layers 4 --heads 4 --ctx 256" ;;
    medium) echo "--hidden 192 --layers 4 --heads 6 --kv-heads 2 --ffn 512 --ctx 256" ;;
    *) die "unknown size '$1' (micro, small, medium)" ;;
  esac
}
size_train() { # base_steps text_ft_steps exact_ft_steps batch seq base_lr ft_lr
  case $1 in
    micro)  echo "30 20 20 8 32 1e-2 3e-3" ;;
    small)  echo "500 80 250 16 128 3e-3 2e-3" ;;
    medium) echo "500 80 250 16 128 2e-3 2e-3" ;;
  esac
}
FINETUNES="scripture code arith reverse"

# ---- corpora ----------------------------------------------------------------------------------
build_corpora() {
  mkdir -p "$DATA"
  command -v bible >/dev/null || die "bible (package bible-kjv) missing: run scripts/install-deps.sh"
  [ -d /usr/share/games/fortunes ] || die "fortunes missing: run scripts/install-deps.sh"
  [ -f /usr/share/dictd/jargon.dict.dz ] || die "dict-jargon missing: run scripts/install-deps.sh"
  local tmp
  tmp=$(mktemp -d)
  # mixed English: every fortune file (ASCII-art collections left out), then the Jargon File
  for f in $(ls /usr/share/games/fortunes | grep -v -e '\.' -e '^art$' -e '^ascii-art$' | sort); do
    cat "/usr/share/games/fortunes/$f"
  done > "$tmp/english.txt"
  zcat /usr/share/dictd/jargon.dict.dz >> "$tmp/english.txt"
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
    cat scripts/build-models.sh models/*.c models/*.h harness/cmd_train.c harness/cmd_eval.c \
        core/rng.c core/half.c
    sha256sum "$DATA"/english.txt "$DATA"/scripture.txt "$DATA"/code.txt | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

json_num() { sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }
metric() { awk -v m="$1" '$1 == m { print $2 }'; }

# ---- one size ---------------------------------------------------------------------------------
build_size() {
  local size=$1 dir=$ZOO/$1 stamp
  stamp=$(stamp_of "$size")
  if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp" ]; then
    echo "build-models: $size is up to date ($dir)" >&2
    return
  fi
  read -r bsteps tsteps xsteps batch seq blr flr <<<"$(size_train "$size")"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  local q=--quiet t0=$SECONDS
  [ -t 2 ] && q=
  echo "build-models: $size: base on english ($bsteps steps)" >&2
  # shellcheck disable=SC2046
  "$BIN" train --out "$dir.tmp/base" --task english --data "$DATA" $(size_args "$size") \
      --steps "$bsteps" --batch "$batch" --seq "$seq" --lr "$blr" --seed 1 --init-seed 1 \
      --threads $THREADS --dtype f16 $q >&2
  local seed=2
  for t in $FINETUNES; do
    local fsteps=$tsteps
    case $t in arith|reverse|sort) fsteps=$xsteps ;; esac
    echo "build-models: $size: fine-tune on $t ($fsteps steps)" >&2
    "$BIN" train --out "$dir.tmp/$t" --task "$t" --data "$DATA" --init "$dir.tmp/base" \
        --steps "$fsteps" --batch "$batch" --seq "$seq" --lr "$flr" --warmup $((fsteps / 10)) \
        --seed $seed --threads $THREADS --dtype f16 $q >&2
    seed=$((seed + 1))
  done
  # evaluation: the base on English and on every fine-tuning task, each fine-tune on its task
  local ex=200 tok=65536
  [ "$size" = micro ] && { ex=20; tok=2048; }
  local res="$dir.tmp/results.tsv"
  printf 'size\tmodel\ttask\tparams\tbpb\taccuracy\ttrain_s\n' > "$res"
  row() { # model dir task
    local out acc
    out=$("$BIN" eval --model "$2" --task "$3" --data "$DATA" --tokens $tok --examples $ex \
          --threads $THREADS)
    acc=$(echo "$out" | metric accuracy)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$1" "$3" "$(json_num "$2/train.json" params)" \
      "$(echo "$out" | metric bpb)" "${acc:--}" "$(json_num "$2/train.json" seconds)" >> "$res"
  }
  row base "$dir.tmp/base" english
  for t in $FINETUNES; do
    row base "$dir.tmp/base" "$t"
    row "$t" "$dir.tmp/$t" "$t"
  done
  echo "$stamp" > "$dir.tmp/stamp"
  echo "$((SECONDS - t0))" > "$dir.tmp/build_s"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  echo "build-models: $size built in $((SECONDS - t0)) s" >&2
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
  local total=0
  for size in $MODELS; do
    [ -f "$ZOO/$size/build_s" ] && total=$((total + $(cat "$ZOO/$size/build_s")))
  done
  echo
  echo "Built by \`make models\` (MODELS=\"$MODELS\") in $total s of wall time on $(nproc) cores" \
       "(training + evaluation; $THREADS threads); $(date -u +%Y-%m-%d)."
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
for size in $MODELS; do build_size "$size"; done
case " $MODELS " in *" micro "*) ;; *) update_doc ;; esac
for size in $MODELS; do
  echo "== zoo $size ($ZOO/$size)"
  column -t -s "$(printf '\t')" "$ZOO/$size/results.tsv" 2>/dev/null || cat "$ZOO/$size/results.tsv"
done
