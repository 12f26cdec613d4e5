#!/usr/bin/env bash
# The main job: sets up .venv (once), then runs the demo. Arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(scripts/setup_env.sh)
exec "$py" examples/quickstart.py "$@"
