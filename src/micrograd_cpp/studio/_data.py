"""The studio's 2-D data sets, made from Python's own random numbers (random.Random(seed)): the same
points on every machine, with or without NumPy, and no change to the global random state.

Each returns points and labels -1/+1 (the hinge loss's classes) in a box of about [-2, 2] x [-2, 2]."""

from __future__ import annotations

import math
import random
from typing import Callable

Points = list[tuple[float, float]]
Labels = list[int]


def moons(n: int, noise: float, rng: random.Random) -> tuple[Points, Labels]:
    """Two interleaving half circles (scikit-learn's make_moons' shape), centred on the origin."""
    n_out = n // 2
    n_in = n - n_out
    points: Points = []
    labels: Labels = []
    for i in range(n_out):
        t = math.pi * i / max(1, n_out - 1)
        points.append((math.cos(t) - 0.5, math.sin(t) - 0.25))
        labels.append(-1)
    for i in range(n_in):
        t = math.pi * i / max(1, n_in - 1)
        points.append((1 - math.cos(t) - 0.5, 1 - math.sin(t) - 0.75))
        labels.append(1)
    return _shuffled_with_noise(points, labels, noise, rng)


def circles(n: int, noise: float, rng: random.Random) -> tuple[Points, Labels]:
    """A disc of one class inside a ring of the other (TensorFlow Playground's "circle")."""
    points: Points = []
    labels: Labels = []
    for i in range(n):
        inner = i % 2 == 0
        r = rng.uniform(0.0, 0.6) if inner else rng.uniform(0.9, 1.4)
        t = rng.uniform(0.0, 2 * math.pi)
        points.append((r * math.cos(t), r * math.sin(t)))
        labels.append(1 if inner else -1)
    return _shuffled_with_noise(points, labels, noise, rng)


def xor(n: int, noise: float, rng: random.Random) -> tuple[Points, Labels]:
    """Four quadrants, the class the sign of x * y, kept a little off the axes."""
    points: Points = []
    labels: Labels = []
    pad = 0.1
    for i in range(n):
        label = 1 if i % 2 == 0 else -1
        sx = rng.choice((-1, 1))
        x = rng.uniform(pad, 1.5) * sx
        y = rng.uniform(pad, 1.5) * sx * label  # the same sign as x for class +1
        points.append((x, y))
        labels.append(label)
    return _shuffled_with_noise(points, labels, noise, rng)


def spiral(n: int, noise: float, rng: random.Random) -> tuple[Points, Labels]:
    """Two arms winding one and three quarter turns around the origin, one per class."""
    points: Points = []
    labels: Labels = []
    half = n // 2
    for label, delta, count in ((1, 0.0, n - half), (-1, math.pi, half)):
        for i in range(count):
            r = 1.6 * i / max(1, count)
            t = 1.75 * 2 * math.pi * i / max(1, count) + delta
            points.append((r * math.sin(t), r * math.cos(t)))
            labels.append(label)
    return _shuffled_with_noise(points, labels, noise, rng)


def blobs(n: int, noise: float, rng: random.Random) -> tuple[Points, Labels]:
    """Two Gaussian clouds (standard deviation 0.35) around (-0.7, -0.7) and (0.7, 0.7)."""
    points: Points = []
    labels: Labels = []
    for i in range(n):
        label = 1 if i % 2 == 0 else -1
        points.append((rng.gauss(0.7 * label, 0.35), rng.gauss(0.7 * label, 0.35)))
        labels.append(label)
    return _shuffled_with_noise(points, labels, noise, rng)


def _shuffled_with_noise(
    points: Points, labels: Labels, noise: float, rng: random.Random
) -> tuple[Points, Labels]:
    order = list(range(len(points)))
    rng.shuffle(order)
    noisy = [
        (points[i][0] + rng.gauss(0.0, noise), points[i][1] + rng.gauss(0.0, noise)) if noise else points[i]
        for i in order
    ]
    return noisy, [labels[i] for i in order]


MAKERS: dict[str, Callable[[int, float, random.Random], tuple[Points, Labels]]] = {
    "moons": moons,
    "circles": circles,
    "xor": xor,
    "spiral": spiral,
    "blobs": blobs,
}


def make(name: str, n: int, noise: float, seed: int) -> tuple[Points, Labels]:
    """n points of the named data set (one of MAKERS), from seed alone."""
    return MAKERS[name](n, noise, random.Random(seed))
