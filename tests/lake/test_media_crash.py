"""Crash safety of media payloads: SIGKILL a writer that is storing bytes; no reference ever dangles."""

import datetime as dt
import hashlib
import os
import signal
import time

import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake

IMAGE = "/health/feature/patient/image/log_sheet"
N = 20


def kill(child) -> None:
    try:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.communicate()


def payload(day: int, i: int) -> bytes:
    return f"sheet day={day} patient={i} ".encode() * 200  # a few kB, distinct per cell


def blob_files(url) -> list[str]:
    base = os.path.join(url, "media")
    return sorted(os.path.relpath(os.path.join(d, f), url) for d, _, fs in os.walk(base) for f in fs)


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature(IMAGE, "image")
    lake.write(pl.DataFrame({"patient": [f"p{i:02d}" for i in range(N)], "time": [dt.datetime(2026, 1, 1)] * N,
                             IMAGE: pl.Series([payload(0, i) for i in range(N)], dtype=pl.Binary)}), entities="patient")
    return lake


STALL = """
    import sys, time, datetime as dt, polars as pl
    from workbench.lake import FeatureLake
    from workbench.lake._store import CommitLog

    where = sys.argv[2]
    real = CommitLog.write_bytes_atomic
    count = {"media": 0}

    def write(self, rel, data):
        real(self, rel, data)
        if rel.startswith("media/"):
            count["media"] += 1
            if where == "among_payloads" and count["media"] == 2:
                print("stalled", flush=True)
                time.sleep(120)

    def stall(self, commit):
        print("stalled", flush=True)
        time.sleep(120)

    CommitLog.write_bytes_atomic = write
    if where == "before_publish":
        FeatureLake._before_publish = stall
    lake = FeatureLake.open(sys.argv[1])
    lake.write(pl.DataFrame({"patient": ["p00", "p01", "p02"], "time": [dt.datetime(2026, 1, 9)] * 3,
                             "%s": pl.Series([b"new-0", b"new-1", b"new-2"], dtype=pl.Binary)}), entities="patient")
""" % IMAGE


@pytest.mark.parametrize("where", ["among_payloads", "before_publish"])
def test_writer_killed_while_storing_payloads_leaves_orphans_never_dangling_references(lake, where, writers):
    version, before = lake.version, blob_files(lake.url)
    child = writers.spawn(STALL, lake.url, where)
    try:
        writers.wait_for_line(child, "stalled")
    finally:
        kill(child)
    reopened = FeatureLake.open(lake.url)
    assert reopened.version == version  # the batch is wholly out
    assert reopened.get(EventKey({"patient": "p00"}, window="day"), IMAGE) == payload(0, 0)
    leftovers = sorted(set(blob_files(lake.url)) - set(before))
    assert len(leftovers) == (2 if where == "among_payloads" else 3)
    report = reopened.check()
    assert not report.damage, report.lines()
    assert sorted(f.file for f in report.findings if f.file.startswith("media/")) == leftovers
    removed = reopened.vacuum(keep_versions=1)
    assert sorted(r for r in removed if r.startswith("media/")) == leftovers
    assert blob_files(lake.url) == before and reopened.check().exit_code == 0


WRITE_FOREVER = """
    import sys, datetime as dt, polars as pl
    from workbench.lake import FeatureLake

    lake = FeatureLake.open(sys.argv[1])
    n = int(sys.argv[2])
    for day in range(1, 10_000):
        cells = [f"sheet day={day} patient={i} ".encode() * 200 for i in range(n)]
        lake.write(pl.DataFrame({"patient": [f"p{i:02d}" for i in range(n)],
                                 "time": [dt.datetime(2026, 1, 1) + dt.timedelta(days=day)] * n,
                                 "%s": pl.Series(cells, dtype=pl.Binary)}), entities="patient")
        if day == 1:
            print("writing", flush=True)
""" % IMAGE


@pytest.mark.parametrize("delay", [0.2, 0.6])
def test_writer_killed_at_a_random_moment_every_visible_payload_reads_back(lake, delay, writers):
    child = writers.spawn(WRITE_FOREVER, lake.url, N)
    try:
        writers.wait_for_line(child, "writing")
        time.sleep(delay)
    finally:
        kill(child)
    reopened = FeatureLake.open(lake.url)
    report = reopened.check()
    assert not report.damage, report.lines()  # every reference the head names has its bytes
    days = set()
    for i in range(N):
        h = reopened.history(EventKey({"patient": f"p{i:02d}"}, window="day"), IMAGE)
        for t, value in zip(h["time"].to_list(), h[IMAGE].to_list()):
            day = (t - dt.datetime(2026, 1, 1)).days
            assert value == payload(day, i)
            days.add(day)
    assert days == set(range(len(days))) and len(days) > 1  # whole batches, a prefix, some progress
    reopened.vacuum(keep_versions=1)
    assert reopened.check().exit_code == 0
    expected = {hashlib.sha256(payload(d, i)).hexdigest() for d in days for i in range(N)}
    assert {os.path.basename(f) for f in blob_files(lake.url)} == expected
