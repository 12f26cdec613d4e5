#!/usr/bin/env bash
# What nox cannot do for itself, then nox. Usage:
#
#   scripts/bootstrap.sh demo|dev|ci [nox arguments...]
#
# 1. System packages, on Debian/Ubuntu with apt-get (as root, or through sudo; otherwise it prints
#    the one command to run): python3-venv and python3-dev for the Python in use, g++, and for
#    "dev" (every test) also graphviz (the drawing tests), doctest-dev (the C++ unit tests) and
#    chromium (the studio's browser tests, driven by Playwright); "ci" also Clang and its libFuzzer
#    runtime (nox -s fuzz), where apt knows them.
# 2. .venv with nox, CMake and Ninja from PyPI; a half-made or broken .venv is made anew.
# 3. exec .venv/bin/nox with the remaining arguments (noxfile.py holds the sessions).
#
# scripts/demo.sh and scripts/test.sh, the README's two commands, call this. PYTHON picks the
# interpreter (default: python3), which must be 3.9 or newer.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() {
  printf 'bootstrap: %s\n' "$*" >&2
  exit 1
}

profile=${1:-}
case $profile in
  demo | dev | ci) shift ;;
  *) fail "usage: scripts/bootstrap.sh demo|dev|ci [nox arguments...]" ;;
esac
python=${PYTHON:-python3}

command -v "$python" >/dev/null || fail "no $python on PATH: install Python 3.9 or newer (Debian/Ubuntu: apt-get install python3)"
"$python" -c pass 2>/dev/null || fail "$python does not run: $("$python" -c pass 2>&1 | head -n 3)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
  fail "$python is Python $("$python" -c 'import platform; print(platform.python_version())'); 3.9 or newer is needed"
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# --- 1. system packages ---------------------------------------------------------------------
# Debian splits venv's ensurepip and Python's headers out of python3: python3-venv and python3-dev
# for the distribution's python3, python3.X-venv and python3.X-dev for another python3.X of its.
package=python$version
if [ "$(readlink -f "$(command -v "$python")")" = "$(readlink -f /usr/bin/python3 2>/dev/null)" ]; then
  package=python3
fi
missing=()
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=("$package-venv")
"$python" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
  missing+=("$package-dev")
command -v g++ >/dev/null || command -v c++ >/dev/null || missing+=(g++)
if [ "$profile" != demo ]; then
  command -v dot >/dev/null || missing+=(graphviz)
  [ -f /usr/include/doctest/doctest.h ] || missing+=(doctest-dev)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ "$profile" = ci ] && command -v dpkg >/dev/null; then
  command -v clang++ >/dev/null || missing+=(clang)
  runtime=libclang-rt-dev # libFuzzer's runtime; Debian 12 names it by Clang's version
  grep -q '^12' /etc/debian_version 2>/dev/null && runtime=libclang-rt-14-dev
  dpkg -s "$runtime" >/dev/null 2>&1 || missing+=("$runtime")
fi

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    fail "missing: ${missing[*]} (Python's venv module and headers, a C++17 compiler, Graphviz, doctest, Chromium); install them with your system's package manager"
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
      sudo=(sudo)
    else
      fail "missing system packages; as root, run:
    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    fi
  fi
  say "installing system packages with apt-get: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. .venv with nox ------------------------------------------------------------------------
# Usable means: its python runs, has pip, and is the interpreter asked for. Anything else (an
# interrupted venv creation, a venv from another Python, a deleted base interpreter) starts anew.
venv_ok() {
  [ -x .venv/bin/python ] &&
    .venv/bin/python -c 'import sys; sys.exit(sys.argv[1] != "%d.%d" % sys.version_info[:2])' "$version" 2>/dev/null &&
    .venv/bin/python -m pip --version >/dev/null 2>&1
}
if ! venv_ok; then
  if [ -e .venv ]; then
    say "recreating .venv: it is half-made or broken (no working python $version with pip)"
    rm -rf .venv
  else
    say "creating .venv (Python $version)"
  fi
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import nox' 2>/dev/null || [ ! -x .venv/bin/cmake ] || [ ! -x .venv/bin/ninja ]; then
  say "installing nox, CMake and Ninja from PyPI into .venv"
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -q --upgrade pip
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -q "nox>=2025.2.9" "cmake>=3.25" "ninja>=1.11"
fi

# --- 3. nox -----------------------------------------------------------------------------------
say "nox $*"
export PATH="$PWD/.venv/bin:$PATH"  # the sessions' CMake and Ninja when they have none of their own
exec .venv/bin/nox "$@"
