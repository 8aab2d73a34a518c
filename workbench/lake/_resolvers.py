"""The delta log's consumers: the function resolver (which functions a change concerns), the feature
resolver (their inputs as of each window time), the router (in-process or dask) and the runs that commit
outputs together with the processed cursor (:func:`run_pending`, :func:`backfill`)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from workbench.lake._pit import gather  # point-in-time look-up; walks back per row, no index needed cold
from workbench.lake._queries import effective_ttl, instant_ns
from workbench.lake._registry import FunctionSpec, Registry
from workbench.lake._router import invoke
from workbench.lake._storage import commit_updates, merge_batches
from workbench.lake._validate import TIME_RANGE_TEXT, LakeValidationError, coerce_values, out_of_range_rows, time_to_ns
from workbench.lake._window import WindowData, components_frame, elapsed_ns, empty, to_series, valid_mask
from workbench.lake.media import is_media, prepare_media, resolve_series, storage_dtype


@dataclass
class RunReport:
    """What :meth:`FeatureLake.run_pending` did: one entry per function call, grouped in rounds.

    A round's outputs are committed together, so ``round_values_changed`` is the number of stored values
    that round's commit changed (shared by the calls of the round)."""

    calls: list[dict] = field(default_factory=list)
    rounds: int = 0
    deltas_processed: int = 0
    commits: list[int] = field(default_factory=list)

    def to_frame(self) -> pl.DataFrame:
        schema = {"round": pl.Int64, "function": pl.String, "window": pl.String, "keys": pl.Int64,
                  "rows_in": pl.Int64, "rows_out": pl.Int64, "round_values_changed": pl.Int64, "routed": pl.String}
        return pl.DataFrame(self.calls, schema=schema)

    def __repr__(self) -> str:
        names = sorted({c["function"] for c in self.calls})
        return (f"RunReport(rounds={self.rounds}, calls={len(self.calls)}, functions={names}, "
                f"deltas_processed={self.deltas_processed}, commits={self.commits})")


def resolve_inputs(lake, spec: FunctionSpec, data: WindowData, targets: pl.DataFrame) -> pl.DataFrame:
    """Feature resolver: for each (key, time) target, every input's latest value at or before time."""
    targets = targets.join(data.key_index(), left_on="key", right_on="__digest", how="left")
    kidx = targets["__kidx"].fill_null(-1).to_numpy()
    t_ns = targets["time"].cast(pl.Int64).to_numpy()
    cols = [targets["key"], targets["time"]]
    comps = components_frame(data.components[kidx])
    for c in comps.columns:
        cols.append(comps[c])
    reg = lake._registry_of(lake._head())
    for feat in spec.inputs:
        dtype = data.dtypes.get(feat)
        if dtype is None:
            dtype = storage_dtype(reg.feature(feat).dtype)
            s = to_series(feat, dtype, empty(dtype, len(kidx)), np.zeros(len(kidx), bool))
        else:
            vals, ok = gather(data, feat, kidx, t_ns, effective_ttl(spec.ttl_ns, data.times, t_ns))
            s = to_series(feat, dtype, vals, ok, data.categories.get(feat))
        if is_media(reg.feature(feat).dtype):
            # a function reads the payload itself, wherever it runs (the frame travels to dask workers)
            s = resolve_series(lake._log, s, "bytes", f" (input {feat!r} of {spec.name})")
        cols.append(s)
    frame = pl.DataFrame(cols)
    if spec.knowledge:
        # attributes as valid at each row's window time (the same point-in-time rule as the features)
        from workbench.lake._registration import knowledge_entity

        frame = lake.knowledge.attach(frame, list(spec.knowledge), entity=knowledge_entity(spec.inputs), time="time")
    return frame


def affected_targets(spec: FunctionSpec, data: WindowData, changed: pl.DataFrame) -> pl.DataFrame:
    """The (key, window time) cells whose output a change of ``spec``'s inputs can alter.

    Semantics: the output at (key, T) is ``fn`` of the inputs as of T (latest at or before T, within
    ttl), at every T where the key has some input value -- what :meth:`backfill` computes.  A value
    arriving at t therefore changes the outputs at t and at every later T up to t + ttl, so those are
    recomputed too; that makes the result independent of the order in which batches arrive."""
    cells = changed.select("key", pl.col("time").cast(pl.Datetime("ns"))).unique()
    per_key = cells.group_by("key").agg(pl.col("time").cast(pl.Int64).min().alias("t0"),
                                        pl.col("time").cast(pl.Int64).max().alias("t1"))
    kidx = per_key.join(data.key_index(), left_on="key", right_on="__digest", how="left",
                        maintain_order="left")["__kidx"]
    per_key = per_key.with_columns(kidx.alias("__kidx")).filter(pl.col("__kidx").is_not_null())
    extra = []
    if per_key.height and data.shape[1]:
        rows = per_key["__kidx"].to_numpy()
        present = np.zeros((len(rows), data.shape[1]), dtype=bool)
        for feat in spec.inputs:
            if feat in data.dtypes:
                present |= valid_mask(data.dtypes[feat], data.raw(feat)[rows])
        t0 = per_key["t0"].to_numpy()
        later = data.times[None, :] >= t0[:, None]
        if spec.ttl_ns is not None:
            t1 = per_key["t1"].to_numpy()[:, None]
            after_t1 = data.times[None, :] >= t1
            later &= ~after_t1 | (elapsed_ns(np.broadcast_to(data.times[None, :], later.shape),
                                             np.broadcast_to(t1, later.shape)) <= np.uint64(spec.ttl_ns))
        ki, ti = np.nonzero(present & later)
        extra.append(pl.DataFrame({"key": per_key["key"].gather(ki),
                                   "time": pl.Series(data.times[ti]).cast(pl.Datetime("ns"))}))
    return pl.concat([cells, *extra]).unique().sort("key", "time")


