#!/usr/bin/env bash
# The main job, set-up included: trains micrograd's two-moons demo and saves moons.png
# (nox -s demo). Arguments go to the demo: scripts/demo.sh --steps 200 --out /tmp/moons.png
set -euo pipefail
exec "$(dirname "$0")/bootstrap.sh" demo -s demo -- "$@"
