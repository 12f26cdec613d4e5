#!/usr/bin/env bash
# Every test, set-up included (nox -s types tests sanitize): the type checks, the C++ core's
# unit tests and the pytest suite, and both again under ASan + UBSan. Arguments go to pytest:
# scripts/test.sh -k torch
set -euo pipefail
exec "$(dirname "$0")/bootstrap.sh" dev -s types tests sanitize -- "$@"
