"""The tests' shared helpers, one meaning each (pytest puts tests/ on the path: `from support import ...`).
Fixtures live in conftest.py; the op table every oracle iterates is op_reference.py."""

from __future__ import annotations

import math
import random
from pathlib import Path

import micrograd_cpp as mg
from micrograd_cpp.nn import MLP

# The checkout, or the wheel tests' copy of tests/ and pyproject.toml (README.md, examples/ and scripts/
# are there only in a checkout: the tests that read them skip elsewhere).
ROOT = Path(__file__).resolve().parent.parent


# --- graphs -------------------------------------------------------------------------------------------


def reachable(outputs: list[mg.Value]) -> set[mg.Value]:
    """The nodes of the graph below the outputs, as a set of Values: Values hash and compare by node
    (not by id(): _children makes new wrappers on each access, whose ids say nothing of the nodes)."""
    seen: set[mg.Value] = set()
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(v._children)
    return seen


# --- micrograd's demo model, captured (the Graph tests' common case) ---------------------------------


def moons_like(n: int, seed: int = 0) -> list[list[float]]:
    """n rows [x, y, label] spread like the two-moons data set's, labels -1.0 or 1.0 (not the moons)."""
    rng = random.Random(seed)
    return [[rng.uniform(-1.5, 2.5), rng.uniform(-1, 1.5), rng.choice([-1.0, 1.0])] for _ in range(n)]


def captured_model(seed: int = 1337) -> tuple[MLP, mg.Graph]:
    """micrograd's demo model and one sample's hinge loss, captured with the sample as inputs: outputs
    [loss, score], inputs [x, y, label]. Seeds the global random module (as the demo does)."""
    random.seed(seed)
    model = MLP(2, [16, 16, 1])
    x = [mg.Value(0.0), mg.Value(0.0)]
    t = mg.Value(0.0)
    score = model(x)
    loss = (1 + -t * score).relu()
    return model, mg.Graph([loss, score], inputs=[*x, t])


def grads(model: MLP) -> list[float]:
    """The model's parameter gradients, in parameters() order."""
    return [p.grad for p in model.parameters()]


def close(a: list[float], b: list[float], rel: float = 1e-12) -> bool:
    """Two equally long lists of floats agree within rel, relative (and rel * 1e-3 absolute, near 0)."""
    assert len(a) == len(b)
    return all(math.isclose(x, y, rel_tol=rel, abs_tol=rel * 1e-3) for x, y in zip(a, b))
