"""The eight process types of a lake pipeline: what each needs, what it computes, and the units it passes on.

Each process reads the frames of its inputs and returns one polars frame whose key columns are the
entities plus ``time`` (the window end: when the value became known, as everywhere in the lake). Every
type has ``check(params) -> None`` (parameters only), ``apply(frames, params, ctx) -> DataFrame`` and
``units(in_units, params, ctx) -> {column: unit}``. Validation runs ``apply`` on empty frames of the
declared schema, so a dtype that a later step cannot take is found before any data moves.
"""

from __future__ import annotations


import polars as pl

from workbench.errors import UserError
from workbench.lake.knowledge import POLARS_DTYPES

TYPES = ("ingest", "enrich", "filter", "pivot", "reduce", "quantize", "compute", "function")
AGGREGATIONS = ("sum", "mean", "min", "max", "count", "last")
EVERY = {"hour": "1h", "day": "1d", "week": "1w"}
_NUMERIC = (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8, pl.UInt64, pl.UInt32, pl.UInt16, pl.UInt8)


class ProcessError(UserError):
    """A pipeline or one of its processes is wrong; the message names the process and the fix."""


def expression(value, where: str) -> pl.Expr:
    """A polars expression: given as one, or as SQL text (``"systolic > 100"``) so YAML can declare it."""
    if isinstance(value, pl.Expr):
        return value
    if isinstance(value, str):
        try:
            return pl.sql_expr(value)
        except Exception as exc:  # polars' SQL parser raises several types
            raise ProcessError(f"{where}: cannot parse expression {value!r} ({str(exc).splitlines()[0]})") from None
    raise ProcessError(f"{where}: expected a polars expression or SQL text, got {value!r}")


def parse_aggregation(spec, where: str) -> tuple[str, str, object]:
    """``"mean(systolic)"`` or ``{"how": "mean", "column": "systolic", "where": "NOT after_exercise"}`` ->
    (how, column, where-or-None).

    ``how`` is one of :data:`AGGREGATIONS` or a ``module:function`` reference to an aggregation of the
    window's values and times, ``f(values: Expr, times: Expr) -> Expr`` (e.g. the clinical package's
    time-weighted ARV), re-importable on a dask worker. ``where`` (SQL text or an expression) keeps only
    the window's rows it holds for, for this aggregation alone."""
    cond = None
    if isinstance(spec, str) and spec.endswith(")") and "(" in spec:
        how, column = spec[:-1].split("(", 1)
    elif isinstance(spec, dict) and {"how", "column"} <= set(spec) <= {"how", "column", "where"}:
        how, column, cond = spec["how"], spec["column"], spec.get("where")
    else:
        raise ProcessError(f"{where}: aggregation {spec!r} must read like 'mean(systolic)' or "
                           f"{{how: mean, column: systolic, where: ...}}")
    how, column = str(how).strip(), str(column).strip()
    if how not in AGGREGATIONS:
        if ":" not in how:
            raise ProcessError(f"{where}: aggregation {how!r} is not one of {AGGREGATIONS} (or a module:function)")
        _aggregation_callable(how, where)
    return how, column, cond


def _aggregation_callable(ref: str, where: str):
    from workbench.lake._registry import import_callable

    try:
        fn = import_callable(ref)
    except (ImportError, AttributeError, ValueError):
        raise ProcessError(f"{where}: aggregation {ref!r} cannot be imported; name a module-level function "
                           f"as 'package.module:function'") from None
    if not callable(fn):
        raise ProcessError(f"{where}: aggregation {ref!r} is not callable")
    return fn


