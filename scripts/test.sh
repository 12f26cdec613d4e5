#!/usr/bin/env bash
# Runs every test: the type stub and mypy checks, the C++ core's unit tests
# (ctest), the pytest suite, and both again under AddressSanitizer +
# UndefinedBehaviorSanitizer.
# Sets up what it needs first (.venv, system packages). Extra arguments go to
# the main pytest run (e.g. scripts/test.sh -k torch).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s\n' "$*"; }

step "system packages"
scripts/install_system_deps.sh

step "install micrograd-cpp and the test dependencies into .venv"
py=$(scripts/setup_env.sh test)
"$py" -c "import micrograd_cpp, sys; print(micrograd_cpp.__version__, micrograd_cpp.__file__, sys.version.split()[0])"

step "types: _core.pyi regenerated and compared, mypy.stubtest, mypy --strict (examples, package)"
"$py" scripts/generate_stubs.py --check
"$py" -m mypy.stubtest micrograd_cpp._core --mypy-config-file pyproject.toml
"$py" -m mypy

step "C++ core: unit tests (Release, warnings as errors)"
cmake -S . -B build/core -G Ninja -DCMAKE_BUILD_TYPE=Release -DMICROGRAD_WERROR=ON >/dev/null
cmake --build build/core -j "$jobs"
ctest --test-dir build/core --output-on-failure

step "pytest: the whole suite against the installed package"
"$py" -m pytest "$@"

step "C++ core under ASan + UBSan"
cmake -S . -B build/sanitize-core -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMICROGRAD_SANITIZE=ON \
  -DMICROGRAD_WERROR=ON >/dev/null
cmake --build build/sanitize-core -j "$jobs"
ctest --test-dir build/sanitize-core --output-on-failure

step "pytest under ASan + UBSan (the extension rebuilt with sanitizers)"
rm -rf build/sanitize-site
"$py" -m pip install --quiet --no-deps --target build/sanitize-site \
  -C cmake.define.MICROGRAD_SANITIZE=ON -C cmake.build-type=RelWithDebInfo \
  -C build-dir=build/sanitize-{wheel_tag} .
# The interpreter is not instrumented: preload the runtime, with libstdc++ so
# that ASan can intercept C++ throws (it resolves them at start). CPython frees
# little at exit by design, so leak detection is left to the live-node checks.
PYTHONPATH="$PWD/build/sanitize-site" \
  LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libstdc++.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  MICROGRAD_EXPECT_SANITIZED=1 \
  "$py" -m pytest -p no:cacheprovider
