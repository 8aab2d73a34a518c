"""Queries: keys, one value, a key's history, the lazy xarray view and point-in-time training frames."""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np
import polars as pl

from workbench.errors import UserError
from workbench.lake._commands import expand
from workbench.lake._keys import WINDOWS, EventKey
from workbench.lake._pit import gather  # point-in-time look-up; walks back per row, no index needed cold
from workbench.lake._validate import (TIME_RANGE_TEXT, LakeValidationError, instant_ns, key_table, out_of_range_rows,
                                      time_to_ns)
from workbench.lake._window import components_frame, empty, to_series, valid_mask
from workbench.lake.media import check_how, is_media, resolve, resolve_series, storage_dtype

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d|w)\s*$")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
            "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def duration_ns(value, argname: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        ns = int(round(value.total_seconds() * 1e9))
    elif isinstance(value, np.timedelta64):
        ns = int(value.astype("timedelta64[ns]").astype(np.int64))
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        ns = int(float(m[1]) * _UNIT_NS[m[2]])
    else:
        raise TypeError(f"{argname}={value!r}; expected a datetime.timedelta or text like '7d', '12h', '30m'")
    ns = min(ns, 2**64 - 1)  # longer than the whole storable span (2**64 ns) means no limit
    if ns < 0:
        raise UserError(f"{argname}={value!r} is negative; a time-to-live is how far back a value may be, "
                        f"pass a positive duration such as '7d' (or None for no limit)")
    return ns


def effective_ttl(ttl_ns: int | None, times: np.ndarray, event_ns: np.ndarray) -> int | None:
    """None (no limit) for a ttl that reaches back past every stored time from every event: the same
    answer, and ``event - ttl`` is then never formed, so it cannot overflow int64."""
    if ttl_ns is None or len(times) == 0 or len(event_ns) == 0:
        return ttl_ns
    span = int(np.max(event_ns)) - int(times[0])  # Python ints: exact across the whole range
    return None if ttl_ns >= span else ttl_ns


def digest_of(lake, key, window: str) -> str:
    """The digest of ``key`` (an EventKey of ``window`` or a 64-hex digest)."""
    if isinstance(key, EventKey):
        if key.window != window:
            raise ValueError(f"key has window={key.window!r} but window={window!r} was asked for")
        return key.digest
    if isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key):
        return key
    raise TypeError(f"key must be an EventKey or a 64-character hex digest, got {key!r}")


def check_window(lake, window: str) -> None:
    """Refuse a window name that is not one of the lake's windows."""
    if window not in WINDOWS:
        raise ValueError(f"window={window!r}; expected one of {WINDOWS}")


def key(lake, digest: str, window: str | None = None) -> EventKey:
    """:meth:`FeatureLake.key` (documented there), for ``lake``."""
    for w in [window] if window else list(lake._head()["windows"]):
        data = lake._snapshot(w)[1]
        i = data.key_position(digest)
        if i >= 0:
            return EventKey.from_components(data.components[i])
    raise KeyError(f"no key with digest {digest!r} in the lake")


def keys(lake, window: str = "day") -> pl.DataFrame:
    """:meth:`FeatureLake.keys` (documented there), for ``lake``."""
    check_window(lake, window)
    data = lake._snapshot(window)[1]
    comps = components_frame(data.components)
    return pl.DataFrame({"key": data.keys.astype(str)}).hstack(comps) if len(data.keys) else pl.DataFrame(
        schema={"key": pl.String})


def get(lake, key, feature: str, window: str = "day", at=None, media: str = "bytes"):
    """:meth:`FeatureLake.get` (documented there), for ``lake``."""
    check_window(lake, window)
    check_how(media)
    digest = digest_of(lake, key, window)
    at_ns = None if at is None else instant_ns(at, "at")
    head, data = lake._snapshot(window)
    if feature not in data.dtypes:
        lake.registry.feature(feature)  # raises for an unknown name
        return None
    k = data.key_position(digest)
    if k < 0 or data.shape[1] == 0:
        return None
    t = data.shape[1] - 1 if at_ns is None else int(np.searchsorted(data.times, at_ns, "right")) - 1
    if t < 0:
        return None
    j = data.ffill_index(feature)[k, t]
    if j < 0:
        return None
    raw = data.raw(feature)[k, j]
    dtype = data.dtypes[feature]
    if dtype == "float":
        return float(raw)
    if dtype == "int":
        return int(raw)
    if dtype == "bool":
        return bool(raw)
    text = data.categories[feature][int(raw)]
    if is_media(lake._registry_of(head).feature(feature).dtype):
        return resolve(lake._log, text, media, f" (feature {feature!r})")
    return text


