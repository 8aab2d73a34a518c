"""The cold point-in-time walk (workbench.lake._pit) gives exactly what the forward-fill index gives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.lake import _pit
from workbench.lake._window import STORAGE, WindowData
from workbench.lake._window import gather as gather_indexed

DAY = 86_400 * 10**9


def window(rng, K, T, dtype, missing_fraction, gap=False):
    np_dtype, missing = STORAGE[dtype]
    raw = rng.integers(0, 50, (K, T)).astype(np_dtype) if dtype != "float" else rng.normal(size=(K, T))
    raw[rng.random((K, T)) < missing_fraction] = missing
    if gap and T > 3:
        raw[0, 1:] = missing  # key 0: one value, then a gap longer than MAX_STEPS
    times = np.sort(rng.choice(np.arange(1, 4 * T + 1), size=T, replace=False)).astype(np.int64) * DAY
    return WindowData(keys=np.array([f"k{i}" for i in range(K)], dtype=object),
                      components=np.array(["{}"] * K, dtype=object), times=times, dtypes={"f": dtype},
                      _arrays={"f": raw})


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 6), st.integers(1, 30), st.sampled_from(["float", "int", "categorical"]),
       st.sampled_from([0.0, 0.1, 0.6, 0.95]), st.sampled_from([None, 0, 1, 3, 20]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_walk_equals_the_forward_fill_index(K, T, dtype, missing, ttl_days, gap, seed):
    rng = np.random.default_rng(seed)
    w = window(rng, K, T, dtype, missing, gap)
    n = 200
    kidx = rng.integers(-1, K, n)  # -1: a key the window does not hold
    event = rng.integers(0, int(w.times[-1]) + 3 * DAY, n)
    event[:5] = w.times[rng.integers(0, T, 5)]  # exactly on a window time: at or before includes it
    ttl = None if ttl_days is None else ttl_days * DAY
    fresh = WindowData(w.keys, w.components, w.times, w.dtypes, _arrays=dict(w._arrays))
    values, ok = _pit.gather(w, "f", kidx, event, ttl)
    ref_values, ref_ok = gather_indexed(fresh, "f", kidx, event, ttl)
    np.testing.assert_array_equal(ok, ref_ok)
    np.testing.assert_array_equal(values[ok], ref_values[ref_ok])


def test_a_cold_window_is_answered_without_building_the_index():
    rng = np.random.default_rng(0)
    w = window(rng, 50, 40, "float", 0.1)
    kidx, event = rng.integers(0, 50, 500), rng.integers(0, int(w.times[-1]), 500)
    _pit.gather(w, "f", kidx, event, 7 * DAY)
    assert "f" not in w._ffill  # ttl 7 days reaches back at most 7 windows: no straggler needed it


def test_stragglers_past_max_steps_use_the_index():
    rng = np.random.default_rng(1)
    T = _pit.MAX_STEPS + 10
    w = window(rng, 2, T, "float", 0.0)
    w._arrays["f"][0, 1:] = np.nan
    values, ok = _pit.gather(w, "f", np.array([0]), np.array([w.times[-1]]), None)
    assert ok.tolist() == [True] and values[0] == w._arrays["f"][0, 0]
    assert "f" in w._ffill


def test_the_lake_uses_the_walk(monkeypatch):
    from workbench.lake import _lake

    assert _lake.gather is _pit.gather
