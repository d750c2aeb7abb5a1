#!/usr/bin/env bash
# check-layering.sh [ROOT]: the library's includes point down its layers, never up:
#
#   core <- kernels <- compressors <- models <- workloads <- serve <- harness
#
# (compressors sit above kernels because they share its packed formats, kernels/formats.h;
# kernels never include compressors.) Every `#include "DIR/..."` in a .c/.h/.cu/.cuh file under
# one of those directories must name DIR at the same layer or below. Prints each offending line
# as FILE:LINE: text, and exits 1 when there is one; 0 when the layering holds.
set -u
root=${1:-.}
layers=(core kernels compressors models workloads serve harness)
rank() { # directory -> layer index, or -1 outside the library
  local i
  for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo -1
}
cd "$root" || { echo "check-layering: $root: no such directory" >&2; exit 2; }
bad=0 files=0
for dir in "${layers[@]}"; do
  [ -d "$dir" ] || { echo "check-layering: $root/$dir: missing layer directory" >&2; exit 2; }
  mine=$(rank "$dir")
  while IFS= read -r f; do
    files=$((files + 1))
    while IFS=: read -r line text; do
      inc=${text#*\"}; inc=${inc%%/*}
      theirs=$(rank "$inc")
      if [ "$theirs" -gt "$mine" ]; then
        echo "$f:$line: $text (layer $dir includes $inc, which sits above it)"
        bad=$((bad + 1))
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]*/' "$f")
  done < <(find "$dir" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
done
if [ "$files" -eq 0 ]; then
  echo "check-layering: no source files under $root" >&2
  exit 2
fi
if [ "$bad" -gt 0 ]; then
  echo "check-layering: $bad include(s) point upward (${layers[*]})" >&2
  exit 1
fi
echo "check-layering: $files files, every include points down the layers"
