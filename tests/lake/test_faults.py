"""Fault injection, bounded in count and time: kills at random moments of write, run_pending, backfill and
vacuum; bit flips and truncations in chunks, metadata, commits and delta files; a full disk on a small tmpfs.

The rule each campaign checks: after any fault the lake either reads exactly what some complete commit
holds, or raises the lake's own error (and ``check`` names the damage).  Never a wrong value in silence.
Children are forked from a forkserver that has the lake's imports loaded, so a kill costs milliseconds of
start-up, not seconds.  Totals are printed (``pytest -s``) and kept in ``FIGURES`` for the report.
"""

import datetime as dt
import glob
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import time
import warnings

import numpy as np
import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake, LakeIntegrityError, LakeIntegrityWarning, check
from workbench.lake import demo

D = dt.datetime
N = 30  # customers
FIGURES: dict[str, int] = {}
# Campaign sizes: CI runs SCALE=1 (well under a minute); WORKBENCH_FAULT_SCALE=10 for a long local campaign.
SCALE = max(1, int(os.environ.get("WORKBENCH_FAULT_SCALE", "1")))
PRIORITY = demo.PRIORITY


def _count(name: str, n: int = 1) -> None:
    FIGURES[name] = FIGURES.get(name, 0) + n


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    # What a first write imports (xarray loads its backends' plugins lazily): preloaded once, not per kill.
    ctx.set_forkserver_preload(["polars", "numpy", "pyarrow.parquet", "zarr", "xarray", "xarray.backends.zarr",
                                "dask.array", "pint", "scipy.sparse", "babel.numbers", "workbench.lake._lake",
                                "workbench.lake._integrity", "workbench.lake.demo"])
    yield ctx
    print("\nfault figures:", FIGURES)


def day_batch(day: int) -> pl.DataFrame:
    return pl.DataFrame({"customer": [f"c{i:03d}" for i in range(N)], "time": [D(2026, 1, 1) + dt.timedelta(days=day)] * N,
                         demo.DROPS: [day] * N})


CHILD = r"""
import datetime as dt, os, sys, time, polars as pl
from workbench.lake import FeatureLake, demo

def batch(day, n=30):
    return pl.DataFrame({"customer": [f"c{i:03d}" for i in range(n)],
                         "time": [dt.datetime(2026, 1, 1) + dt.timedelta(days=day)] * n, demo.DROPS: [day] * n})

lake = FeatureLake.open(URL)
if OP == "write":
    lake.write(batch(START))  # warm: the kills land among later batches, not in first-use imports
    READY.send_bytes(b"r")
    for day in range(START + 1, START + 10_000):
        t = time.monotonic()
        lake.write(batch(day))
        if day == START + 1:
            READY.send_bytes(str(time.monotonic() - t).encode())
else:
    READY.send_bytes(b"r")
    t = time.monotonic()
    if OP == "run_pending":
        lake.run_pending()
    elif OP == "backfill":
        lake.backfill(demo.CHURN_FN, partitions=3)
    elif OP == "vacuum":
        lake.vacuum(keep_versions=1)
    READY.send_bytes(str(time.monotonic() - t).encode())
"""


def _child(ctx, url: str, op: str, start: int):
    r, w = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=exec, args=(CHILD, {"URL": url, "OP": op, "READY": w, "START": start}))
    proc.start()
    w.close()
    assert r.poll(120) and r.recv_bytes() == b"r", "child did not open the lake"
    return proc, r


def duration(ctx, url: str, op: str, start: int = 0) -> float:
    """How long ``op`` takes in a child (one batch, for write): the span the kills are spread over."""
    proc, r = _child(ctx, url, op, start)
    try:
        assert r.poll(120)
        return float(r.recv_bytes())
    finally:
        proc.kill()
        proc.join()
        r.close()


def run_and_kill(ctx, url: str, op: str, delay: float, start: int = 0) -> bool:
    """Run ``op`` in a forked child, SIGKILL it ``delay`` seconds after it opened the lake.
    Returns whether the kill landed before the operation finished."""
    proc, r = _child(ctx, url, op, start)
    try:
        time.sleep(delay)
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it finished first (the forkserver reaped it); counted as a kill after the end
        proc.join(10)
        finished = False
        if op != "write" and r.poll(0):  # poll is also true at end of file: only a message means done
            try:
                finished = bool(r.recv_bytes())
            except EOFError:
                pass
    finally:
        r.close()
        if proc.is_alive():
            proc.kill()
            proc.join()
    _count("kills_injected")
    _count(f"kills_{op}")
    if not finished:
        _count("kills_mid_operation")
    return not finished


def assert_healthy(url: str) -> FeatureLake:
    """No damage (orphans of killed writers are allowed), and the lake opens and accepts a write."""
    report = check(url)
    assert report.exit_code == 0, report.lines()
    _count("kills_survived")
    return FeatureLake.open(url)


