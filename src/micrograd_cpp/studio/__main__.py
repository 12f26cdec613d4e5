"""python -m micrograd_cpp.studio: serves the studio on 127.0.0.1, or --export writes a recorded run.

The first line printed is ``micrograd_cpp studio: http://127.0.0.1:PORT/?token=TOKEN``; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
import webbrowser
from types import FrameType
from typing import Any

from ._config import ACTIVATIONS, DATASETS, OPTIMIZERS, ConfigError, checked, defaults
from ._export import record, write_html
from ._server import StudioServer
from ._session import Session

DEFAULT_PORT = 8321
DEFAULT_EXPORT_STEPS = 300


def build_parser() -> argparse.ArgumentParser:
    d = defaults()
    parser = argparse.ArgumentParser(
        prog="python -m micrograd_cpp.studio",
        description="See backprop live: trains an MLP on 2-D data in the browser, with the decision boundary, "
        "the curves, the network, one sample's autograd graph (and its backward, step by step) and the "
        "optimizer's state.",
        epilog="The page's settings live in its URL; these options give the first ones.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default: {DEFAULT_PORT}, or a free one if it is taken; 0: a free port)",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open the browser")
    parser.add_argument(
        "--export", metavar="HTML", help="write a recorded run to this file (no server) and exit"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_EXPORT_STEPS,
        help=f"steps of the recorded run (default: {DEFAULT_EXPORT_STEPS})",
    )
    parser.add_argument(
        "--dataset", default=d["dataset"], help=f"{', '.join(DATASETS)} (default: {d['dataset']})"
    )
    parser.add_argument("--points", default=d["points"], help=f"number of points (default: {d['points']})")
    parser.add_argument("--noise", default=d["noise"], help=f"noise (default: {d['noise']})")
    parser.add_argument(
        "--hidden", default=",".join(map(str, d["hidden"])), help="hidden layer widths (default: 16,16)"
    )
    parser.add_argument(
        "--activation", default=d["activation"], help=f"{', '.join(ACTIVATIONS)} (default: {d['activation']})"
    )
    parser.add_argument(
        "--optimizer", default=d["optimizer"], help=f"{', '.join(OPTIMIZERS)} (default: {d['optimizer']})"
    )
    parser.add_argument(
        "--learning-rate", default=d["learning_rate"], help=f"(default: {d['learning_rate']})"
    )
    parser.add_argument("--l2", default=d["l2"], help=f"L2 penalty (default: {d['l2']})")
    parser.add_argument(
        "--seed", default=d["seed"], help=f"seed of the data and the weights (default: {d['seed']})"
    )
    return parser


def _bind(session: Session, host: str, port: int) -> StudioServer:
    """The server on host:port; the default port falls back to a free one when taken."""
    try:
        return StudioServer(session, host=host, port=port)
    except OSError as error:
        if port == DEFAULT_PORT and error.errno in (errno.EADDRINUSE, errno.EACCES):
            return StudioServer(session, host=host, port=0)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = checked(
            {
                "dataset": args.dataset,
                "points": args.points,
                "noise": args.noise,
                "hidden": args.hidden,
                "activation": args.activation,
                "optimizer": args.optimizer,
                "learning_rate": args.learning_rate,
                "l2": args.l2,
                "seed": args.seed,
            }
        )
    except ConfigError as error:
        parser.error(str(error))
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535; got {args.port}")
    session = Session(config)

    if args.export:
        if not 1 <= args.steps <= 100_000:
            parser.error(f"--steps must be between 1 and 100000; got {args.steps}")
        folder = os.path.dirname(os.path.abspath(args.export))
        if not os.path.isdir(folder):
            parser.error(f"--export {args.export}: the folder {folder} does not exist")
        if os.path.isdir(args.export):
            parser.error(f"--export {args.export} is a folder: give a file name, such as run.html")
        started = time.perf_counter()
        recording = record(session, args.steps)
        size = write_html(args.export, recording)
        print(
            f"micrograd_cpp studio: wrote {args.export} ({size / 1e6:.1f} MB): {args.steps} steps, "
            f"{len(recording['frames'])} frames, final loss {session.loss:.4f}, accuracy {session.accuracy:.1%} "
            f"({time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        return 0

    def stop(signum: int, frame: FrameType | None) -> Any:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # as Ctrl-C: a clean stop, wherever it comes
    server: StudioServer | None = None
    try:
        try:
            server = _bind(session, args.host, args.port)
        except OSError as error:
            print(
                f"micrograd_cpp studio: cannot serve on {args.host}:{args.port}: {error.strerror or error}",
                file=sys.stderr,
            )
            return 1
        print(f"micrograd_cpp studio: {server.url}", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"warning: serving on {args.host}, not only this machine: anyone who can reach it and has the token can use it",
                file=sys.stderr,
            )
        print("Ctrl-C stops it.", file=sys.stderr, flush=True)
        server.start_trainer()
        if not args.no_browser:
            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.server_close()  # stops the trainer and waits for its slice to end
        # No thread may enter the engine while the interpreter finalizes: a request still being
        # answered on a kept-alive connection waits here for ever (its thread is a daemon).
        session.lock.acquire()
    print("micrograd_cpp studio: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
