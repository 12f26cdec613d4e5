"""The demo checks that it can save its plot before it trains (the audit: an unwritable --out trained,
then ended in a matplotlib traceback; only the folder's existence and permission bits were checked)."""

import os

import pytest
from support import run_python


def run_demo(*args):
    return run_python("-m", "micrograd_cpp.demo", *args, timeout=600)


def refused_before_training(proc, *words):
    assert proc.returncode == 2, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, proc.stderr
    for word in words:
        assert word in error_lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # nothing trained, nothing printed


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_out_path_in_proc_is_refused_before_training_even_as_root():
    # /proc exists and, as root, passes os.access(W_OK); creating a file in it fails (ENOENT).
    proc = run_demo("--steps", "3", "--out", "/proc/x.png")
    refused_before_training(proc, "/proc/x.png", "cannot write")


def test_an_out_path_in_a_read_only_folder_is_refused_before_training(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.write_bytes(b"")  # root writes anyway: this check then proves nothing
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("running as root: permission bits do not stop writes (the /proc test covers root)")
        proc = run_demo("--steps", "3", "--out", str(folder / "moons.png"))
        refused_before_training(proc, "moons.png")
    finally:
        folder.chmod(0o700)


def test_an_image_format_matplotlib_does_not_know_is_refused_before_training(tmp_path):
    pytest.importorskip("matplotlib")
    proc = run_demo("--steps", "3", "--out", str(tmp_path / "moons.txt"))
    refused_before_training(proc, ".txt", "png")
    assert not (tmp_path / "moons.txt").exists()


def test_the_check_leaves_an_existing_file_alone_until_the_plot_replaces_it(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "moons.png"
    out.write_bytes(b"old")
    proc = run_demo("--steps", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


def test_a_new_out_file_is_not_left_behind_by_the_check_when_there_is_no_plot(tmp_path):
    # Without matplotlib nothing is saved, and the check must not leave an empty file either.
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['tqdm'] = None\n"
        "from micrograd_cpp import demo; sys.exit(demo.main(sys.argv[1:]))"
    )
    out = tmp_path / "moons.png"
    proc = run_python("-c", code, "--steps", "2", "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert not out.exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_the_out_path_is_checked_without_matplotlib_too():
    # Without the plot's packages (the wheel tests) a bad --out is still a bad argument.
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['tqdm'] = None\n"
        "from micrograd_cpp import demo; sys.exit(demo.main(sys.argv[1:]))"
    )
    proc = run_python("-c", code, "--steps", "2", "--out", "/proc/x.png", timeout=600)
    refused_before_training(proc, "/proc/x.png", "cannot write")
