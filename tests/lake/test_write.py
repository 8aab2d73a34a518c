import datetime as dt
import os

import numpy as np
import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake, LakeValidationError
from workbench.lake import demo

D = dt.datetime


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    lake.register_feature("/telecom/feature/customer/plan", "string")
    lake.register_feature("/telecom/feature/customer/roaming", "bool")
    return lake


def snapshot(lake):
    """Everything a reader can observe: the head commit, the files under the root."""
    files = sorted(os.path.relpath(os.path.join(d, f), lake.url) for d, _, fs in os.walk(lake.url) for f in fs
                   if not f.startswith("LOCK"))
    return lake.version, files


def test_open_creates_then_reopens(tmp_path):
    path = tmp_path / "new"
    assert not path.exists()
    lake = FeatureLake.open(path)
    assert path.exists() and lake.version == 1
    assert FeatureLake.open(path).version == 1
    with pytest.raises(TypeError, match="path must be"):
        FeatureLake.open(3)
    with pytest.raises(TypeError, match="scheduler address"):
        FeatureLake.open(path, client=3)


def test_upsert_and_idempotence(lake):
    frame = pl.DataFrame({"customer": ["a", "a", "b"], "time": [D(2026, 1, 2), D(2026, 1, 3), D(2026, 1, 2)],
                          demo.DROPS: [1, 2, 3], "/telecom/feature/customer/plan": ["pro", None, "basic"]})
    r1 = lake.write(frame)
    assert (r1.values_written, r1.values_changed, r1.new_keys) == (5, 5, 2)
    before = snapshot(lake)
    r2 = lake.write(frame)
    assert r2.commit is None and r2.values_changed == 0
    assert snapshot(lake) == before  # the same batch twice changes nothing, not even a commit
    # upsert: one changed value, one new cell
    r3 = lake.write(pl.DataFrame({"customer": ["a", "a"], "time": [D(2026, 1, 3), D(2026, 1, 4)],
                                  demo.DROPS: [2, 7]}))
    assert r3.values_changed == 1
    r4 = lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 3)], demo.DROPS: [5]}))
    assert r4.values_changed == 1
    key = EventKey({"customer": "a"})
    hist = lake.history(key, [demo.DROPS, "/telecom/feature/customer/plan"])
    assert hist["time"].to_list() == [D(2026, 1, 2), D(2026, 1, 3), D(2026, 1, 4)]
    assert hist[demo.DROPS].to_list() == [1, 5, 7]
    assert hist["/telecom/feature/customer/plan"].to_list() == ["pro", None, None]
    assert lake.get(key, demo.DROPS) == 7
    assert lake.get(key, demo.DROPS, at=D(2026, 1, 3, 23)) == 5
    assert lake.get(key, demo.DROPS, at=D(2026, 1, 1)) is None
    assert lake.get(key, "/telecom/feature/customer/plan") == "pro"
    assert lake.get(EventKey({"customer": "zzz"}), demo.DROPS) is None
    assert lake.history(key, demo.DROPS, start=D(2026, 1, 3), count=1)[demo.DROPS].to_list() == [7]
    # the delta log holds every change, including the overwrite
    deltas = lake.deltas()
    assert deltas.filter(pl.col("feature") == demo.DROPS).height == 3 + 1 + 1  # the unchanged 2 is no delta


def test_long_layout_and_types(lake):
    frame = pl.DataFrame({
        "customer": ["a", "a", "b", "b"],
        "time": [D(2026, 1, 2)] * 4,
        "feature": [demo.NOISE, "/telecom/feature/customer/roaming", demo.CALLS, demo.PRIORITY],
        "value": ["-91.5", "true", "4", "offer"],
    })
    lake.write(frame)
    a, b = EventKey({"customer": "a"}), EventKey({"customer": "b"})
    assert lake.get(a, demo.NOISE) == -91.5
    assert lake.get(a, "/telecom/feature/customer/roaming") is True
    assert lake.get(b, demo.CALLS) == 4
    assert lake.get(b, demo.PRIORITY) == "offer"
    ds = lake.dataset("day")
    assert ds[demo.NOISE].dims == ("key", "time") and ds[demo.NOISE].chunks is not None
    assert float(ds[demo.NOISE].sel(key=a.digest).values[0]) == -91.5
    assert lake.key(b.digest) == b
    assert set(lake.keys()["customer"].to_list()) == {"a", "b"}


def test_context_and_attributes_form_the_key(lake):
    frame = pl.DataFrame({"customer": ["a", "a"], "cell": ["x", "y"], "time": [D(2026, 1, 2)] * 2,
                          demo.NOISE: [-90.0, -80.0]})
    lake.write(frame, context=["cell"])
    assert lake.get(EventKey({"customer": "a"}, context={"cell": "y"}), demo.NOISE) == -80.0
    assert lake.get(EventKey({"customer": "a"}), demo.NOISE) is None


