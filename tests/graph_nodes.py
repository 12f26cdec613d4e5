"""Helpers for the tests that look at a graph's nodes."""

from __future__ import annotations

import micrograd_cpp as mg


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
