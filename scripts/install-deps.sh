#!/usr/bin/env bash
# install-deps.sh: installs the system packages and Python test packages deltabench needs.
# Idempotent: checks first, installs only what is missing, and only from Debian's packages and
# PyPI (never a download of anything else). Runs as root or through sudo.
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 0 when nothing is missing, 1 otherwise (installs nothing)
#   scripts/install-deps.sh --browser / --slurm   only that optional group (below)
set -euo pipefail

# The headless browser of tests/cli/test_dashboard.sh. It is a test dependency, not a build one:
# `--check` (what make runs before every build) does not ask for it, so a build never waits on
# it; the plain install (what make runs when something is missing, and `.ci/run` runs first)
# installs it, and `--browser` installs only it.
BROWSER_DEBS=(chromium)

have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

SUDO=
need_root() { # the packages to install, for the message
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
      { echo "install-deps: not root and no passwordless sudo; install: $*" >&2; exit 1; }
    SUDO=sudo
  fi
}

apt_install() { # packages...
  need_root "$@"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_browser() {
  local missing=() p
  for p in "${BROWSER_DEBS[@]}"; do have_deb "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "install-deps: installing ${missing[*]} (the dashboard test's headless browser)" >&2
  apt_install "${missing[@]}"
}

if [ "${1:-}" = "--browser" ]; then
  install_browser
  exit 0
fi

# The one-node Slurm cluster of tests/cli/test_slurm.sh (the sweep's slurm backend): also a test
# dependency, installed by the plain install and by `--slurm`. A policy-rc.d that exits 101 is in
# place during the install so that no daemon starts: the test runs its own from a temporary
# directory; whatever policy-rc.d was there before is put back.
SLURM_DEBS=(slurmctld slurmd slurm-client munge)

install_slurm() {
  local missing=() p
  for p in "${SLURM_DEBS[@]}"; do have_deb "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "${missing[@]}"
  echo "install-deps: installing ${missing[*]} (the one-node Slurm test)" >&2
  local prc=/usr/sbin/policy-rc.d keep= rc=0
  if [ -e "$prc" ]; then keep=$(mktemp) && $SUDO cp -p "$prc" "$keep"; fi
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$prc" >/dev/null
  $SUDO chmod 755 "$prc"
  apt_install "${missing[@]}" || rc=$?
  if [ -n "$keep" ]; then $SUDO mv "$keep" "$prc"; else $SUDO rm -f "$prc"; fi
  return $rc
}

if [ "${1:-}" = "--slurm" ]; then
  install_slurm
  exit $?
fi

DEBS=(build-essential pkg-config libhdf5-dev hdf5-tools check gnuplot-nox libopenblas-dev
      libzstd-dev zlib1g-dev libcjson-dev libopenblas0-openmp bible-kjv fortunes dict-jargon)
# Python packages used only by the interoperability tests (the ecosystem's reference readers).
# They go into a virtual environment under build/, never into the system's Python (Debian's is
# externally managed, and a refused pip must not turn the interop tests into a quiet skip).
PYMODS=(numpy h5py safetensors)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/build/venv
PY=${PYTHON:-python3}

missing_debs=()
for p in "${DEBS[@]}"; do have_deb "$p" || missing_debs+=("$p"); done
# Debian's Python needs python3-venv for `-m venv`; another Python (pyenv) brings its own.
if command -v "$PY" >/dev/null 2>&1 && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  have_deb python3-venv || missing_debs+=(python3-venv)
fi
missing_py=()
for m in "${PYMODS[@]}"; do
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import $m" >/dev/null 2>&1 || missing_py+=("$m")
done

if [ "${1:-}" = "--check" ]; then
  [ ${#missing_debs[@]} -eq 0 ] && [ ${#missing_py[@]} -eq 0 ] && exit 0
  echo "install-deps: missing: ${missing_debs[*]} ${missing_py[*]}" >&2
  exit 1
fi

if [ ${#missing_debs[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing_debs[*]}" >&2
  apt_install "${missing_debs[@]}"
fi
if [ ${#missing_py[@]} -gt 0 ]; then
  echo "install-deps: installing Python packages into $VENV: ${missing_py[*]}" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${missing_py[@]}"
fi
install_browser
install_slurm
echo "install-deps: all dependencies present" >&2
