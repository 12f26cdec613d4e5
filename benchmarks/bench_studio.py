"""The studio's two speeds, as its user sees them: training steps per second and frames drawn per
second while it trains, on the default model (100 moons, MLP(2, [16, 16, 1]), SGD), in Chromium.

    python benchmarks/bench_studio.py [--seconds 5] [--chromium /usr/bin/chromium]

Starts `python -m micrograd_cpp.studio` in a child process, opens its page in headless Chromium
(Playwright), presses Play, and reads for `--seconds`: the server's steps per second (its state's
steps_per_second and the step counter over the wall clock), the page's frames per second (frames
fetched and drawn; window.studio.fps and the frame counter), and where a frame's time goes (the
request for /api/state and the drawing). Then the same with the page closed, for the steps alone.
Targets (issue 22): >= 200 steps/s, >= 10 frames/s while training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "micrograd_cpp.studio", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().split(": ", 1)[1].strip()
    return proc, url


def call(url: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    token = url.rsplit("=", 1)[1]
    base = url.split("/?")[0]
    request = urllib.request.Request(base + path, headers={"X-Studio-Token": token})
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def steps_alone(url: str, seconds: float) -> float:
    call(url, "/api/control", {"action": "reset"})
    call(url, "/api/control", {"action": "play"})
    start_step, start = 0, time.perf_counter()
    time.sleep(seconds)
    step = int(call(url, "/api/state?graph=0")["step"])  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    call(url, "/api/control", {"action": "pause"})
    return (step - start_step) / elapsed


def with_page(url: str, seconds: float, chromium: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--disable-dev-shm-usage", "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        while not page.evaluate("() => window.studio && window.studio.frames > 2"):
            time.sleep(0.05)
        call(url, "/api/control", {"action": "reset"})
        page.get_by_role("button", name="Play", exact=True).click()
        time.sleep(0.5)
        frames0, step0, t0 = page.evaluate(
            "() => [window.studio.frames, window.studio.state.step, performance.now()]"
        )
        fetch, render, fps, rates, serving = [], [], [], [], []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            time.sleep(0.25)
            timing, shown, rate, server = page.evaluate(
                "() => [window.studio.timing, window.studio.fps, window.studio.state.steps_per_second,"
                " window.studio.state.server_ms]"
            )
            serving.append(server)
            fetch.append(timing["fetch"])
            render.append(timing["render"])
            fps.append(shown)
            rates.append(rate)
        frames1, step1, t1 = page.evaluate(
            "() => [window.studio.frames, window.studio.state.step, performance.now()]"
        )
        browser.close()
    wall = (t1 - t0) / 1000
    return {
        "frames_per_second": (frames1 - frames0) / wall,
        "page_fps_median": statistics.median(fps),
        "steps_per_second": (step1 - step0) / wall,
        "server_steps_per_second_median": statistics.median(rates),
        "fetch_ms_median": statistics.median(fetch),
        "render_ms_median": statistics.median(render),
        "server_ms_median": statistics.median(serving),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    proc, url = start_server()
    try:
        alone = steps_alone(url, args.seconds)
        page = with_page(url, args.seconds, args.chromium)
    finally:
        proc.terminate()
        proc.wait()
    print(f"training alone (no page):   {alone:8.0f} steps/s   (target >= 200)")
    print(
        f"training with the page:     {page['steps_per_second']:8.0f} steps/s   (server's own figure: {page['server_steps_per_second_median']:.0f})"
    )
    print(
        f"frames drawn while training:{page['frames_per_second']:8.1f} frames/s  (target >= 10; the page's own figure: {page['page_fps_median']:.1f})"
    )
    print(
        f"a frame: the server's snapshot {page['server_ms_median']:.1f} ms; /api/state answered, by the"
        f" page's clock (drawing the last frame meanwhile), {page['fetch_ms_median']:.1f} ms; the script's"
        f" drawing {page['render_ms_median']:.1f} ms (medians)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
