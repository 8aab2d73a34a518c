"""The check of notebook 00's exercise (the tour shows the exercise convention on a one-line formula).

The task: the standard error of the Monte Carlo estimate of pi from ``n`` points, ``sqrt(pi (4 - pi) / n)``.
The check names the usual slips: a ``1/n`` instead of a ``1/sqrt(n)`` scaling, the indicator's variance
``p(1 - p)`` without the factor 4 of the estimator, a variance returned where a standard deviation is asked.
"""

from __future__ import annotations

import math

from workbench.exercises import attempt, report

__all__ = ["check_standard_error", "standard_error"]


def standard_error(n: int) -> float:
    """The standard error of ``4 * mean(indicator)`` over ``n`` uniform points: sqrt(pi (4 - pi) / n)."""
    return math.sqrt(math.pi * (4 - math.pi) / n)


def _diagnose(got: float, n: int) -> str:
    p = math.pi / 4
    close = lambda a, b: abs(a - b) <= 1e-9 * abs(b)  # noqa: E731
    if close(got, math.pi * (4 - math.pi) / n):
        return "that is the variance of the estimate; the standard error is its square root"
    if close(got, math.sqrt(p * (1 - p) / n)):
        return ("that is the standard error of the fraction inside the quarter circle; the estimate is 4 times "
                "that fraction, so its standard error is 4 times larger")
    if close(got, math.sqrt(math.pi * (4 - math.pi)) / n):
        return "the standard error shrinks like 1/sqrt(n), not 1/n (the variance of a mean of n draws is var/n)"
    return ("the variance of one indicator is p(1-p) with p = pi/4; the estimate is 4x a mean of n of them, "
            "so SE = 4 sqrt(p(1-p)/n) = sqrt(pi (4 - pi) / n)")


def check_standard_error(fn) -> bool:
    """Check ``fn(n) -> float``, the standard error of the pi estimate from ``n`` points."""
    for n in (100, 10_000, 1):
        got, error = attempt(fn, n)
        if error:
            return report("standard_error", False, f"fn({n}): {error}")
        try:
            got = float(got)
        except (TypeError, ValueError):
            return report("standard_error", False, f"fn({n}) returned {got!r:.60}; return a number")
        want = standard_error(n)
        if not math.isfinite(got):
            return report("standard_error", False, f"fn({n}) returned {got}; return a finite number")
        if abs(got - want) > 1e-9 * want:
            return report("standard_error", False,
                          f"n={n}: got {got:.6g}, expected {want:.6g}: {_diagnose(got, n)}")
    return report("standard_error", True, "SE = sqrt(pi (4 - pi) / n), right for n = 1, 100 and 10,000")
