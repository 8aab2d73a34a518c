"""Scale-out: function routing and backfills as dask tasks on a LocalCluster of 2 worker processes."""

import os

import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake
from workbench.lake import demo

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # Real worker processes with one thread each: functions must survive pickling and run elsewhere.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit="1GiB") as cluster, distributed.Client(cluster) as client:
        yield client


def test_run_pending_routes_functions_to_workers(tmp_path, client):
    lake = FeatureLake.open(tmp_path / "lake", client=client)
    demo.register_telecom(lake)
    days = demo.telecom_days(6, 5, seed=4, missing=0.0)
    lake.write(days)
    report = lake.run_pending()
    assert {c["routed"] for c in report.calls} == {"dask"}
    assert [c["function"] for c in report.calls] == [demo.CHURN_FN, demo.PRIORITY_FN]
    # the same results as the in-process router
    local = FeatureLake.open(tmp_path / "local")
    demo.register_telecom(local)
    local.write(days)
    local.run_pending()
    key = EventKey({"customer": days["customer"][0]})
    assert lake.history(key, [demo.CHURN, demo.PRIORITY]).equals(local.history(key, [demo.CHURN, demo.PRIORITY]))


def test_backfill_runs_partitions_on_both_workers(tmp_path, client):
    lake = FeatureLake.open(tmp_path / "lake", client=client)
    demo.register_telecom(lake)
    lake.write(demo.telecom_days(8, 6, seed=6, missing=0.0))

    # Local on purpose: pytest imports this file under a module name the workers cannot import, and a
    # local function is shipped by value (cloudpickle) instead of by name.
    def worker_pid_churn(inputs: pl.DataFrame) -> pl.DataFrame:
        """churn_score, plus which process computed it (to prove the work left the test process)."""
        return demo.churn_score(inputs).with_columns(pl.lit(os.getpid()).alias("pid"))

    lake.register_function(demo.CHURN_FN, worker_pid_churn, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE],
                           [demo.CHURN])
    pids = set()
    original = lake._route

    def spy(calls):
        results = original(calls)
        pids.update(int(p) for r in results for p in r["pid"].unique())
        return results

    lake._route = spy
    report = lake.backfill(demo.CHURN_FN, partitions=4)
    assert len(report.calls) == 4 and {c["routed"] for c in report.calls} == {"dask"}
    assert os.getpid() not in pids and len(pids) == 2
    assert int(lake.dataset()[demo.CHURN].count().compute()) == 48
