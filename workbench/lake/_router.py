"""The function router: call a registered function in-process, over HTTP, or as a dask task.

Kept in its own module with plain top-level functions so dask workers can unpickle them by reference.
"""

from __future__ import annotations

import io

import polars as pl

from workbench.errors import UserError
from workbench.lake._registry import HttpInvocation, import_callable


def invoke(target, frame: pl.DataFrame) -> pl.DataFrame:
    """Run one function on its input frame. ``target`` is a callable, a ``module:qualname`` reference,
    or an :class:`HttpInvocation`."""
    if isinstance(target, HttpInvocation):
        return _invoke_http(target, frame)
    fn = import_callable(target) if isinstance(target, str) else target
    return fn(frame)


def request_frame(http: HttpInvocation, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as the model expects it: input features renamed by ``feature_request_mapping``."""
    rename = {f: field for f, field in http.feature_request_mapping if f in frame.columns}
    clash = sorted(set(rename.values()) & (set(frame.columns) - set(rename)))
    if clash:  # e.g. a field named like a key column ('customer'): the request would carry it twice
        raise UserError(f"feature_request_mapping renames features to {clash}, which the request already carries "
                        f"(key columns: {[c for c in frame.columns if not c.startswith('/')]}); pick other field names")
    return frame.rename(rename)


def response_frame(http: HttpInvocation, out: pl.DataFrame) -> pl.DataFrame:
    """The model's response with the fields of ``feature_response_mapping`` renamed back to feature names."""
    missing = [f"{field!r} (for {feat})" for feat, field in http.feature_response_mapping if field not in out.columns]
    if missing:
        raise UserError(f"the HTTP function at {http.url} returned no field {', '.join(missing)}; it returned "
                        f"{out.columns}. Fix feature_response_mapping or the service")
    return out.rename({field: feat for feat, field in http.feature_response_mapping})


def _invoke_http(http: HttpInvocation, frame: pl.DataFrame) -> pl.DataFrame:
    import httpx

    # Times travel as ISO text in JSON; the caller's schema restores them.
    body = request_frame(http, frame).with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%.f")).write_json()
    response = httpx.request(http.method, http.url, content=body, timeout=http.timeout_s,
                             headers={"content-type": "application/json", **dict(http.headers)})
    response.raise_for_status()
    out = response_frame(http, pl.read_json(io.BytesIO(response.content)))
    if "time" in out.columns and out.schema["time"] == pl.String:
        out = out.with_columns(pl.col("time").str.to_datetime(time_unit="ns"))
    return out
