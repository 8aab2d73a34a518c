import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.lake import FeatureLake
from workbench.lake import demo

D = dt.datetime
T0 = D(2026, 1, 1)


def brute_force(feature_rows, entity_rows, ttl):
    """The definition, one row at a time: latest value at or before the event, within ttl."""
    out = []
    for cust, event in entity_rows:
        best = None
        for c, t, v in feature_rows:
            if c == cust and t <= event and (ttl is None or event - t <= ttl):
                if best is None or t > best[0]:
                    best = (t, v)
        out.append(None if best is None else best[1])
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(-50, 50)), min_size=1, max_size=40,
                   unique_by=lambda c: (c[0], c[1])),
    events=st.lists(st.tuples(st.integers(0, 4), st.integers(-2, 25)), min_size=1, max_size=30),
    ttl_hours=st.one_of(st.none(), st.integers(0, 80)),
)
def test_training_frame_matches_the_definition(tmp_path_factory, cells, events, ttl_hours):
    lake = FeatureLake.open(tmp_path_factory.mktemp("pit"))
    lake.register_feature(demo.DROPS, "int")
    feature_rows = [(f"c{c}", T0 + dt.timedelta(hours=6 * h), v) for c, h, v in cells]
    lake.write(pl.DataFrame(feature_rows, schema=["customer", "time", demo.DROPS], orient="row"))
    # events land on window times exactly and in between (every 3 h); c4 has no values at all
    entity_rows = [(f"c{c}", T0 + dt.timedelta(hours=3 * h)) for c, h in events]
    ttl = None if ttl_hours is None else dt.timedelta(hours=ttl_hours)
    entity_df = pl.DataFrame(entity_rows, schema=["customer", "event_time"], orient="row")
    got = lake.training_frame(entity_df, [demo.DROPS], ttl=ttl)
    assert got.select("customer", "event_time").equals(entity_df)  # rows and order kept
    assert got[demo.DROPS].to_list() == brute_force(feature_rows, entity_rows, ttl)


@pytest.fixture(scope="module")
def telecom(tmp_path_factory):
    lake = FeatureLake.open(tmp_path_factory.mktemp("telecom"))
    demo.register_telecom(lake)
    days = demo.telecom_days(30, 40, seed=3, missing=0.3)
    lake.write(days)
    return lake, days


def test_never_a_future_value_and_agrees_with_polars_join_asof(telecom):
    lake, days = telecom
    rng = np.random.default_rng(0)
    n = 500
    entity_df = pl.DataFrame({
        "customer": [f"c{c:05d}" for c in rng.integers(0, 32, n)],  # two customers the lake never saw
        "event_time": pl.Series(np.datetime64("2026-01-01") + (rng.integers(0, 45 * 24, n) * 3600).astype("timedelta64[s]").astype("timedelta64[us]"))
        .cast(pl.Datetime("us")),
        "label": rng.integers(0, 2, n),
    })
    frame = lake.training_frame(entity_df, [demo.NOISE, demo.CALLS], ttl="3d")
    # the value's own time, joined the same way, is never after the event
    known = days.select("customer", pl.col("time").cast(pl.Datetime("us")).alias("t"), demo.NOISE)
    peer = (entity_df.with_row_index("i").sort("event_time")
            .join_asof(known.sort("t"), left_on="event_time", right_on="t", by="customer", strategy="backward",
                       tolerance="3d")
            .sort("i"))
    assert (peer["t"].is_null() | (peer["t"] <= peer["event_time"])).all()
    assert frame[demo.NOISE].to_list() == peer[demo.NOISE].to_list()
    assert frame["label"].to_list() == entity_df["label"].to_list()
    assert frame[demo.NOISE].null_count() > 0  # ttl and unknown customers do produce nulls here


def test_training_frame_arguments(telecom):
    lake, _ = telecom
    ent = pl.DataFrame({"customer": ["c00001"], "when": [D(2026, 1, 10)]})
    with pytest.raises(ValueError, match="lacks columns"):
        lake.training_frame(ent, [demo.NOISE])
    with pytest.raises(TypeError, match="ttl="):
        lake.training_frame(ent, [demo.NOISE], time="when", ttl=3)
    with pytest.raises(KeyError, match="unknown feature"):
        lake.training_frame(ent, ["/telecom/feature/customer/nope"], time="when")
    out = lake.training_frame(ent, demo.NOISE, time="when", ttl=dt.timedelta(days=1))
    assert out.columns == ["customer", "when", demo.NOISE]
