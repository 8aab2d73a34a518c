"""The cold point-in-time walk's ttl test near the ends of the datetime64[ns] range (no int64 wrap-around)."""

import numpy as np
import pytest

from workbench.lake import _pit
from workbench.lake._window import WindowData
from workbench.lake._window import gather as gather_indexed

DAY = 86_400 * 10**9
EARLIEST = np.iinfo(np.int64).min + 1  # 1677-09-21, the first datetime64[ns] that is not NaT


def early_window(missing_after_first=False):
    """Two keys, stored daily from the first representable day on."""
    times = EARLIEST + np.arange(12, dtype=np.int64) * DAY
    raw = np.arange(24, dtype=np.float64).reshape(2, 12)
    if missing_after_first:
        raw[:, 1:] = np.nan  # a gap longer than MAX_STEPS: the forward-fill index answers
    return WindowData(keys=np.array(["a", "b"], dtype=object), components=np.array(["{}", "{}"], dtype=object),
                      times=times, dtypes={"f": "float"}, _arrays={"f": raw})


@pytest.mark.parametrize("missing_after_first", [False, True])
@pytest.mark.parametrize("ttl", [2**62, 2**63 - 1, 2**64 - 1, 400 * 365 * DAY])
def test_a_huge_ttl_near_1677_keeps_every_value(ttl, missing_after_first):
    # event - ttl is below the int64 range here: computed in int64 it wrapped to a date after the event,
    # and the walk then closed every row empty (or raised OverflowError for a ttl past int64).
    w = early_window(missing_after_first)
    kidx = np.array([0, 1, 0])
    event = w.times[[0, 5, 11]] + np.array([0, DAY // 2, 3 * DAY])
    values, ok = _pit.gather(w, "f", kidx, event, ttl)
    assert ok.tolist() == [True, True, True]
    expected = [0.0, 12.0, 0.0] if missing_after_first else [0.0, 17.0, 11.0]
    assert values.tolist() == expected
    fresh = WindowData(w.keys, w.components, w.times, w.dtypes, _arrays=dict(w._arrays))
    ref_values, ref_ok = gather_indexed(fresh, "f", kidx, event, ttl)
    assert ref_ok.tolist() == ok.tolist() and ref_values.tolist() == values.tolist()


@pytest.mark.parametrize("missing_after_first", [False, True])
def test_the_ttl_boundary_still_holds_near_1677(missing_after_first):
    # A value exactly ttl old is inside; one nanosecond older is outside.
    w = early_window(missing_after_first)
    event = np.array([w.times[3], w.times[3] + 1])
    values, ok = _pit.gather(w, "f", np.array([0, 0]), event, 3 * DAY if missing_after_first else 0)
    assert ok.tolist() == [True, False]
