"""Check for notebook 06's exercise (``my_arv``): it runs the reader's ARV on small cases and says which rule of
Mena et al.'s definition it breaks, not just that it is wrong.

The check follows the convention of :mod:`workbench.exercises`: it prints ``OK: ...`` or ``Not yet: ...`` and
returns ``True`` or ``False``; under ``workbench grade`` the verdict is also logged for the score table.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import polars as pl

from workbench.clinical.features import average_real_variability
from workbench.exercises import attempt, report

EXERCISE = "arv"

# Units a reader may express the gaps in when weighting by raw time differences (us is polars' datetime unit).
_GAP_UNITS_S = {"hours": 3600.0, "minutes": 60.0, "seconds": 1.0, "microseconds": 1e-6, "nanoseconds": 1e-9}


def _case(values, hours):
    start = dt.datetime(2026, 9, 1, 7)
    return pl.Series(values, dtype=pl.Float64), pl.Series([start + dt.timedelta(hours=h) for h in hours])


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _known_mistakes(values: pl.Series, times: pl.Series) -> dict[str, list[float]]:
    """What the typical wrong answers return on one case, each keyed by the hint that explains it."""
    order = np.argsort(times.to_numpy(), kind="stable")
    v_sorted = values.to_numpy()[order]
    gaps_s = np.diff(times.to_numpy()[order]).astype("timedelta64[ns]").astype(float) / 1e9
    change = np.abs(np.diff(v_sorted))
    raw_change = np.abs(np.diff(values.to_numpy()))
    raw_gaps_s = np.diff(times.to_numpy()).astype("timedelta64[ns]").astype(float) / 1e9  # negative when out of order
    n = values.len()
    return {
        "divides_by_n": [float((gaps_s * change).sum() / gaps_s.sum() * (n - 1) / n),
                         float(change.sum() / n)],
        "unweighted": [float(change.mean()), float(raw_change.mean())],
        "unnormalized": [float((gaps_s / unit * change).sum() / (n - 1)) for unit in _GAP_UNITS_S.values()],
        "unsorted": [float((gaps * raw_change).sum() / gaps.sum()) for gaps in (raw_gaps_s, np.abs(raw_gaps_s))],
        "std": [float(np.std(values.to_numpy(), ddof=1)), float(np.std(values.to_numpy()))],
    }


_HINTS = {
    "divides_by_n": "divides by N instead of N - 1: there are N - 1 successive differences (or weights)",
    "unweighted": ("time weights ignored: each change |x[k+1] - x[k]| must be weighted by the time between its two "
                   "readings, so a change over 24 h counts 24 times one over 1 h"),
    "unnormalized": ("the weights are not normalized: with time weights, divide the weighted sum by the total time "
                     "(the sum of the weights), not by N - 1, or the result depends on the unit of time"),
    "unsorted": "not sorted by time: readings may arrive in any order; sort by time before differencing",
    "std": ("that is the standard deviation, which ignores the order of readings; ARV averages the absolute "
            "changes between successive readings"),
}


def check_arv(candidate: Callable[[pl.Series, pl.Series], float]) -> bool:
    """Check ``candidate(values, times) -> float``, the time-weighted average real variability.

    Runs it on readings with equal gaps, uneven gaps and out of time order, and names the first mistake found:
    "divides by N instead of N - 1", "time weights ignored", "weights not normalized", "not sorted by time",
    or "standard deviation"; any other mismatch is shown with the case that exposes it. The reference is
    :func:`workbench.clinical.average_real_variability`.
    """
    cases = [
        ("equal gaps", _case([120, 130, 125, 140], [0, 12, 24, 36])),
        ("uneven gaps", _case([120, 122, 150], [0, 1, 25])),
        ("readings out of time order", _case([125, 120, 140, 130], [24, 0, 36, 12])),
    ]
    for label, (values, times) in cases:
        shown = ", ".join(f"{v:g}" for v in values.to_list())
        hours = ", ".join(f"{(t - times.min()).total_seconds() / 3600:g}" for t in times.to_list())
        where = f"on {label} (values {shown} at hours {hours})"
        want = average_real_variability(values, times)
        result, error = attempt(candidate, values.clone(), times.clone())
        if error:
            return report(EXERCISE, False, f"{where}: {error}")
        try:
            got = None if result is None else float(result)
        except (TypeError, ValueError):
            return report(EXERCISE, False, f"{where}: expected a number, got {type(result).__name__} {result!r:.60}")
        if _close(got, want):
            continue
        for name, values_of_mistake in _known_mistakes(values, times).items():
            if any(_close(got, m) for m in values_of_mistake) and not any(_close(want, m) for m in values_of_mistake):
                return report(EXERCISE, False, f"{_HINTS[name]} ({where}: expected {want:.4f}, got {got:.4f})")
        got_text = "None" if got is None else f"{got:.4f}"
        return report(EXERCISE, False, f"{where}: expected {want:.4f}, got {got_text}; ARV = sum_k w_k |x[k+1] - x[k]| "
                                       "/ sum_k w_k, readings in time order, w_k the time between readings k and k+1")
    return report(EXERCISE, True, f"ARV is right on all {len(cases)} cases: equal gaps, uneven gaps and readings "
                                  "out of time order")
