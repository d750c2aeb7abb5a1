#!/usr/bin/env bash
# install-deps.sh: installs the system packages and Python test packages deltabench needs.
# Idempotent: checks first, installs only what is missing, and only from Debian's packages and
# PyPI (never a download of anything else). Runs as root or through sudo.
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 0 when nothing is missing, 1 otherwise (installs nothing)
#   scripts/install-deps.sh --browser / --slurm   only that optional group (below)
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

# Optional group: a one-node Slurm cluster for tests/cli/test_slurm.sh (the sweep's slurm
# backend). Never a build dependency; `--slurm` installs only it (the test calls this when it
# can). A policy-rc.d that exits 101 is in place during the install so that no daemon starts:
# the test runs its own from a temporary directory.
SLURM_DEBS=(slurmctld slurmd slurm-client munge)
if [ "${1:-}" = "--slurm" ]; then
  missing=()
  for p in "${SLURM_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { echo "install-deps: slurm present" >&2; exit 0; }
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || { echo "install-deps: not root and no passwordless sudo; install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "install-deps: installing ${missing[*]} (for the one-node Slurm test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  prc=/usr/sbin/policy-rc.d
  if [ -e "$prc" ]; then
    keep=$(mktemp)
    $SUDO cp -p "$prc" "$keep"
  else
    keep=
  fi
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$prc" >/dev/null
  $SUDO chmod 755 "$prc"
  rc=0
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  if [ -n "$keep" ]; then $SUDO mv "$keep" "$prc"; else $SUDO rm -f "$prc"; fi
  exit $rc
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
