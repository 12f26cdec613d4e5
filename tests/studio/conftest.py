"""The studio's fixtures: a real server in a child process (python -m micrograd_cpp.studio), HTTP
helpers, and Chromium driven by Playwright for the browser tests (marker browser).

Chromium is the one MICROGRAD_CHROMIUM names (GitHub's runners: their Google Chrome), else Debian's
/usr/bin/chromium (scripts/bootstrap.sh's dev profile installs it) or a chromium on PATH. Without Playwright or Chromium a browser test skips, saying how to get
them; with MICROGRAD_STRICT=1 (CI) it fails instead. Screenshots go to the pytest temporary folder's
studio-screenshots/ (or MICROGRAD_SCREENSHOTS)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

STRICT = os.environ.get("MICROGRAD_STRICT") == "1"
FIRST_LINE = "micrograd_cpp studio: http://"


class Server:
    """A studio server in a child process; `url` is its first stdout line's address."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd=None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "micrograd_cpp.studio", "--no-browser", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.first_line = self.proc.stdout.readline().rstrip("\n")
        if not self.first_line.startswith(FIRST_LINE):
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"unexpected first line {self.first_line!r}; stderr:\n{err}")
        self.url = self.first_line.split(": ", 1)[1]
        parts = urllib.parse.urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        self.token = urllib.parse.parse_qs(parts.query)["token"][0]

    def request(self, method, path, body=None, headers=None, token=True, raw=None):
        """(status, headers, parsed JSON or text) of one request; token=True adds the header."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = {"Host": f"127.0.0.1:{self.port}"}
        if token:
            h["X-Studio-Token"] = self.token
        if body is not None:
            raw = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            conn.request(method, path, body=raw, headers=h)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        kind = response.getheader("Content-Type", "")
        payload = json.loads(data) if kind.startswith("application/json") else data.decode("utf-8", "replace")
        return response.status, dict(response.getheaders()), payload

    def state(self, **query):
        status, _, payload = self.request(
            "GET", "/api/state" + ("?" + urllib.parse.urlencode(query) if query else "")
        )
        assert status == 200, payload
        return payload

    def control(self, body, expect=200):
        status, _, payload = self.request("POST", "/api/control", body)
        assert status == expect, (status, payload)
        return payload

    def stop(self) -> None:
        if self.proc.poll() is None:
            # Ctrl-C as the terminal sends it; Windows has no SIGINT for another process
            self.proc.send_signal(signal.SIGINT) if sys.platform != "win32" else self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def start_server():
    """start_server(*args) -> a new Server, stopped at the end of the test."""
    started = []

    def start(*args: str, **kwargs) -> Server:
        s = Server(*args, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server()


@pytest.fixture(scope="module")
def shared_server():
    """One server for a module's tests that leave it as they found it (or do not care)."""
    s = Server()
    yield s
    s.stop()


# --- the browser -----------------------------------------------------------------------------------


def chromium_path() -> str | None:
    for candidate in (os.environ.get("MICROGRAD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(reason: str):
    if STRICT:
        pytest.fail(f"{reason} (MICROGRAD_STRICT=1: the browser tests must run here)")
    pytest.skip(reason)


CHROMIUM_ARGS = ["--disable-dev-shm-usage", "--disable-gpu", "--no-sandbox"]


@pytest.fixture(scope="session")
def launch_chromium():
    """launch_chromium(*extra_args) -> a headless Chromium (Debian's) under Playwright; all are
    closed at the end of the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install playwright (in the test group)")
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium: apt-get install chromium (scripts/bootstrap.sh dev installs it)")
    # The sanitizer session preloads ASan into every child; Playwright's driver (Node) and Chromium
    # are not built for it, so they start without it. The studio's own server keeps it.
    saved = {k: os.environ.pop(k) for k in ("LD_PRELOAD", "ASAN_OPTIONS") if k in os.environ}
    try:
        playwright = sync_playwright().start()
    finally:
        os.environ.update(saved)
    browsers = []

    def launch(*extra: str):
        saved = {k: os.environ.pop(k) for k in ("LD_PRELOAD", "ASAN_OPTIONS") if k in os.environ}
        try:
            browser = playwright.chromium.launch(executable_path=path, args=[*CHROMIUM_ARGS, *extra])
        finally:
            os.environ.update(saved)
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def chromium(launch_chromium):
    """The session's headless Chromium."""
    return launch_chromium()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    """Where the browser tests save their screenshots (printed at the end of the run)."""
    folder = os.environ.get("MICROGRAD_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("studio-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    _saved.append(path)
    return path


_saved: list[Path] = []


def pytest_terminal_summary(terminalreporter):
    for path in _saved:
        shots = sorted(p.name for p in path.glob("*.png"))
        if shots:
            terminalreporter.write_line(f"studio screenshots ({len(shots)}): {path}")


class PageWatch:
    """A page with its console errors and uncaught exceptions collected."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = PageWatch(page)
    yield watch
    context.close()


@pytest.fixture
def wait_until():
    return _wait_until


def _wait_until(page, predicate: str, timeout: float = 20.0, arg=None):
    """Polls a JavaScript function (the page's CSP forbids eval, so no wait_for_function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(predicate, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.05)
