"""Atomic batches and the single-writer lock, tested by killing real writer processes."""

import datetime as dt
import os
import signal
import time

import numpy as np
import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake, LakeLockedError
from workbench.lake import demo

D = dt.datetime
N_CUSTOMERS = 50


def batch(day: int) -> pl.DataFrame:
    return pl.DataFrame({"customer": [f"c{i:03d}" for i in range(N_CUSTOMERS)],
                         "time": [D(2026, 1, 1) + dt.timedelta(days=day)] * N_CUSTOMERS,
                         demo.DROPS: [day] * N_CUSTOMERS})


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature(demo.DROPS, "int")
    lake.write(batch(0))
    return lake


def state(lake: FeatureLake) -> dict[int, int]:
    """day -> number of customers holding that day's value (a batch is 'in' iff all of them)."""
    ds = lake.dataset("day")
    values = ds[demo.DROPS].values
    days = (ds["time"].values - np.datetime64("2026-01-01")).astype("timedelta64[D]").astype(int)
    return {int(d): int((values[:, j] == d).sum()) for j, d in enumerate(days)}


KILL_BEFORE_PUBLISH = """
    import sys, time, datetime as dt, polars as pl
    from workbench.lake import FeatureLake
    from workbench.lake import demo

    def stall(self, commit):
        print("objects written, commit not yet published", flush=True)
        time.sleep(120)

    FeatureLake._before_publish = stall
    lake = FeatureLake.open(sys.argv[1])
    lake.write(pl.DataFrame({"customer": ["c000", "c001"], "time": [dt.datetime(2026, 1, 9)] * 2,
                             demo.DROPS: [99, 99]}))
"""


def test_writer_killed_between_objects_and_commit_leaves_the_batch_out(lake, writers):
    version, before = lake.version, state(lake)
    child = writers.spawn(KILL_BEFORE_PUBLISH, lake.url)
    try:
        writers.wait_for_line(child, "objects written, commit not yet published")
        # the lock is held by the child meanwhile
        with pytest.raises(LakeLockedError, match=f"pid {child.pid}"):
            lake.write(batch(5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.communicate()
    reopened = FeatureLake.open(lake.url)
    assert reopened.version == version and state(reopened) == before
    assert reopened.get(EventKey({"customer": "c000"}), demo.DROPS) == 0
    # the killed writer's half batch (its window version and its delta file) is garbage that vacuum
    # removes; the kernel freed its lock
    removed = reopened.vacuum(keep_versions=1)
    assert sorted(r.split("/")[0] for r in removed) == ["deltas", "windows"], removed
    assert reopened.write(batch(1)).values_changed == N_CUSTOMERS


WRITE_FOREVER = """
    import sys, datetime as dt, polars as pl
    from workbench.lake import FeatureLake
    from workbench.lake import demo

    lake = FeatureLake.open(sys.argv[1])
    n = int(sys.argv[2])
    for day in range(1, 10_000):
        lake.write(pl.DataFrame({"customer": [f"c{i:03d}" for i in range(n)],
                                 "time": [dt.datetime(2026, 1, 1) + dt.timedelta(days=day)] * n,
                                 "%s": [day] * n}))
        if day == 1:  # imports are warm from here on, so the kill lands among batches
            print("writing", flush=True)
""" % demo.DROPS


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.7])
def test_writer_killed_at_a_random_moment_leaves_whole_batches(lake, delay, writers):
    child = writers.spawn(WRITE_FOREVER, lake.url, N_CUSTOMERS)
    try:
        writers.wait_for_line(child, "writing")
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.communicate()
    seen = state(FeatureLake.open(lake.url))
    days = sorted(seen)
    assert days == list(range(len(days)))  # a prefix of the batches, no gaps
    assert all(count == N_CUSTOMERS for count in seen.values()), seen  # each batch wholly in
    assert len(days) > 1  # the writer got somewhere before it died


HOLD_LOCK = """
    import sys, time
    from workbench.lake import FeatureLake

    lake = FeatureLake.open(sys.argv[1])
    with lake.writing():
        print("holding", flush=True)
        time.sleep(120)
"""


def test_one_writer_at_a_time_readers_unaffected(lake, writers):
    child = writers.spawn(HOLD_LOCK, lake.url)
    try:
        writers.wait_for_line(child, "holding")
        with pytest.raises(LakeLockedError, match="one writer at a time") as err:
            lake.write(batch(3))
        assert f"pid {child.pid}" in str(err.value)
        with pytest.raises(LakeLockedError):
            lake.register_feature("/telecom/feature/customer/other", "float")
        assert lake.get(EventKey({"customer": "c001"}), demo.DROPS) == 0  # readers go on
    finally:
        child.kill()
        child.communicate()
    assert lake.write(batch(3)).values_changed == N_CUSTOMERS


def test_two_lake_objects_in_one_process_also_exclude_each_other(lake):
    other = FeatureLake.open(lake.url)
    with lake.writing():
        with pytest.raises(LakeLockedError):
            other.write(batch(2))
        lake.write(batch(2))  # re-entrant for the holder
    assert other.write(batch(4)).values_changed == N_CUSTOMERS
