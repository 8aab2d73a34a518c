"""Pipelines run incrementally from the delta log (only the windows an append touched are recomputed, read
back through the feature resolver), filtered and imported aggregations, and runs on dask.distributed."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from workbench.clinical.features import average_real_variability
from workbench.lake import EventKey, FeatureLake
from workbench.lake.pipeline import Pipeline, Process, ProcessError

T0 = dt.datetime(2026, 1, 5)
INGEST = Process("readings", "ingest", params={
    "entities": ["patient"], "columns": {"systolic": {"dtype": "float", "unit": "mmHg"}, "kind": "string"}})
SBP_MAX = "/health/feature/patient/sbp_max"
HOURS = "/health/feature/patient/hours"


def events(n=300, seed=0, days=6):
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "patient": rng.choice(["p1", "p2", "p3"], n).tolist(),
        "time": [T0 + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * days, n)],
        "systolic": rng.normal(125, 12, n).round(1),
        "kind": rng.choice(["rest", "exercise"], n).tolist(),
    })


def pipeline():
    return Pipeline([
        INGEST,
        Process("hourly", "reduce", ("readings",), {"every": "hour", "aggregations": {"sbp": "max(systolic)"}}),
        Process("high", "compute", ("hourly",), {"columns": {"sbp_kpa": {"expr": "sbp * 0.133322", "unit": "kPa"}}}),
        Process("daily", "reduce", ("high",), {"every": "day", "aggregations": {"sbp_max": "max(sbp)",
                                                                                "hours": "count(sbp)"}}),
    ], domain="health", name="vitals")


def stored_daily(lake, patients=("p1", "p2", "p3")):
    rows = []
    for p in patients:
        h = lake.history(EventKey({"patient": p}, window="day"), [SBP_MAX, HOURS], window="day")
        rows.append(h.with_columns(patient=pl.lit(p)))
    return pl.concat(rows).select("patient", "time", pl.col(SBP_MAX).alias("sbp_max"), pl.col(HOURS).alias("hours"))


def a_fresh_hour(frame, patient="p1"):
    """An hour of ``patient`` with no reading yet (hour roll-ups of raw events are per batch)."""
    taken = set(frame.filter(pl.col("patient") == patient)["time"].dt.truncate("1h").to_list())
    return next(T0 + dt.timedelta(days=2, hours=h) for h in range(24) if T0 + dt.timedelta(days=2, hours=h) not in taken)


def test_a_second_run_after_a_small_append_recomputes_only_the_touched_window(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    bound = lake.pipeline(pipeline())
    first_batch = events()
    first = bound.run(readings=first_batch)
    assert first.targets["daily"] == first.computed["daily"] == 3 * 6  # every patient-day
    hour = a_fresh_hour(first_batch)
    append = pl.DataFrame({"patient": ["p1"], "time": [hour + dt.timedelta(minutes=20)], "systolic": [199.0],
                           "kind": ["rest"]})
    second = bound.run(readings=append)
    assert second.computed["hourly"] == 1
    assert second.targets["daily"] == second.computed["daily"] == 1  # one patient-day, not eighteen
    assert second.writes["daily"].values_changed == 2  # that day's maximum and its hour count
    # the day was recomputed from all of its hours, the earlier run's read back from the lake
    everything = pipeline().evaluate({"readings": pl.concat([first_batch, append])})["daily"]
    got = stored_daily(lake).sort("patient", "time")
    want = everything.select("patient", "time", "sbp_max", pl.col("hours").cast(pl.Int64)).sort("patient", "time")
    assert got.equals(want)
    day_end = dt.datetime.combine(hour.date(), dt.time()) + dt.timedelta(days=1)
    assert got.filter(patient="p1", time=day_end)["sbp_max"].to_list() == [199.0]
    # the same append again changes nothing and recomputes nothing
    third = bound.run(readings=append)
    assert third.targets["daily"] == 0 and third.writes["daily"].commit is None


def test_the_count_of_a_roll_up_is_a_pure_number():
    checked = pipeline().validate()
    assert checked["daily"].units["hours"] == "1" and checked["daily"].units["sbp_max"] == "mmHg"


def test_a_filtered_aggregation_and_an_imported_one_match_polars():
    ref = "workbench.clinical.features:average_real_variability"
    pipe = Pipeline([INGEST, Process("d", "reduce", ("readings",), {"every": "day", "aggregations": {
        "rest_arv": {"how": ref, "column": "systolic", "where": "kind = 'rest'"},
        "rest_mean": {"how": "mean", "column": "systolic", "where": "kind = 'rest'"}}})])
    out = pipe.evaluate({"readings": events()})["d"].sort("patient", "time")
    rest = pl.col("kind") == "rest"
    want = (events().sort("time").with_columns((pl.col("time").dt.truncate("1d") + dt.timedelta(days=1))
                                               .cast(pl.Datetime("ns")).alias("day"))
            .group_by("patient", "day").agg(
                average_real_variability(pl.col("systolic").filter(rest), pl.col("time").filter(rest)).alias("rest_arv"),
                pl.col("systolic").filter(rest).mean().alias("rest_mean"))
            .sort("patient", "day"))
    assert np.allclose(out["rest_arv"].to_numpy(), want["rest_arv"].to_numpy(), equal_nan=True)
    assert np.allclose(out["rest_mean"].to_numpy(), want["rest_mean"].to_numpy())
    assert pipe.validate()["d"].units["rest_arv"] == "mmHg"
    with pytest.raises(ProcessError, match=r"aggregation 'workbench.nowhere:arv' cannot be imported"):
        Pipeline([INGEST, Process("d", "reduce", ("readings",), {"every": "day", "aggregations": {
            "x": {"how": "workbench.nowhere:arv", "column": "systolic"}}})]).validate()


def test_pipelines_run_on_a_dask_cluster_with_the_same_result(tmp_path):
    distributed = pytest.importorskip("distributed")
    t = T0
    steps = [*pipeline().processes.values()]
    steps.append(Process("target", "enrich", ("daily",), {"entity": "patient", "attributes": ["target"]}))
    steps.append(Process("over", "compute", ("target",), {"columns": {"over": {"expr": "sbp_max - target",
                                                                                "unit": "mmHg"}}}))
    pipe = Pipeline(steps, domain="health", name="vitals")

    def fill(lake):
        kr = lake.knowledge
        kr.define_attribute("target", "float", "mmHg")
        for p in ("p1", "p2", "p3"):
            kr.create(p, "patient", {"target": 130.0}, at=t)
        kr.update("p1", {"target": 120.0}, at=t + dt.timedelta(days=3))

    local = FeatureLake.open(tmp_path / "local")
    fill(local)
    want = local.pipeline(pipe).run(readings=events()).frames["over"].sort("patient", "time")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit="1GiB") as cluster, distributed.Client(cluster) as client:
        lake = FeatureLake.open(tmp_path / "lake", client=client)
        lake.task_timeout_s = 120  # a bound on each process's tasks: a stuck worker fails the run, not the suite
        fill(lake)
        run = lake.pipeline(pipe).run(readings=events())
    assert {run.routed[n] for n in ("hourly", "high", "daily", "target", "over")} == {"dask"}
    assert run.frames["over"].sort("patient", "time").equals(want)


def test_a_stored_roll_up_is_printed_and_validated_like_a_leaf(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    text = str(lake.pipeline(pipeline()))
    assert "=> feature /health/feature/patient/hourly_sbp  (sbp)" in text  # the state the day roll-up reads
    assert "hourly_sbp_kpa" not in text  # a row-wise step under it is not stored
    lake.register_feature("/health/feature/patient/hourly_sbp", "float", "kPa")
    with pytest.raises(ProcessError, match=r"process 'hourly' output 'sbp'.*registered in \[kPa\]"):
        lake.pipeline(pipeline())
