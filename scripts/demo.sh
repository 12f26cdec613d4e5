#!/usr/bin/env bash
# The main job: sets up .venv (once) with the demo extra, then trains micrograd's
# two-moons demo (python -m micrograd_cpp.demo). Arguments go to the demo,
# e.g. scripts/demo.sh --steps 200 --out /tmp/moons.png
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(scripts/setup_env.sh demo)
exec "$py" -m micrograd_cpp.demo "$@"