def days_state(lake: FeatureLake) -> dict[int, int]:
    frame = lake.training_frame(pl.DataFrame({"customer": [f"c{i:03d}" for i in range(N)],
                                              "event_time": [D(2100, 1, 1)] * N}), [demo.DROPS])
    hist = [lake.history(EventKey({"customer": f"c{i:03d}"}), demo.DROPS) for i in range(N)]
    counts: dict[int, int] = {}
    for h in hist:
        for v in h[demo.DROPS].to_list():
            counts[v] = counts.get(v, 0) + 1
    assert frame[demo.DROPS].n_unique() == 1  # every customer ends on the same (last) batch
    return counts


def test_kills_during_write_leave_whole_batches(tmp_path, forkserver):
    rng = random.Random(14)
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    lake.write(day_batch(0))
    span = 3 * duration(forkserver, lake.url, "write", start=1)
    start = len(days_state(lake))
    for _ in range(4 * SCALE):
        run_and_kill(forkserver, lake.url, "write", rng.uniform(0.0, span), start=start)
        lake = assert_healthy(lake.url)
        seen = days_state(lake)
        assert sorted(seen) == list(range(len(seen))) and set(seen.values()) == {N}, seen
        assert len(seen) > start  # the warm-up batch at least
        start = len(seen)
        lake.vacuum(keep_versions=2)  # keeps check's work (it verifies every stored version) small


def _pending_lake(path, days: int) -> FeatureLake:
    lake = FeatureLake.open(path)
    demo.register_telecom(lake)
    lake.write(demo.telecom_days(N, days, seed=7, missing=0.2))
    return lake


def _derived(lake: FeatureLake) -> dict:
    out = {}
    for i in range(N):
        h = lake.history(EventKey({"customer": f"c{i:05d}"}), [demo.CHURN, PRIORITY])
        out[i] = h.rows()
    return out


def test_kills_during_run_pending_and_backfill_then_rerun_gives_the_reference(tmp_path, forkserver):
    rng = random.Random(15)
    template = _pending_lake(tmp_path / "template", 6)
    reference = FeatureLake.open(shutil.copytree(template.url, tmp_path / "reference"))
    reference.run_pending()
    expected = _derived(reference)
    backfilled = FeatureLake.open(shutil.copytree(template.url, tmp_path / "bref"))
    backfilled.backfill(demo.CHURN_FN, partitions=3)
    churn_ref = _derived(backfilled)
    spans = {op: duration(forkserver, str(shutil.copytree(template.url, tmp_path / f"m{op}")), op)
             for op in ("run_pending", "backfill")}
    for trial in range(3 * SCALE):
        url = str(shutil.copytree(template.url, tmp_path / f"rp{trial}"))
        run_and_kill(forkserver, url, "run_pending", rng.uniform(0.0, spans["run_pending"]))
        lake = assert_healthy(url)
        lake.run_pending()  # at-least-once: the rerun finishes the job
        assert _derived(lake) == expected
        url = str(shutil.copytree(template.url, tmp_path / f"bf{trial}"))
        run_and_kill(forkserver, url, "backfill", rng.uniform(0.0, spans["backfill"]))
        lake = assert_healthy(url)
        got = _derived(lake)
        assert got == churn_ref or all(all(r[1] is None for r in rows) for rows in got.values())  # all or nothing
        lake.backfill(demo.CHURN_FN, partitions=3)
        assert _derived(lake) == churn_ref


def test_kills_during_vacuum_lose_nothing_a_reader_needs(tmp_path, forkserver):
    rng = random.Random(16)
    template = FeatureLake.open(tmp_path / "template")
    demo.register_telecom(template)
    for day in range(8):
        template.write(day_batch(day))
    open(os.path.join(template.url, "deltas", "000000000001-00000000.parquet"), "wb").write(b"orphan")
    expected = days_state(template)
    span = duration(forkserver, str(shutil.copytree(template.url, tmp_path / "measure")), "vacuum")
    for trial in range(3 * SCALE):
        url = str(shutil.copytree(template.url, tmp_path / f"v{trial}"))
        run_and_kill(forkserver, url, "vacuum", rng.uniform(0.0, span))
        lake = assert_healthy(url)
        assert days_state(lake) == expected
        lake.vacuum(keep_versions=1)
        assert days_state(lake) == expected and check(url).exit_code == 0


# ---- bit flips and truncations ------------------------------------------------------------------------
def _damage_template(path) -> FeatureLake:
    lake = FeatureLake.open(path)
    demo.register_telecom(lake)
    lake.register_feature("/telecom/feature/customer/roaming", "bool")
    lake.register_feature("/telecom/feature/customer/plan", "string")
    days = demo.telecom_days(N, 4, seed=9, missing=0.1)
    lake.write(days.with_columns((pl.col(demo.CALLS) % 2 == 0).alias("/telecom/feature/customer/roaming"),
                                 pl.when(pl.col(demo.CALLS) > 5).then(pl.lit("pro")).otherwise(pl.lit("basic"))
                                 .alias("/telecom/feature/customer/plan")))
    lake.run_pending()
    return lake


