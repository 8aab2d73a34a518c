"""The end-of-window rule of FeatureLake.write: a value aggregated over [start, end) is stamped ``end``.

Stamped at its start, a point-in-time frame inside the window would already see the whole window's value,
computed from events after the frame's time (issue 16 item 4). With ``window_start=`` the lake refuses it.
"""

import datetime as dt

import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake, LakeValidationError

CALLS = "/telecom/feature/customer/calls"


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature(CALLS, "int")
    return lake


def daily(stamp: str) -> pl.DataFrame:
    """Daily call counts from raw events, via polars, stamped at the window's start or end."""
    events = pl.DataFrame({
        "customer": ["a", "a", "a", "a"],
        "ts": [dt.datetime(2026, 9, 1, 8), dt.datetime(2026, 9, 1, 9), dt.datetime(2026, 9, 1, 14),
               dt.datetime(2026, 9, 2, 11)],
    })
    out = (events.group_by_dynamic("ts", every="1d", group_by="customer", include_boundaries=True)
           .agg(pl.len().cast(pl.Int64).alias(CALLS)))
    column = {"start": "_lower_boundary", "end": "_upper_boundary"}[stamp]
    return out.with_columns(pl.col(column).alias("time")).drop("ts", "_upper_boundary")


def test_start_stamped_daily_value_is_refused_naming_feature_time_and_fix(lake):
    version = lake.version
    with pytest.raises(LakeValidationError) as err:
        lake.write(daily("start"), window_start="_lower_boundary")
    text = str(err.value)
    assert CALLS in text and "2026-09-01T00:00 is the START" in text
    assert "stamp each daily value at its window end, e.g. 2026-09-02T00:00" in text
    assert err.value.rows == [0, 1]
    assert lake.version == version  # nothing written


def test_end_stamped_daily_value_passes_and_the_start_column_is_not_stored(lake):
    report = lake.write(daily("end"), window_start="_lower_boundary")
    assert report.values_written == 2
    h = lake.history(EventKey({"customer": "a"}), [CALLS])
    assert h["time"].to_list() == [dt.datetime(2026, 9, 2), dt.datetime(2026, 9, 3)]
    assert h[CALLS].to_list() == [3, 1]
    assert set(lake.registry.features) == {CALLS}
    # a frame at 10:00 on the first day sees nothing yet; at the end of the day it sees the day's 3 calls
    assert lake.get(EventKey({"customer": "a"}), CALLS, at=dt.datetime(2026, 9, 1, 10)) is None
    assert lake.get(EventKey({"customer": "a"}), CALLS, at=dt.datetime(2026, 9, 2)) == 3


def test_a_time_inside_the_window_is_refused(lake):
    frame = pl.DataFrame({"customer": ["a"], "time": [dt.datetime(2026, 9, 1, 23, 59, 59)],
                          "start": [dt.datetime(2026, 9, 1)], CALLS: [3]})
    with pytest.raises(LakeValidationError, match=r"2026-09-01T23:59:59 is not the end of its day window.*"
                                                  r"e\.g\. 2026-09-02T00:00"):
        lake.write(frame, window_start="start")


def test_month_windows_end_on_the_calendar_month(lake):
    frame = pl.DataFrame({"customer": ["a", "a"], "time": [dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1)],
                          "start": [dt.datetime(2026, 2, 1), dt.datetime(2026, 3, 1)], CALLS: [28, 31]})
    assert lake.write(frame, window="month", window_start="start").values_written == 2
    with pytest.raises(LakeValidationError, match="e.g. 2026-03-01T00:00"):
        lake.write(frame.with_columns(pl.col("time") - pl.duration(days=2)), window="month", window_start="start")


def test_missing_window_start_column_is_named(lake):
    with pytest.raises(ValueError, match="lacks columns \\['day_start'\\]"):
        lake.write(daily("end"), window_start="day_start")


DAILY = "/telecom/feature/customer/daily_calls"


def test_a_registered_daily_aggregate_must_be_stamped_on_a_day_boundary(lake):
    lake.register_feature(DAILY, "int", window="day")
    version = lake.version
    frame = pl.DataFrame({"customer": ["a", "b"], "time": [dt.datetime(2026, 9, 2), dt.datetime(2026, 9, 1, 10)],
                          DAILY: [3, 4]})
    with pytest.raises(LakeValidationError) as err:
        lake.write(frame)
    assert err.value.rows == [1]
    assert DAILY in str(err.value) and "time 2026-09-01T10:00 is not a day boundary" in str(err.value)
    assert "stamp each daily value at its window end, e.g. 2026-09-02T00:00" in str(err.value)
    assert lake.version == version
    assert lake.write(frame.head(1)).values_written == 1  # the midnight row alone is accepted
    with pytest.raises(LakeValidationError, match="write it with window='day', not 'hour'"):
        lake.write(frame.head(1), window="hour")


def test_the_aggregation_window_survives_reopening_and_old_registries_are_unchanged(lake, tmp_path):
    assert "window" not in lake.registry.feature(CALLS).to_json()  # no window: the old JSON, byte for byte
    lake.register_feature(DAILY, "int", window="day")
    again = FeatureLake.open(tmp_path / "lake")
    assert again.registry.feature(DAILY).window == "day"
    with pytest.raises(LakeValidationError, match="not a day boundary"):
        again.write(pl.DataFrame({"customer": ["a"], "time": [dt.datetime(2026, 9, 1, 23, 59, 59)], DAILY: [1]}))
    with pytest.raises(ValueError, match="window='fortnight'"):
        lake.register_feature("/telecom/feature/customer/other", "int", window="fortnight")
