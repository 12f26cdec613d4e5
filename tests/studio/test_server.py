"""The studio's server as a client sees it: a real `python -m micrograd_cpp.studio` in a child process,
spoken to over HTTP. The contract (issue 22): the first line, the endpoints, the status codes, the
token, the Host check, the bind address, bad input, Ctrl-C, --export."""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import time

import pytest
from support import run_python

POSIX_SIGNALS = pytest.mark.skipif(sys.platform == "win32", reason="Ctrl-C and SIGTERM are POSIX signals")
KEYS = {"dataset", "points", "noise", "hidden", "activation", "optimizer", "learning_rate", "l2", "seed"}


def test_the_first_line_is_the_url_with_a_fresh_token_and_the_server_binds_loopback_only(start_server):
    a, b = start_server(), start_server()
    for s in (a, b):
        assert re.fullmatch(
            r"micrograd_cpp studio: http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{32,}", s.first_line
        )
        assert s.port > 0
    assert a.token != b.token  # random per run
    socket.create_connection(("127.0.0.1", a.port), timeout=5).close()
    if sys.platform == "linux":  # where all of 127.0.0.0/8 is the loopback's (macOS has 127.0.0.1 only)
        # bound to 127.0.0.1 itself: another loopback address of the machine is refused
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", a.port), timeout=5).close()


def test_state_has_step_loss_accuracy_and_the_config(shared_server):
    state = shared_server.state()
    assert {"step", "loss", "accuracy", "config"} <= set(state)
    assert set(state["config"]) == KEYS
    assert state["config"]["hidden"] == [16, 16]
    assert state["config"]["dataset"] == "moons"
    assert isinstance(state["step"], int)
    assert 0 <= state["accuracy"] <= 1
    assert state["loss"] > 0
    assert state["layer_sizes"] == [2, 16, 16, 1]


@pytest.mark.parametrize("path", ["/api/state", "/", "/index.html"])
def test_without_the_token_every_get_is_a_403(shared_server, path):
    status, _, payload = shared_server.request("GET", path, token=False)
    assert status == 403
    assert "token" in payload["error"]
    status, _, _ = shared_server.request("GET", path, token=False, headers={"X-Studio-Token": "x" * 43})
    assert status == 403
    status, _, _ = shared_server.request("GET", f"{path}?token={shared_server.token[:-1]}", token=False)
    assert status == 403
    status, _, _ = shared_server.request("GET", f"{path}?token={shared_server.token}", token=False)
    assert status == 200


def test_without_the_token_a_control_is_a_403_and_changes_nothing(shared_server):
    before = shared_server.state()["config"]
    status, _, payload = shared_server.request(
        "POST", "/api/control", {"action": "config", "config": {"hidden": [2]}}, token=False
    )
    assert status == 403
    assert "error" in payload
    assert shared_server.state()["config"] == before


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:80",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "10.0.0.1",
        "127.0.0.2",
        "",
    ],
)
def test_a_host_other_than_loopback_is_refused_dns_rebinding(shared_server, host):
    status, _, payload = shared_server.request("GET", "/api/state", headers={"Host": host})
    assert status == 403
    assert "Host" in payload["error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"])
def test_the_loopback_names_are_accepted(shared_server, host):
    status, _, _ = shared_server.request(
        "GET", "/api/state", headers={"Host": f"{host}:{shared_server.port}"}
    )
    assert status == 200


def test_a_post_from_another_origin_is_refused(shared_server):
    status, _, payload = shared_server.request(
        "POST", "/api/control", {"action": "pause"}, headers={"Origin": "http://evil.example"}
    )
    assert status == 403
    assert "Origin" in payload["error"]
    shared_server.request(
        "POST",
        "/api/control",
        {"action": "pause"},
        headers={"Origin": f"http://127.0.0.1:{shared_server.port}"},
    )


def test_step_play_pause_and_reset(server):
    first = server.state()
    assert first["step"] == 0
    assert server.control({"action": "step"})["step"] == 1
    assert server.control({"action": "step", "steps": 9})["step"] == 10
    reply = server.control({"action": "play"})
    assert reply["playing"] is True
    deadline = time.monotonic() + 30
    while server.state()["step"] < 300:
        assert time.monotonic() < deadline, "training did not advance while playing"
        time.sleep(0.05)
    assert server.control({"action": "pause"})["playing"] is False
    paused = server.state()["step"]
    time.sleep(0.3)
    assert server.state()["step"] == paused
    trained = server.state()
    assert trained["loss"] < first["loss"]
    reset = server.control({"action": "reset"})
    assert reset["step"] == 0
    assert reset["playing"] is False
    assert server.state()["loss"] == first["loss"]  # the seed's initial weights again, exactly


