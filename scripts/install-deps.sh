#!/usr/bin/env bash
# install-deps.sh: installs the system packages and Python test packages deltabench needs.
# Idempotent: checks first, installs only what is missing, and only from Debian's packages and
# PyPI (never a download of anything else). Runs as root or through sudo.
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 0 when nothing is missing, 1 otherwise (installs nothing)
set -euo pipefail

# Optional group: the headless browser of tests/cli/test_dashboard.sh. Large, so never a build
# dependency; `--browser` installs only it (the test calls this when it can).
BROWSER_DEBS=(chromium)
if [ "${1:-}" = "--browser" ]; then
  missing=()
  for p in "${BROWSER_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { echo "install-deps: browser present" >&2; exit 0; }
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || { echo "install-deps: not root and no passwordless sudo; install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "install-deps: installing ${missing[*]} (for the dashboard browser test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

DEBS=(build-essential pkg-config libhdf5-dev hdf5-tools check gnuplot-nox libopenblas-dev
      libzstd-dev zlib1g-dev libcjson-dev libopenblas0-openmp bible-kjv fortunes dict-jargon)
# Python packages used only by the interoperability tests (the ecosystem's reference readers).
PYMODS=(numpy h5py safetensors)

missing_debs=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_debs+=("$p")
done
PY=${PYTHON:-python3}
missing_py=()
if command -v "$PY" >/dev/null 2>&1; then
  for m in "${PYMODS[@]}"; do
    "$PY" -c "import $m" >/dev/null 2>&1 || missing_py+=("$m")
  done
fi

if [ "${1:-}" = "--check" ]; then
  [ ${#missing_debs[@]} -eq 0 ] && [ ${#missing_py[@]} -eq 0 ] && exit 0
  echo "install-deps: missing: ${missing_debs[*]} ${missing_py[*]}" >&2
  exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: not root and no sudo; install: ${missing_debs[*]}" >&2; exit 1; }
  SUDO=sudo
fi

if [ ${#missing_debs[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing_debs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
fi
if [ ${#missing_py[@]} -gt 0 ]; then
  echo "install-deps: installing Python packages: ${missing_py[*]}" >&2
  "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${missing_py[@]}" ||
    echo "install-deps: warning: pip could not install ${missing_py[*]}; interop tests will say so" >&2
fi
echo "install-deps: all dependencies present" >&2
