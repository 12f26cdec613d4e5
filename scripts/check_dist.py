"""The distribution's long checks, which `nox -s dist` runs; each prints what it found, and exits with status 1
and the reason when a check fails.

    python scripts/check_dist.py matrix               cibuildwheel's build identifiers are the intended matrix
    python scripts/check_dist.py sdist FILE.tar.gz    the sdist holds what a build and the tests need, no more
    python -I scripts/check_dist.py installed PREFIX VERSION
                                                      the installed package comes from PREFIX, is VERSION and
                                                      computes micrograd's seed example (run with the fresh
                                                      venv's python, from a folder outside the checkout)

Standard library only: `installed` runs in a venv that holds nothing but the wheel. `matrix` needs
cibuildwheel on PATH (the [dependency-groups] dist of pyproject.toml).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The wheels the project ships: CPython 3.9-3.15 and the free-threaded 3.14t and 3.15t, on manylinux x86_64
# and aarch64, musllinux x86_64, macOS x86_64 and arm64, Windows AMD64 and ARM64.
PYTHONS = ["cp39", "cp310", "cp311", "cp312", "cp313", "cp314", "cp314t", "cp315", "cp315t"]
PLATFORMS = {  # platform: (the --archs asked for, the wheel tags expected)
    "linux": ("x86_64,aarch64", ["manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64"]),
    "macos": ("x86_64,arm64", ["macosx_x86_64", "macosx_arm64"]),
    "windows": ("AMD64,ARM64", ["win_amd64", "win_arm64"]),
}

# What a build and the tests need: the sdist must hold these...
SDIST_NEEDS = [
    "pyproject.toml",
    "PKG-INFO",
    "CMakeLists.txt",
    "CMakePresets.json",
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "cpp/CMakeLists.txt",
    "cpp/bindings/module.cpp",
    "src/micrograd_cpp/__init__.py",
    "src/micrograd_cpp/py.typed",
    "src/micrograd_cpp/_core.pyi",
    "tests/conftest.py",
    "tests/support.py",
    "tests/op_reference.py",
    "docs/moons.png",  # what tests/docs reads: the README's pictures and the API reference
    "docs/graph.svg",
    "docs/reference/api.rst",
]
# ...and nothing a build does not: build outputs, environments, CI files, developer scripts, benchmarks.
SDIST_REFUSES = re.compile(
    r"^(build|dist|wheelhouse|\.venv|venv|\.nox|\.git|\.github|\.ci|scripts|benchmarks)/"
    r"|__pycache__|\.(so|pyd|dylib|o|pyc)$"
)


def fail(message: str) -> None:
    print(f"check_dist: {message}", file=sys.stderr)
    sys.exit(1)


def expected_matrix(platform: str) -> list[str]:
    return sorted(f"{p}-{t}" for p in PYTHONS for t in PLATFORMS[platform][1])


def check_matrix() -> None:
    """wheels.yml uses the cibuildwheel that is installed here (the dist group's pin), and that cibuildwheel
    lists exactly the intended build identifiers for each platform."""
    from importlib.metadata import version

    pinned = version("cibuildwheel")
    wheels_yml = (ROOT / ".github" / "workflows" / "wheels.yml").read_text(encoding="utf-8")
    if not re.search(rf"uses: pypa/cibuildwheel@[0-9a-f]{{40}} # v{re.escape(pinned)}\n", wheels_yml):
        fail(f"wheels.yml must use pypa/cibuildwheel v{pinned}, the version this matrix is listed with")
    for platform, (archs, _) in PLATFORMS.items():
        command = ["cibuildwheel", "--print-build-identifiers", "--platform", platform, "--archs", archs]
        listed = sorted(
            subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
        )
        print(f"{platform}: {' '.join(listed)}")
        expected = expected_matrix(platform)
        if listed != expected:
            fail(
                f"cibuildwheel's {platform} matrix differs from the intended one:\n"
                f"  missing: {sorted(set(expected) - set(listed))}\n"
                f"  extra:   {sorted(set(listed) - set(expected))}"
            )


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        files = sorted(m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile())
    if missing := [f for f in SDIST_NEEDS if f not in files]:
        fail(f"the sdist lacks {missing}")
    if extra := [f for f in files if SDIST_REFUSES.search(f)]:
        fail(f"the sdist holds files no build needs: {extra}")
    print(f"{sdist.name}: {len(files)} files, {sdist.stat().st_size} bytes compressed")


def check_installed(prefix: str, expected_version: str) -> None:
    import micrograd_cpp as mg

    if not mg.__file__.startswith(prefix):
        fail(f"micrograd_cpp imported from {mg.__file__}, not from {prefix}")
    if mg.__version__ != expected_version:
        fail(f"micrograd_cpp.__version__ is {mg.__version__}, not {expected_version}")
    a, b = mg.Value(2.0), mg.Value(3.0)
    c = a * b + a
    c.backward()
    if (a.grad, b.grad) != (4.0, 2.0):
        fail(f"the seed example gives {(a.grad, b.grad)}, not (4.0, 2.0)")
    print(f"micrograd_cpp {mg.__version__} from {mg.__file__}: the seed example gives {(a.grad, b.grad)}")


def main(argv: list[str]) -> None:
    commands = {"matrix": (check_matrix, 0), "sdist": (check_sdist, 1), "installed": (check_installed, 2)}
    if not argv or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        fail(f"usage: {__doc__}")
    check, _ = commands[argv[0]]
    check(*[Path(a) if argv[0] == "sdist" else a for a in argv[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
