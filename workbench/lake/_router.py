"""The function router: call a registered function in-process, over HTTP, or as a dask task.

Kept in its own module with plain top-level functions so dask workers can unpickle them by reference.
"""

from __future__ import annotations

import io

import polars as pl

from workbench.lake._registry import HttpInvocation, import_callable


def invoke(target, frame: pl.DataFrame) -> pl.DataFrame:
    """Run one function on its input frame. ``target`` is a callable, a ``module:qualname`` reference,
    or an :class:`HttpInvocation`."""
    if isinstance(target, HttpInvocation):
        return _invoke_http(target, frame)
    fn = import_callable(target) if isinstance(target, str) else target
    return fn(frame)


def _invoke_http(http: HttpInvocation, frame: pl.DataFrame) -> pl.DataFrame:
    import httpx

    # Times travel as ISO text in JSON; the caller's schema restores them.
    body = frame.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%.f")).write_json()
    response = httpx.request(http.method, http.url, content=body, timeout=http.timeout_s,
                             headers={"content-type": "application/json", **dict(http.headers)})
    response.raise_for_status()
    out = pl.read_json(io.BytesIO(response.content))
    if "time" in out.columns and out.schema["time"] == pl.String:
        out = out.with_columns(pl.col("time").str.to_datetime(time_unit="ns"))
    return out
