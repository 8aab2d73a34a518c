"""Turning an incoming polars frame into per-feature update tables, or refusing it with the rows at fault.

Everything here runs before anything is written, so a rejected batch leaves the lake unchanged.
"""

from __future__ import annotations


import numpy as np
import polars as pl

from workbench.errors import UserError
from workbench.lake._errors import LakeTimeRangeError
from workbench.lake._keys import WINDOWS, EventKey
from workbench.lake._registry import Registry
from workbench.lake._window import INT_MISSING

_MAX_ROWS_SHOWN = 10


class LakeValidationError(UserError):
    """A batch was refused; ``problems`` is a list of (description, offending row numbers)."""

    def __init__(self, problems: list[tuple[str, list[int]]], header: str = "batch refused, nothing was written"):
        self.problems = problems
        lines = []
        for text, rows in problems:
            shown = ", ".join(map(str, rows[:_MAX_ROWS_SHOWN])) + (" ..." if len(rows) > _MAX_ROWS_SHOWN else "")
            lines.append(f"  - {text}: rows [{shown}] ({len(rows)} row{'s' if len(rows) != 1 else ''})")
        super().__init__(f"{header}:\n" + "\n".join(lines))

    @property
    def rows(self) -> list[int]:
        """All offending row numbers (0-based positions in the frame passed to write)."""
        return sorted({r for _, rows in self.problems for r in rows})


def _rows(frame: pl.DataFrame, mask_expr) -> list[int]:
    return frame.filter(mask_expr)["__row"].to_list()


def _as_list(name: str, value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        out = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a column name or a sequence of column names, got {value!r}") from None
    if not all(isinstance(v, str) for v in out):
        raise TypeError(f"{name} must contain column names (str), got {value!r}")
    return out


def key_table(uniq: pl.DataFrame, window: str, entities, context, attributes, components: bool = True) -> pl.DataFrame:
    """Digest (and JSON components) for each distinct key tuple; hashing runs once per distinct key.

    Text and integer columns without nulls take a fast path that writes the canonical encoding column by
    column (the same bytes :meth:`EventKey.to_bytes` produces; a test checks they agree); anything else
    goes through EventKey one row at a time.
    """
    fast = all(
        (uniq.schema[c] == pl.String or uniq.schema[c] in _INTEGER) and uniq[c].null_count() == 0
        for c in (*entities, *context, *attributes)
    ) and all(c for c in (*entities, *context, *attributes)) and window in WINDOWS
    if fast:
        digests = _fast_digests(uniq, window, entities, context, attributes)
    else:
        digests = []
        ne, nc = len(entities), len(context)
        for row in uniq.iter_rows():
            key = EventKey(dict(zip(entities, row[:ne])), dict(zip(context, row[ne : ne + nc])),
                           dict(zip(attributes, row[ne + nc :])), window)
            digests.append(key.digest)
    out = uniq.with_columns(pl.Series("__digest", digests, dtype=pl.String))
    if not components:
        return out

    def section(cols):
        return pl.struct([pl.col(c) for c in cols]).struct.json_encode() if cols else pl.lit("{}")

    # Components as JSON text, built column-wise; EventKey.from_components reads it back.
    return out.with_columns(pl.concat_str([
        pl.lit('{"entities": '), section(entities), pl.lit(', "context": '), section(context),
        pl.lit(', "attributes": '), section(attributes), pl.lit(f', "window": "{window}"}}'),
    ]).alias("__components"))


def _fast_digests(uniq: pl.DataFrame, window: str, entities, context, attributes) -> list[str]:
    import hashlib
    import struct

    from workbench.lake._keys import ENCODING_MAGIC, ENCODING_VERSION, _enc_str, _varint

    def encoded_values(col: str) -> list[bytes]:
        s = uniq[col]
        if s.dtype == pl.String:
            out = []
            for v in s.to_list():
                raw = v.encode("utf-8")
                out.append(b"s" + _varint(len(raw)) + raw)
            return out
        if s.dtype == pl.UInt64 and s.max() > 2**63 - 1:
            raise ValueError(f"key column {col!r} holds values outside int64; pass them as text")
        pack = struct.Struct(">q").pack
        return [b"i" + pack(v) for v in s.to_list()]

    parts = [[ENCODING_MAGIC + bytes([ENCODING_VERSION]) + _enc_str(window)] * uniq.height]
    for cols in (entities, context, attributes):
        ordered = sorted(cols, key=lambda c: c.encode("utf-8"))
        parts.append([_varint(len(ordered))] * uniq.height)
        for col in ordered:
            name = _enc_str(col)
            parts.append([name + v for v in encoded_values(col)])
    sha3 = hashlib.sha3_256
    return [sha3(b"".join(row)).hexdigest() for row in zip(*parts)]


# The lake stores times as int64 nanoseconds since 1970 (INT64_MIN is numpy's NaT, so it is excluded).
TIME_MIN_NS, TIME_MAX_NS = -(2**63) + 1, 2**63 - 1
TIME_RANGE_TEXT = "1677-09-21T00:12:43.145224193 .. 2262-04-11T23:47:16.854775807 (int64 nanoseconds since 1970)"
_UNIT_PER_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}


