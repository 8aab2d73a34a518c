import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.clinical import average_real_variability, mean_arterial_pressure
from workbench.clinical.features import systolic_fraction


def test_resting_map_is_diastolic_plus_a_third_of_pulse_pressure():
    assert mean_arterial_pressure(120, 80) == pytest.approx(80 + 40 / 3)
    s = mean_arterial_pressure(pl.Series([120, 150]), pl.Series([80, 90]))
    assert s.to_list() == pytest.approx([93.3333, 110.0], abs=1e-4)


def test_meaney_formula_values():
    # 0.01 exp(4.14 - 40.74/HR): 0.3185 at 60/min, 0.4787 at 150/min (Meaney et al. 2000).
    assert systolic_fraction(60) == pytest.approx(0.01 * math.exp(4.14 - 40.74 / 60))
    assert systolic_fraction(60) == pytest.approx(0.3185, abs=1e-4)
    assert systolic_fraction(150) == pytest.approx(0.4787, abs=1e-4)
    assert mean_arterial_pressure(160, 80, 150) == pytest.approx(80 + 0.4787 * 80, abs=1e-2)


def test_map_on_expressions_and_column_names_matches_series():
    df = pl.DataFrame({"s": [120, 160, None], "d": [80, 85, 70], "hr": [60, 140, 90]})
    out = df.select(
        rest=mean_arterial_pressure("s", "d"), ex=mean_arterial_pressure(pl.col("s"), pl.col("d"), "hr")
    )
    assert out["rest"].to_list()[:2] == pytest.approx([80 + 40 / 3, 85 + 75 / 3])
    assert out["ex"].to_list()[:2] == pytest.approx(
        mean_arterial_pressure(df["s"], df["d"], df["hr"]).to_list()[:2]
    )
    assert out["rest"][2] is None and out["ex"][2] is None


@pytest.mark.parametrize("bad", [[120], object(), True])
def test_map_refuses_unknown_types(bad):
    with pytest.raises(TypeError, match="sbp"):
        mean_arterial_pressure(bad, 80)


def test_non_positive_heart_rate():
    with pytest.raises(ValueError, match="positive"):
        mean_arterial_pressure(120, 80, 0)


def _reference_arv(values, hours):
    order = np.argsort(hours, kind="stable")
    v, t = np.asarray(values, float)[order], np.asarray(hours, float)[order]
    w = np.diff(t)
    return float((w * np.abs(np.diff(v))).sum() / w.sum())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(80, 200), st.integers(0, 10_000)), min_size=2, max_size=30, unique_by=lambda x: x[1]
    )
)
def test_time_weighted_arv_matches_the_definition(pairs):
    values, minutes = zip(*pairs)
    start = dt.datetime(2026, 9, 1)
    times = pl.Series([start + dt.timedelta(minutes=m) for m in minutes])
    got = average_real_variability(pl.Series(values), times)
    assert got == pytest.approx(_reference_arv(values, minutes))
    # Same value from the expression form, and independent of the input order.
    df = pl.DataFrame({"v": values, "t": times}).reverse()
    assert df.select(average_real_variability("v", "t")).item() == pytest.approx(got)


def test_unweighted_arv_is_mean_absolute_successive_difference():
    v = [120, 130, 125, 140]
    assert average_real_variability(pl.Series(v)) == pytest.approx(np.mean(np.abs(np.diff(v))))
    assert average_real_variability(pl.Series([120, None, 130])) == pytest.approx(10.0)
    assert average_real_variability(pl.Series([120])) is None


def test_weighting_by_time_changes_the_result():
    # A big jump after a long gap counts more when weighted by time.
    v = pl.Series([120.0, 122.0, 150.0])
    t = pl.Series([0, 1, 11])
    assert average_real_variability(v) == pytest.approx(15.0)
    assert average_real_variability(v, t) == pytest.approx((1 * 2 + 10 * 28) / 11)


def test_arv_per_group():
    df = pl.DataFrame({"p": ["a"] * 3 + ["b"] * 2, "v": [1, 3, 2, 5, 9], "t": [0, 1, 3, 0, 4]})
    out = df.group_by("p").agg(arv=average_real_variability("v", "t")).sort("p")
    assert out["arv"].to_list() == pytest.approx([(2 + 2 * 1) / 3, 4.0])


def test_arv_argument_errors():
    with pytest.raises(ValueError, match="times has 1"):
        average_real_variability(pl.Series([1, 2]), pl.Series([0]))
    with pytest.raises(TypeError, match="times"):
        average_real_variability(pl.Series([1, 2]), [0, 1])
    with pytest.raises(TypeError, match="values"):
        average_real_variability(pl.Series(["a", "b"]))
    with pytest.raises(TypeError, match="values"):
        average_real_variability(3.0)
    assert average_real_variability(pl.Series([1.0, 2.0]), pl.Series([5, 5])) is None
