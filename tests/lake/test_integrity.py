"""Regression tests for the lake's integrity defects (issue 14): each fails on the code before the fix."""

import datetime as dt
import glob
import json
import os
import warnings

import numpy as np
import polars as pl
import pytest

from workbench.errors import UserError
from workbench.lake import (
    EventKey,
    FeatureLake,
    LakeIntegrityError,
    LakeIntegrityWarning,
    LakeTimeRangeError,
    LakeValidationError,
    check,
)
from workbench.lake import demo

D = dt.datetime
A = "/t/feature/customer/a"
B = "/t/feature/customer/b"
OUT = "/t/feature/customer/total"
SUM_FN = "/t/function/inference/total"
KINDS = {"/t/feature/customer/f": ("float", 7.5), "/t/feature/customer/i": ("int", 7),
         "/t/feature/customer/b": ("bool", True), "/t/feature/customer/s": ("string", "pro"),
         "/t/feature/customer/c": ("categorical", "gold")}


def total(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select("key", "time", (pl.col(A).fill_null(0.0) + pl.col(B).fill_null(0.0)).alias(OUT))


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    return lake


def drops(day: int, value: int, customers=("a", "b")) -> pl.DataFrame:
    return pl.DataFrame({"customer": list(customers), "time": [D(2026, 1, day)] * len(customers),
                         demo.DROPS: [value] * len(customers)})


def head_store(lake) -> str:
    return os.path.join(lake.url, lake._head()["windows"]["day"])


def flip(path: str, at: int | None = None) -> None:
    data = bytearray(open(path, "rb").read())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x10
    open(path, "wb").write(bytes(data))


# ---- 1. vacuum(keep_versions <= 0) -------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, -1, 1.5, True])
def test_vacuum_refuses_to_keep_no_version(lake, keep):
    lake.write(drops(1, 3))
    lake.write(drops(2, 4))
    with pytest.raises(UserError, match="keep_versions"):
        lake.vacuum(keep_versions=keep)
    assert lake.get(EventKey({"customer": "a"}), demo.DROPS) == 4
    assert lake.vacuum(keep_versions=1) and lake.get(EventKey({"customer": "a"}), demo.DROPS) == 4
    assert lake.write(drops(3, 5)).values_changed == 2


# ---- 2. missing chunks / values read as the missing marker --------------------------------------------
def test_absent_chunks_read_as_missing_for_every_dtype(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    for name, (dtype, _) in KINDS.items():
        lake.register_feature(name, dtype)
    frame = pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], **{n: [v] for n, (_, v) in KINDS.items()}})
    lake.write(frame)
    store = head_store(lake)
    for name, (dtype, value) in KINDS.items():
        assert FeatureLake.open(lake.url).get(EventKey({"customer": "a"}), name) == value
        var = name.strip("/").replace("/", ".")
        meta = json.load(open(os.path.join(store, var, "zarr.json")))
        assert meta["fill_value"] not in (0, False), (dtype, meta["fill_value"])  # on disk: the missing marker
        for chunk in glob.glob(os.path.join(store, var, "c", "*", "*")):
            os.remove(chunk)
        fresh = FeatureLake.open(lake.url)
        assert fresh.get(EventKey({"customer": "a"}), name) is None, dtype
        assert fresh.history(EventKey({"customer": "a"}), name).height == 0
    report = check(lake.url)
    assert report.exit_code == 4 and sum("is missing" in f.what for f in report.findings) == len(KINDS)


def test_resolver_never_turns_a_lost_chunk_into_a_real_value(lake):
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], demo.DROPS: [7], demo.CALLS: [10]}))
    store = head_store(lake)
    for chunk in glob.glob(os.path.join(store, "telecom.feature.customer.dropped_calls", "c", "*", "*")):
        os.remove(chunk)
    lake = FeatureLake.open(lake.url)
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 2)], demo.CALLS: [11]}))
    assert lake.history(EventKey({"customer": "a"}), demo.DROPS).height == 0  # no 0 was invented and saved


# ---- 4. key column named time ---------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{"entities": ("customer", "time")}, {"context": ("time",)}, {"attributes": "key"}])
def test_key_columns_with_reserved_names_are_refused(lake, kw):
    frame = drops(1, 3).with_columns(pl.lit("x").alias("key"))
    version = lake.version
    with pytest.raises(UserError, match="reserved name"):
        lake.write(frame, **kw)
    assert lake.version == version
    lake.write(drops(1, 3))
    assert lake.run_pending().calls  # the resolver still works


