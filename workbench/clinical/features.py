"""Vital-sign features: mean arterial pressure (MAP) and average real variability (ARV).

MAP, at rest, from a cuff reading (the diastolic phase lasts about two thirds of a beat)::

    MAP = DBP + (SBP - DBP) / 3

MAP when the heart rate is known (Meaney et al., "Formula and nomogram for the sphygmomanometric
calculation of the mean arterial pressure", Heart 2000;84:64): a faster heart shortens diastole, so
the systolic share of the beat grows with HR::

    MAP = DBP + 0.01 * exp(4.14 - 40.74 / HR) * (SBP - DBP)

At HR = 60/min the factor is 0.01 * exp(3.461) = 0.318, close to 1/3; at 150/min it is 0.479.

ARV (Mena et al., "A reliable index for the prognostic significance of blood pressure variability",
J Hypertens 2005;23:505-511): the time-weighted mean of the absolute changes between successive
readings, ``w_k`` being the time between readings ``k`` and ``k + 1``::

    ARV = sum_k w_k |x_{k+1} - x_k| / sum_k w_k        (k = 1 .. N-1)

and with equal spacing (no times given) ``sum_k |x_{k+1} - x_k| / (N - 1)``. Unlike the standard
deviation, ARV is blind to a slow trend and sensitive to the order of readings.

Both accept polars expressions (or column names), polars Series, or plain numbers, and compute
vectorized; :func:`average_real_variability` on expressions is an aggregation, so it works in
``group_by(...).agg(...)`` (one ARV per patient-day, say).
"""

from __future__ import annotations

import math
from numbers import Real

import polars as pl

_MEANEY_A, _MEANEY_B = 4.14, 40.74


def _operand(value, name: str, fn: str):
    if isinstance(value, str):
        return pl.col(value)
    if isinstance(value, (pl.Expr, pl.Series)):
        return value
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        f"{fn}({name}): expected a polars Expr, a column name, a polars Series or a number, got {type(value).__name__}"
    )


def systolic_fraction(hr):
    """Meaney's weight of the pulse pressure, ``0.01 * exp(4.14 - 40.74 / HR)`` (about 1/3 at 60/min)."""
    hr = _operand(hr, "hr", "systolic_fraction")
    if isinstance(hr, float):
        if hr <= 0:
            raise ValueError(f"systolic_fraction(hr): the heart rate must be positive, got {hr}")
        return 0.01 * math.exp(_MEANEY_A - _MEANEY_B / hr)
    return 0.01 * (_MEANEY_A - _MEANEY_B / hr).exp()


def mean_arterial_pressure(sbp, dbp, hr=None):
    """Mean arterial pressure from systolic ``sbp`` and diastolic ``dbp`` (mmHg).

    Without ``hr``: the resting rule ``DBP + (SBP - DBP) / 3``. With ``hr`` (beats/min): Meaney's
    heart-rate formula ``DBP + 0.01 exp(4.14 - 40.74/HR) (SBP - DBP)``, meant for readings taken at a
    raised heart rate such as right after exercise. Returns the type it was given (Expr, Series or
    float); a row with a null input gives null.
    """
    sbp = _operand(sbp, "sbp", "mean_arterial_pressure")
    dbp = _operand(dbp, "dbp", "mean_arterial_pressure")
    fraction = 1.0 / 3.0 if hr is None else systolic_fraction(hr)
    result = dbp + fraction * (sbp - dbp)
    if isinstance(result, pl.Series):
        return result.cast(pl.Float64).rename("map")
    if isinstance(result, pl.Expr):
        return result.cast(pl.Float64).alias("map")
    return float(result)


def _arv_expr(values: pl.Expr, times: pl.Expr | None) -> pl.Expr:
    values = values.cast(pl.Float64)
    if times is None:
        step = values.drop_nulls().diff().abs()
        count = step.count().cast(pl.Float64)
        # Fewer than two readings: no change to average, so null (not NaN from 0/0).
        return pl.when(count > 0).then(step.sum() / count)
    keep = values.is_not_null() & times.is_not_null()
    step = values.filter(keep).sort_by(times.filter(keep)).diff().abs()
    # The time step's physical value (microseconds for Datetime("us"), the number itself for numeric
    # times) is enough: the unit cancels between numerator and denominator.
    weight = times.filter(keep).sort().diff().cast(pl.Float64)
    total = weight.filter(step.is_not_null()).sum()
    return pl.when(total > 0).then((step * weight).sum() / total)


def average_real_variability(values, times=None):
    """ARV of ``values`` (Mena et al. 2005), time-weighted when ``times`` are given.

    ``values`` and ``times`` are polars Series (returns a float, or ``None`` with fewer than two
    readings or when all readings share one time) or expressions/column names (returns an
    aggregating expression for ``select``/``group_by().agg``/``over``). Readings are put in time
    order first; nulls are skipped. With ``times`` (datetimes, dates or numbers in any unit) each
    absolute change is weighted by the time between its two readings; without, every weight is 1,
    which gives ``mean(|x[k+1] - x[k]|)`` in the given order.
    """
    fn = "average_real_variability"
    if isinstance(values, pl.Series):
        if times is not None and not isinstance(times, pl.Series):
            raise TypeError(f"{fn}(times): with a Series of values, times must be a Series too (or None)")
        if times is not None and times.len() != values.len():
            raise ValueError(f"{fn}: values has {values.len()} entries but times has {times.len()}; pass one time per value")
        if not values.dtype.is_numeric():
            raise TypeError(f"{fn}(values): expected numbers, got dtype {values.dtype}")
        if times is not None and not (times.dtype.is_temporal() or times.dtype.is_numeric()):
            raise TypeError(f"{fn}(times): expected datetimes, dates or numbers, got dtype {times.dtype}")
        frame = pl.DataFrame({"v": values} | ({"t": times} if times is not None else {}))
        result = frame.select(_arv_expr(pl.col("v"), None if times is None else pl.col("t"))).item()
        return None if result is None or math.isnan(result) else float(result)
    values = _operand(values, "values", fn)
    if not isinstance(values, pl.Expr):
        raise TypeError(f"{fn}(values): expected a Series, an Expr or a column name, got a number")
    if times is not None:
        times = _operand(times, "times", fn)
        if not isinstance(times, pl.Expr):
            raise TypeError(f"{fn}(times): with an Expr of values, times must be an Expr or a column name")
    return _arv_expr(values, times)