def test_config_changes_the_data_and_the_model(server):
    reply = server.control(
        {"action": "config", "config": {"hidden": [4, 3], "dataset": "circles", "points": 60}}
    )
    assert reply["config"]["hidden"] == [4, 3]
    state = server.state()
    assert state["layer_sizes"] == [2, 4, 3, 1]
    assert len(state["points"]) == 60
    assert state["config"]["dataset"] == "circles"
    assert len(state["graph"]["groups"]) == 4 + 3 + 1
    server.control(
        {"action": "config", "config": {"hidden": "8", "optimizer": "adam", "learning_rate": 0.01}}
    )
    state = server.state()
    assert state["layer_sizes"] == [2, 8, 1]
    assert state["optimizer"]["kind"] == "adam"
    server.control({"action": "step", "steps": 5})
    assert "m" in server.state()["optimizer"]


def test_no_hidden_layer_and_a_diverged_run_are_served(server):
    server.control({"action": "config", "config": {"hidden": []}})
    state = server.state()
    assert state["layer_sizes"] == [2, 1]
    assert len(state["graph"]["groups"]) == 1
    # a learning rate of 10 on a deep ReLU net overflows: the numbers that are no longer finite
    # arrive as null, and the server goes on answering
    server.control({"action": "config", "config": {"hidden": [32] * 6, "learning_rate": 10}})
    server.control({"action": "step", "steps": 30})
    state = server.state()
    assert state["step"] == 30
    assert state["loss"] is None or state["loss"] > 0
    server.control({"action": "reset"})
    assert server.state()["step"] == 0


def test_choices_take_their_other_names(server):
    for given, canonical in (
        ("gaussian", "blobs"),
        ("Gauss", "blobs"),
        ("circle", "circles"),
        ("xor", "xor"),
    ):
        assert (
            server.control({"action": "config", "config": {"dataset": given}})["config"]["dataset"]
            == canonical
        )
    reply = server.control({"action": "config", "config": {"activation": "none", "optimizer": "Adam"}})
    assert reply["config"]["activation"] == "linear"
    assert reply["config"]["optimizer"] == "adam"


def test_add_point_and_select(server):
    n = len(server.state()["points"])
    server.control({"action": "add_point", "point": [0.25, -0.5], "label": -1})
    state = server.state()
    assert len(state["points"]) == n + 1
    assert state["points"][-1] == [0.25, -0.5, -1]
    assert state["sample"] == n
    assert state["sample_point"] == [0.25, -0.5, -1.0]
    server.control({"action": "select", "sample": 3})
    assert server.state()["sample"] == 3


BAD = [
    ({"action": "config", "config": {"learning_rate": "abc"}}, "learning_rate"),
    ({"action": "config", "config": {"learning_rate": -1}}, "learning_rate"),
    ({"action": "config", "config": {"learning_rate": "inf"}}, "learning_rate"),
    ({"action": "config", "config": {"hidden": [0]}}, "hidden"),
    ({"action": "config", "config": {"hidden": [-3, 4]}}, "hidden"),
    ({"action": "config", "config": {"hidden": [10**6]}}, "hidden"),
    ({"action": "config", "config": {"hidden": [16] * 100}}, "hidden"),
    ({"action": "config", "config": {"hidden": [33]}}, "hidden"),
    ({"action": "config", "config": {"hidden": [4] * 7}}, "hidden"),
    ({"action": "config", "config": {"points": 1001}}, "points"),
    ({"action": "config", "config": {"hidden": "16,,16"}}, "hidden"),
    ({"action": "config", "config": {"hidden": [1.5]}}, "hidden"),
    ({"action": "config", "config": {"points": 10**9}}, "points"),
    ({"action": "config", "config": {"points": "many"}}, "points"),
    ({"action": "config", "config": {"noise": None}}, "noise"),
    ({"action": "config", "config": {"dataset": "mnist"}}, "dataset"),
    ({"action": "config", "config": {"activation": "gelu"}}, "activation"),
    ({"action": "config", "config": {"optimizer": "lbfgs"}}, "optimizer"),
    ({"action": "config", "config": {"seed": -1}}, "seed"),
    ({"action": "config", "config": {"l2": True}}, "l2"),
    ({"action": "config", "config": {"bogus": 1}}, "bogus"),
    ({"action": "config", "config": {"__class__": 1}}, "__class__"),
    ({"action": "config", "config": [1, 2]}, "config"),
    ({"action": "explode"}, "explode"),
    ({"action": None}, "action"),
    ({}, "action"),
    ({"action": "play", "extra": 1}, "extra"),
    ({"action": "step", "steps": 10**9}, "steps"),
    ({"action": "step", "steps": "1"}, "steps"),
    ({"action": "add_point", "point": [1e308 * 10, 0]}, "point"),
    ({"action": "add_point", "point": "here"}, "point"),
    ({"action": "add_point", "point": [0, 0], "label": 2}, "label"),
    ({"action": "select", "sample": 10**6}, "sample"),
    ({"action": "speed", "steps_per_second": -5}, "steps_per_second"),
]