# ---- 5. times outside the int64-nanosecond range ----------------------------------------------------
def test_out_of_range_times_are_refused_on_every_path(lake):
    lake.write(drops(1, 3))
    key = EventKey({"customer": "a"})
    for at in (D(3000, 1, 1), dt.date(1600, 1, 1), "2263-01-01", np.datetime64("1500-01-01")):
        with pytest.raises(LakeTimeRangeError, match="outside the times the lake stores"):
            lake.get(key, demo.DROPS, at=at)
        with pytest.raises(LakeTimeRangeError):
            lake.history(key, demo.DROPS, end=at)
        with pytest.raises(LakeTimeRangeError):
            lake.history(key, demo.DROPS, start=at)
    with pytest.raises(LakeTimeRangeError):
        lake.backfill(demo.CHURN_FN, start=D(1000, 1, 1))
    assert lake.get(key, demo.DROPS, at=D(2262, 1, 1)) == 3  # inside the range still works
    bad = pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2), D(3000, 1, 1)], demo.DROPS: [1, 2]})
    with pytest.raises(LakeValidationError, match="outside") as err:
        lake.write(bad)
    assert err.value.rows == [1]
    dates = pl.DataFrame({"customer": ["a"], "time": [dt.date(1500, 1, 1)], demo.DROPS: [1]})
    with pytest.raises(LakeValidationError, match="outside"):
        lake.write(dates)
    events = pl.DataFrame({"customer": ["a"], "event_time": [D(2999, 1, 1)]})
    with pytest.raises(LakeValidationError, match="outside"):
        lake.training_frame(events, [demo.DROPS])

    def far_future(inputs):
        return inputs.select("key", pl.lit(D(3000, 1, 1)).alias("time"), pl.lit(0.5).alias(demo.CHURN))

    lake.register_function(demo.CHURN_FN, far_future, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE],
                           [demo.CHURN])
    with pytest.raises(LakeValidationError, match="outside"):
        lake.run_pending()


# ---- 6. derived values do not depend on arrival order ------------------------------------------------
def _sum_lake(path, batches, run_between: bool):
    lake = FeatureLake.open(path)
    for name in (A, B, OUT):
        lake.register_feature(name, "float")
    lake.register_function(SUM_FN, total, [A, B], [OUT])
    for b in batches:
        lake.write(b)
        if run_between:
            lake.run_pending()
    lake.run_pending()
    return lake.history(EventKey({"customer": "a"}), OUT)


@pytest.mark.parametrize("run_between", [True, False])
def test_derived_values_are_independent_of_arrival_order(tmp_path, run_between):
    early_a = pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], A: [10.0]})
    late_b = pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 2)], B: [5.0]})
    forward = _sum_lake(tmp_path / "f", [early_a, late_b], run_between)
    backward = _sum_lake(tmp_path / "b", [late_b, early_a], run_between)
    # the output at each time is a + b as of that time: 10 on day 1, 10 + 5 on day 2
    assert forward[OUT].to_list() == [10.0, 15.0]
    assert backward.equals(forward)


def surplus(inputs: pl.DataFrame) -> pl.DataFrame:
    """a - b when positive, else no value."""
    d = pl.col(A) - pl.col(B).fill_null(0.0)
    return inputs.select("key", "time", pl.when(d > 0).then(d).otherwise(None).alias(OUT))


@pytest.mark.parametrize("order", ["a first", "b first"])
def test_a_recomputed_null_output_clears_the_stored_value(tmp_path, order):
    lake = FeatureLake.open(tmp_path / "lake")
    for name in (A, B, OUT):
        lake.register_feature(name, "float")
    lake.register_function(SUM_FN, surplus, [A, B], [OUT])
    batches = [pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], A: [10.0]}),
               pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], B: [20.0]})]
    for b in batches if order == "a first" else batches[::-1]:
        lake.write(b)
        lake.run_pending()
    assert lake.get(EventKey({"customer": "a"}), OUT) is None  # 10 - 20 is no value, in either order


def test_run_pending_agrees_with_backfill(tmp_path):
    days = demo.telecom_days(6, 5, seed=3, missing=0.3)
    shuffled = days.sample(fraction=1.0, shuffle=True, seed=4)
    a = FeatureLake.open(tmp_path / "a")
    demo.register_telecom(a)
    for part in np.array_split(np.arange(shuffled.height), 4):
        a.write(shuffled[int(part[0]): int(part[-1]) + 1])
        a.run_pending()
    b = FeatureLake.open(tmp_path / "b")
    demo.register_telecom(b)
    b.write(days)
    b.backfill(demo.CHURN_FN)
    for cust in days["customer"].unique().to_list():
        key = EventKey({"customer": cust})
        assert a.history(key, demo.CHURN).equals(b.history(key, demo.CHURN)), cust


