"""The studio's configuration: its keys, defaults and limits, and the one check every source goes
through (the page's POST /api/control, the URL, the command line, show()'s keyword arguments).

A bad value raises ConfigError (a ValueError): the server answers it with a 400 and its message."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any, TypedDict, cast

DATASETS = ("moons", "circles", "xor", "spiral", "blobs")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
OPTIMIZERS = ("sgd", "adam")

# Limits that keep one step, one frame and the autograd view small enough to stay live: at the
# largest, 1000 points of 6 layers of 32 take ~20 ms a step and ~100 ms a frame (a 16,000-Value sample
# graph); 8 layers of 64 on 2000 points would take 200 ms and 1 s.
MAX_POINTS = 1000
MAX_LAYERS = 6
MAX_WIDTH = 32
MAX_DATA = 2 * MAX_POINTS  # with the points added by clicks, or given to show()


class Config(TypedDict):
    dataset: str
    points: int
    noise: float
    hidden: list[int]
    activation: str
    optimizer: str
    learning_rate: float
    l2: float
    seed: int


KEYS = tuple(Config.__annotations__)


def defaults() -> Config:
    """micrograd's moons demo: 100 points with noise 0.1, MLP(2, [16, 16, 1]) with ReLU, SGD, L2 1e-4."""
    return Config(
        dataset="moons",
        points=100,
        noise=0.1,
        hidden=[16, 16],
        activation="relu",
        optimizer="sgd",
        learning_rate=0.1,
        l2=1e-4,
        seed=1337,
    )


class ConfigError(ValueError):
    """A configuration key or value the studio refuses (HTTP 400)."""


# Other names people use for the same choices (TensorFlow Playground's "gauss", nn's "none").
ALIASES = {
    "gauss": "blobs",
    "gaussian": "blobs",
    "gaussian blobs": "blobs",
    "gaussian_blobs": "blobs",
    "moon": "moons",
    "circle": "circles",
    "none": "linear",
    "identity": "linear",
}


def _choice(key: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, one of {', '.join(choices)}; got {_show(value)}")
    name = value.strip().lower()
    name = ALIASES.get(name, name)
    if name not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got {_show(value)}")
    return name


def _integer(key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{key} must be an integer; got {_show(value)}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise ConfigError(f"{key} must be an integer; got {_show(value)}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}; got {value}")
    return value


def _real(key: str, value: object, low: float, high: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number; got {_show(value)}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key} must be a number; got {_show(value)}") from None
    if not math.isfinite(number) or number > high or number < low or (open_low and number == low):
        bound = f"above {low}" if open_low else f"at least {low}"
        raise ConfigError(f"{key} must be a finite number {bound} and at most {high}; got {_show(value)}")
    return number


def _hidden(value: object) -> list[int]:
    if isinstance(value, str):
        text = value.strip()
        parts = [p for p in text.replace(" ", "").split(",")] if text else []
        if any(p == "" for p in parts):
            raise ConfigError(
                f"hidden must be layer widths separated by commas, such as 16,16; got {_show(value)}"
            )
        value = parts
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"hidden must be a list of layer widths, such as [16, 16]; got {_show(value)}")
    if len(value) > MAX_LAYERS:
        raise ConfigError(f"hidden may have at most {MAX_LAYERS} layers; got {len(value)}")
    return [_integer(f"hidden[{i}]", width, 1, MAX_WIDTH) for i, width in enumerate(value)]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def checked(changes: Mapping[str, Any], base: Config | None = None) -> Config:
    """base (the defaults if None) with changes applied, every value checked and normalised.

    Unknown keys and bad values raise ConfigError naming the key; nothing is applied then."""
    if not isinstance(changes, Mapping):
        raise ConfigError(f"config must be an object of keys and values; got {type(changes).__name__}")
    unknown = sorted(str(k) for k in changes if k not in KEYS)
    if unknown:
        raise ConfigError(
            f"unknown config key {', '.join(map(repr, unknown))}; the keys are {', '.join(KEYS)}"
        )
    out = dict(base if base is not None else defaults())
    for key, value in changes.items():
        if key == "dataset":
            out[key] = _choice(key, value, DATASETS)
        elif key == "activation":
            out[key] = _choice(key, value, ACTIVATIONS)
        elif key == "optimizer":
            out[key] = _choice(key, value, OPTIMIZERS)
        elif key == "points":
            out[key] = _integer(key, value, 2, MAX_POINTS)
        elif key == "seed":
            out[key] = _integer(key, value, 0, 2**32 - 1)
        elif key == "noise":
            out[key] = _real(key, value, 0.0, 2.0)
        elif key == "learning_rate":
            out[key] = _real(key, value, 0.0, 10.0, open_low=True)
        elif key == "l2":
            out[key] = _real(key, value, 0.0, 1.0)
        else:  # hidden
            out[key] = _hidden(value)
    return cast(Config, out)