@pytest.mark.parametrize(("body", "word"), BAD, ids=[json.dumps(b)[:60] for b, _ in BAD])
def test_bad_input_is_a_400_with_a_json_error_and_the_server_keeps_its_state(shared_server, body, word):
    before = shared_server.state()
    status, headers, payload = shared_server.request(
        "POST", "/api/control", raw=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    assert status == 400, payload
    assert headers["Content-Type"] == "application/json"
    assert word in payload["error"]
    after = shared_server.state()
    assert after["config"] == before["config"]
    assert after["step"] == before["step"]


@pytest.mark.parametrize(
    ("raw", "headers", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400),
        (b'{"action": "play"}', {"Content-Type": "text/plain"}, 415),
        (b'{"action": "play"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b"x", {"Content-Type": "application/json", "Content-Length": str(10**9)}, 413),
        (b"x", {"Content-Type": "application/json", "Content-Length": "-4"}, 400),
        (b"x", {"Content-Type": "application/json", "Content-Length": "lots"}, 400),
    ],
)
def test_bodies_that_are_not_small_json_are_refused(shared_server, raw, headers, status):
    got, _, payload = shared_server.request("POST", "/api/control", raw=raw, headers=headers)
    assert got == status
    assert "error" in payload
    assert shared_server.state()["step"] >= 0  # still serving


def test_a_large_body_is_refused_without_being_read(shared_server):
    body = json.dumps({"action": "config", "config": {"hidden": [1] * 100_000}}).encode()
    status, _, payload = shared_server.request(
        "POST", "/api/control", raw=body, headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert "too large" in payload["error"]


def test_no_content_length_is_a_411(shared_server):
    conn = socket.create_connection(("127.0.0.1", shared_server.port), timeout=10)
    conn.sendall(
        f"POST /api/control HTTP/1.1\r\nHost: 127.0.0.1:{shared_server.port}\r\nX-Studio-Token: {shared_server.token}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n\r\n".encode()
    )
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.1 411")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/../../etc/passwd", 404),
        ("GET", "/static/studio.js", 404),
        ("GET", "/api/control", 404),
        ("POST", "/api/state", 405),
        ("PUT", "/api/control", 405),
        ("DELETE", "/", 405),
    ],
)
def test_other_paths_and_methods_are_4xx_json(shared_server, method, path, status):
    got, _, payload = shared_server.request(method, path, raw=b"" if method != "GET" else None)
    assert got == status
    assert payload["status"] == status


def test_the_page_is_self_contained_and_strict(shared_server):
    status, headers, page = shared_server.request("GET", "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "connect-src 'self'" in csp
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from elsewhere
    assert "<link" not in page
    assert "@import" not in page
    assert 'aria-label="Play"' in page
    assert 'aria-label="Reset"' in page


def test_the_server_serves_many_frames_while_training_and_touches_no_file(start_server, tmp_path):
    s = start_server(cwd=tmp_path)
    s.control({"action": "play"})
    steps = []
    for _ in range(40):
        state = s.state()
        steps.append(state["step"])
        assert "values" in state
        assert "heatmaps" in state
    s.control({"action": "config", "config": {"dataset": "xor"}})
    s.control({"action": "add_point", "point": [0, 0], "label": 1})
    s.control({"action": "reset"})
    s.request("GET", "/")
    assert steps[-1] > steps[0]
    s.stop()
    assert list(tmp_path.iterdir()) == []


@POSIX_SIGNALS
def test_ctrl_c_stops_it_within_a_second_while_training(server):
    server.control({"action": "play"})
    for _ in range(5):
        server.state()
    started = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    code = server.proc.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 1.0, f"took {elapsed:.2f} s"


@POSIX_SIGNALS
def test_sigterm_stops_it_too(server):
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0


def run_cli(*args, cwd=None):
    return run_python("-m", "micrograd_cpp.studio", *args, cwd=cwd)


def test_export_writes_one_self_contained_file_with_the_recorded_run(tmp_path):
    path = tmp_path / "run.html"
    proc = run_cli("--export", str(path), "--steps", "50", "--hidden", "4,4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html"]  # that file only
    assert proc.stdout.startswith(f"micrograd_cpp studio: wrote {path}")
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    recording = json.loads(re.search(r"window\.STUDIO_RECORDING = (.*?);</script>", page, re.DOTALL)[1])
    frames = recording["frames"]
    assert frames[0]["step"] == 0
    assert frames[-1]["step"] == 50
    assert [f["step"] for f in frames] == sorted({f["step"] for f in frames})
    assert recording["static"]["layer_sizes"] == [2, 4, 4, 1]
    assert recording["static"]["config"]["hidden"] == [4, 4]
    assert len(recording["history"]) == 50
    assert recording["history"][-1][0] == 50
    assert frames[-1]["loss"] < frames[0]["loss"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--export", "/nonexistent-folder/run.html"], "does not exist"),
        (["--export", "run.html", "--steps", "0"], "--steps"),
        (["--hidden", "0"], "hidden"),
        (["--learning-rate", "abc"], "learning_rate"),
        (["--port", "70000"], "--port"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(tmp_path, args, message):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_lists_the_options():
    out = run_cli("--help").stdout
    for option in ("--no-browser", "--port", "--host", "--export", "--steps"):
        assert option in out
