"""The studio's local HTTP server (the standard library's ThreadingHTTPServer) and its trainer thread.

    GET  /                 the page (the token in the query: /?token=TOKEN)
    GET  /api/state        the current frame as JSON (Session.snapshot)
    POST /api/control      {"action": ..., ...}: play, pause, step, reset, config, add_point, select, speed

A local server is an attack surface; what it refuses, and why:
- every request needs the run's token (a random 32 bytes, compared in constant time with
  hmac.compare_digest), in the query (?token=) or the X-Studio-Token header the page sends: 403;
- a Host that is not the address it serves (127.0.0.1, localhost, [::1], or --host's own name):
  403, so that a web page cannot reach it through a DNS name rebound to 127.0.0.1;
- a POST from another Origin: 403; a body that is not JSON (Content-Type application/json): 415;
  a body over 64 KiB: 413; without Content-Length: 411;
- any bad value: 400 with {"error": "..."}; the server keeps running.
No endpoint evaluates code or reads or writes a file: the page is built in memory from the package's
own files once at start."""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import json
import os
import secrets
import socket
import threading
import time
import urllib.parse
from typing import Any

from ._config import ConfigError
from ._page import page_html
from ._session import Session

MAX_BODY = 64 * 1024
TOKEN_HEADER = "X-Studio-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ACTIONS = ("play", "pause", "step", "reset", "config", "add_point", "select", "speed")
# The keys each action takes besides "action" (anything else is a 400).
ACTION_KEYS = {
    "play": set(),
    "pause": set(),
    "reset": set(),
    "step": {"steps"},
    "config": {"config"},
    "add_point": {"point", "label"},
    "select": {"sample"},
    "speed": {"steps_per_second"},
}


class RequestError(Exception):
    """A request the server refuses, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Trainer(threading.Thread):
    """Runs the session's steps while it is playing: in slices of ~10 ms with the lock held, so
    that the page's frames (which take the lock too) come in between; at session.speed when set."""

    def __init__(self, session: Session) -> None:
        super().__init__(name="micrograd_cpp-studio-trainer", daemon=True)
        self.session = session
        self.stopped = threading.Event()

    def run(self) -> None:
        session = self.session
        debt = 0.0  # steps owed at a set speed
        last = time.perf_counter()
        while not self.stopped.is_set():
            if not session.playing:
                self.stopped.wait(0.02)
                last = time.perf_counter()
                continue
            if session.speed > 0:
                now = time.perf_counter()
                debt = min(debt + (now - last) * session.speed, max(1.0, session.speed * 0.1))
                last = now
                todo = int(debt)
                if todo:
                    debt -= session.run_for(0.010, todo)
                self.stopped.wait(0.005)
            else:
                session.run_for(0.010, 1_000_000)
                time.sleep(0.0005)  # lets a waiting frame take the lock

    def stop(self) -> None:
        self.stopped.set()


class StudioServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A restart right after Ctrl-C can take the same port again (POSIX's SO_REUSEADDR); on Windows the
    # same option would let another program bind the port under us.
    allow_reuse_address = os.name != "nt"

    def __init__(
        self, session: Session, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), Handler)
        self.session = session
        self.token = token or secrets.token_urlsafe(32)
        self.host = host
        self.allowed_hosts = {*LOOPBACK_NAMES, host.lower()}
        if host in ("0.0.0.0", "::"):
            self.allowed_hosts.add(socket.gethostname().lower())
        self.page = page_html()
        self.trainer = Trainer(session)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "[::1]" if self.host == "::" else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.token}"

    def start_trainer(self) -> None:
        if not self.trainer.is_alive():
            self.trainer.start()

    def server_close(self) -> None:
        self.trainer.stop()
        if self.trainer.is_alive():
            self.trainer.join(timeout=2.0)
        super().server_close()


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: "127.0.0.1:8000" -> "127.0.0.1", "[::1]:80" -> "::1"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_allowed_host(name: str, server: StudioServer) -> bool:
    """Whether a request's Host (or Origin) names this server. A DNS name is refused unless it is
    localhost or the --host given: a page of the attacker's domain, rebound to 127.0.0.1, carries its
    own name. An address is no rebinding, but on loopback only the loopback's own are accepted."""
    if name in server.allowed_hosts:
        return True
    if server.host in ("0.0.0.0", "::"):  # all interfaces, as the user asked: any address of ours
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    server: StudioServer
    server_version = "micrograd_cpp-studio"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows the URL only

    # --- answers ------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        body = json_bytes(payload)
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    # --- checks -------------------------------------------------------------------------------

    def _check_host(self) -> None:
        name = _host_name(self.headers.get("Host", ""))
        if not _is_allowed_host(name, self.server):
            raise RequestError(
                403,
                f"Host {self.headers.get('Host', '')!r} refused: this server answers to {self.server.host} only",
            )

    def _check_token(self, query: dict[str, list[str]]) -> None:
        given = self.headers.get(TOKEN_HEADER) or (query.get("token") or [""])[0]
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.server.token.encode()):
            raise RequestError(403, "a valid token is needed: open the URL the studio printed (…/?token=…)")

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(self.path)
        return parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True)

    # --- methods ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_HEAD(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _refuse_method(self) -> None:
        self._handle(lambda: (_ for _ in ()).throw(RequestError(405, f"method {self.command} not allowed")))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _handle(self, action: Any) -> None:
        try:
            self._check_host()
            action()
        except RequestError as error:
            self._error(error.status, str(error))
        except ConfigError as error:
            self._error(400, str(error))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:  # noqa: BLE001 - any other error: a 500 the page shows; the server keeps running
            self._error(500, f"{type(error).__name__}: {error}")

    def _get(self) -> None:
        path, query = self._route()
        if path not in ("/", "/index.html", "/api/state"):
            raise RequestError(404, f"no such page: {path}")
        self._check_token(query)
        if path == "/api/state":
            versions = {k: _int_param(query, k) for k in ("data_version", "graph_version")}
            graph = (query.get("graph") or ["1"])[0] != "0"
            self._json(200, self.server.session.snapshot(graph=graph, **versions))
            return
        csp = (
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'"
        )
        self._send(200, self.server.page, "text/html; charset=utf-8", {"Content-Security-Policy": csp})

    def _post(self) -> None:
        path, query = self._route()
        if path != "/api/control":
            raise RequestError(404 if path not in ("/", "/api/state") else 405, f"no POST at {path}")
        self._check_token(query)
        origin = self.headers.get("Origin")
        if origin and origin != "null":
            name = urllib.parse.urlsplit(origin).hostname or ""
            if not _is_allowed_host(name.lower(), self.server):
                raise RequestError(403, f"Origin {origin!r} refused")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise RequestError(411, "Content-Length is needed")
        try:
            length = int(length_text)
        except ValueError:
            raise RequestError(400, f"bad Content-Length {length_text!r}") from None
        if length < 0:
            raise RequestError(400, f"bad Content-Length {length_text!r}")
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read
            raise RequestError(413, f"request body too large: {length} bytes (at most {MAX_BODY})")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        body = self.rfile.read(length)
        if content_type != "application/json":
            raise RequestError(415, "the body must be JSON (Content-Type: application/json)")
        try:
            message = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise RequestError(400, f"the body is not valid JSON: {error}") from None
        self._json(200, control(self.server.session, message))


def finite(payload: Any) -> Any:
    """payload with every NaN or infinity (a diverged run's loss, weights) as None: JSON has none."""
    if isinstance(payload, float):
        return payload if payload - payload == 0.0 else None
    if isinstance(payload, dict):
        return {k: finite(v) for k, v in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [finite(v) for v in payload]
    return payload


def json_bytes(payload: object) -> bytes:
    """payload as compact JSON, non-finite numbers as null."""
    try:
        text = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(finite(payload), allow_nan=False, separators=(",", ":"))
    return text.encode()


def _int_param(query: dict[str, list[str]], key: str) -> int:
    text = (query.get(key) or ["-1"])[0]
    try:
        return int(text)
    except ValueError:
        raise RequestError(400, f"{key} must be an integer; got {text[:40]!r}") from None


def control(session: Session, message: object) -> dict[str, Any]:
    """Carries out one control message (see the module's docstring); returns the reply."""
    if not isinstance(message, dict):
        raise ConfigError(f"the body must be a JSON object with an action; got {type(message).__name__}")
    action = message.get("action")
    if action not in ACTIONS:
        raise ConfigError(f"unknown action {action!r}; the actions are {', '.join(ACTIONS)}")
    unknown = sorted(set(message) - {"action"} - ACTION_KEYS[action])
    if unknown:
        allowed = ", ".join(sorted(ACTION_KEYS[action])) or "none"
        raise ConfigError(
            f"unknown key {', '.join(map(repr, unknown))} for action {action!r} (its keys: {allowed})"
        )
    if action == "play":
        session.play()
    elif action == "pause":
        session.pause()
    elif action == "reset":
        session.reset()
    elif action == "step":
        session.step(message.get("steps", 1))
    elif action == "config":
        changes = message.get("config", {})
        if not isinstance(changes, dict):
            raise ConfigError(f"config must be an object of keys and values; got {type(changes).__name__}")
        session.configure(changes)
    elif action == "add_point":
        point = message.get("point")
        if not isinstance(point, list) or len(point) != 2:
            raise ConfigError(f"point must be [x, y]; got {point!r}"[:200])
        session.add_point(point[0], point[1], message.get("label", 1))
    elif action == "select":
        session.select(message.get("sample"))  # type: ignore[arg-type]
    else:
        session.set_speed(message.get("steps_per_second"))  # type: ignore[arg-type]
    with session.lock:
        return {
            "ok": True,
            "action": action,
            "step": session.step_count,
            "loss": session.loss,
            "accuracy": session.accuracy,
            "playing": session.playing,
            "config": dict(session.config),
        }
