#!/usr/bin/env bash
# Creates the project's virtual environment .venv (once) and installs
# micrograd-cpp into it, built from this checkout, with the extras given
# (for example: scripts/setup_env.sh test). Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv >&2
fi
extras=${1:-}
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "$spec" >&2
echo "$PWD/.venv/bin/python"
