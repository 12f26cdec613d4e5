"""How to work on micrograd-cpp: one nox session per task. `nox -l` lists them, `nox -s NAME` runs one.

    nox -s demo        the main job: trains the two-moons demo (arguments after -- go to it)
    nox -s tests       the C++ core's unit tests (ctest) and the whole pytest suite
    nox -s sanitize    both again, built with AddressSanitizer + UndefinedBehaviorSanitizer
    nox -s types       stub check, stubtest, mypy --strict, pyright --strict, pyright --verifytypes
    nox -s dist        builds the sdist and the wheel and checks them, as a release would
    nox -s fuzz        the fuzzers, for a fixed budget (MICROGRAD_FUZZ_SECONDS)
    nox -s docs        the documentation site, every tutorial executed, warnings as errors
    nox -s lint        pre-commit: ruff, clang-format, shellcheck, schemas

On a bare Debian/Ubuntu, scripts/bootstrap.sh installs the system packages and nox first; the
README's two commands (scripts/demo.sh, scripts/test.sh) call it. Each session keeps its
environment in .nox/NAME and installs into it only what changed since its last run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["lint", "types", "tests", "sanitize", "dist"]
nox.options.reuse_venv = "yes"  # made once; what goes in is checked by install_once below
nox.options.default_venv_backend = "virtualenv"  # its pip is recent (dependency groups need >= 25.1)

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# Two cores are the norm here (CI and the development machines): build with all of them by
# default, no more; CMAKE_BUILD_PARALLEL_LEVEL overrides it, for CMake and scikit-build-core alike.
BUILD_ENV = {
    "CMAKE_BUILD_PARALLEL_LEVEL": os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
}
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# A required check that cannot run fails instead of skipping when this is set (as CI does).
STRICT = os.environ.get("MICROGRAD_STRICT") == "1"
# The C++ unit tests need doctest; MICROGRAD_CORE_TESTS=0 leaves them to another job (GitHub's
# macOS and Windows runners, where the cpp job runs them with AppleClang and MSVC).
CORE_TESTS = os.environ.get("MICROGRAD_CORE_TESTS", "1") != "0"


def groups(*names: str) -> list[str]:
    """The requirements of the named [dependency-groups] of pyproject.toml."""
    return list(nox.project.dependency_groups(PYPROJECT, *names))


def install_once(session: nox.Session, *requirements: str) -> bool:
    """Installs the requirements unless the same list went into this environment before.

    Returns whether it installed. The key is the list itself, with the markers pip evaluates, so
    an edited pyproject.toml or noxfile.py installs again, and an unchanged one costs nothing."""
    stamp = Path(session.virtualenv.location) / "installed-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        session.log(f"requirements unchanged since the last run ({len(requirements)}): nothing to install")
        return False
    session.install(*requirements, env=BUILD_ENV, silent=False)
    stamp.write_text(wanted)
    return True


def build_dir(session: nox.Session) -> str:
    """Each session builds in its own folder: an incremental rebuild there never sees another
    environment's Python, pybind11 or CMake. {wheel_tag} is scikit-build-core's."""
    return f"build/nox-{session.name}/{{wheel_tag}}"


def install_package(session: nox.Session, *, editable: bool = False) -> None:
    """Builds micrograd-cpp from this checkout into the session, with the environment's own build
    requirements (no isolated build: the build folder and CMake cache persist, so an unchanged
    tree rebuilds nothing and a C++ edit recompiles only what it touched). Prints the build."""
    options = ["--no-deps", "--no-build-isolation", "-v", "-C", f"build-dir={build_dir(session)}"]
    if editable:
        # Python files used in place; each import reruns the (incremental) CMake build first.
        options += ["-C", "editable.rebuild=true", "-e"]
    session.log("building micrograd-cpp from this checkout (CMake + Ninja)")
    session.install(*options, ".", env=BUILD_ENV, silent=False)


def install_torch(session: nox.Session) -> None:
    """PyTorch's CPU build (the [dependency-groups] torch), or a clear word why the torch tests skip."""
    probe = "import importlib.util as u; print(u.find_spec('torch') is not None)"
    if session.run("python", "-c", probe, silent=True, log=False).strip() == "True":
        return
    requirements = groups("torch")
    applies = session.run(
        "python",
        "-c",
        "import sys; from packaging.requirements import Requirement as R; "
        "print(any(R(r).marker is None or R(r).marker.evaluate() for r in sys.argv[1:]))",
        *requirements,
        silent=True,
        log=False,
    ).strip()
    if applies != "True":
        session.warn(
            "PyTorch 2.13.0 has no wheel for this Python: the tests that compare with torch will skip"
        )
        return
    session.install(*requirements, success_codes=[0, 1], silent=False)
    if session.run("python", "-c", probe, silent=True, log=False).strip() == "True":
        return
    message = (
        "could not install PyTorch's CPU build (torch==2.13.0+cpu lives on PyTorch's own index, not on "
        f"PyPI): the tests that compare with torch will skip. To run them: PIP_EXTRA_INDEX_URL={TORCH_CPU_INDEX}"
        " nox -s tests"
    )
    if STRICT:
        session.error(message)
    session.warn(message)


