# lib.sh: helpers for the CLI tests (sourced). Each test script runs "$DELTABENCH" and uses
# expect_exit to check exit codes, one-line errors and absent outputs; it exits 1 at the end if
# any check failed, printing each failure.
set -u
: "${DELTABENCH:?set DELTABENCH to the deltabench binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/dbcli.XXXXXX")
trap 'rm -rf "$T"' EXIT
nfail=0
ncheck=0

fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }

# expect_exit CODE DESCRIPTION -- CMD...   runs CMD, stdout to $T/out, stderr to $T/err
expect_exit() {
  local want=$1 desc=$2; shift 3
  ncheck=$((ncheck + 1))
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ $rc -ne "$want" ]; then
    fail "$desc: exit $rc, expected $want: $* :: $(head -c 300 "$T/err")"
    return 1
  fi
  if [ "$want" -ne 0 ]; then
    local lines; lines=$(grep -c . "$T/err")
    if [ "$want" -eq 1 ] && [ "$lines" -ne 1 ]; then
      fail "$desc: expected one error line, got $lines: $(head -c 300 "$T/err")"; return 1
    fi
    if grep -qiE 'AddressSanitizer|runtime error|Segmentation' "$T/err"; then
      fail "$desc: sanitizer or crash report"; return 1
    fi
  fi
  return 0
}

# expect_err_contains TEXT DESCRIPTION
expect_err_contains() {
  grep -qF -- "$1" "$T/err" || fail "$2: stderr lacks '$1': $(head -c 300 "$T/err")"
}

# expect_out_contains TEXT DESCRIPTION
expect_out_contains() {
  grep -qF -- "$1" "$T/out" || fail "$2: stdout lacks '$1'"
}

finish() {
  echo "$ncheck checks, $nfail failed"
  [ "$nfail" -eq 0 ]
}
