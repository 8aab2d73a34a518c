"""Synthetic data, a scripted slider drag and the display-rule exercise, shared by the notebook and benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import UserError


def synthetic_volume(shape: tuple[int, ...] = (24, 256, 256), *, n_blobs: int = 40, seed: int = 0) -> np.ndarray:
    """A float32 volume of Gaussian blobs on faint noise (looks like fluorescence microscopy).

    Returns the volume; the blob centres are ``synthetic_blob_centres(shape, n_blobs, seed)``.
    """
    if len(shape) < 2 or any(int(s) < 1 for s in shape):
        raise UserError(f"shape: expected >= 2 positive sizes, got {shape!r}")
    rng = np.random.default_rng(seed)
    centres = synthetic_blob_centres(shape, n_blobs=n_blobs, seed=seed)
    widths = rng.uniform(1.5, 4.0, size=(n_blobs, len(shape))) * np.array([max(1, s // 40) for s in shape])
    volume = rng.normal(0.0, 0.03, size=shape).astype(np.float32)
    grids = [np.arange(s, dtype=np.float32) for s in shape]
    for centre, width in zip(centres, widths):
        # A separable Gaussian: the product of 1-D profiles, never an N-D distance grid per blob.
        profile = None
        for axis, (grid, c, w) in enumerate(zip(grids, centre, width)):
            p = np.exp(-0.5 * ((grid - c) / w) ** 2).astype(np.float32)
            p = p.reshape([-1 if a == axis else 1 for a in range(len(shape))])
            profile = p if profile is None else profile * p
        volume += profile
    return volume


def synthetic_blob_centres(shape: tuple[int, ...], *, n_blobs: int = 40, seed: int = 0) -> np.ndarray:
    """The ``n_blobs x ndim`` centres :func:`synthetic_volume` uses for the same ``shape`` and ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n_blobs, len(shape))) * (np.array(shape) - 1)


def synthetic_points(n: int, shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    """``n`` points uniformly inside ``shape`` (world index units)."""
    rng = np.random.default_rng(seed + 1)
    return rng.uniform(0, 1, size=(int(n), len(shape))) * (np.array(shape) - 1)


@dataclass
class DragResult:
    """What a scripted drag measured (all times in seconds).

    ``main_thread_s`` is the time each slider event held the caller's thread; ``final_latency_s`` is
    the time from the last event's scheduled moment to the final frame being applied.
    """

    positions: list[int]
    main_thread_s: list[float] = field(default_factory=list)
    final_latency_s: float = float("nan")
    total_s: float = float("nan")
    stats: dict[str, int] = field(default_factory=dict)
    final_indices: tuple[int, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Medians and counts as plain numbers (for ``workbench.record``)."""
        return {
            "events": len(self.positions),
            "main_thread_ms_median": float(np.median(self.main_thread_s) * 1e3),
            "main_thread_ms_max": float(np.max(self.main_thread_s) * 1e3),
            "final_latency_s": float(self.final_latency_s),
            "total_s": float(self.total_s),
            **{f"slices_{k}": int(v) for k, v in self.stats.items()},
        }


def drag_positions(n_events: int, size: int, *, start: int = 1) -> list[int]:
    """``n_events`` distinct slider positions sweeping forward through ``size`` planes."""
    if n_events < 1:
        raise UserError(f"n_events: expected >= 1, got {n_events}")
    stop = size - 1
    positions = np.unique(np.linspace(start, stop, n_events).round().astype(int))
    if len(positions) < n_events:
        raise UserError(f"n_events: {n_events} distinct positions need at least {n_events + start} planes, got {size}")
    return [int(p) for p in positions]


def simulate_drag(
    viewer: Any, axis: int | str, positions: Sequence[int], *, duration_s: float = 1.0, timeout_s: float = 30.0
) -> DragResult:
    """Move ``axis`` through ``positions`` spread evenly over ``duration_s``, as a dragged slider does.

    Events that come due while the caller is still busy (a synchronous viewer) are sent as soon as it is
    free, so their backlog shows up in ``final_latency_s``.
    """
    viewer.wait_idle(timeout_s)
    result = DragResult(positions=list(positions))
    gap = duration_s / max(1, len(positions) - 1)
    t0 = time.perf_counter()
    for k, position in enumerate(positions):
        due = t0 + k * gap
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        start = time.perf_counter()
        viewer.set_index(axis, int(position))
        result.main_thread_s.append(time.perf_counter() - start)
    last_due = t0 + (len(positions) - 1) * gap
    if not viewer.wait_idle(timeout_s):
        raise TimeoutError(f"simulate_drag: the viewer did not settle within timeout_s={timeout_s}")
    done = time.perf_counter()
    result.final_latency_s = done - last_due
    result.total_s = done - t0
    result.stats = viewer.stats
    result.final_indices = viewer.frame.indices
    return result


# ------------------------------------------------------------------ exercise: the display rule
def reference_display_order(events: Sequence[tuple[str, int]]) -> list[int]:
    """The viewer's rule: show a finished slice only if its request is the newest one made so far.

    ``events`` is a sequence of ``("request", id)`` and ``("done", id)`` in the order the owner thread
    sees them; ids grow with every request. Returns the ids displayed, in order.
    """
    latest, shown, displayed = -1, -1, []
    for kind, rid in events:
        if kind == "request":
            latest = max(latest, rid)
        elif kind == "done" and rid == latest and rid > shown:
            shown = rid
            displayed.append(rid)
    return displayed


_SCENARIOS: list[tuple[str, list[tuple[str, int]]]] = [
    ("one request, one result", [("request", 1), ("done", 1)]),
    ("a slow old slice finishes after a newer one", [("request", 1), ("request", 2), ("done", 2), ("done", 1)]),
    ("an old slice finishes while a newer one still runs", [("request", 1), ("request", 2), ("done", 1), ("done", 2)]),
    ("a drag of four events", [("request", 1), ("request", 2), ("done", 1), ("request", 3), ("request", 4),
                              ("done", 3), ("done", 4), ("done", 2)]),
]


def check_display_rule(rule: Callable[[Sequence[tuple[str, int]]], list[int]]) -> str:
    """Check a learner's display rule on tricky orderings; raises AssertionError saying what is wrong."""
    for name, events in _SCENARIOS:
        expected = reference_display_order(events)
        got = list(rule(events))
        if got == expected:
            continue
        for earlier, later in zip(got, got[1:]):
            if later < earlier:
                raise AssertionError(
                    f"{name}: you displayed {later} after {earlier}; an older response must never replace a newer one"
                )
        stale = [rid for rid in got if rid not in expected]
        if stale:
            raise AssertionError(
                f"{name}: you displayed {stale}, which were already stale when they finished; show a response only "
                f"if its request is still the newest (events: {events})"
            )
        raise AssertionError(f"{name}: expected {expected}, got {got}; the newest finished request must be shown")
    return f"all {len(_SCENARIOS)} scenarios pass"
