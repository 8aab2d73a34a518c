import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from workbench.lake import EventKey, FeatureLake, LakeValidationError
from workbench.lake import demo

D = dt.datetime


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    return lake


def expected_churn(calls, duration, drops, noise):
    import math

    z = -2.0 + 6.0 * drops / max(calls, 1) + 0.08 * (noise + 95.0) - 0.004 * duration
    return round(1.0 / (1.0 + math.exp(-z)), 6)


def test_write_delta_resolver_function_cascade(lake):
    days = demo.telecom_days(5, 4, seed=1, missing=0.0)
    lake.write(days)
    assert lake.deltas(pending_only=True).height == days.height * 4
    report = lake.run_pending()
    assert [c["function"] for c in report.calls] == [demo.CHURN_FN, demo.PRIORITY_FN]
    assert report.rounds == 3  # churn, then priority, then a round that finds nothing more to run
    assert lake.deltas(pending_only=True).height == 0
    row = days.row(7, named=True)
    key = EventKey({"customer": row["customer"]})
    churn = lake.get(key, demo.CHURN, at=row["time"])
    assert churn == expected_churn(row[demo.CALLS], row[demo.DURATION], row[demo.DROPS], row[demo.NOISE])
    expected_action = "call" if churn > 0.7 else "offer" if churn > 0.5 else "none"
    assert lake.get(key, demo.PRIORITY, at=row["time"]) == expected_action
    # nothing pending: running again does nothing and adds no commit
    version = lake.version
    assert lake.run_pending().calls == [] and lake.version == version
    # one changed input recomputes exactly that key and day
    lake.write(pl.DataFrame({"customer": [row["customer"]], "time": [row["time"]], demo.DROPS: [row[demo.CALLS]]}))
    again = lake.run_pending()
    assert again.calls[0]["rows_in"] == 1
    assert lake.get(key, demo.CHURN, at=row["time"]) > churn


def test_inputs_are_resolved_as_of_the_window_time(lake):
    # noise arrives on day 1 only; a later drop count must see day 1's noise (latest at or before)
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], demo.NOISE: [-70.0], demo.CALLS: [10],
                             demo.DURATION: [100.0], demo.DROPS: [0]}))
    lake.run_pending()
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 2)], demo.DROPS: [5]}))
    seen = []

    def spy(inputs):
        seen.append(inputs)
        return demo.churn_score(inputs)

    lake.register_function(demo.CHURN_FN, spy, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE], [demo.CHURN])
    lake.run_pending()
    frame = seen[0]
    assert frame.columns[:3] == ["key", "time", "customer"]
    assert frame.row(0, named=True)[demo.NOISE] == -70.0 and frame.row(0, named=True)[demo.DROPS] == 5
    assert lake.get(EventKey({"customer": "a"}), demo.CHURN) == expected_churn(10, 100.0, 5, -70.0)


def test_a_failing_function_leaves_deltas_pending_at_least_once(lake):
    lake.write(demo.telecom_days(3, 2, seed=0))
    pending = lake.deltas(pending_only=True).height

    def broken(inputs):
        raise RuntimeError("model server down")

    lake.register_function(demo.CHURN_FN, broken, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE], [demo.CHURN])
    version = lake.version
    with pytest.raises(RuntimeError, match="model server down"):
        lake.run_pending()
    assert lake.version == version and lake.deltas(pending_only=True).height == pending
    lake.register_function(demo.CHURN_FN, demo.churn_score, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE],
                           [demo.CHURN])
    assert lake.run_pending().calls and lake.deltas(pending_only=True).height == 0


def test_bad_function_output_is_refused(lake):
    lake.write(demo.telecom_days(2, 1, seed=0))

    def wrong_type(inputs):
        return inputs.select("key", "time", pl.lit("high").alias(demo.CHURN))

    lake.register_function(demo.CHURN_FN, wrong_type, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE],
                           [demo.CHURN])
    with pytest.raises(LakeValidationError, match="not a number"):
        lake.run_pending()

    def no_key(inputs):
        return inputs.select("time", pl.lit(0.5).alias(demo.CHURN))

    lake.register_function(demo.CHURN_FN, no_key, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE], [demo.CHURN])
    with pytest.raises(ValueError, match=r"returned no column\(s\) \['key'\]"):
        lake.run_pending()


def test_backfill_and_interval_runner(lake):
    lake.write(demo.telecom_days(4, 3, seed=2, missing=0.0))
    report = lake.backfill(demo.CHURN_FN, partitions=3)
    assert len(report.calls) == 3 and sum(c["rows_in"] for c in report.calls) == 12
    assert lake.dataset()[demo.CHURN].count().compute() == 12
    stop = threading.Event()
    reports = lake.run_pending_every(0.01, stop=stop, max_cycles=2)
    assert len(reports) == 2 and reports[1].calls == []
    with pytest.raises(ValueError, match="interval_s"):
        lake.run_pending_every(0)


class _ChurnOverHttp(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        frame = pl.read_json(self.rfile.read(int(self.headers["content-length"])))
        body = demo.churn_score(frame).write_json().encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_invocation(lake):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChurnOverHttp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/churn"
        lake.register_function(demo.CHURN_FN, None, [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE],
                               [demo.CHURN], http={"url": url, "timeout_s": 10})
        assert json.loads(json.dumps(lake.registry.function(demo.CHURN_FN).to_json()))["http"]["url"] == url
        days = demo.telecom_days(3, 2, seed=5, missing=0.0)
        lake.write(days)
        lake.run_pending()
        row = days.row(0, named=True)
        got = lake.get(EventKey({"customer": row["customer"]}), demo.CHURN, at=row["time"])
        assert got == expected_churn(row[demo.CALLS], row[demo.DURATION], row[demo.DROPS], row[demo.NOISE])
    finally:
        server.shutdown()
        server.server_close()