def target(lake, spec: FunctionSpec):
    """What the router calls for ``spec``: its HTTP invocation, bound callable or importable reference."""
    if spec.http is not None:
        return spec.http
    if spec.fn is not None:
        return spec.fn
    if spec.callable_ref is not None:
        return spec.callable_ref
    raise RuntimeError(
        f"function {spec.name!r} has no callable in this process (it was registered elsewhere with a "
        f"local function); bind it with lake.register_function({spec.name!r}, fn, inputs, outputs, kind)"
    )


def route(lake, calls: list[tuple[FunctionSpec, str, pl.DataFrame]]) -> list[pl.DataFrame]:
    """Function router: in-process, or as dask tasks when the lake has a distributed client."""
    if lake.client is not None and calls:
        futures = [lake.client.submit(invoke, target(lake, spec), frame, pure=False,
                                      key=f"lake-{spec.name.rsplit('/', 1)[-1]}-{uuid.uuid4().hex[:8]}")
                   for spec, _, frame in calls]
        import distributed

        try:
            distributed.wait(futures, timeout=lake.task_timeout_s)
        except TimeoutError:
            lake.client.cancel(futures)
            raise TimeoutError(
                f"function tasks did not finish within task_timeout_s={lake.task_timeout_s}; a worker that "
                f"cannot unpickle a function (defined in a module the workers cannot import) waits forever: "
                f"define it in an importable module or raise lake.task_timeout_s"
            ) from None
        return lake.client.gather(futures)
    return [invoke(target(lake, spec), frame) for spec, _, frame in calls]


def outputs_to_updates(lake, spec: FunctionSpec, frame_in: pl.DataFrame, out, reg: Registry,
                        blobs: dict | None = None):
    """A function's output frame checked (keys it was given, times in range, declared columns) and turned into a
    batch; media outputs become references staged in ``blobs``."""
    if not isinstance(out, pl.DataFrame):
        raise TypeError(f"function {spec.name!r} returned {type(out).__name__}; expected a polars DataFrame "
                        f"with columns key, time and {list(spec.outputs)}")
    missing = [c for c in ("key", "time", *spec.outputs) if c not in out.columns]
    if missing:
        raise ValueError(f"function {spec.name!r} returned no column(s) {missing}; it must return key, time "
                         f"and every declared output {list(spec.outputs)}")
    if blobs is not None:
        out = prepare_media(out, reg, blobs)  # a function may write media too: payloads become references
    out = out.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
    comps = frame_in.select(pl.col("key").alias("__digest")).unique()
    problems = []
    unknown = out.join(comps, left_on="key", right_on="__digest", how="anti")
    if unknown.height:
        problems.append((f"function {spec.name!r} returned keys it was not given", unknown["__row"].to_list()))
    t = out.with_columns(time_to_ns(out, "time", "time").alias("__t"))
    outside = out_of_range_rows(t, "time", "__t")
    if outside:
        problems.append((f"function {spec.name!r} returned times outside {TIME_RANGE_TEXT}", outside))
    nulls = t.filter(pl.col("time").is_null())["__row"].to_list()
    if nulls:
        problems.append((f"function {spec.name!r} returned null times", nulls))
    if problems:
        raise LakeValidationError(problems)
    digests = t["key"].unique(maintain_order=True)
    keys = pl.DataFrame({"__kid": np.arange(len(digests), dtype=np.int64), "__digest": digests,
                         "__components": pl.Series([None] * len(digests), dtype=pl.String)})
    t = t.join(keys.select("__digest", "__kid"), left_on="key", right_on="__digest", how="left")
    updates = {}
    for feat in spec.outputs:
        cells = t.select("__row", "__kid", "__t", pl.col(feat).alias("value"))
        g = coerce_values(cells.filter(pl.col("value").is_not_null()), reg.feature(feat), problems)
        if g is not None:
            # null outputs are kept as nulls: they clear what an earlier computation stored there
            nulls = cells.filter(pl.col("value").is_null()).with_columns(pl.lit(None, g.schema["value"]).alias("value"))
            updates[feat] = (pl.concat([g.select(nulls.columns), nulls]).unique(subset=["__kid", "__t"], keep="last")
                             .select("__kid", "__t", "value"))
    if problems:
        raise LakeValidationError(problems)
    return keys, updates


