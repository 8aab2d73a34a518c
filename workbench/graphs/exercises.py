"""Check functions for the exercises of notebook 05: each says what is wrong, not just "wrong".

The convention of :mod:`workbench.exercises`: a check runs the learner's function on small cases and ends in
:func:`workbench.exercises.report`. :func:`check_closure_answer` (a hand-written answer for one graph) stays
for direct use; the graded exercise is :func:`check_closure`, which takes a function.
"""

from __future__ import annotations

import numpy as np

from workbench.exercises import attempt, report
from workbench.graphs.closure import check_closure_answer

__all__ = ["CLOSURE_CASES", "check_closure", "check_closure_answer"]

# Each case isolates one rule: a cycle between two nodes, a self-loop, a chain needing many steps, a
# node that reaches a cycle without lying on it, and no edges at all.
CLOSURE_CASES: list[tuple[str, list[tuple[int, int]]]] = [
    ("the exercise graph", [(0, 1), (1, 2), (2, 1), (3, 4)]),
    ("a self-loop", [(0, 0), (0, 1)]),
    ("a chain of five arcs", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
    ("a 3-cycle with a tail", [(3, 0), (0, 1), (1, 2), (2, 0)]),
    ("no edges", []),
]


def _as_pairs(got) -> set[tuple[int, int]] | None:
    try:
        return {(int(i), int(j)) for i, j in got}
    except (TypeError, ValueError):
        return None


def check_closure(fn) -> bool:
    """Check ``fn(edges) -> set of (i, j)``, the transitive closure R+ of a list of arcs (walks of length >= 1)."""
    for name, edges in CLOSURE_CASES:
        got, error = attempt(fn, list(edges))
        if error:
            return report("closure", False, f"{name} {edges}: {error}")
        pairs = _as_pairs(got)
        if pairs is None:
            return report("closure", False, f"{name}: return a set of (i, j) pairs, got {got!r:.60}")
        n = 1 + max([max(e) for e in edges] + [max(p) for p in pairs] + [-1]) if (edges or pairs) else 1
        adjacency = np.zeros((n, n), dtype=bool)
        for i, j in edges:
            adjacency[i, j] = True
        verdict = check_closure_answer(adjacency, pairs)
        if verdict != "correct":
            return report("closure", False, f"{name} {edges}: " + verdict.replace("\n", "; "))
    return report("closure", True, f"R+ is right on all {len(CLOSURE_CASES)} graphs, cycles and self-loops included")