def time_to_ns(frame: pl.DataFrame, column: str, argname: str) -> pl.Expr:
    """Epoch nanoseconds of a Date/Datetime column; null where the time is outside the lake's range
    (callers report those rows: see :func:`out_of_range_rows`), never a wrapped-around value."""
    dtype = frame.schema[column]
    if dtype == pl.Date:
        unit, expr = "us", pl.col(column).cast(pl.Datetime("us"))
    elif isinstance(dtype, pl.Datetime):
        unit, expr = dtype.time_unit, pl.col(column)
        if dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    else:
        raise TypeError(
            f"{argname}={column!r} has dtype {dtype}; expected a polars Datetime or Date column "
            f"(convert with pl.col({column!r}).str.to_datetime())"
        )
    if unit == "ns":
        return expr.dt.epoch("ns")
    # Range-check in the column's own unit, then scale: casting first would fail (or wrap) in polars.
    per = _UNIT_PER_NS[unit]
    raw = expr.dt.epoch(unit)
    ok = raw.is_between(-(TIME_MAX_NS // per), TIME_MAX_NS // per)
    return pl.when(ok).then(raw * per).otherwise(None)


def out_of_range_rows(frame: pl.DataFrame, column: str, ns: str) -> list[int]:
    """Rows (``__row``) whose ``column`` holds a time but whose nanosecond form ``ns`` is null."""
    return _rows(frame, pl.col(column).is_not_null() & pl.col(ns).is_null())


def instant_ns(value, argname: str) -> int | None:
    """A Python/numpy/ISO instant as int64 ns; LakeTimeRangeError outside the stored range, never a wrap."""
    import datetime as _dt

    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        t = np.datetime64(value, "us")
    elif isinstance(value, _dt.date):
        t = np.datetime64(value, "D")
    elif isinstance(value, np.datetime64):
        t = value
    elif isinstance(value, str):
        try:
            t = np.datetime64(value)
        except ValueError:
            raise UserError(f"{argname}={value!r} is not an ISO time such as '2026-01-31T12:00'") from None
    else:
        raise TypeError(f"{argname}={value!r}; expected a datetime, date, numpy datetime64 or ISO text")
    if np.isnat(t):
        raise UserError(f"{argname}={value!r} is not a time (NaT); pass a real instant or None")
    unit = np.datetime_data(t.dtype)[0]
    if unit in ("ns", "ps", "fs", "as"):  # these units cannot hold a time outside the ns range
        return int(t.astype("datetime64[ns]").astype(np.int64))
    us = int(t.astype("datetime64[us]").astype(np.int64))  # exact for every coarser unit
    if not -(TIME_MAX_NS // 1000) <= us <= TIME_MAX_NS // 1000:
        raise LakeTimeRangeError(f"{argname}={value!r} is outside the times the lake stores, {TIME_RANGE_TEXT}; "
                                 f"pass a time inside that range")
    return us * 1000


_NUMERIC = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_INTEGER = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def coerce_values(df: pl.DataFrame, spec, problems: list) -> pl.DataFrame | None:
    """``df`` has __row and ``value`` (non-null); returns it with value cast to the feature's type or None
    after appending problems."""
    dtype, src = spec.dtype, df.schema["value"]
    label = f"feature {spec.name!r} (dtype {dtype})"
    bad_type = f"{label} got values of type {src}"
    if dtype == "float":
        if src in _NUMERIC:
            out = df.with_columns(pl.col("value").cast(pl.Float64))
        elif src == pl.String:
            out = df.with_columns(pl.col("value").cast(pl.Float64, strict=False))
            failed = _rows(out, pl.col("value").is_null())
            if failed:
                problems.append((f"{label}: text that is not a number", failed))
                return None
        else:
            problems.append((bad_type + "; pass numbers", df["__row"].to_list()))
            return None
        nan = _rows(out, pl.col("value").is_nan())
        if nan:
            problems.append((f"{label}: NaN is not a value (leave the cell null to mean 'no value')", nan))
            return None
        return out
    if dtype == "int":
        if src in _INTEGER:
            out = df.with_columns(pl.col("value").cast(pl.Int64, strict=False))
        elif src in (pl.Float32, pl.Float64):
            out = df.with_columns(pl.when(pl.col("value") == pl.col("value").round(0))
                                  .then(pl.col("value")).otherwise(None).cast(pl.Int64, strict=False))
        elif src == pl.String:
            out = df.with_columns(pl.col("value").cast(pl.Int64, strict=False))
        else:
            problems.append((bad_type + "; pass integers", df["__row"].to_list()))
            return None
        failed = _rows(out, pl.col("value").is_null() | (pl.col("value") == INT_MISSING))
        if failed:
            problems.append((f"{label}: values that are not int64 integers (or equal INT64_MIN, reserved)", failed))
            return None
        return out
    if dtype == "bool":
        if src == pl.Boolean:
            return df
        if src == pl.String:
            out = df.with_columns(pl.col("value").str.to_lowercase().replace_strict(
                {"true": True, "false": False}, default=None, return_dtype=pl.Boolean))
            failed = _rows(out, pl.col("value").is_null())
            if not failed:
                return out
            problems.append((f"{label}: text other than true/false", failed))
            return None
        problems.append((bad_type + "; pass booleans", df["__row"].to_list()))
        return None
    # string / categorical
    if src in (pl.String, pl.Categorical) or isinstance(src, pl.Enum):
        out = df.with_columns(pl.col("value").cast(pl.String))
        if dtype == "categorical" and spec.categories is not None:
            failed = _rows(out, ~pl.col("value").is_in(list(spec.categories)))
            if failed:
                problems.append((f"{label}: values outside the declared categories {list(spec.categories)}", failed))
                return None
        return out
    problems.append((bad_type + "; pass text", df["__row"].to_list()))
    return None


def _has_repeats(kid: np.ndarray, t_ns: np.ndarray) -> bool:
    """Whether any (key id, time) pair occurs twice; a counting pass when the grid is small, else a sort."""
    if len(kid) < 2:
        return False
    times, t_inv = np.unique(t_ns, return_inverse=True)
    cells = (int(kid.max()) + 1) * len(times)
    flat = kid.astype(np.int64) * len(times) + t_inv
    if cells <= 50_000_000:
        return bool(np.bincount(flat, minlength=cells).max() > 1)
    return len(np.unique(flat)) < len(flat)


# One window of each type, as polars offsets (calendar-aware: a month is not 30 days).
WINDOW_OFFSET = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo"}
_WINDOW_ADJECTIVE = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}


def _iso(ns: int) -> str:
    text = str(np.datetime64(int(ns), "ns").astype("datetime64[s]"))
    return text[:-3] if text.endswith(":00") else text  # 2026-09-02T00:00, seconds only when they matter


def window_end_problems(g: pl.DataFrame, name: str, window: str, column: str) -> list[tuple[str, list[int]]]:
    """The end-of-window rule for one feature's rows (``__row, __t, __start, __end``): a value aggregated over
    [start, end) becomes known at ``end``, so it must be stamped ``end``. Stamped at ``start``, a frame at
    start + 10 h would already see the whole window's total, computed from events after it: the leak."""
    out = []
    adj = _WINDOW_ADJECTIVE[window]
    at_start = g.filter(pl.col("__t") == pl.col("__start"))
    if at_start.height:
        t, end = at_start["__t"][0], at_start["__end"][0]
        out.append((f"feature {name!r}: time {_iso(t)} is the START of its {window} window ({column!r}), so a "
                    f"frame inside the window would see its whole value, computed from later events (a leak): "
                    f"stamp each {adj} value at its window end, e.g. {_iso(end)}", at_start["__row"].to_list()))
    elsewhere = g.filter((pl.col("__t") != pl.col("__start")) & (pl.col("__t") != pl.col("__end")))
    if elsewhere.height:
        t, end = elsewhere["__t"][0], elsewhere["__end"][0]
        out.append((f"feature {name!r}: time {_iso(t)} is not the end of its {window} window ({column!r} + "
                    f"{WINDOW_OFFSET[window]}): stamp each {adj} value at its window end, e.g. {_iso(end)}",
                    elsewhere["__row"].to_list()))
    return out


def aggregate_problems(g: pl.DataFrame, name: str, registered: str, window: str, time: str):
    """A feature registered as an aggregate over ``registered`` goes to that window, stamped on its boundaries."""
    adj = _WINDOW_ADJECTIVE[registered]
    if window != registered:
        return [(f"feature {name!r} is registered as a {adj} aggregate; write it with window={registered!r}, "
                 f"not {window!r}", g["__row"].to_list())]
    start = pl.col(time).dt.truncate(WINDOW_OFFSET[registered])
    off = g.filter(start != pl.col(time)).with_columns(start.dt.offset_by(WINDOW_OFFSET[registered]).alias("__next"))
    if not off.height:
        return []
    t = off.select(time_to_ns(off, time, "time"))[0, 0]
    end = off.select(time_to_ns(off, "__next", "time"))[0, 0]
    return [(f"feature {name!r} is a {adj} aggregate, but time {_iso(t)} is not a {registered} boundary: stamp "
             f"each {adj} value at its window end, e.g. {_iso(end)}", off["__row"].to_list())]


def prepare_frame(frame, registry: Registry, window: str, entities, time: str, context, attributes,
                  window_start: str | None = None):
    """Validate a write; returns (keys[__kid, __digest, __components], {feature: DataFrame[__kid, __t, value]}).

    With ``window_start`` (a column holding each row's window start), every time must be that start plus one
    window (:func:`window_end_problems`); the column is a declaration, not a feature, and is not stored."""
    if not isinstance(frame, pl.DataFrame):
        if type(frame).__module__.startswith("pandas"):
            frame = pl.from_pandas(frame)
        else:
            raise TypeError(f"frame must be a polars DataFrame, got {type(frame).__name__}")
    if window not in WINDOWS:
        raise ValueError(f"window={window!r}; expected one of {WINDOWS}")
    entities = _as_list("entities", entities)
    context, attributes = _as_list("context", context), _as_list("attributes", attributes)
    if not entities:
        raise ValueError("entities must name at least one entity column, e.g. entities=('customer',)")
    key_cols = (*entities, *context, *attributes)
    declared = (window_start,) if window_start is not None else ()
    missing = [c for c in (*key_cols, time, *declared) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing} (entities/context/attributes/time); it has {frame.columns}")
    problems: list[tuple[str, list[int]]] = []
    df = frame.with_row_index("__row")
    df = df.with_columns(pl.col("__row").cast(pl.Int64))

    # ---- key and time ------------------------------------------------------------------------------
    for col in entities:
        bad = _rows(df, pl.col(col).is_null())
        if bad:
            problems.append((f"malformed key: entity column {col!r} is null", bad))
        dt = df.schema[col]
        if not (dt == pl.String or dt in _INTEGER or dt == pl.Categorical):
            problems.append((f"malformed key: entity column {col!r} has type {dt}; ids must be text or integers",
                             df["__row"].to_list()))
    for col in (*context, *attributes):
        dt = df.schema[col]
        if not (dt == pl.String or dt in _NUMERIC or dt == pl.Boolean or dt == pl.Categorical or dt == pl.Null):
            problems.append((f"malformed key: column {col!r} has type {dt}; expected text, numbers or booleans",
                             df["__row"].to_list()))
    bad_time = _rows(df, pl.col(time).is_null())
    if bad_time:
        problems.append((f"time column {time!r} is missing (null)", bad_time))
    df = df.with_columns(time_to_ns(df, time, "time").alias("__t"))
    outside = out_of_range_rows(df, time, "__t")
    if outside:
        problems.append((f"time column {time!r} holds times outside {TIME_RANGE_TEXT}", outside))
    cat_cols = [c for c in key_cols if df.schema[c] == pl.Categorical]
    if cat_cols:
        df = df.with_columns([pl.col(c).cast(pl.String) for c in cat_cols])
    if window_start is not None:
        bad_start = _rows(df, pl.col(window_start).is_null())
        if bad_start:
            problems.append((f"window_start column {window_start!r} is missing (null)", bad_start))
        df = df.with_columns(pl.col(window_start).dt.offset_by(WINDOW_OFFSET[window]).alias("__end_time"))
        df = df.with_columns(time_to_ns(df, window_start, "window_start").alias("__start"),
                             time_to_ns(df, "__end_time", "window_start").alias("__end")).drop("__end_time")
    if problems:  # a malformed key cannot be hashed; report now
        raise LakeValidationError(problems)

    # ---- keys: hash each distinct key once, then carry a small integer id instead of the text ------
    uniq = df.select(key_cols).unique(maintain_order=True)
    keys = key_table(uniq, window, entities, context, attributes).with_row_index("__kid")
    df = df.join(keys.select(*key_cols, pl.col("__kid").cast(pl.Int64)), on=list(key_cols), how="left",
                 nulls_equal=True, maintain_order="left")
    keys = keys.select(pl.col("__kid").cast(pl.Int64), "__digest", "__components")

    # ---- layout: long (feature, value) or wide (one column per feature) ----------------------------
    rest = [c for c in frame.columns if c not in (*key_cols, time, *declared)]
    long = "feature" in rest and "value" in rest
    features = registry.features
    if long:
        extra = [c for c in rest if c not in ("feature", "value")]
        if extra:
            problems.append((f"long layout (feature, value) with unexpected extra columns {extra}; drop them",
                             df["__row"].to_list()))
        unknown = _rows(df, ~pl.col("feature").is_in(list(features)) | pl.col("feature").is_null())
        if unknown:
            names = sorted(set(df.filter(pl.col("__row").is_in(unknown))["feature"].fill_null("<null>").to_list()))
            problems.append((f"unknown feature {names}; register it with lake.register_feature(name, dtype)", unknown))
        groups = {f: df.filter(pl.col("feature") == f) for f in df["feature"].drop_nulls().unique().sort().to_list()
                  if f in features}
    else:
        unknown_cols = [c for c in rest if c not in features]
        if unknown_cols:
            problems.append((f"unknown feature columns {unknown_cols}; register them with lake.register_feature "
                             f"(column names must be full feature names, e.g. /telecom/feature/customer/drops)",
                             df["__row"].to_list()))
        if not rest:
            raise ValueError("frame has no feature columns: pass one column per feature (wide) or 'feature' and "
                             "'value' columns (long)")
        groups = {c: df.rename({c: "value"}) for c in rest if c in features}

    per_feature = {}
    for name, g in groups.items():
        spec = features[name]
        if spec.entity not in entities:
            problems.append((f"malformed key: feature {name!r} describes entity {spec.entity!r} but the key "
                             f"entities are {list(entities)}", g["__row"].to_list()))
            continue
        g = g.filter(pl.col("value").is_not_null())
        if spec.window is not None:
            ends = aggregate_problems(g, name, spec.window, window, time)
            if ends:
                problems.extend(ends)
                continue
        if window_start is not None:
            ends = window_end_problems(g, name, window, window_start)
            if ends:
                problems.extend(ends)
                continue
        g = g.select("__row", "__kid", "__t", "value")
        g = coerce_values(g, spec, problems)
        if g is not None:
            per_feature[name] = g
    if problems:
        raise LakeValidationError(problems)

    # ---- duplicates (same key + time, different values) -------------------------------------------
    out = {}
    for name, g in per_feature.items():
        # Most batches have no repeated (key, time) at all: check that cheaply before grouping.
        if _has_repeats(g["__kid"].to_numpy(), g["__t"].to_numpy()):
            repeated = g.filter(pl.struct("__kid", "__t").is_duplicated())
            conflict = (repeated.group_by("__kid", "__t").agg(pl.col("value").n_unique().alias("n"), pl.col("__row"))
                        .filter(pl.col("n") > 1))
            if conflict.height:
                rows = sorted(r for rs in conflict["__row"].to_list() for r in rs)
                problems.append((f"duplicate rows with conflicting values for feature {name!r} (same key and time)",
                                 rows))
                continue
            g = g.unique(subset=["__kid", "__t"], keep="first", maintain_order=True)
        out[name] = g.select("__kid", "__t", "value")
    if problems:
        raise LakeValidationError(problems)
    return keys, out
