"""micrograd_cpp studio: see backprop live. A local page that trains an MLP on 2-D data on the engine
and shows, while it trains, the decision boundary, the loss and accuracy curves, the network (each
neuron's output as a heatmap, the weights as links), the autograd graph of one sample's loss with every
Value's data and grad (and a step-by-step backward mode), and the optimizer's state. From a shell::

    python -m micrograd_cpp.studio             # serves it on 127.0.0.1 and opens the browser
    python -m micrograd_cpp.studio --export run.html --steps 300   # one self-contained HTML file

In a notebook::

    from micrograd_cpp import studio
    h = studio.show()                          # or show(model, data=X, labels=y, hidden=[8, 8], ...)
    h.play(); h.pause(); h.step(10); h.state()
    h.export("run.html")

The server is the standard library's; the page is written here, shipped in the package, and fetches
nothing else. See docs/studio.md."""

from __future__ import annotations

import html
import importlib
import os
import threading
from collections.abc import Sequence
from typing import Any

from ..nn import MLP
from ._config import ConfigError, checked, defaults
from ._export import record, write_html
from ._server import StudioServer, control
from ._session import Session

DEFAULT_EXPORT_STEPS = 300


class Studio:
    """A running studio: a session served on 127.0.0.1 in background threads of this process.

    ``play()``, ``pause()``, ``step(n)`` and ``state()`` act on the session as the page's buttons do;
    ``export(path)`` writes a recorded run; ``close()`` stops the server. ``url`` opens the page."""

    def __init__(self, session: Session, host: str = "127.0.0.1", port: int = 0) -> None:
        self.session = session
        self.server = StudioServer(session, host=host, port=port)
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="micrograd_cpp-studio",
            daemon=True,
        )
        self._thread.start()
        self.server.start_trainer()

    @property
    def url(self) -> str:
        """The page's address, with the token."""
        return self.server.url

    @property
    def model(self) -> MLP:
        """The model being trained (the one given to show(), until the page changes its shape)."""
        return self.session.model

    def play(self) -> None:
        """Starts training continuously (in a background thread)."""
        control(self.session, {"action": "play"})

    def pause(self) -> None:
        """Stops training."""
        control(self.session, {"action": "pause"})

    def step(self, n: int = 1) -> dict[str, Any]:
        """n training steps now (1 to 100,000); returns the state after them."""
        control(self.session, {"action": "step", "steps": n})
        return self.state()

    def reset(self) -> None:
        """Back to step 0 with the initial parameters."""
        control(self.session, {"action": "reset"})

    def configure(self, **changes: Any) -> None:
        """Changes the configuration, as the page's controls do (the keys of show())."""
        control(self.session, {"action": "config", "config": changes})

    def state(self) -> dict[str, Any]:
        """step, loss, accuracy, config, playing, steps_per_second and the curves' history."""
        session = self.session
        with session.lock:
            return {
                "step": session.step_count,
                "loss": session.loss,
                "accuracy": session.accuracy,
                "config": dict(session.config),
                "playing": session.playing,
                "steps_per_second": session.steps_per_second(),
                "history": [list(h) for h in session.history],
                "url": self.url,
            }

    def export(self, path: str | os.PathLike[str], steps: int | None = None) -> str:
        """Writes one self-contained HTML file replaying this session's run: the same data, model
        and configuration trained again from step 0 (full-batch training is deterministic, so it is
        the same run unless points or settings changed on the way) for `steps` steps (default: the
        steps taken so far, or 300). Returns the path."""
        session = self.session
        with session.lock:
            copy = Session(
                dict(session.config),  # type: ignore[arg-type]
                model=_fresh_copy(session),
                points=list(session.points),
                labels=list(session.labels),
            )
            copy.custom_data = session.custom_data
            copy.sample = session.sample
            todo = steps if steps is not None else (session.step_count or DEFAULT_EXPORT_STEPS)
        write_html(path, record(copy, todo))
        return os.fspath(path)

    def display(self, height: int = 900) -> None:
        """Shows the live page in the notebook's output (an iframe of the local server)."""
        shell: Any = importlib.import_module("IPython.display")  # only in a notebook; untyped
        shell.display(shell.HTML(self._iframe(height)), metadata={"micrograd_cpp_studio": self.url})

    def _iframe(self, height: int) -> str:
        src = html.escape(self.url, quote=True)
        return (
            f'<iframe src="{src}" title="micrograd_cpp studio" width="100%" height="{int(height)}" '
            f'style="border: 1px solid #ddd; border-radius: 4px;"></iframe>'
            f'<div style="font-size: 12px; color: #666;">micrograd_cpp studio, live: <a href="{src}" '
            f'target="_blank" rel="noopener">{html.escape(self.url)}</a></div>'
        )

    def close(self) -> None:
        """Stops the server and the training thread."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)

    def __repr__(self) -> str:
        return f"<micrograd_cpp studio at {self.url}: step {self.session.step_count}>"


def _fresh_copy(session: Session) -> MLP:
    """A model of the session's shape holding its initial parameters."""
    import copy

    model = copy.deepcopy(session.model)
    model.load_state_dict(session.initial_state)
    return model


def show(
    model: MLP | None = None,
    data: Sequence[Sequence[float]] | None = None,
    labels: Sequence[Any] | None = None,
    **config: Any,
) -> Studio:
    """Shows the live studio in a Jupyter cell and returns its handle (a Studio).

    model: a micrograd_cpp.nn.MLP of 2 inputs and 1 output, trained in place (default: one made from
    the configuration's hidden, activation and seed). data, labels: the user's 2-D points and their two
    classes (any two values; the larger is class +1), instead of a generated data set. config: the
    page's settings, as in the URL: dataset, points, noise, hidden, activation, optimizer,
    learning_rate, l2, seed (ValueError for an unknown key or a bad value).

    The server runs in background threads of this kernel, on 127.0.0.1 and a free port, with its own
    token; the cell shows the page in an iframe (the browser must run on the kernel's machine, as
    with a local Jupyter). Outside a notebook, it prints the URL instead."""
    if (data is None) != (labels is None):
        raise ValueError("give data and labels together: show(data=points, labels=classes)")
    settings = checked(config, defaults())
    session = Session(settings, model=model, points=data, labels=labels)
    handle = Studio(session)
    try:
        from IPython import get_ipython

        in_kernel = get_ipython() is not None
    except ImportError:
        in_kernel = False
    if in_kernel:
        handle.display()
    else:
        print(f"micrograd_cpp studio: {handle.url}", flush=True)
    return handle


__all__ = ["ConfigError", "Studio", "show"]
