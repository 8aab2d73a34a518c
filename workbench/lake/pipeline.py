"""Pipelines: a DAG of typed processes from raw events to registered features.

A pipeline is declared in Python (:class:`Process` objects) or YAML (:meth:`Pipeline.from_yaml`)::

    processes:
      - {name: readings, type: ingest, entities: [patient], columns: {systolic: {dtype: float, unit: mmHg}}}
      - {name: hourly, type: reduce, input: readings, every: hour, aggregations: {sbp: mean(systolic)}}
      - {name: daily,  type: reduce, input: hourly,   every: day,  aggregations: {sbp_max: max(sbp)}}

Process types (see :mod:`workbench.lake._processes`): ``ingest`` (a source frame, cast to declared dtypes
with units), ``enrich`` (attributes from the knowledge repository as of each row's time), ``filter``,
``pivot``, ``reduce`` (hour -> day -> week roll-ups: sum/mean/min/max/count/last, labelled with the window's
end), ``quantize`` (bins with stored edges), ``compute`` (polars expressions or SQL text) and ``function``
(a function registered in the lake, called in-process).

:meth:`Pipeline.validate` runs before any data moves: unknown inputs, cycles, a dtype a step cannot take, a
unit that differs from what a function or an already registered feature expects -- each a
:class:`ProcessError` (a ``UserError``) naming the process. The leaf processes' outputs become registered
features ``/<domain>/feature/<entity>/<column>`` written to the leaf's window (so do the roll-ups another
roll-up reads, :meth:`Pipeline.stored`); :meth:`BoundPipeline.run` then calls the lake's ``run_pending`` so
registered functions reading those features follow.

Runs are incremental (see :mod:`workbench.lake._pipeline_run`): a reduce reading another reduce reads
that stage's cells back from the lake for just the windows the delta log says changed, so a second run
after a small append recomputes only the affected windows; with a ``dask.distributed`` client on the lake,
processes run as tasks on its workers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx
import polars as pl

from workbench.lake._processes import (APPLY, UNITS, ProcessError, check_params, polars_to_lake_dtype)
from workbench.lake.knowledge import POLARS_DTYPES

__all__ = ["BoundPipeline", "Pipeline", "PipelineRun", "Process", "ProcessError"]

_WINDOW_OF_INGEST = "hour"


@dataclass(frozen=True)
class Process:
    """One step: a ``name``, a ``type`` (one of the eight), the names of its ``inputs`` and its parameters."""

    name: str
    type: str
    inputs: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "Process":
        d = dict(d)
        try:
            name, kind = d.pop("name"), d.pop("type")
        except KeyError as missing:
            raise ProcessError(f"process {d!r} has no {missing.args[0]!r}; every process needs a name and a type") from None
        inputs = d.pop("inputs", None)
        if inputs is None:
            inputs = [d.pop("input")] if "input" in d else []
        elif isinstance(inputs, str):
            inputs = [inputs]
        return cls(str(name), str(kind), tuple(inputs), d)


@dataclass
class _Checked:
    frame: pl.DataFrame  # empty, with the output schema
    units: dict
    keys: list
    window: str
    labelled_by_end: bool = False  # its times are window ends (a reduce with label='end' upstream)


class Pipeline:
    """A validated-on-demand DAG of processes (see the module docstring)."""

    def __init__(self, processes, *, domain: str = "lake", name: str | None = None):
        self.processes = {}
        for p in processes:
            p = Process.from_dict(p) if isinstance(p, dict) else p
            if not isinstance(p, Process):
                raise ProcessError(f"a pipeline step must be a Process or a dict, got {p!r}")
            if p.name in self.processes:
                raise ProcessError(f"process {p.name!r} is declared twice; give each process its own name")
            self.processes[p.name] = p
        self.domain = domain
        self.name = name or domain
        if not re.match(r"^[a-z][a-z0-9_]*$", self.name):
            raise ProcessError(f"pipeline name {self.name!r} must be lower-case letters, digits and _")

    @classmethod
    def from_dict(cls, d: dict) -> "Pipeline":
        if not isinstance(d, dict) or "processes" not in d:
            raise ProcessError("a pipeline spec needs a 'processes' list")
        return cls(d["processes"], domain=d.get("domain", "lake"), name=d.get("name"))

    @classmethod
    def from_yaml(cls, text: str) -> "Pipeline":
        import yaml

        return cls.from_dict(yaml.safe_load(text))

    # ---- structure -----------------------------------------------------------------------------
    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        for p in self.processes.values():
            g.add_node(p.name, type=p.type)
        for p in self.processes.values():
            for i in p.inputs:
                g.add_edge(i, p.name)
        return g

    def to_labelled(self):
        """The pipeline as a :class:`workbench.graphs.LabelledGraph` (process type as node label, ``feeds`` edges),
        ready for ``workbench.graphs.draw``."""
        from workbench.graphs import LabelledGraph

        return LabelledGraph({p.name: p.type for p in self.processes.values()},
                             tuple((i, "feeds", p.name) for p in self.processes.values() for i in p.inputs))

    def order(self) -> list[str]:
        for p in self.processes.values():
            for i in p.inputs:
                if i not in self.processes:
                    raise ProcessError(f"process {p.name!r} reads {i!r}, which is not a process of this pipeline; "
                                       f"declared: {sorted(self.processes)}")
            want = 0 if p.type == "ingest" else 1
            if len(p.inputs) != want:
                raise ProcessError(f"process {p.name!r} ({p.type}) takes {want} input(s), got {list(p.inputs)}")
        g = self.graph()
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return list(nx.lexicographical_topological_sort(g))
        names = [u for u, _ in cycle]
        raise ProcessError(f"process {names[0]!r} is on a cycle {' -> '.join(names + names[:1])}; a pipeline must "
                           f"be acyclic")

    def leaves(self) -> list[str]:
        g = self.graph()
        return [n for n in self.order() if g.out_degree(n) == 0]

    # ---- validation ----------------------------------------------------------------------------
    def validate(self, lake=None, knowledge=None) -> dict[str, _Checked]:
        """Check the whole pipeline without data; returns each process's output schema, units, keys, window."""
        out: dict[str, _Checked] = {}
        for name in self.order():
            out[name] = self._check_one(self.processes[name], out, lake, knowledge)
        if lake is not None:
            for name, names in self.stored(out).items():
                self._check_leaf(name, out[name], lake, names)
        return out

    def _check_one(self, p: Process, done: dict, lake, knowledge) -> _Checked:
        where = f"process {p.name!r} ({p.type})"
        params = check_params(p.type, p.params, where)
        if p.type == "ingest":
            keys = [*params["entities"], "time"]
            window = params.get("window", _WINDOW_OF_INGEST)
            empty = pl.DataFrame(schema={**{e: pl.String for e in params["entities"]}, params.get("time", "time"):
                                         pl.Datetime("ns"), **{c: POLARS_DTYPES[d["dtype"]] for c, d in params["columns"].items()}})
            frames, in_units, by_end = [empty], [{}], False
        else:
            up = done[p.inputs[0]]
            keys, window, frames, in_units, by_end = up.keys, up.window, [up.frame], [up.units], up.labelled_by_end
        ctx = self._ctx(where, keys, window, lake, knowledge, p, params, by_end)
        if p.type == "reduce":
            window, by_end = params["every"], params.get("label", "end") == "end"
        units = UNITS[p.type](in_units, params, ctx)
        try:
            frame = APPLY[p.type](frames, params, ctx)
        except ProcessError:
            raise
        except Exception as exc:  # polars' own type errors, found on the empty frame before any data moves
            raise ProcessError(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        return _Checked(frame.clear(), {c: units.get(c) for c in frame.columns}, keys, window, by_end)

    def _ctx(self, where, keys, window, lake, knowledge, p, params, by_end=False) -> dict:
        ctx = {"where": where, "keys": keys, "window": window, "lake": lake, "knowledge": knowledge,
               "input_labelled_by_end": by_end}
        if p.type == "function":
            if lake is None:
                raise ProcessError(f"{where}: a function process needs a lake; build it with lake.pipeline(spec)")
            try:
                ctx["function_spec"] = lake.registry.function(params["function"])
            except (KeyError, ValueError):
                raise ProcessError(f"{where}: function {params['function']!r} is not registered in the lake") from None
            spec = ctx["function_spec"]
            missing = [f for f in spec.inputs if f not in params["inputs"]]
            if missing:
                raise ProcessError(f"{where}: inputs= maps no column to {spec.name}'s input(s) {missing}")
        return ctx

    def feature_names(self, leaf: str, checked: _Checked) -> dict[str, str]:
        """Column -> feature name for a leaf: ``features={column: name}`` where given, else a full name that
        is already a column, else ``/<domain>/feature/<first entity>/<column>``."""
        explicit = dict(self.processes[leaf].params.get("features", {}))
        entity = checked.keys[0]
        names = {}
        for c in checked.frame.columns:
            if c in checked.keys:
                continue
            names[c] = explicit.get(c, c if c.startswith("/") else f"/{self.domain}/feature/{entity}/{c}")
        return names

    def stored(self, checked: dict) -> dict[str, dict[str, str]]:
        """Process -> {column: feature} for every process a lake run writes: the leaves, and each reduce
        that feeds another reduce (its cells are what the roll-up above it is recomputed from), named by
        its ``features=`` else ``/<domain>/feature/<entity>/<process>_<column>``."""
        g = self.graph()
        leaves = self.leaves()
        out = {}
        for name in self.order():
            p = self.processes[name]
            if name in leaves:
                out[name] = self.feature_names(name, checked[name])
            elif p.type == "reduce" and any(self.processes[d].type == "reduce" for d in nx.descendants(g, name)):
                explicit = dict(p.params.get("features", {}))
                c = checked[name]
                out[name] = {col: explicit.get(col, f"/{self.domain}/feature/{c.keys[0]}/{name}_{col}")
                             for col in c.frame.columns if col not in c.keys}
        return out

    def _check_leaf(self, leaf: str, checked: _Checked, lake, names: dict) -> None:
        from workbench.lake._registry import check_feature_name

        reg = lake.registry
        for col, feat in names.items():
            where = f"process {leaf!r} output {col!r}"
            try:
                check_feature_name(feat)
            except ValueError as exc:
                raise ProcessError(f"{where}: {exc}") from None
            dtype = polars_to_lake_dtype(checked.frame.schema[col])
            if dtype is None:
                raise ProcessError(f"{where} has dtype {checked.frame.schema[col]}, which no feature can hold")
            old = reg.features.get(feat)
            if old is not None and old.dtype != dtype:
                raise ProcessError(f"{where}: feature {feat} is registered as {old.dtype}, the pipeline makes {dtype}")
            if old is not None and old.unit != checked.units.get(col):
                raise ProcessError(f"{where}: feature {feat} is registered in [{old.unit}], the pipeline makes "
                                   f"[{checked.units.get(col)}]; convert with a compute process")

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, sources: dict, *, lake=None, knowledge=None) -> dict[str, pl.DataFrame]:
        """Validate, then compute every process's frame from ``sources`` ({ingest name or its ``source``: frame})."""
        checked = self.validate(lake, knowledge)
        frames: dict[str, pl.DataFrame] = {}
        for name in self.order():
            p = self.processes[name]
            where = f"process {name!r} ({p.type})"
            params = check_params(p.type, p.params, where)
            if p.type == "ingest":
                src = params.get("source", name)
                if src not in sources:
                    raise ProcessError(f"{where}: no source frame {src!r}; pass it as run({src}=frame)")
                inputs = [sources[src]]
            else:
                inputs = [frames[p.inputs[0]]]
            c = checked[name]
            up = checked[p.inputs[0]] if p.inputs else None
            ctx = self._ctx(where, c.keys, up.window if up else c.window, lake, knowledge, p, params,
                            up.labelled_by_end if up else False)
            try:
                frames[name] = APPLY[p.type](inputs, params, ctx)
            except ProcessError:
                raise
            except Exception as exc:
                raise ProcessError(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        return frames

    # ---- printing ------------------------------------------------------------------------------
    def describe(self, lake=None, knowledge=None) -> str:
        checked = self.validate(lake, knowledge)
        stored = self.stored(checked)
        lines = [f"Pipeline ({len(self.processes)} processes, domain {self.domain!r})"]
        for name in self.order():
            p, c = self.processes[name], checked[name]
            src = f" <- {', '.join(p.inputs)}" if p.inputs else ""
            params = ", ".join(f"{k}={v}" for k, v in p.params.items())
            lines.append(f"  {name} [{p.type}, {c.window}]{src}: {params}")
            cols = [f"{col}: {polars_to_lake_dtype(t) or t}" + (f" [{c.units.get(col)}]" if c.units.get(col) else "")
                    for col, t in c.frame.schema.items()]
            lines.append(f"      -> {', '.join(cols)}")
            for col, feat in stored.get(name, {}).items():
                lines.append(f"      => feature {feat}  ({col})")
        return "\n".join(lines)

    def __str__(self) -> str:
        try:
            return self.describe()
        except ProcessError as exc:
            return f"Pipeline ({len(self.processes)} processes; invalid: {exc})"

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {list(self.processes)}, domain={self.domain!r})"


from workbench.lake._pipeline_run import BoundPipeline, PipelineRun  # noqa: E402 - they build on Pipeline