def test_environment(session: nox.Session) -> None:
    """The pytest suite's requirements, PyTorch's CPU build included where there is one."""
    install_once(session, *groups("build", "test"))
    install_torch(session)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: micrograd's two-moons demo, trained with micrograd-cpp (plot in moons.png).

    An editable install that rebuilds on import: a second run on an unchanged tree installs and
    compiles nothing. Arguments after -- go to the demo (--steps, --seed, --out)."""
    if install_once(session, *groups("build"), "matplotlib>=3.5", "scikit-learn>=1.0", "tqdm>=4.60"):
        install_package(session, editable=True)
    session.run("python", "-m", "micrograd_cpp.demo", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The C++ core's unit tests (CMake preset core-tests: Release, -Werror) and the whole pytest
    suite against the package built from this checkout. Arguments after -- go to pytest."""
    test_environment(session)
    install_package(session)
    if CORE_TESTS:
        session.run("cmake", "--workflow", "--preset", "core-tests", env=BUILD_ENV)
    else:
        session.log("C++ unit tests left out (MICROGRAD_CORE_TESTS=0)")
    session.run("pytest", *session.posargs)


@nox.session
def sanitize(session: nox.Session) -> None:
    """The C++ unit tests and the pytest suite under AddressSanitizer + UndefinedBehaviorSanitizer, and
    the C++ unit tests under ThreadSanitizer (a Graph read from another thread while map runs).

    The extension is rebuilt with the sanitizers into build/sanitize-site; the interpreter is not
    instrumented, so the sanitizer runtime is preloaded."""
    test_environment(session)
    session.run("cmake", "--workflow", "--preset", "sanitize", env=BUILD_ENV)
    session.run("cmake", "--workflow", "--preset", "tsan", env=BUILD_ENV)
    site = ROOT / "build" / "sanitize-site"
    shutil.rmtree(site, ignore_errors=True)
    session.log("building micrograd-cpp with ASan + UBSan (RelWithDebInfo)")
    session.install(
        "--no-deps", "--no-build-isolation", "-v", "--target", str(site),
        "-C", "cmake.define.MICROGRAD_SANITIZE=ON", "-C", "cmake.build-type=RelWithDebInfo",
        "-C", "build-dir=build/nox-sanitize/{wheel_tag}", ".",
        env=BUILD_ENV, silent=False,
    )  # fmt: skip
    runtime = [
        session.run("gcc", f"-print-file-name={lib}", silent=True, external=True).strip()
        for lib in ("libasan.so", "libstdc++.so")
    ]
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={
            "PYTHONPATH": str(site),
            # libstdc++ too, so that ASan intercepts C++ throws (it resolves them at start).
            "LD_PRELOAD": ":".join(runtime),
            # CPython frees little at exit by design: leaks are left to the live-node checks.
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
            "MICROGRAD_EXPECT_SANITIZED": "1",
        },
    )


@nox.session
def types(session: nox.Session) -> None:
    """What type checkers see: _core.pyi regenerated and compared, mypy.stubtest, mypy --strict
    (examples and package), mypy --strict and pyright --strict on the README's nn example, and
    pyright --verifytypes micrograd_cpp (at least 95% of the public names fully typed)."""
    install_once(session, *groups("build", "typing", "test"))  # test: numpy and matplotlib for demo.py
    install_package(session)  # a real install: what a user's type checker sees
    session.run("python", "scripts/generate_stubs.py", "--check")
    session.run(
        "python", "-m", "mypy.stubtest", "micrograd_cpp._core", "--mypy-config-file", "pyproject.toml"
    )
    session.run("mypy")
    session.run("pytest", "-p", "no:cacheprovider", "tests/docs/test_readme.py")
    # pyright finds the package through the python on PATH: the session's, where it is installed.
    session.run("python", "scripts/check_type_completeness.py", "95")


