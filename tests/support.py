"""The tests' shared helpers, one meaning each (pytest puts tests/ on the path: `from support import ...`).
Fixtures live in conftest.py; the op table every oracle iterates is op_reference.py."""

from __future__ import annotations

from pathlib import Path

import micrograd_cpp as mg

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
