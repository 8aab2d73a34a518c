"""Point-in-time lookup without building the whole forward-fill index first (the cold join's fast path).

``_window.gather`` answers "latest stored value at or before t (and within ttl)" with one look-up in a
forward-fill index: for every (key, time) cell of the window, the last time index holding a value. That
index costs several passes over all K x T cells (validity mask, where, cumulative maximum) before the
first row is answered, which dominates a cold join when the entity rows are fewer than the cells or
touch them once. Here each entity row walks back from its own time index instead: step s reads the value
at t - s for the rows still open, keeps those that hold a value, and closes those that fell out of the
ttl. In a window where most cells hold a value almost every row closes on the first step, so the work is
about one gather per row. Rows still open after ``MAX_STEPS`` (long runs of missing values) are answered
from the forward-fill index after all, built then and cached as before; a window whose index is already
cached (a warm join) uses it directly.

Same contract and result as ``_window.gather`` (a test compares them on random windows).
"""

from __future__ import annotations

import numpy as np

from workbench.lake._window import STORAGE, WindowData, elapsed_ns, valid_mask
from workbench.lake._window import gather as gather_indexed

#: Steps walked back before the remaining rows are left to the forward-fill index.
MAX_STEPS = 8


def gather(window: WindowData, feature: str, kidx: np.ndarray, event_ns: np.ndarray, ttl_ns: int | None):
    """For each (kidx, event time): the latest stored value at or before the event time and, with
    ``ttl_ns``, no older than ``event - ttl``. Returns (raw values, valid mask), as ``_window.gather``."""
    if feature in window._ffill:
        return gather_indexed(window, feature, kidx, event_ns, ttl_ns)
    dtype = window.dtypes[feature]
    n = len(kidx)
    out_dtype, missing = STORAGE[dtype]
    values = np.full(n, missing, dtype=out_dtype)
    ok = np.zeros(n, dtype=bool)
    times = window.times
    if n == 0 or len(times) == 0:
        return values, ok
    raw = window.raw(feature)
    t = np.searchsorted(times, event_ns, side="right") - 1
    rows = np.flatnonzero((kidx >= 0) & (t >= 0))
    keys, j = kidx[rows], t[rows]
    # The ttl test is "event - cell time <= ttl" as an exact uint64 difference (``elapsed_ns``), never
    # ``event - ttl``: that wraps around below 1677-09-21 (int64 nanoseconds) for a huge ttl or an early event.
    limit = None if ttl_ns is None else np.uint64(ttl_ns)
    event = event_ns[rows]
    for _ in range(MAX_STEPS):
        if rows.size == 0:
            return values, ok
        if limit is not None:
            # Cells older than event - ttl close the row empty: earlier cells are older still.
            inside = elapsed_ns(event, times[j]) <= limit
            if not inside.all():
                rows, keys, j, event = rows[inside], keys[inside], j[inside], event[inside]
        v = raw[keys, j]
        hit = valid_mask(dtype, v)
        values[rows[hit]] = v[hit]
        ok[rows[hit]] = True
        # The rest step back one window; those already at the first window close empty.
        more = ~hit & (j > 0)
        rows, keys, j, event = rows[more], keys[more], j[more] - 1, event[more]
    if rows.size:
        # Long gaps: the forward-fill index answers the stragglers in one look-up (and stays cached).
        idx = window.ffill_index(feature)[keys, j]
        found = idx >= 0
        if limit is not None:
            found[found] = elapsed_ns(event[found], times[idx[found]]) <= limit
        values[rows[found]] = raw[keys[found], idx[found]]
        ok[rows[found]] = True
    return values, ok
