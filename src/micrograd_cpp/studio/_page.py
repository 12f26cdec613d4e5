"""The page: index.html with the package's own style sheet and script put inline, so that the live
page and an exported run are one document each, with nothing to fetch (no CDN, no second request)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def page_html(recording: dict[str, Any] | None = None) -> bytes:
    """The page; with a recording (an exported run), one that replays it with no server."""
    html = _static("index.html")
    style = _static("studio.css")
    script = _static("studio.js")
    data = "null" if recording is None else _script_json(recording)
    html = html.replace("/*STUDIO_CSS*/", style)
    html = html.replace("/*STUDIO_RECORDING*/null", data)
    html = html.replace("/*STUDIO_JS*/", script)
    return html.encode("utf-8")


def _script_json(payload: Any) -> str:
    """JSON safe inside a <script> element: no "</script>", "<!--" or U+2028/9 can end or bend it."""
    text = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
