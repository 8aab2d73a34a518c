"""Checks for the notebook's exercises: they say what is wrong, not just that something is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from workbench.clinical.features import average_real_variability


def _case(values, hours):
    start = dt.datetime(2026, 9, 1, 7)
    return pl.Series(values, dtype=pl.Float64), pl.Series([start + dt.timedelta(hours=h) for h in hours])


def check_arv(candidate: Callable[[pl.Series, pl.Series], float]) -> str:
    """Run ``candidate(values, times)`` on small cases and explain the first mistake found.

    Diagnoses "not sorted by time", "time weights ignored" and "divides by N instead of N - 1"
    (or any other mismatch with the reference, with the case that shows it). Returns the verdict
    text; "correct" when every case matches :func:`average_real_variability`.
    """
    if not callable(candidate):
        raise TypeError(f"check_arv(candidate): expected a function (values, times) -> float, got {candidate!r}")
    equal_gaps = _case([120, 130, 125, 140], [0, 12, 24, 36])
    uneven_gaps = _case([120, 122, 150], [0, 1, 25])
    shuffled = _case([125, 120, 140, 130], [24, 0, 36, 12])
    reference = {name: average_real_variability(*case) for name, case in
                 [("equal", equal_gaps), ("uneven", uneven_gaps), ("shuffled", shuffled)]}  # fmt: skip

    def run(case):
        value = candidate(*case)
        return None if value is None else float(value)

    got = run(equal_gaps)
    n = equal_gaps[0].len()
    if got is None or abs(got - reference["equal"]) > 1e-9:
        if got is not None and abs(got - reference["equal"] * (n - 1) / n) < 1e-9:
            return "divides by N instead of N - 1: there are N - 1 successive differences (or weights)"
        return f"wrong even with equal gaps: got {got}, expected {reference['equal']:.4f} for values 120, 130, 125, 140"
    got = run(uneven_gaps)
    unweighted = average_real_variability(uneven_gaps[0])
    if got is None or abs(got - reference["uneven"]) > 1e-9:
        if got is not None and abs(got - unweighted) < 1e-9:
            return ("time weights ignored: with gaps of 1 h and 24 h the 28 mmHg jump must weigh 24 times the "
                    f"2 mmHg one (expected {reference['uneven']:.4f}, got {got:.4f})")
        return f"wrong with uneven gaps: got {got}, expected {reference['uneven']:.4f}"
    got = run(shuffled)
    if got is None or abs(got - reference["shuffled"]) > 1e-9:
        return ("not sorted by time: readings may arrive in any order; sort by time before differencing "
                f"(expected {reference['shuffled']:.4f}, got {got})")
    return "correct"
