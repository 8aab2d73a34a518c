"""Running a pipeline on a lake: incrementally from the delta log, in-process or on dask.distributed.

What a run stores. Every leaf's outputs become registered features (as before); so does every ``reduce``
whose output feeds another ``reduce`` (an hour roll-up under a day roll-up): its cells are the state the
next roll-up is recomputed from. Such an intermediate stage's columns are named by its ``features=``
mapping, else ``/<domain>/feature/<entity>/<process>_<column>``.

What a run recomputes. Row-wise processes (ingest, enrich, filter, pivot, quantize, compute, function) see
only the run's new rows. A reduce over raw events sees the batch: the batch's rows of one window replace
that window's cell (send the rows of one window together). A reduce over a stored roll-up is incremental:

1. the write of the stored stage commits deltas -- the (key, window time) cells whose value changed;
2. each changed cell names the one output window it falls in: those are the reduce's targets, and only
   they are recomputed (``PipelineRun.targets``);
3. the feature resolver (``FeatureLake.training_frame``, point in time) reads back every stored cell of
   each target window -- the earlier runs' cells with this run's -- and the processes between the stored
   stage and the reduce run again on them, then the reduce.

A second run after a small append therefore recomputes the windows that append touched, and writes only
what changed (the lake's upserts are idempotent). ``function`` processes go through the lake's function
router (in-process, HTTP or dask); with a ``dask.distributed`` client on the lake, every other process is
split by entity into tasks on the cluster (``PipelineRun.routed``), bounded by ``lake.task_timeout_s``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from workbench.lake._processes import APPLY, EVERY, ProcessError, apply_process, check_params, polars_to_lake_dtype

STEP = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(weeks=1)}


@dataclass
class PipelineRun:
    """What a run produced: every process's frame, the features written per stored process, the write
    reports, the cascade's report, rows computed per process, the windows each incremental reduce
    recomputed, and where each process ran."""

    frames: dict
    features: dict  # stored process -> {column: feature}
    writes: dict  # stored process -> WriteReport
    pending: object  # RunReport of lake.run_pending() (None with cascade=False)
    computed: dict = field(default_factory=dict)  # process -> rows it computed
    targets: dict = field(default_factory=dict)  # incremental reduce -> windows recomputed from the lake
    routed: dict = field(default_factory=dict)  # process -> "in-process" | "dask" | "router"


class BoundPipeline:
    """A pipeline attached to a lake and its knowledge repository (made by ``FeatureLake.pipeline``)."""

    def __init__(self, pipeline, lake):
        self.pipeline, self.lake = pipeline, lake
        pipeline.validate(lake, self.knowledge)

    @property
    def knowledge(self):
        """The lake's knowledge repository, read afresh so a run sees every fact recorded before it."""
        return self.lake.knowledge

    def validate(self):
        return self.pipeline.validate(self.lake, self.knowledge)

    def evaluate(self, **sources) -> dict[str, pl.DataFrame]:
        """Every process's frame from ``sources`` alone, in memory (nothing read from or written to the lake)."""
        return self.pipeline.evaluate(sources, lake=self.lake, knowledge=self.knowledge)

    # ---- structure -------------------------------------------------------------------------------
    def stored(self, checked) -> dict[str, dict[str, str]]:
        """Process -> {column: feature} for every process a run writes (see :meth:`Pipeline.stored`)."""
        return self.pipeline.stored(checked)

    def _stored_ancestor(self, name: str, stored: dict, checked) -> tuple[str, list[str]] | None:
        """For a reduce: the nearest stored roll-up above it and the processes in between (top down)."""
        procs = self.pipeline.processes
        chain, q = [], procs[name].inputs[0]
        while q not in stored and procs[q].type not in ("ingest", "reduce"):
            chain.insert(0, q)
            q = procs[q].inputs[0]
        if q in stored and procs[q].type == "reduce" and checked[q].labelled_by_end:
            return q, chain
        return None

    # ---- execution -------------------------------------------------------------------------------
    def _execute(self, name: str, frame: pl.DataFrame, checked, knowledge, routed: dict) -> pl.DataFrame:
        pipe, lake = self.pipeline, self.lake
        p = pipe.processes[name]
        where = f"process {name!r} ({p.type})"
        params = check_params(p.type, p.params, where)
        c = checked[name]
        up = checked[p.inputs[0]] if p.inputs else None
        ctx = pipe._ctx(where, c.keys, up.window if up else c.window, lake, knowledge, p, params,
                        up.labelled_by_end if up else False)
        client = lake.client
        try:
            if client is None or p.type in ("function", "ingest") or frame.height == 0:
                routed[name] = "router" if p.type == "function" else "in-process"
                return APPLY[p.type]([frame], params, ctx)
            routed[name] = "dask"
            return self._on_cluster(client, p.type, params, ctx, frame)
        except (ProcessError, TimeoutError):
            raise
        except Exception as exc:
            raise ProcessError(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None

    def _on_cluster(self, client, kind, params, ctx, frame) -> pl.DataFrame:
        """Split by entity (a roll-up groups by entity, so a split never cuts a group) into dask tasks."""
        import distributed

        from workbench.lake.knowledge import KnowledgeRepository

        entities = [k for k in ctx["keys"] if k != "time"]
        knowledge = None
        if ctx.get("knowledge") is not None:  # an in-memory copy of the facts travels; the lake does not
            knowledge = KnowledgeRepository()
            knowledge._facts = list(ctx["knowledge"]._facts)
        lite = {k: ctx[k] for k in ("where", "keys", "window", "input_labelled_by_end")} | {
            "knowledge": knowledge, "lake": None}
        n = max(1, min(len(client.scheduler_info().get("workers", {})) or 1, frame.height))
        parts = frame.with_columns((pl.col(entities[0]).hash(seed=0) % n).alias("__part")).partition_by(
            "__part", include_key=False, maintain_order=True)
        futures = [client.submit(apply_process, kind, params, lite, part, pure=False) for part in parts]
        try:
            distributed.wait(futures, timeout=self.lake.task_timeout_s)
        except TimeoutError:
            client.cancel(futures)
            raise TimeoutError(f"{ctx['where']}: its dask tasks did not finish within lake.task_timeout_s="
                               f"{self.lake.task_timeout_s}; check the workers or raise the timeout") from None
        return pl.concat(client.gather(futures), how="vertical_relaxed").sort([*entities, "time"])

    def _changed_cells(self, report, out: pl.DataFrame, entities: list[str], window: str, names: dict) -> pl.DataFrame:
        """The rows of ``out`` whose stored cells the write changed, from the commit's deltas."""
        from workbench.lake._keys import EventKey

        empty = out.select(*entities, "time").clear()
        if report.commit is None:
            return empty
        lake = self.lake
        commit = next(c for c in lake._log.commits_after(report.commit - 1) if c["id"] == report.commit)
        if not commit["deltas"]:
            return empty
        from workbench.lake._storage import read_deltas

        deltas = (read_deltas(lake, commit).filter(pl.col("feature").is_in(list(names.values())))
                  .select("key", pl.col("time").cast(pl.Datetime("ns"))).unique())
        keys = out.select(*entities, "time").unique()
        digests = [EventKey(dict(zip(entities, row)), window=window).digest for row in keys.select(entities).iter_rows()]
        keys = keys.with_columns(pl.Series("key", digests, dtype=pl.String))
        return keys.join(deltas, on=["key", "time"], how="semi").drop("key")

    def _read_back(self, stage: str, reduce: str, changed: pl.DataFrame, checked, stored) -> tuple[pl.DataFrame, int]:
        """Every stored cell of ``stage`` in the windows of ``reduce`` that ``changed`` cells fall in."""
        s = checked[stage]
        entities = [k for k in s.keys if k != "time"]
        every_name = self.pipeline.processes[reduce].params["every"]
        every, step = STEP[every_name], STEP[s.window]
        # a cell stamped at its window's end belongs to the output window holding the instant before it
        targets = changed.select(*entities, (pl.col("time").dt.offset_by("-1ns").dt.truncate(EVERY[every_name])
                                             + every).alias("__end")).unique()
        if targets.height == 0:
            return s.frame.clear(), 0
        slots = targets.with_columns(time=pl.datetime_ranges(pl.col("__end") - every + step, pl.col("__end"),
                                                             interval=EVERY[s.window], time_unit="ns"))
        slots = slots.explode("time").drop("__end")
        names = stored[stage]
        # ttl just under one stage window: each slot sees only the cell stamped at its own end
        frame = self.lake.training_frame(slots, list(names.values()), window=s.window,
                                         ttl=step - dt.timedelta(microseconds=1), time="time", entities=entities)
        frame = frame.filter(pl.any_horizontal(pl.col(list(names.values())).is_not_null()))
        frame = frame.rename({f: c for c, f in names.items()}).select(s.frame.columns)
        return frame.cast(dict(s.frame.schema), strict=False), targets.height

    def run(self, *, cascade: bool = True, knowledge_version: int | None = None, **sources) -> PipelineRun:
        """Run on the lake (see the module docstring): evaluate, register and write each stored process's
        outputs (one atomic write each), recompute incremental roll-ups from the lake, then, with
        ``cascade``, let ``run_pending`` call the registered functions that read what changed.

        ``enrich`` reads the knowledge repository as one snapshot taken when the run starts (a fact
        recorded meanwhile waits for the next run); ``knowledge_version`` (a lake commit id) reads it as
        it stood at that commit instead, to reproduce an earlier run's attributes exactly."""
        pipe, lake = self.pipeline, self.lake
        knowledge = self.knowledge
        knowledge = knowledge.snapshot(version=knowledge_version if knowledge_version is not None else lake.version)
        checked = pipe.validate(lake, knowledge)
        stored = self.stored(checked)
        frames, features, writes, changed = {}, {}, {}, {}
        result = PipelineRun(frames, features, writes, None)
        for name in pipe.order():
            p = pipe.processes[name]
            where = f"process {name!r} ({p.type})"
            if p.type == "ingest":
                src = check_params(p.type, p.params, where).get("source", name)
                if src not in sources:
                    raise ProcessError(f"{where}: no source frame {src!r}; pass it as run({src}=frame)")
                frame = sources[src]
            elif p.type == "reduce" and (found := self._stored_ancestor(name, stored, checked)) is not None:
                stage, chain = found
                frame, result.targets[name] = self._read_back(stage, name, changed[stage], checked, stored)
                for q in chain:
                    frame = self._execute(q, frame, checked, knowledge, result.routed)
            else:
                frame = frames[p.inputs[0]]
            frames[name] = self._execute(name, frame, checked, knowledge, result.routed)
            result.computed[name] = frames[name].height
            if name in stored:
                c, names = checked[name], stored[name]
                registered = lake.registry.features
                for col, feat in names.items():
                    if feat not in registered:  # validation checked dtype and unit of those already there
                        lake.register_feature(feat, polars_to_lake_dtype(c.frame.schema[col]), c.units.get(col),
                                              description=f"pipeline {pipe.name!r} process {name!r}")
                entities = [k for k in c.keys if k != "time"]
                out = frames[name].select(*entities, "time", *[pl.col(col).alias(f) for col, f in names.items()])
                writes[name] = lake.write(out, window=c.window, entities=entities)
                features[name] = names
                changed[name] = self._changed_cells(writes[name], frames[name], entities, c.window, names)
        from workbench.lake.lineage import record_pipeline

        record_pipeline(lake, pipe, features)
        result.pending = lake.run_pending() if cascade else None
        return result

    def __str__(self) -> str:
        return self.pipeline.describe(self.lake, self.knowledge)

    def __repr__(self) -> str:
        return f"BoundPipeline({self.pipeline!r}, lake={self.lake.url!r})"