# ---- 7. torn, empty and stray commit files; an emptied log ------------------------------------------
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "flipped", "wrong id"])
def test_a_damaged_newest_commit_falls_back_to_the_last_complete_one(lake, damage):
    lake.write(drops(1, 3))
    good = lake.version
    lake.write(drops(2, 4))
    path = os.path.join(lake.url, "commits", f"{lake.version:012d}.json")
    raw = open(path, "rb").read()
    broken = {"empty": b"", "truncated": raw[: len(raw) // 2], "garbage": b"\x00\xffnot json",
              "flipped": raw.replace(b'"operation": "write"', b'"operation": "wrixe"'),
              "wrong id": open(os.path.join(lake.url, "commits", f"{good:012d}.json"), "rb").read()}[damage]
    open(path, "wb").write(broken)
    with pytest.warns(LakeIntegrityWarning, match=os.path.basename(path)):
        reopened = FeatureLake.open(lake.url)
    assert reopened.version == good
    assert os.path.basename(path) in "".join(reopened.skipped_commits)
    assert reopened.get(EventKey({"customer": "a"}), demo.DROPS) == 3
    # writes go on above the damaged file, which stays for inspection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LakeIntegrityWarning)
        assert reopened.write(drops(3, 9)).commit > int(os.path.basename(path)[:-5])
        assert reopened.get(EventKey({"customer": "a"}), demo.DROPS) == 9
        assert check(lake.url).exit_code == 4
        assert check(lake.url, repair=True).exit_code == 1
    assert check(lake.url).exit_code == 0


def test_stray_files_in_the_commit_log_are_ignored(lake):
    lake.write(drops(1, 3))
    for name in ("notes.txt", "000000000099.json.bak", ".000000000100.json", "abc.json"):
        open(os.path.join(lake.url, "commits", name), "w").write("{")
    assert FeatureLake.open(lake.url).get(EventKey({"customer": "a"}), demo.DROPS) == 3
    report = check(lake.url)
    assert report.exit_code == 0 and sum(f.kind == "stray" for f in report.findings) == 4


def test_an_emptied_commit_log_is_not_replaced_by_a_new_lake(lake):
    lake.write(drops(1, 3))
    for p in glob.glob(os.path.join(lake.url, "commits", "*.json")):
        os.remove(p)
    with pytest.raises(LakeIntegrityError, match="no readable commit"):
        FeatureLake.open(lake.url)
    assert not glob.glob(os.path.join(lake.url, "commits", "*.json"))  # nothing was created
    assert check(lake.url).exit_code == 4 and check(lake.url, repair=True).exit_code == 4
    fresh = FeatureLake.open(lake.url, force_new=True)
    assert fresh.version == 1 and fresh.registry.features == {}


# ---- 8. checksums on data chunks -----------------------------------------------------------------
def test_a_flipped_bit_in_a_chunk_names_window_feature_chunk_and_file(lake):
    lake.write(demo.telecom_days(4, 3, seed=1, missing=0.0))
    store = head_store(lake)
    chunk = glob.glob(os.path.join(store, "telecom.feature.customer.dropped_calls", "c", "0", "0"))[0]
    flip(chunk)
    fresh = FeatureLake.open(lake.url)
    with pytest.raises(LakeIntegrityError) as err:
        fresh.get(EventKey({"customer": "c00000"}), demo.DROPS)
    text = str(err.value)
    assert "window 'day'" in text and demo.DROPS in text and "chunk (0, 0)" in text and chunk in text
    assert err.value.where["feature"] == demo.DROPS and err.value.where["file"] == chunk
    assert "Zstd" not in text
    # other features of the same window still read
    assert fresh.get(EventKey({"customer": "c00000"}), demo.CALLS) is not None


def test_damaged_metadata_and_coordinates_give_the_lakes_error(lake):
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)],
                             "/telecom/feature/customer/retention_priority": ["call"]}))
    store = head_store(lake)
    meta = os.path.join(store, "telecom.feature.customer.retention_priority", "zarr.json")
    text = open(meta).read()
    open(meta, "w").write(text.replace('"call"', '"cell"'))  # valid JSON, wrong category text
    with pytest.raises(LakeIntegrityError, match="fails its checksum"):
        FeatureLake.open(lake.url).get(EventKey({"customer": "a"}), demo.PRIORITY)
    open(meta, "w").write(text)
    key_chunk = glob.glob(os.path.join(store, "key", "c", "*"))[0]
    open(key_chunk, "wb").write(open(key_chunk, "rb").read()[:3])  # truncated
    with pytest.raises(LakeIntegrityError, match="key"):
        FeatureLake.open(lake.url).get(EventKey({"customer": "a"}), demo.PRIORITY)