def run_outside_checkout(session: nox.Session, python: Path, *args: str, cwd: Path) -> None:
    """Runs python -I (isolated: neither PYTHONPATH nor the current folder can supply the
    package) from a folder outside the checkout."""
    with session.chdir(cwd):
        session.run(str(python), "-I", *args, external=True)


def fresh_venv(session: nox.Session, path: Path) -> Path:
    """A new venv with an up-to-date pip (dependency groups need pip >= 25.1); returns its python."""
    shutil.rmtree(path, ignore_errors=True)
    session.run(sys.executable, "-m", "virtualenv", "-q", str(path), external=True)  # nox's own virtualenv
    return path / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@nox.session
def dist(session: nox.Session) -> None:
    """The distribution, as a release would make it: schemas (pyproject.toml, workflows), the
    cibuildwheel matrix, the sdist and the wheel built from it (twine check, check-wheel-contents,
    the sdist's file list, auditwheel's manylinux tag), the wheel run from a fresh venv, and the
    sdist built in another and tested with the portable suite, as each wheel is tested. The long
    checks are scripts/check_dist.py's. Everything goes to build/dist (made anew)."""
    install_once(session, *groups("dist"))
    out = ROOT / "build" / "dist"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    session.log("validate-pyproject, and the GitHub files against their schemas")
    session.run("validate-pyproject", "pyproject.toml")
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    session.run("check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    session.log("cibuildwheel --print-build-identifiers: the intended matrix")
    session.run("python", "scripts/check_dist.py", "matrix")

    session.log("python -m build: the sdist, then the wheel from the sdist")
    session.run("python", "-m", "build", "--outdir", str(out / "dist"), ".", env=BUILD_ENV)
    (sdist,) = (out / "dist").glob("*.tar.gz")
    (wheel,) = (out / "dist").glob("*.whl")
    session.run("twine", "check", "--strict", str(sdist), str(wheel))
    session.run("check-wheel-contents", str(wheel))
    session.log("the sdist holds what a build and the tests need, nothing else")
    session.run("python", "scripts/check_dist.py", "sdist", str(sdist))

    session.log("auditwheel: repair to the manylinux tag the wheel earns")
    session.run("auditwheel", "show", str(wheel))
    session.run("auditwheel", "repair", "--wheel-dir", str(out / "wheelhouse"), str(wheel), silent=True)
    (repaired,) = (out / "wheelhouse").glob("*.whl")
    session.log(f"repaired wheel: {repaired.name} (tag {repaired.stem.rsplit('-', 1)[1]})")

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        session.log("the repaired wheel in a fresh venv, run from outside the checkout")
        python = fresh_venv(session, out / "venv-wheel")
        session.run(str(python), "-m", "pip", "install", "-q", str(repaired), external=True)
        for script in (ROOT / "examples" / "quickstart.py", ROOT / "scripts" / "check_dist.py"):
            shutil.copy(script, run)
        version = PYPROJECT["project"]["version"]
        run_outside_checkout(
            session, python, "check_dist.py", "installed", str(out / "venv-wheel"), version, cwd=run
        )
        run_outside_checkout(session, python, "quickstart.py", cwd=run)
        test_sdist(session, sdist, run / "sdist")


def test_sdist(session: nox.Session, sdist: Path, unpacked: Path) -> None:
    """The sdist installed in a fresh venv (built from source), then its own tests/ run against it with
    the wheel tests' marker expression ([tool.cibuildwheel] test-command), from the unpacked sdist."""
    marker = re.fullmatch(r'pytest -m "(.*)"', PYPROJECT["tool"]["cibuildwheel"]["test-command"])
    assert marker, "cannot read the marker expression of [tool.cibuildwheel] test-command"
    session.log(f'the sdist in a fresh venv: build, install, run the portable tests (-m "{marker[1]}")')
    python = fresh_venv(session, ROOT / "build" / "dist" / "venv-sdist")
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked.parent, filter="data") if sys.version_info >= (3, 12) else tar.extractall(
            unpacked.parent
        )
    (unpacked.parent / sdist.name.removesuffix(".tar.gz")).rename(unpacked)
    shutil.rmtree(unpacked / "src")  # the tests must import the installed package, never these
    session.run(
        str(python), "-m", "pip", "install", "-q", str(sdist),
        "--group", f"{unpacked / 'pyproject.toml'}:test-portable",
        external=True, env=BUILD_ENV,
    )  # fmt: skip
    with session.chdir(unpacked):
        session.run(str(python), "-m", "pytest", "-p", "no:cacheprovider", "-m", marker[1], external=True)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The fuzzers, each for a fixed budget of MICROGRAD_FUZZ_SECONDS (default 60), under ASan + UBSan:
    the C++ core's deterministic driver (CMake preset "fuzz", any compiler), libFuzzer's coverage-guided
    target too where clang++ can link it (preset "fuzz-libfuzzer"; Debian: apt-get install clang
    libclang-rt-14-dev), then the random graphs against PyTorch with the long hypothesis profile
    (tests/engine/test_random_graphs.py, 50,000 graphs)."""
    test_environment(session)
    seconds = os.environ.get("MICROGRAD_FUZZ_SECONDS", "60")
    session.run("cmake", "--preset", "fuzz", env=BUILD_ENV)
    session.run("cmake", "--build", "--preset", "fuzz", env=BUILD_ENV)
    driver = ROOT / "build" / "fuzz" / "cpp" / "fuzz" / "micrograd_fuzz_driver"
    seed = str(int.from_bytes(os.urandom(4), "little"))
    session.run(str(driver), "--seconds", seconds, "--seed", seed, external=True)
    if libfuzzer_available(session):
        session.run("cmake", "--preset", "fuzz-libfuzzer", env=BUILD_ENV)
        session.run("cmake", "--build", "--preset", "fuzz-libfuzzer", env=BUILD_ENV)
        corpus = ROOT / "build" / "fuzz-libfuzzer" / "corpus"
        corpus.mkdir(exist_ok=True)
        target = ROOT / "build" / "fuzz-libfuzzer" / "cpp" / "fuzz" / "micrograd_fuzz"
        session.run(
            str(target), f"-max_total_time={seconds}", "-print_final_stats=1", str(corpus), external=True
        )
    elif STRICT:
        session.error(
            "clang++ with libFuzzer is needed here (MICROGRAD_STRICT): apt-get install clang libclang-rt-14-dev"
        )
    else:
        session.warn("no clang++ with libFuzzer: the deterministic driver ran alone")
    install_package(session)
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        "tests/engine/test_random_graphs.py",
        env={"HYPOTHESIS_PROFILE": "long"},
    )


def libfuzzer_available(session: nox.Session) -> bool:
    """Whether clang++ compiles and links a libFuzzer target here."""
    clang = shutil.which("clang++")
    if not clang:
        return False
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "probe.cpp"
        source.write_text(
            "#include <cstddef>\n#include <cstdint>\n"
            'extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n'
        )
        command = [clang, "-fsanitize=fuzzer,address", str(source), "-o", str(Path(folder) / "probe")]
        found = subprocess.run(command, capture_output=True, check=False).returncode == 0
    session.log(f"libFuzzer with {clang}: {'yes' if found else 'no (no libclang-rt)'}")
    return found


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx, furo, MyST, myst-nb) into build/docs/html, as Read the Docs
    builds it: every tutorial notebook executed (a failing cell fails the build), warnings as errors,
    offline (no intersphinx). Needs Python 3.11 or newer and Graphviz's dot. Arguments after -- go to
    sphinx-build (e.g. -b linkcheck)."""
    if sys.version_info < (3, 11):
        session.error("the docs need Python 3.11 or newer (Sphinx 9.0): run nox with a newer Python")
    install_once(session, *groups("build", "docs"))
    install_torch(session)  # the capture-and-replay tutorial times PyTorch beside Graph.map
    install_package(session)
    out = ROOT / "build" / "docs"
    shutil.rmtree(out, ignore_errors=True)  # a fresh build: every page read and every notebook executed anew
    session.run(
        "sphinx-build", "-W", "--keep-going", "-n", "-b", "html",
        "-d", str(out / "doctrees"), "docs", str(out / "html"), *session.posargs,
    )  # fmt: skip
    session.log(f"the site: {out / 'html' / 'index.html'}")


@nox.session
def lint(session: nox.Session) -> None:
    """pre-commit on every file: ruff (lint and format), clang-format, shellcheck,
    validate-pyproject, the GitHub workflows' schema. Arguments after -- go to pre-commit."""
    install_once(session, "pre-commit>=4")
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)