def history(lake, key, features, window: str = "day", start=None, end=None, count: int | None = None,
            media: str = "bytes"):
    """:meth:`FeatureLake.history` (documented there), for ``lake``."""
    check_window(lake, window)
    check_how(media)
    features = expand(lake._head(), features)  # a family name reads its members
    lo, hi = instant_ns(start, "start"), instant_ns(end, "end")
    reg = lake.registry
    for f in features:
        reg.feature(f)
    digest = digest_of(lake, key, window)
    data = lake._snapshot(window)[1]
    k = data.key_position(digest)
    tsel = np.ones(data.shape[1], dtype=bool)
    if lo is not None:
        tsel &= data.times >= lo
    if hi is not None:
        tsel &= data.times <= hi
    cols, any_valid = {}, np.zeros(data.shape[1], dtype=bool)
    for f in features:
        dtype = storage_dtype(reg.feature(f).dtype)
        if k >= 0 and f in data.dtypes:
            row = data.raw(f)[k]
            ok = valid_mask(dtype, row)
        else:
            row, ok = empty(dtype, data.shape[1]), np.zeros(data.shape[1], bool)
        cols[f] = (dtype, row, ok)
        any_valid |= ok
    sel = np.flatnonzero(any_valid & tsel)
    if count is not None:
        if count < 0:
            raise ValueError(f"count={count}; expected a non-negative number of rows")
        sel = sel[len(sel) - count:] if count else sel[:0]
    series = [pl.Series("time", data.times[sel]).cast(pl.Datetime("ns"))]
    for f, (dtype, row, ok) in cols.items():
        s = to_series(f, dtype, row[sel], ok[sel], data.categories.get(f))
        series.append(resolve_series(lake._log, s, media, f" (feature {f!r})") if is_media(reg.feature(f).dtype) else s)
    return pl.DataFrame(series)


def dataset(lake, window: str = "day"):
    """:meth:`FeatureLake.dataset` (documented there), for ``lake``."""
    import xarray as xr

    check_window(lake, window)
    rel = lake._snapshot(window)[0]["windows"].get(window)  # pinned for this object's life
    if rel is None:
        raise KeyError(f"window {window!r} holds no data yet; write some with lake.write(..., window={window!r})")
    ds = xr.open_zarr(lake._log.url_of(rel), consolidated=False, chunks={})
    return ds.rename({v: ds[v].attrs["feature"] for v in ds.data_vars if "feature" in ds[v].attrs})


def training_frame(lake, entity_df: pl.DataFrame, features, window: str = "day", ttl=None,
                   time: str = "event_time", entities=None, context=(), attributes=(),
                   media: str = "bytes") -> pl.DataFrame:
    """:meth:`FeatureLake.training_frame` (documented there), for ``lake``."""
    check_window(lake, window)
    check_how(media)
    if not isinstance(entity_df, pl.DataFrame):
        raise TypeError(f"entity_df must be a polars DataFrame, got {type(entity_df).__name__}")
    features = expand(lake._head(), features)  # a family name reads its members
    reg = lake.registry
    specs = [reg.feature(f) for f in features]
    if entities is None:
        entities = tuple(dict.fromkeys(s.entity for s in specs))
    entities = (entities,) if isinstance(entities, str) else tuple(entities)
    context = (context,) if isinstance(context, str) else tuple(context)
    attributes = (attributes,) if isinstance(attributes, str) else tuple(attributes)
    key_cols = [*entities, *context, *attributes]
    missing = [c for c in (*key_cols, time) if c not in entity_df.columns]
    if missing:
        raise ValueError(f"entity_df lacks columns {missing}; it has {entity_df.columns} (pass time=, "
                         f"entities= to name them)")
    ttl_ns = duration_ns(ttl, "ttl")
    data = lake._snapshot(window)[1]
    event = entity_df.select(time_to_ns(entity_df, time, "time")).to_series()
    outside = entity_df.with_row_index("__row").with_columns(event.alias("__t"))
    outside = out_of_range_rows(outside.with_columns(pl.col("__row").cast(pl.Int64)), time, "__t")
    if outside:
        raise LakeValidationError([(f"entity_df[{time!r}] holds times outside {TIME_RANGE_TEXT}", outside)],
                                  header="training_frame refused")
    if event.null_count():
        raise ValueError(f"entity_df[{time!r}] has {event.null_count()} null(s); every row needs an event time")
    event_ns = event.to_numpy()
    uniq = entity_df.select(key_cols).unique()
    if uniq.select(pl.any_horizontal(pl.col(entities).is_null())).to_series().any():
        raise ValueError(f"entity_df has null entity ids in {list(entities)}; drop or fill those rows")
    keys = key_table(uniq, window, entities, context, attributes, components=False).join(
        data.key_index(), on="__digest", how="left")
    kidx = (entity_df.select(key_cols).join(keys.select(*key_cols, "__kidx"), on=key_cols, how="left",
                                            nulls_equal=True, maintain_order="left")["__kidx"]
            .fill_null(-1).to_numpy())
    out = []
    for spec in specs:
        dtype = storage_dtype(spec.dtype)
        if spec.name not in data.dtypes:
            s = to_series(spec.name, dtype, empty(dtype, len(kidx)), np.zeros(len(kidx), bool))
        else:
            vals, ok = gather(data, spec.name, kidx, event_ns, effective_ttl(ttl_ns, data.times, event_ns))
            s = to_series(spec.name, dtype, vals, ok, data.categories.get(spec.name))
        if is_media(spec.dtype):
            s = resolve_series(lake._log, s, media, f" (feature {spec.name!r})")
        out.append(s)
    return entity_df.with_columns(out)
