"""Remote functions with the design's feature_request_mapping / feature_response_mapping, against a real
HTTP model on 127.0.0.1 that knows only its own field names."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from workbench.errors import UserError
from workbench.lake import EventKey, FeatureLake, HttpInvocation
from workbench.lake import demo

INPUTS = [demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE]
REQUEST = {demo.CALLS: "n_calls", demo.DURATION: "mean_duration_s", demo.DROPS: "dropped", demo.NOISE: "noise_db"}
RESPONSE = {demo.CHURN: "score"}
FIELDS = {"key", "time", "customer", *REQUEST.values()}


class _Model(BaseHTTPRequestHandler):
    """A churn model with its own schema: it refuses any request field it does not know."""

    seen: list = []
    reply_field = "score"

    def do_POST(self):  # noqa: N802 - http.server's naming
        frame = pl.read_json(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append(frame.columns)
        if set(frame.columns) != FIELDS:
            status, body = 422, json.dumps({"detail": f"unexpected fields {sorted(set(frame.columns) ^ FIELDS)}"}).encode()
        else:
            as_features = frame.rename({v: k for k, v in REQUEST.items()})
            scored = demo.churn_score(as_features).rename({demo.CHURN: type(self).reply_field})
            status, body = 200, scored.write_json().encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def model():
    _Model.seen, _Model.reply_field = [], "score"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/score"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    return lake


def register(lake, url, request=REQUEST, response=RESPONSE):
    return lake.register_function(demo.CHURN_FN, None, INPUTS, [demo.CHURN], http={
        "url": url, "timeout_s": 10, "feature_request_mapping": request, "feature_response_mapping": response})


def test_features_travel_under_the_models_field_names_and_come_back_as_features(lake, model):
    register(lake, model)
    days = demo.telecom_days(3, 2, seed=5, missing=0.0)
    lake.write(days)
    lake.run_pending()
    assert _Model.seen and all(set(cols) == FIELDS for cols in _Model.seen)  # no feature name went out
    local = FeatureLake.open(lake.url + "_local")
    demo.register_telecom(local)
    local.write(days)
    local.run_pending()
    key = EventKey({"customer": days["customer"][0]})
    assert lake.history(key, [demo.CHURN]).equals(local.history(key, [demo.CHURN]))
    assert lake.history(key, [demo.CHURN]).height == 2


def test_the_mappings_are_stored_in_the_registry_and_survive_reopening(lake, model):
    register(lake, model)
    spec = FeatureLake.open(lake.url).registry.function(demo.CHURN_FN)
    assert dict(spec.http.feature_request_mapping) == REQUEST and dict(spec.http.feature_response_mapping) == RESPONSE
    version = lake.version
    register(lake, model)  # the same definition again publishes nothing
    assert lake.version == version
    plain = HttpInvocation("http://127.0.0.1:1/x")
    assert set(plain.to_json()) == {"url", "method", "timeout_s", "headers"}  # old registries stay byte-identical


def test_without_the_request_mapping_the_model_refuses_the_feature_names(lake, model):
    import httpx

    register(lake, model, request={})
    lake.write(demo.telecom_days(2, 1, seed=5, missing=0.0))
    with pytest.raises(httpx.HTTPStatusError, match="422"):
        lake.run_pending()


@pytest.mark.parametrize("request_map, response_map, message", [
    ({"/telecom/feature/customer/calz": "n"}, RESPONSE, r"feature_request_mapping names \['/telecom/feature/customer/calz'\], which are not among its inputs"),
    (REQUEST, {demo.CALLS: "score"}, r"feature_response_mapping names \['/telecom/feature/customer/calls'\], which are not among its outputs"),
    ({demo.CALLS: "n", demo.DROPS: "n"}, RESPONSE, r"several features to field\(s\) \['n'\]"),
    ({demo.CALLS: "time"}, RESPONSE, r"reserved field\(s\) \['time'\]"),
    ({demo.CALLS: demo.DROPS}, RESPONSE, "the name of another input that travels unrenamed"),
    ({demo.CALLS: ""}, RESPONSE, "both sides must be non-empty text"),
])
def test_unknown_or_clashing_names_are_refused_at_registration(lake, request_map, response_map, message):
    version = lake.version
    with pytest.raises(UserError, match=message):
        register(lake, "http://127.0.0.1:9/unused", request_map, response_map)
    assert lake.version == version and demo.CHURN_FN in lake.registry.functions  # the old definition stands


def test_a_response_without_the_mapped_field_is_a_clear_error(lake, model):
    register(lake, model)
    _Model.reply_field = "churn"
    lake.write(demo.telecom_days(2, 1, seed=5, missing=0.0))
    with pytest.raises(UserError, match=r"returned no field 'score' \(for /telecom/feature/customer/churn_score\)"):
        lake.run_pending()
    assert lake.deltas(pending_only=True).height > 0  # nothing was marked done


def test_a_field_named_like_a_key_column_is_refused_before_the_request(lake, model):
    register(lake, model, request={**REQUEST, demo.CALLS: "customer"})
    lake.write(demo.telecom_days(2, 1, seed=5, missing=0.0))
    with pytest.raises(UserError, match=r"renames features to \['customer'\], which the request already carries"):
        lake.run_pending()
    assert _Model.seen == []