@pytest.mark.parametrize(
    "frame, message, rows",
    [
        (pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2)] * 2, "feature": [demo.DROPS, "/x/feature/y/z"],
                       "value": [1, 2]}), "unknown feature", [1]),
        (pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2)] * 2, demo.NOISE: [True, False]}),
         "got values of type Boolean", [0, 1]),
        (pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2)] * 2, demo.DROPS: [1.0, 2.5]}),
         "not int64 integers", [1]),
        (pl.DataFrame({"customer": ["a", None, "c"], "time": [D(2026, 1, 2)] * 3, demo.DROPS: [1, 2, 3]}),
         "malformed key", [1]),
        (pl.DataFrame({"customer": ["a", "b", "c"], "time": [D(2026, 1, 2), None, None], demo.DROPS: [1, 2, 3]}),
         "missing", [1, 2]),
        (pl.DataFrame({"customer": ["a", "b", "a", "a"], "time": [D(2026, 1, 2)] * 4, demo.DROPS: [1, 2, 1, 3]}),
         "conflicting values", [0, 2, 3]),
        (pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2)] * 2, demo.NOISE: [1.0, float("nan")]}),
         "NaN is not a value", [1]),
        (pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2)] * 2, demo.PRIORITY: ["call", "sms"]}),
         "outside the declared categories", [1]),
        (pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 2)], "feature": [demo.NOISE], "value": ["loud"]}),
         "not a number", [0]),
    ],
    ids=["unknown-feature", "wrong-dtype", "non-integer", "null-entity", "null-time", "conflicting-duplicates", "nan",
         "category", "unparseable"],
)
def test_bad_batches_name_rows_and_leave_the_lake_unchanged(lake, frame, message, rows):
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], demo.DROPS: [9]}))
    before = snapshot(lake)
    with pytest.raises(LakeValidationError, match=message) as err:
        lake.write(frame)
    assert err.value.rows == rows
    assert "rows [" in str(err.value)
    assert snapshot(lake) == before
    assert lake.get(EventKey({"customer": "a"}), demo.DROPS) == 9


def test_entity_must_match_the_feature_and_arguments_are_checked(lake):
    frame = pl.DataFrame({"cell": ["x"], "time": [D(2026, 1, 2)], demo.DROPS: [1]})
    with pytest.raises(LakeValidationError, match="describes entity 'customer'"):
        lake.write(frame, entities=("cell",))
    with pytest.raises(ValueError, match="lacks columns"):
        lake.write(frame)
    with pytest.raises(ValueError, match="window="):
        lake.write(frame, window="year", entities=("cell",))
    with pytest.raises(TypeError, match="Datetime or Date"):
        lake.write(pl.DataFrame({"customer": ["a"], "time": ["2026-01-02"], demo.DROPS: [1]}))
    with pytest.raises(TypeError, match="polars DataFrame"):
        lake.write({"customer": ["a"]})


def test_windows_are_separate_datasets(lake):
    frame = pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 5)], demo.DROPS: [3]})
    lake.write(frame, window="week")
    assert lake.get(EventKey({"customer": "a"}, window="week"), demo.DROPS, window="week") == 3
    with pytest.raises(KeyError, match="holds no data"):
        lake.dataset("day")
    assert lake.dataset("week").sizes == {"key": 1, "time": 1}


def test_vacuum_keeps_what_readers_need(lake):
    for day in range(1, 5):
        lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, day)], demo.DROPS: [day]}))
    removed = lake.vacuum(keep_versions=1)
    assert len(removed) == 3
    assert lake.history(EventKey({"customer": "a"}), demo.DROPS)[demo.DROPS].to_list() == [1, 2, 3, 4]
    assert np.isclose(FeatureLake.open(lake.url).dataset()[demo.DROPS].sum().compute(), 10)


def test_any_fsspec_url_with_a_lease_lock():
    import uuid

    from workbench.lake import LakeLockedError

    url = f"memory://lake-{uuid.uuid4().hex}"
    lake = FeatureLake.open(url)
    demo.register_telecom(lake)
    lake.write(demo.telecom_days(3, 2, seed=0, missing=0.0))
    lake.run_pending()
    reader = FeatureLake.open(url)
    assert reader.version == lake.version
    assert reader.dataset()[demo.CHURN].count().compute() == 6
    with lake.writing():
        with pytest.raises(LakeLockedError, match="one writer at a time"):
            reader.write(pl.DataFrame({"customer": ["c00000"], "time": [D(2026, 2, 1)], demo.DROPS: [1]}))
    assert reader.write(pl.DataFrame({"customer": ["c00000"], "time": [D(2026, 2, 1)], demo.DROPS: [1]})).commit