def _need(frame: pl.DataFrame, columns, where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ProcessError(f"{where}: input has no column(s) {missing}; it has {frame.columns}")


# ---- ingest ----------------------------------------------------------------------------------------
def ingest(frames, p, ctx):
    (frame,) = frames
    where = ctx["where"]
    _need(frame, [*p["entities"], p.get("time", "time"), *p["columns"]], where)
    out = frame.select(
        *[pl.col(e).cast(pl.String) for e in p["entities"]],
        pl.col(p.get("time", "time")).cast(pl.Datetime("ns")).alias("time"),
        *[pl.col(c).cast(POLARS_DTYPES[d["dtype"]], strict=True) for c, d in p["columns"].items()],
    )
    return out


def ingest_units(_in, p, _ctx):
    return {c: d.get("unit") for c, d in p["columns"].items()}


# ---- enrich ----------------------------------------------------------------------------------------
def enrich(frames, p, ctx):
    (frame,) = frames
    where, kr = ctx["where"], ctx["knowledge"]
    _need(frame, [p["entity"], "time"], where)
    if kr is None:
        raise ProcessError(f"{where}: enrich needs a knowledge repository; run the pipeline on a lake or pass knowledge=")
    # each event sees the value valid at its own time, never a later one (KnowledgeRepository.attach)
    out = kr.attach(frame, p["attributes"], entity=p["entity"], time="time")
    for attr, column in p["attributes"].items():  # the entity column keeps its dtype; values take the attribute's
        out = out.with_columns(pl.col(column).cast(POLARS_DTYPES[kr.attributes[attr].dtype]))
    return out


def enrich_units(in_units, p, ctx):
    kr = ctx["knowledge"]
    attrs = kr.attributes if kr is not None else {}
    unknown = [a for a in p["attributes"] if a not in attrs]
    if unknown:
        raise ProcessError(f"{ctx['where']}: knowledge attribute(s) {unknown} are not defined; "
                           f"defined: {sorted(attrs)}")
    return {**in_units[0], **{col: attrs[a].unit for a, col in p["attributes"].items()}}


# ---- filter ----------------------------------------------------------------------------------------
def filter_(frames, p, ctx):
    (frame,) = frames
    return frame.filter(expression(p["where"], ctx["where"]))


# ---- pivot -----------------------------------------------------------------------------------------
def pivot(frames, p, ctx):
    (frame,) = frames
    where = ctx["where"]
    _need(frame, [p["on"], p["values"]], where)
    expected = [str(c) for c in p["columns"]]
    seen = frame[p["on"]].cast(pl.String).unique().drop_nulls().to_list()
    unexpected = sorted(set(seen) - set(expected))
    if unexpected:  # refusing beats silently dropping the rows
        raise ProcessError(f"{where}: pivot column {p['on']!r} has values {unexpected[:5]} not in columns="
                           f"{expected}; add them to columns or filter them out first")
    how = p.get("how", "last")
    keys = ctx["keys"]
    aggs = [_aggregate(how, pl.col(p["values"]).filter(pl.col(p["on"]).cast(pl.String) == c)).alias(f"{p.get('prefix', '')}{c}")
            for c in expected]
    return frame.sort("time").group_by(keys, maintain_order=True).agg(aggs)


def pivot_units(in_units, p, ctx):
    keep = {k: v for k, v in in_units[0].items() if k in ctx["keys"]}
    unit = "1" if p.get("how", "last") == "count" else in_units[0].get(p["values"])
    return {**keep, **{f"{p.get('prefix', '')}{c}": unit for c in p["columns"]}}


# ---- reduce ----------------------------------------------------------------------------------------
def _aggregate(how: str, col: pl.Expr, times: pl.Expr | None = None) -> pl.Expr:
    if how not in AGGREGATIONS:
        return _aggregation_callable(how, "aggregation")(col, times if times is not None else pl.col("time"))
    return {"sum": col.sum(), "mean": col.mean(), "min": col.min(), "max": col.max(), "count": col.count(),
            "last": col.drop_nulls().last()}[how]


def reduce(frames, p, ctx):
    (frame,) = frames
    where = ctx["where"]
    aggs = {out: parse_aggregation(a, where) for out, a in p["aggregations"].items()}
    _need(frame, [c for _, c, _ in aggs.values()], where)
    for out, (how, column, _) in aggs.items():
        if how in ("sum", "mean") and frame.schema[column] not in _NUMERIC and frame.schema[column] != pl.Boolean:
            raise ProcessError(f"{where}: {how}({column}) needs a number, but {column!r} is {frame.schema[column]}")
    every = EVERY[p["every"]]
    entities = [k for k in ctx["keys"] if k != "time"]
    # a window's value is known when the window closes: label each roll-up with its window's end time
    # an input that is itself a roll-up labelled by its window's end (23:00-24:00 -> 24:00) belongs to the
    # window holding the instant before that label, or every chained hour -> day step would shift a window
    t = pl.col("time").dt.offset_by("-1ns") if ctx.get("input_labelled_by_end") else pl.col("time")
    start = t.dt.truncate(every)
    end = start.dt.offset_by(every) if p.get("label", "end") == "end" else start

    def agg(how, col, cond):
        if cond is None:
            return _aggregate(how, pl.col(col))
        keep = expression(cond, f"{where} aggregation of {col!r}")
        return _aggregate(how, pl.col(col).filter(keep), pl.col("time").filter(keep))

    return (frame.sort("time").with_columns(end.alias("__window"))
            .group_by([*entities, "__window"], maintain_order=True)
            .agg([agg(how, col, cond).alias(out) for out, (how, col, cond) in aggs.items()])
            .rename({"__window": "time"}).select(*entities, "time", *aggs))


def reduce_units(in_units, p, ctx):
    aggs = {out: parse_aggregation(a, ctx["where"]) for out, a in p["aggregations"].items()}
    keep = {k: v for k, v in in_units[0].items() if k in ctx["keys"]}
    # a count is a pure number: UCUM's unity "1"; every other aggregation keeps its column's unit
    return {**keep, **{out: ("1" if how == "count" else in_units[0].get(col)) for out, (how, col, _) in aggs.items()}}


# ---- quantize --------------------------------------------------------------------------------------
def quantize(frames, p, ctx):
    (frame,) = frames
    where = ctx["where"]
    _need(frame, [p["column"]], where)
    if frame.schema[p["column"]] not in _NUMERIC:
        raise ProcessError(f"{where}: quantize needs a numeric column, {p['column']!r} is {frame.schema[p['column']]}")
    x = pl.col(p["column"])
    # bin i holds edges[i-1] < x <= edges[i] (right-closed, as numpy.searchsorted(side='left'))
    code = pl.sum_horizontal([(x > e).cast(pl.Int64) for e in p["edges"]])
    return frame.with_columns(pl.when(x.is_null()).then(None).otherwise(code).alias(p.get("as", f"{p['column']}_bin")))


def quantize_units(in_units, p, _ctx):
    return {**in_units[0], p.get("as", f"{p['column']}_bin"): None}


def fit_edges(values, bins: int) -> list[float]:
    """Interior quantile edges for ``bins`` equal-count bins, to store in a quantize process's ``edges``."""
    s = pl.Series(values).drop_nulls().cast(pl.Float64)
    return sorted({float(s.quantile(i / bins, "linear")) for i in range(1, bins)})


# ---- compute ---------------------------------------------------------------------------------------
def compute(frames, p, ctx):
    (frame,) = frames
    exprs = [expression(d["expr"], f"{ctx['where']} column {name!r}").alias(name) for name, d in p["columns"].items()]
    out = frame.with_columns(exprs)
    for name, d in p["columns"].items():
        if d.get("dtype"):
            want = POLARS_DTYPES[d["dtype"]]
            have = out.schema[name]
            if have != want:
                # numbers widen or narrow between int and float; anything else (text read as a number, a
                # number read as text) is a mismatch to fix in the expression, not to guess at
                numeric = (have in _NUMERIC or have == pl.Boolean) and want in (pl.Float64, pl.Int64)
                if not numeric:
                    raise ProcessError(f"{ctx['where']}: column {name!r} is {have}, declared {d['dtype']}; fix the "
                                       f"expression (e.g. an explicit CAST) or the declared dtype")
                out = out.with_columns(pl.col(name).cast(want, strict=True))
    return out


def compute_units(in_units, p, _ctx):
    return {**in_units[0], **{name: d.get("unit") for name, d in p["columns"].items()}}


# ---- function --------------------------------------------------------------------------------------
def function(frames, p, ctx):
    """Call a registered lake function on the frame through the lake's router: its input features are read from the columns
    named in ``inputs`` (feature -> column), its outputs come back as columns named by the full feature names."""
    from workbench.lake._keys import EventKey

    (frame,) = frames
    where, lake = ctx["where"], ctx["lake"]
    spec = ctx["function_spec"]
    if spec.fn is None and spec.callable_ref is None and spec.http is None:
        raise ProcessError(f"{where}: function {spec.name!r} has no callable bound in this process; register it "
                           f"again with fn=")
    entities = [k for k in ctx["keys"] if k != "time"]
    window = ctx["window"]
    digests = [EventKey(dict(zip(entities, row)), window=window).digest for row in frame.select(entities).iter_rows()]
    inputs = frame.select(pl.Series("key", digests, dtype=pl.String), *entities, "time",
                          *[pl.col(col).alias(feat) for feat, col in p["inputs"].items()])
    # through the lake's function router: in-process, over HTTP, or as a dask task when the lake has a client
    out = lake._route([(spec, window, inputs)])[0] if inputs.height else pl.DataFrame(
        schema={"key": pl.String, "time": pl.Datetime("ns"),
                **{o: POLARS_DTYPES[lake.registry.feature(o).dtype] for o in spec.outputs}})
    if not isinstance(out, pl.DataFrame):
        raise ProcessError(f"{where}: function {spec.name!r} returned {type(out).__name__}, not a polars DataFrame")
    _need(out, ["key", "time", *spec.outputs], f"{where} (the output of {spec.name})")
    out = out.select("key", pl.col("time").cast(pl.Datetime("ns")), *spec.outputs)
    return (frame.with_columns(pl.Series("__key", digests, dtype=pl.String))
            .join(out, left_on=["__key", "time"], right_on=["key", "time"], how="left").drop("__key"))


def function_units(in_units, p, ctx):
    spec, reg = ctx["function_spec"], ctx["lake"].registry
    for feat, col in p["inputs"].items():
        want = reg.feature(feat).unit
        have = in_units[0].get(col)
        if have != want:
            raise ProcessError(f"{ctx['where']}: column {col!r} is in [{have}] but {spec.name} reads {feat} in "
                               f"[{want}]; convert it with a compute process first")
    return {**in_units[0], **{o: reg.feature(o).unit for o in spec.outputs}}


def apply_process(kind: str, params: dict, ctx: dict, frame: pl.DataFrame) -> pl.DataFrame:
    """One process on one frame: a plain top-level function, so a dask worker can run it by reference."""
    return APPLY[kind]([frame], params, ctx)


def same_units(in_units, _p, _ctx):
    return dict(in_units[0])


APPLY = {"ingest": ingest, "enrich": enrich, "filter": filter_, "pivot": pivot, "reduce": reduce,
         "quantize": quantize, "compute": compute, "function": function}
UNITS = {"ingest": ingest_units, "enrich": enrich_units, "filter": same_units, "pivot": pivot_units,
         "reduce": reduce_units, "quantize": quantize_units, "compute": compute_units, "function": function_units}
REQUIRED = {"ingest": ("entities", "columns"), "enrich": ("entity", "attributes"), "filter": ("where",),
            "pivot": ("on", "values", "columns"), "reduce": ("every", "aggregations"),
            "quantize": ("column", "edges"), "compute": ("columns",), "function": ("function", "inputs")}


def check_params(kind: str, p: dict, where: str) -> dict:
    """Normalise and check a process's parameters (no data needed); returns the normalised copy."""
    if kind not in TYPES:
        raise ProcessError(f"{where}: type {kind!r} is not one of {TYPES}")
    missing = [k for k in REQUIRED[kind] if k not in p]
    if missing:
        raise ProcessError(f"{where}: {kind} needs parameter(s) {missing}")
    p = dict(p)
    if kind == "ingest":
        p["entities"] = [p["entities"]] if isinstance(p["entities"], str) else list(p["entities"])
        cols = {}
        for c, d in dict(p["columns"]).items():
            d = {"dtype": d} if isinstance(d, str) else dict(d)
            if d.get("dtype") not in POLARS_DTYPES:
                raise ProcessError(f"{where}: column {c!r} dtype {d.get('dtype')!r}; expected one of {tuple(POLARS_DTYPES)}")
            cols[c] = d
        p["columns"] = cols
    elif kind == "enrich":
        a = p["attributes"]
        p["attributes"] = {x: x for x in ([a] if isinstance(a, str) else a)} if not isinstance(a, dict) else dict(a)
    elif kind == "reduce":
        if p["every"] not in EVERY:
            raise ProcessError(f"{where}: every={p['every']!r}; expected one of {tuple(EVERY)}")
        for a in p["aggregations"].values():
            parse_aggregation(a, where)
        if p.get("label", "end") not in ("end", "start"):
            raise ProcessError(f"{where}: label={p['label']!r}; expected 'end' (known when the window closes) or 'start'")
    elif kind == "quantize":
        edges = [float(e) for e in p["edges"]]
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ProcessError(f"{where}: edges {p['edges']} must be strictly increasing numbers (at least one)")
        p["edges"] = edges
    elif kind == "compute":
        p["columns"] = {n: ({"expr": d} if not isinstance(d, dict) else dict(d)) for n, d in dict(p["columns"]).items()}
        for n, d in p["columns"].items():
            if d.get("dtype") is not None and d["dtype"] not in POLARS_DTYPES:
                raise ProcessError(f"{where}: column {n!r} dtype {d['dtype']!r}; expected one of {tuple(POLARS_DTYPES)}")
    elif kind == "pivot" and p.get("how", "last") not in AGGREGATIONS:
        raise ProcessError(f"{where}: how={p['how']!r}; expected one of {AGGREGATIONS}")
    return p


def polars_to_lake_dtype(dtype) -> str | None:
    if dtype in (pl.Float64, pl.Float32):
        return "float"
    if dtype in _NUMERIC:
        return "int"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.String:
        return "string"
    if isinstance(dtype, pl.Categorical) or dtype == pl.Categorical:
        return "categorical"
    return None


