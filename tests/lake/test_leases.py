"""Vacuum against live readers in other processes: readers pin what they open, vacuum waits for them."""

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake
from workbench.lake import demo
from workbench.lake._leases import VersionRetired

D = dt.datetime


def batch(day: int) -> pl.DataFrame:
    n = 20
    return pl.DataFrame({"customer": [f"c{i:02d}" for i in range(n)], "time": [D(2026, 1, 1) + dt.timedelta(days=day)] * n,
                         demo.DROPS: [day] * n, demo.CALLS: [day + 100] * n})


def finish(child) -> str:
    """Kill the child and return its stderr (reading stderr first would wait for it forever)."""
    child.kill()
    return child.communicate()[1]


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    lake.write(batch(0))
    return lake


READER = """
    import sys, time
    from workbench.lake import EventKey, FeatureLake, demo

    lake = FeatureLake.open(sys.argv[1])
    key = EventKey({"customer": "c01"})
    ds = lake.dataset("day")                                  # a lazy view: opens and pins the head's version
    print("drops", lake.get(key, demo.DROPS), flush=True)
    sys.stdin.readline()                                      # meanwhile: new commits and a vacuum
    # the pinned version's arrays are read only now, lazily, after the vacuum
    print("calls", int(ds[demo.CALLS].values[1, 0]), ds.sizes["time"], flush=True)
    deadline = time.monotonic() + float(sys.argv[2])
    reads = 0
    while time.monotonic() < deadline:                         # then read the newest commits in a loop
        assert lake.get(key, demo.CALLS) is not None
        lake.history(key, [demo.DROPS, demo.CALLS])
        reads += 1
    print("reads", reads, flush=True)
    sys.stdin.readline()
"""


def test_vacuum_never_deletes_a_version_a_live_reader_pinned(lake):
    pinned = lake._head()["windows"]["day"]
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), lake.url, "2.0"], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline().split() == ["drops", "0"]
        for day in (1, 2, 3):
            lake.write(batch(day))
        removed = lake.vacuum(keep_versions=1)
        assert pinned not in removed and os.path.exists(os.path.join(lake.url, pinned))
        assert os.path.exists(os.path.join(lake.url, "tombstones", pinned.split("/", 1)[1]))
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().split() == ["calls", "100", "1"], finish(child)
        # the reader reads on while this process writes and vacuums as fast as it can
        deadline = time.monotonic() + 2.0
        day = 4
        while time.monotonic() < deadline:
            lake.write(batch(day))
            lake.vacuum(keep_versions=1)
            day += 1
        line = child.stdout.readline().split()
        assert line and line[0] == "reads" and int(line[1]) > 0, finish(child)
        child.stdin.write("done\n")
        child.stdin.flush()
        assert child.wait(30) == 0, finish(child)
    finally:
        child.kill()
        child.communicate()
    # the reader is gone: its lease goes with it and the version is collected (by this vacuum, or already by one
    # in the loop above once the reader had moved on to a newer version on a fast machine)
    lake.vacuum(keep_versions=1)
    assert not os.path.exists(os.path.join(lake.url, pinned))
    assert not os.listdir(os.path.join(lake.url, "tombstones", "day"))


def test_a_killed_readers_lease_does_not_block_vacuum(lake):
    pinned = lake._head()["windows"]["day"]
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), lake.url, "0"], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline().split() == ["drops", "0"]
        lake.write(batch(1))
        assert pinned not in lake.vacuum(keep_versions=1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.communicate()
    assert pinned in lake.vacuum(keep_versions=1)  # the kernel dropped its lock: the lease is dead
    assert os.listdir(os.path.join(lake.url, "readers")) == []


def test_a_reader_that_meets_a_tombstone_reads_the_newest_commit(lake):
    reader = FeatureLake.open(lake.url)
    stale_head = reader._head()
    lake.write(batch(1))
    lake.vacuum(keep_versions=1)  # nobody pinned the old version: deleted
    with pytest.raises(VersionRetired):
        # the race: a head read before the vacuum, opened after it (tombstone written before deletion)
        os.makedirs(os.path.join(lake.url, "tombstones", "day"), exist_ok=True)
        open(os.path.join(lake.url, "tombstones", stale_head["windows"]["day"].split("/", 1)[1]), "w").close()
        reader._window(stale_head, "day")
    heads = iter([stale_head])
    real = reader._head
    reader._head = lambda: next(heads, None) or real()
    assert reader._snapshot("day")[1].shape == (20, 2)  # retried on the newest commit
    assert reader.get(EventKey({"customer": "c01"}), demo.DROPS) == 1