def _everything(url: str):
    """All a reader can see: every feature for every key and time, the registry and the delta log."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lake = FeatureLake.open(url)
        reg = lake.registry
        keys = lake.keys()
        times = lake.history(EventKey({"customer": keys["customer"][0]}), list(reg.features))["time"]
        grid = keys.select("customer").join(pl.DataFrame({"event_time": times}), how="cross")
        frame = lake.training_frame(grid, list(reg.features))
        seen = (frame.sort("customer", "event_time"), reg.features_table(), lake.deltas().sort(pl.all()))
    skipped = [w for w in caught if issubclass(w.category, LakeIntegrityWarning)]
    return seen, skipped


def _targets(url: str, lake: FeatureLake) -> list[tuple[str, str]]:
    head = lake._head()
    store = os.path.join(url, head["windows"]["day"])
    files = [p for p in glob.glob(os.path.join(store, "**", "*"), recursive=True) if os.path.isfile(p)]
    out = [("chunk", p) for p in files if "/c/" in p] + [("metadata", p) for p in files if p.endswith("zarr.json")]
    out += [("commit", os.path.join(url, "commits", f"{head['id']:012d}.json"))]
    out += [("delta", p) for p in glob.glob(os.path.join(url, "deltas", "*.parquet"))]
    return out


@pytest.mark.parametrize("fault", ["flip", "truncate"])
def test_flips_and_truncations_are_detected_never_read_as_values(tmp_path, fault):
    rng = random.Random(17 if fault == "flip" else 18)
    template = _damage_template(tmp_path / "template")
    reference, _ = _everything(template.url)
    targets = _targets(template.url, template)
    trials = (12 if fault == "flip" else 8) * SCALE
    deadline = time.monotonic() + 8.0 * SCALE
    done = 0
    for trial in range(trials):
        if time.monotonic() > deadline and done >= trials // 2:
            break  # bounded in time on a loaded machine; at least half the campaign always runs
        kinds = sorted({k for k, _ in targets})
        kind = kinds[trial % len(kinds)]  # every kind of file in turn, a random file of that kind
        target = rng.choice([p for k, p in targets if k == kind])
        url = str(shutil.copytree(template.url, tmp_path / f"t{trial}"))
        path = target.replace(template.url, url)
        data = bytearray(open(path, "rb").read())
        if fault == "flip":
            i = rng.randrange(len(data) * 8)
            data[i // 8] ^= 1 << (i % 8)
        else:
            data = data[: rng.randrange(len(data))]
        open(path, "wb").write(bytes(data))
        _count(f"{fault}s_injected")
        _count(f"{fault}s_{kind}")
        done += 1
        try:
            seen, skipped = _everything(url)
        except LakeIntegrityError:
            _count(f"{fault}s_detected_by_reader")
        else:
            if skipped:
                _count(f"{fault}s_detected_by_reader")  # fell back to the last complete commit, said so
            else:
                assert seen[0].equals(reference[0]) and seen[1].equals(reference[1]) and seen[2].equals(reference[2]), \
                    f"silent wrong value after a {fault} in {kind} {path}"
                _count(f"{fault}s_harmless")
        report = check(url)
        if report.exit_code == 4:
            _count(f"{fault}s_detected_by_check")
            assert check(url, repair=True).exit_code in (1, 4)
            assert check(url).exit_code == 0 and FeatureLake.open(url).version >= 1
    assert done >= trials // 2


# ---- a full disk ---------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the full-disk test runs where that is permitted")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"mount -t tmpfs was refused here ({result.stderr.strip() or result.returncode})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_the_batch_and_keeps_the_lake(small_disk):
    lake = FeatureLake.open(small_disk / "lake")
    demo.register_telecom(lake)
    committed, day, failures = None, 0, 0
    rng = np.random.default_rng(0)
    while failures < 2 and day < 400:
        n = 400
        frame = pl.DataFrame({"customer": [f"c{i:04d}" for i in range(n)],
                              "time": [D(2026, 1, 1) + dt.timedelta(days=day)] * n,
                              demo.NOISE: rng.normal(-80, 5, n), demo.DROPS: rng.integers(0, 9, n)})
        try:
            lake.write(frame)
            committed = day
        except OSError as exc:
            assert exc.errno == 28 or "No space" in str(exc), exc
            failures += 1
            _count("disk_full_refusals")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a lease may not fit either
                reopened = FeatureLake.open(lake.url)
                assert reopened.history(EventKey({"customer": "c0000"}), demo.NOISE)["time"].max() == \
                    D(2026, 1, 1) + dt.timedelta(days=committed)
            report = check(lake.url)
            assert not report.damage, report.lines()
            lake.vacuum(keep_versions=1)  # frees old versions and the failed batch's leftovers
        day += 1
    assert committed is not None and failures == 2
    assert check(lake.url).exit_code == 0