def run_pending(lake, max_rounds: int = 32) -> RunReport:
    """:meth:`FeatureLake.run_pending` (documented there), for ``lake``."""
    report = RunReport()
    with lake.writing():
        for rnd in range(1, max_rounds + 1):
            head = lake._head()
            pending = lake.deltas(pending_only=True)
            if pending.height == 0:
                break
            reg = lake.registry
            report.rounds = rnd
            report.deltas_processed += pending.height
            calls = []
            for (window,), wd in pending.partition_by("window", as_dict=True).items():
                data = lake._window(head, window)
                changed = set(wd["feature"].unique().to_list())
                for fname in reg.topological_functions():  # function resolver
                    spec = reg.function(fname)
                    if not changed & set(spec.inputs):
                        continue
                    targets = affected_targets(spec, data, wd.filter(pl.col("feature").is_in(list(spec.inputs))))
                    calls.append((spec, window, resolve_inputs(lake, spec, data, targets)))
            results = lake._route(calls)
            batches: dict[str, list] = {}
            blobs: dict[str, bytes] = {}
            for (spec, window, frame), out in zip(calls, results):
                batches.setdefault(window, []).append(outputs_to_updates(lake, spec, frame, out, reg, blobs))
                report.calls.append({"round": rnd, "function": spec.name, "window": window,
                                     "keys": frame["key"].n_unique(), "rows_in": frame.height,
                                     "rows_out": out.height, "round_values_changed": 0,
                                     "routed": "dask" if lake.client is not None else "in-process"})
            # Outputs and the processed cursor move together in one commit.
            updates = {w: merge_batches(b) for w, b in batches.items()}
            commit, stats = commit_updates(lake, head, reg, updates, operation="run_pending",
                                                 processed_through=head["id"], blobs=blobs)
            if commit is not None:
                report.commits.append(commit["id"])
            for c in report.calls:
                if c["round"] == rnd:
                    c["round_values_changed"] = stats["changed"]
        else:
            raise RuntimeError(f"run_pending did not settle in {max_rounds} rounds; raise max_rounds")
    return report


def run_pending_every(lake, interval_s: float, stop: threading.Event | None = None,
                      max_cycles: int | None = None) -> list[RunReport]:
    """:meth:`FeatureLake.run_pending_every` (documented there), for ``lake``."""
    if interval_s <= 0:
        raise ValueError(f"interval_s={interval_s}; expected a positive number of seconds")
    stop = stop or threading.Event()
    reports = []
    while not stop.is_set() and (max_cycles is None or len(reports) < max_cycles):
        reports.append(lake.run_pending())
        stop.wait(interval_s)
    return reports


def backfill(lake, function: str, window: str = "day", start=None, end=None, partitions: int = 4) -> RunReport:
    """:meth:`FeatureLake.backfill` (documented there), for ``lake``."""
    report = RunReport(rounds=1)
    with lake.writing():
        head, reg = lake._head(), lake.registry
        spec = reg.function(function)
        data = lake._window(head, window)
        if data.shape[1] == 0:
            return report
        present = np.zeros(data.shape, dtype=bool)
        for feat in spec.inputs:
            if feat in data.dtypes:
                present |= valid_mask(data.dtypes[feat], data.raw(feat))
        lo, hi = instant_ns(start, "start"), instant_ns(end, "end")
        tsel = np.ones(data.shape[1], bool)
        if lo is not None:
            tsel &= data.times >= lo
        if hi is not None:
            tsel &= data.times <= hi
        present &= tsel[None, :]
        ki, ti = np.nonzero(present)
        targets = pl.DataFrame({"key": data.keys[ki].astype(str),
                                "time": pl.Series(data.times[ti]).cast(pl.Datetime("ns"))})
        frame = resolve_inputs(lake, spec, data, targets)
        parts = [p for p in np.array_split(np.arange(frame.height), max(1, partitions)) if len(p)]
        calls = [(spec, window, frame[int(p[0]): int(p[-1]) + 1]) for p in parts]
        results = lake._route(calls)
        batches, blobs = [], {}
        for (_, _, f), out in zip(calls, results):
            batches.append(outputs_to_updates(lake, spec, f, out, reg, blobs))
            report.calls.append({"round": 1, "function": spec.name, "window": window,
                                 "keys": f["key"].n_unique(), "rows_in": f.height, "rows_out": out.height,
                                 "round_values_changed": 0,
                                 "routed": "dask" if lake.client is not None else "in-process"})
        commit, stats = commit_updates(lake, head, reg, {window: merge_batches(batches)},
                                             operation="backfill", blobs=blobs)
        for c in report.calls:
            c["round_values_changed"] = stats["changed"]
        if commit is not None:
            report.commits.append(commit["id"])
    return report
