"""Export: a recorded run as one self-contained HTML file (the page, its script and the frames inline),
which replays with the same views from file:// with no server and no network."""

from __future__ import annotations

import os
from typing import Any

from ._page import page_html
from ._session import Session

FRAMES = 40


def frame_steps(steps: int, frames: int = FRAMES) -> list[int]:
    """The steps at which frames are recorded: 0, the last, and more of them early, where training
    changes the most (quadratic spacing)."""
    marks = {0, steps}
    for k in range(1, frames):
        marks.add(round(steps * (k / (frames - 1)) ** 2))
    return sorted(marks)


def record(session: Session, steps: int, frames: int = FRAMES) -> dict[str, Any]:
    """Trains the session from where it is for `steps` steps, recording frames; returns the recording
    (a JSON-ready dict: the static parts once, then the frames, then the whole history)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 100_000:
        raise ValueError(f"steps must be an integer between 1 and 100000; got {steps!r}")
    with session.lock:
        session.pause()
        first = session.snapshot()
        static = {
            key: first[key]
            for key in (
                "points",
                "bounds",
                "grid",
                "neuron_grid",
                "graph",
                "layer_sizes",
                "config",
                "custom_data",
            )
        }
        static["names"] = first["optimizer"]["names"]
        start = session.step_count
        recorded: list[dict[str, Any]] = []
        for target in frame_steps(steps, frames):
            todo = start + target - session.step_count
            if todo > 0:
                session.step(todo)
            frame = session.snapshot(session.data_version, session.graph_version)
            for key in (
                "history",
                "points",
                "bounds",
                "grid",
                "neuron_grid",
                "graph",
                "playing",
                "speed",
                "steps_per_second",
            ):
                frame.pop(key, None)
            frame["optimizer"].pop("names", None)
            recorded.append(frame)
        return {
            "version": 1,
            "static": static,
            "frames": recorded,
            "history": [list(h) for h in session.history],
        }


def write_html(path: str | os.PathLike[str], recording: dict[str, Any]) -> int:
    """Writes the page with the recording to path (that file only); returns its size in bytes."""
    from ._server import finite

    page = page_html(finite(recording))
    with open(path, "wb") as out:
        out.write(page)
    return len(page)
