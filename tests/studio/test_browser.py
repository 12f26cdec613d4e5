"""The studio in a real browser (Debian's Chromium under Playwright), as a person uses it: the page
loads without console errors, the buttons work, the autograd graph's data-grad values move while it
trains, clicks add and choose points, the backward mode visits every node once, an exported run
replays offline, the security rules hold from the browser, bad input shows an error and the server
keeps going. Each view is saved as a screenshot (the `screenshots` fixture's folder)."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest
from support import run_python

pytestmark = pytest.mark.browser

BUTTONS = ("Play", "Pause", "Step", "Reset")


def button(page, name):
    return page.get_by_role("button", name=name, exact=True)


def open_studio(browser_page, server, wait_until, suffix=""):
    page = browser_page.page
    page.goto(server.url + suffix)
    wait_until(
        page,
        "() => window.studio && window.studio.frames >= 2 && document.querySelectorAll('#autograd [data-grad]').length > 0",
    )
    return page


def shown_step(page):
    return int(page.locator("#stat-step").inner_text())


def grads(page):
    return page.evaluate(
        "() => [...document.querySelectorAll('#autograd [data-grad]')].map(e => e.getAttribute('data-grad'))"
    )


def test_the_page_loads_without_errors_and_play_pause_step_reset_work(
    browser_page, server, wait_until, screenshots
):
    page = open_studio(browser_page, server, wait_until)
    for name in BUTTONS:
        assert button(page, name).is_visible()
    page.screenshot(path=str(screenshots / "studio-page.png"), full_page=True)
    assert shown_step(page) == 0
    button(page, "Step").click()
    wait_until(page, "() => Number(document.querySelector('#stat-step').textContent) === 1")
    assert server.state()["step"] == 1
    before = grads(page)
    button(page, "Play").click()
    wait_until(page, "() => Number(document.querySelector('#stat-step').textContent) > 500")
    wait_until(
        page,
        "(before) => { const now = [...document.querySelectorAll('#autograd [data-grad]')].map(e => e.getAttribute('data-grad')); return now.some((g, i) => g !== before[i]); }",
        arg=before,
    )
    during = grads(page)
    locals_ = page.evaluate(
        "() => [...document.querySelectorAll('#autograd g.edge')].map(e => e.dataset.local)"
    )
    assert locals_
    assert all(v not in (None, "", "NaN") for v in locals_)
    time.sleep(0.5)
    assert grads(page) != during  # still moving while it trains
    button(page, "Pause").click()
    wait_until(page, "() => window.studio.state && window.studio.state.playing === false")
    paused = server.state()["step"]
    time.sleep(0.4)
    assert server.state()["step"] == paused
    page.screenshot(path=str(screenshots / "studio-trained.png"), full_page=True)
    for view in ("boundary", "curves", "network", "autograd", "optimizer"):
        page.locator(f"#view-{view}").screenshot(path=str(screenshots / f"view-{view}.png"))
    button(page, "Reset").click()
    wait_until(page, "() => Number(document.querySelector('#stat-step').textContent) === 0")
    assert server.state()["step"] == 0
    assert browser_page.errors == []


def test_frames_and_steps_per_second_while_training(browser_page, server, wait_until, screenshots):
    """Measures, as the page shows them, the frames drawn per second and the training steps per
    second while it trains (the issue asks >= 10 and >= 200 on the default model; the figures are
    written to the screenshots folder; benchmarks/bench_studio.py is the measurement to quote)."""
    page = open_studio(browser_page, server, wait_until)
    button(page, "Play").click()
    time.sleep(3.0)
    fps, rate = page.evaluate("() => [window.studio.fps, window.studio.state.steps_per_second]")
    button(page, "Pause").click()
    (screenshots / "rates.json").write_text(json.dumps({"frames_per_second": fps, "steps_per_second": rate}))
    print(f"studio while training: {fps:.1f} frames/s, {rate:.0f} steps/s")
    assert fps > 0
    assert rate > 0


def test_clicks_add_points_of_either_class_and_choose_the_sample(browser_page, server, wait_until):
    page = open_studio(browser_page, server, wait_until)
    canvas = page.locator("#boundary")
    n = len(server.state()["points"])
    # an empty corner of the plot: the view is a square around the points with a margin
    canvas.click(position={"x": 6, "y": 6})
    wait_until(page, "(n) => window.studio.state.sample === n", arg=n)
    canvas.click(position={"x": 412, "y": 412}, modifiers=["Shift"])
    wait_until(page, "(n) => window.studio.state.sample === n + 1", arg=n)
    points = server.state()["points"]
    assert len(points) == n + 2
    assert points[n][2] == 1
    assert points[n + 1][2] == -1
    x0, x1, y0, y1 = server.state()["bounds"]
    assert points[n][0] < (x0 + x1) / 2
    assert points[n][1] > (y0 + y1) / 2
    # clicking an existing point chooses it for the autograd view
    target = 5
    x, y, _ = points[target]
    px = (x - x0) / (x1 - x0) * 420
    py = (y1 - y) / (y1 - y0) * 420
    canvas.click(position={"x": px, "y": py})
    wait_until(page, "(i) => window.studio.state.sample === i", arg=target)
    caption = page.locator("#sample-caption").inner_text()
    assert f"sample #{target}" in caption
    assert browser_page.errors == []


def visible_nodes(page):
    return page.evaluate(
        "() => [...document.querySelectorAll('#autograd g.node')].map(e => e.getAttribute('data-id'))"
    )


def test_a_neuron_expands_into_its_values_on_click_and_collapses_back(
    browser_page, server, wait_until, screenshots
):
    page = open_studio(browser_page, server, wait_until)
    collapsed = visible_nodes(page)
    assert any(i.startswith("g") for i in collapsed)
    page.locator('#autograd g.node[data-id="g0"]').click()
    wait_until(page, "() => !document.querySelector('#autograd g.node[data-id=\"g0\"]')")
    expanded = visible_nodes(page)
    members = page.locator("#autograd g.node.member")
    # a first-layer neuron of two inputs: w1*x1, w2*x2, two sums, the activation, w1, w2 and b
    assert members.count() == 8
    for i in range(members.count()):
        node = members.nth(i)
        assert node.get_attribute("data-data") is not None
        assert node.get_attribute("data-grad") is not None
    assert len(expanded) == len(collapsed) - 1 + 8
    page.locator("#view-autograd").screenshot(path=str(screenshots / "view-autograd-expanded.png"))
    out = page.evaluate("() => window.studio.graph.topology().groups[0].out")  # where the box was
    page.locator(f'#autograd g.node.member[data-node="{out}"]').click()
    wait_until(page, "() => !!document.querySelector('#autograd g.node[data-id=\"g0\"]')")
    assert visible_nodes(page) == collapsed or sorted(visible_nodes(page)) == sorted(collapsed)
    assert browser_page.errors == []


@pytest.mark.parametrize("expand", [False, True], ids=["collapsed", "one-neuron-expanded"])
def test_backward_mode_visits_every_node_once_in_reverse_topological_order(
    browser_page, start_server, wait_until, screenshots, expand
):
    server = start_server("--hidden", "8,6")  # fewer clicks than the default's 16,16, the same paths
    server.control({"action": "step", "steps": 20})
    page = open_studio(browser_page, server, wait_until)
    if expand:
        page.locator('#autograd g.node[data-id="g10"]').click()  # a second-layer neuron: 8 inputs
        wait_until(page, "() => !document.querySelector('#autograd g.node[data-id=\"g10\"]')")
    ids = visible_nodes(page)
    button(page, "Backward mode").click()
    wait_until(page, "() => window.studio.backward.active")
    assert server.state()["playing"] is False
    edges = page.evaluate(
        "() => [...document.querySelectorAll('#autograd g.edge')].map(e => [e.dataset.from, e.dataset.to])"
    )
    order = []
    for k in range(len(ids)):
        button(page, "Next node").click()
        current = page.evaluate(
            "() => [...document.querySelectorAll('#autograd g.node.current')].map(e => e.dataset.id)"
        )
        assert len(current) == 1
        order.append(current[0])
        if k == 3:
            page.locator("#view-autograd").screenshot(
                path=str(screenshots / f"view-backward-{'expanded' if expand else 'collapsed'}.png")
            )
    assert sorted(order) == sorted(ids)
    assert len(set(order)) == len(ids)
    position = {node: i for i, node in enumerate(order)}
    assert all(position[to] < position[frm] for frm, to in edges)  # a node before its operands
    visited = page.evaluate(
        "() => [...document.querySelectorAll('#autograd g.node')].map(e => Number(e.dataset.visited))"
    )
    assert sorted(visited) == list(range(len(ids)))
    assert button(page, "Next node").is_disabled()
    worst = page.evaluate("() => window.studio.backward.maxRelativeDifference")
    assert worst < 1e-9  # the hand-run chain rule gives the engine's gradients
    # the grads shown are the accumulated ones: the engine's
    assert "agree with the engine" in page.locator("#backward-status").inner_text()
    button(page, "Exit").click()
    assert browser_page.errors == []


def test_backward_mode_animates(browser_page, server, wait_until):
    page = open_studio(browser_page, server, wait_until)
    button(page, "Backward mode").click()
    button(page, "Animate").click()
    wait_until(page, "() => window.studio.backward.done()", timeout=60)
    assert page.locator("#backward-log li").count() >= len(visible_nodes(page))
    assert browser_page.errors == []


def test_the_configuration_lives_in_the_url(browser_page, server, wait_until):
    page = open_studio(
        browser_page, server, wait_until, "#dataset=circles&hidden=4,4&activation=tanh&points=50"
    )
    wait_until(page, "() => window.studio.state.config.dataset === 'circles'")
    config = server.state()["config"]
    assert config["hidden"] == [4, 4]
    assert config["activation"] == "tanh"
    assert config["points"] == 50
    page.select_option("select[name=optimizer]", "adam")
    wait_until(page, "() => location.hash.includes('optimizer=adam')")
    assert "hidden=4,4" in page.evaluate("() => location.hash")
    assert server.state()["config"]["optimizer"] == "adam"
    assert browser_page.errors == []


def test_bad_input_shows_the_servers_error_and_training_goes_on(
    browser_page, server, wait_until, screenshots
):
    page = open_studio(browser_page, server, wait_until)
    for name, text, word in (
        ("learning_rate", "abc", "learning_rate"),
        ("hidden", "16,0", "hidden"),
        ("points", "1000000000", "points"),
    ):
        field = page.locator(f"input[name={name}]")
        field.fill(text)
        field.press("Enter")
        field.blur()
        wait_until(
            page,
            "(w) => !document.querySelector('#error').hidden && document.querySelector('#error').textContent.includes(w)",
            arg=word,
        )
    page.locator("#error").screenshot(path=str(screenshots / "error.png"))
    assert server.state()["config"]["learning_rate"] == 0.1
    button(page, "Step").click()
    wait_until(page, "() => window.studio.state.step === 1")
    # a console error is expected here: none but the 400s' own
    assert all("400" in e for e in browser_page.errors), browser_page.errors


def test_without_the_token_the_page_is_refused(browser_page, server):
    page = browser_page.page
    response = page.goto(server.url.split("?")[0])
    assert response.status == 403
    assert "token" in json.loads(page.locator("body").inner_text())["error"]


def test_a_rebound_dns_name_is_refused_and_localhost_is_served(chromium, launch_chromium, server):
    context = chromium.new_context()
    try:
        response = context.new_page().goto(server.url.replace("127.0.0.1", "localhost"))
        assert response.status == 200
    finally:
        context.close()
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, as this browser is told to resolve it
    rebound = launch_chromium("--host-resolver-rules=MAP evil.test 127.0.0.1")
    context = rebound.new_context()
    page = context.new_page()
    try:
        response = page.goto(server.url.replace("127.0.0.1", "evil.test"))
        assert response.status == 403
        assert "Host" in json.loads(page.locator("body").inner_text())["error"]
    finally:
        context.close()


@pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.2 is a loopback address on Linux only")
def test_the_server_listens_on_loopback_only(chromium, server):
    context = chromium.new_context()
    page = context.new_page()
    try:
        with pytest.raises(Exception, match="ERR_CONNECTION_REFUSED"):
            page.goto(server.url.replace("127.0.0.1", "127.0.0.2"))
    finally:
        context.close()


def test_the_exported_run_replays_offline_with_the_same_views(chromium, tmp_path, screenshots, wait_until):
    path = tmp_path / "run.html"
    proc = run_python(
        "-m", "micrograd_cpp.studio", "--export", str(path), "--steps", "120", "--hidden", "6,4"
    )
    assert proc.returncode == 0, proc.stderr
    context = chromium.new_context(offline=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(path.as_uri())
        wait_until(
            page,
            "() => window.studio && window.studio.frames >= 1 && document.querySelectorAll('#autograd [data-grad]').length > 0",
        )
        assert re.search(r"recorded run", page.locator("#mode-note").inner_text())
        first = grads(page)
        button(page, "Play").click()
        wait_until(page, "() => Number(document.querySelector('#stat-step').textContent) === 120", timeout=30)
        assert grads(page) != first
        page.screenshot(path=str(screenshots / "export-replayed.png"), full_page=True)
        button(page, "Reset").click()
        wait_until(page, "() => Number(document.querySelector('#stat-step').textContent) === 0")
        button(page, "Step").click()
        wait_until(page, "() => Number(document.querySelector('#stat-step').textContent) > 0")
        page.locator('#autograd g.node[data-id="g0"]').click()
        assert page.locator("#autograd g.node.member").count() == 8
        button(page, "Backward mode").click()
        n = len(visible_nodes(page))
        for _ in range(n):
            button(page, "Next node").click()
        assert page.evaluate("() => window.studio.backward.maxRelativeDifference") < 1e-9
    finally:
        context.close()
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