def test_a_malformed_registry_entry_gives_the_lakes_error(lake):
    from workbench.lake._store import encode_commit

    path = os.path.join(lake.url, "commits", f"{lake.version:012d}.json")
    commit = json.loads(open(path).read())
    commit["registry"]["features"][0] = "not an object"
    open(path, "wb").write(encode_commit(commit))  # a checksum that matches: a buggy writer, not a flip
    with pytest.raises(LakeIntegrityError, match="registry cannot be read"):
        FeatureLake.open(lake.url).registry
    assert check(lake.url).exit_code == 4


# ---- smaller defects --------------------------------------------------------------------------------
def test_data_files_are_fsynced_before_the_commit_that_names_them(lake, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    lake.write(drops(1, 3))
    commit_at = next(i for i, (e, p) in enumerate(events) if e == "rename" and "/commits/" in p)
    store = head_store(lake)
    chunk_files = {os.path.realpath(p) for p in glob.glob(os.path.join(store, "**", "*"), recursive=True)
                   if os.path.isfile(p)}
    synced_before = {p for e, p in events[:commit_at] if e == "fsync"}
    assert chunk_files and chunk_files <= synced_before


def test_vacuum_removes_orphan_delta_files_and_temporaries(lake):
    lake.write(drops(1, 3))
    orphan = os.path.join(lake.url, "deltas", "000000000077-deadbeef.parquet")
    open(orphan, "wb").write(b"left by a killed writer")
    tmp = os.path.join(lake.url, "commits", ".tmp-0123")
    open(tmp, "wb").write(b"{")
    removed = lake.vacuum()
    assert "deltas/000000000077-deadbeef.parquet" in removed and "commits/.tmp-0123" in removed
    assert not os.path.exists(orphan) and not os.path.exists(tmp)
    assert lake.deltas().height == 2  # named delta files stay


def test_unit_change_and_negative_ttl_are_refused(lake):
    with pytest.raises(UserError, match="unit="):
        lake.register_feature(demo.DURATION, "float", unit="ms")
    lake.register_feature(demo.DURATION, "float", unit="s", description="mean call duration during the day")
    for ttl in ("-1d", dt.timedelta(days=-1), np.timedelta64(-5, "s")):
        with pytest.raises((UserError, TypeError), match="ttl"):
            lake.register_function(demo.CHURN_FN, demo.churn_score, [demo.CALLS, demo.DURATION, demo.DROPS,
                                                                     demo.NOISE], [demo.CHURN], ttl=ttl)
        with pytest.raises((UserError, TypeError), match="ttl"):
            lake.training_frame(pl.DataFrame({"customer": ["a"], "event_time": [D(2026, 1, 1)]}), [demo.DROPS],
                                ttl=ttl)


def test_check_command_exit_codes(lake, capsys):
    from workbench.cli import main

    lake.write(drops(1, 3))
    assert main(["lake", "check", lake.url]) == 0
    open(os.path.join(lake.url, "deltas", "000000000099-orphan00.parquet"), "wb").write(b"x")
    assert main(["lake", "check", lake.url]) == 0  # an orphan is garbage, not damage
    flip(glob.glob(os.path.join(head_store(lake), "telecom.feature.customer.dropped_calls", "c", "0", "0"))[0])
    assert main(["lake", "check", lake.url]) == 4
    out = capsys.readouterr().out
    assert "dropped_calls" in out and "--repair" in out
    assert main(["lake", "check", lake.url, "--repair"]) == 1
    assert main(["lake", "check", lake.url]) == 0
    with pytest.raises(UserError, match="not a feature lake"):
        check(os.path.join(lake.url, "nope"))
    try:  # the command prints a user error as one line and exits 2 (or, before that CLI, raises it)
        status = main(["lake", "check", os.path.join(lake.url, "nope")])
    except UserError:
        status = 2
    assert status == 2


def test_a_ttl_across_the_whole_time_range_does_not_overflow(lake):
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(1678, 1, 1)], demo.DROPS: [3]}))
    events = pl.DataFrame({"customer": ["a", "a"], "event_time": [D(2262, 1, 1), D(1678, 1, 2)]})
    for ttl in ("1000000d", dt.timedelta(days=214_000), None):  # 2262 minus 1678 is about 213,300 days
        assert lake.training_frame(events, [demo.DROPS], ttl=ttl)[demo.DROPS].to_list() == [3, 3], ttl
    assert lake.training_frame(events, [demo.DROPS], ttl="1d")[demo.DROPS].to_list() == [None, 3]
    # a ttl just short of the span (213,000 days: more than int64 nanoseconds hold) is exact too
    from workbench.lake._window import WindowData, gather

    data: WindowData = lake._snapshot("day")[1]
    ns = events["event_time"].cast(pl.Datetime("ns")).cast(pl.Int64).to_numpy()
    assert gather(data, demo.DROPS, np.zeros(2, np.int64), ns, 213_000 * 86_400 * 10**9)[1].tolist() == [False, True]
