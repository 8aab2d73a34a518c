"""The knowledge repository: entities with attributes and qualifiers, and predicates between entities.

Every change is a versioned fact with the time it became known (``at``): ``create``, ``update`` and
``delete`` of an entity, ``relate``/``unrelate`` for a predicate (a directed, typed edge such as
``calls`` from one person to another, itself carrying attributes such as the call time). Nothing is
overwritten: a read ``as_of(t)`` replays only the facts known at or before ``t``, so an attribute updated
after an event is never seen by that event -- the same point-in-time rule as the lake's features.

``as_of(t)`` returns a :class:`workbench.graphs.LabelledGraph` (entity type as the node label, attributes as
node properties, predicates as labelled edges), so the graphs package's path queries and transitive
closure work on it directly. Qualifiers (source, confidence, ...) sit beside each attribute value and are
returned by :meth:`KnowledgeRepository.qualifiers`.

A lake's repository (``lake.knowledge``) keeps its facts in the lake's own commit log: every command
publishes one lake commit (operation ``knowledge``) that carries the fact, under the lake's writer lock and
with the same atomic rename as a write, so a fact and the lake version it belongs to can never disagree,
a killed writer leaves whole facts only, and ``lake check --repair`` rolling back commits rolls back their
facts too. Facts are thus versioned with the lake: :meth:`KnowledgeRepository.snapshot` (``version=`` a
lake commit, or ``recorded=`` a wall-clock time) gives the repository as it stood then -- reproducing a
training frame built before a correction -- while ``as_of(t)`` is about the time a fact is *valid*.

A stand-alone repository lives in one JSON document, replaced atomically (written to a temporary name,
then moved): ``KnowledgeRepository(fs, path)``; an in-memory one is ``KnowledgeRepository()``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.errors import UserError
from workbench.lake._registry import DTYPES

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
POLARS_DTYPES = {"float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean, "string": pl.String,
                 "categorical": pl.String}


def _ns(at, what: str) -> int:
    """A time as int64 nanoseconds since 1970 (naive datetimes are UTC, as in the lake)."""
    if isinstance(at, (int,)) and not isinstance(at, bool):
        return int(at)
    if isinstance(at, dt.datetime):
        if at.tzinfo is not None:
            at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return int((at - dt.datetime(1970, 1, 1)) / dt.timedelta(microseconds=1)) * 1000
    if isinstance(at, dt.date):
        return _ns(dt.datetime(at.year, at.month, at.day), what)
    raise UserError(f"{what}={at!r} is not a time; pass a datetime such as datetime(2026, 1, 1)")


@dataclass(frozen=True)
class AttributeSpec:
    """A declared entity attribute: value type (a lake dtype) and unit."""

    name: str
    dtype: str
    unit: str | None = None
    description: str = ""


class KnowledgeRepository:
    """Entities, attributes with qualifiers and predicates, versioned and readable as of a time."""

    def __init__(self, fs=None, path: str | None = None, lake_version=None, *, lake=None):
        self._fs, self._path, self._lake_version, self._lake = fs, path, lake_version, lake
        self._facts: list[dict] = []
        if lake is not None:
            self._facts = self._lake_facts()
        elif fs is not None and fs.exists(path):
            with fs.open(path, "rb") as f:
                self._facts = json.loads(f.read().decode())["facts"]

    @classmethod
    def of_lake(cls, lake) -> "KnowledgeRepository":
        """The repository kept in ``lake``'s commit log (see the module docstring)."""
        return cls(lake=lake)

    def _lake_facts(self) -> list[dict]:
        lake = self._lake
        facts = []
        legacy = lake._log.path("knowledge", "log.json")  # lakes from before facts moved into commits
        if lake._log.fs.exists(legacy):
            with lake._log.fs.open(legacy, "rb") as f:
                facts = json.loads(f.read().decode())["facts"]
        for c in lake._log.all_commits():
            if "knowledge" in c:
                facts.append({**c["knowledge"], "version": len(facts) + 1, "lake_version": c["id"]})
        return facts

    # ---- persistence ---------------------------------------------------------------------------
    def _append(self, fact: dict) -> int:
        fact = {**fact, "recorded": _ns(dt.datetime.now(dt.timezone.utc), "now")}
        if self._lake is not None:
            return self._commit(fact)
        fact["version"] = len(self._facts) + 1
        if self._lake_version is not None:
            fact["lake_version"] = self._lake_version()  # the lake commit this fact was recorded against
        facts = self._facts + [fact]
        if self._fs is not None:
            folder = self._path.rsplit("/", 1)[0]
            self._fs.makedirs(folder, exist_ok=True)
            tmp = f"{folder}/.log-{uuid.uuid4().hex}.tmp"
            with self._fs.open(tmp, "wb") as f:
                f.write(json.dumps({"facts": facts}).encode())
            self._fs.mv(tmp, self._path)  # a rename: readers see the old log or the new one, never half
        self._facts = facts
        return fact["version"]

    def _commit(self, fact: dict) -> int:
        """Publish ``fact`` as one lake commit (the lake's registry and windows carried over unchanged)."""
        lake = self._lake
        subject = fact.get("entity") or fact.get("subject") or fact.get("name")
        with lake.writing():
            head = lake._head()
            commit = lake._publish(operation="knowledge", registry=lake._registry_of(head), windows=head["windows"],
                                   deltas=None, n_deltas=0, processed_through=head["processed_through"],
                                   parent=head["id"], extra={"subject": f"{fact['op']} {subject}", "knowledge": fact})
            # read back under the lock: facts another process committed meanwhile get their numbers too
            self._facts = self._lake_facts()
        return next(f["version"] for f in reversed(self._facts) if f["lake_version"] == commit["id"])

    def snapshot(self, version: int | None = None, recorded=None) -> "KnowledgeRepository":
        """The repository as it stood at lake commit ``version`` (for a stand-alone repository: after its
        ``version``-th fact) or at wall-clock time ``recorded``: an in-memory copy holding only the facts
        recorded by then. Facts recorded later -- a correction, a new value -- are not in it, whatever time
        they are valid from."""
        if version is None and recorded is None:
            raise UserError("snapshot() needs version= (a lake commit id) or recorded= (a time)")
        facts = self._facts
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise UserError(f"version={version!r}; pass a lake commit id such as lake.version")
            key = "lake_version" if self._lake is not None else "version"
            facts = [f for f in facts if f.get(key) is not None and f[key] <= version]
        if recorded is not None:
            limit = _ns(recorded, "recorded")
            facts = [f for f in facts if f["recorded"] <= limit]
        out = KnowledgeRepository()
        out._facts = [dict(f) for f in facts]
        return out

    @property
    def version(self) -> int:
        """How many facts are recorded (each command adds one)."""
        return len(self._facts)

    def log(self) -> pl.DataFrame:
        """Every recorded fact: version, op, the time it became known (``at``), when it was recorded and,
        for a lake's repository, the lake commit it was recorded against."""
        rows = [{"version": f["version"], "op": f["op"],
                 "subject": f.get("entity") or f.get("subject") or f.get("name"),
                 "at": f.get("at"), "recorded": f.get("recorded"), "lake_version": f.get("lake_version")}
                for f in self._facts]
        schema = {"version": pl.Int64, "op": pl.String, "subject": pl.String, "at": pl.Int64, "recorded": pl.Int64,
                  "lake_version": pl.Int64}
        return pl.DataFrame(rows, schema=schema).with_columns(pl.col("at", "recorded").cast(pl.Datetime("ns")))

    # ---- schema --------------------------------------------------------------------------------
    def define_attribute(self, name: str, dtype: str, unit: str | None = None, description: str = "") -> AttributeSpec:
        """Declare an attribute; values written later must have this dtype. Redefining differently is refused."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise UserError(f"attribute name {name!r} must be lower-case letters, digits and _ (e.g. 'tariff')")
        if dtype not in DTYPES:
            raise UserError(f"attribute {name!r}: dtype={dtype!r}; expected one of {DTYPES}")
        spec = AttributeSpec(name, dtype, unit, description)
        old = self.attributes.get(name)
        if old is not None:
            if (old.dtype, old.unit) != (dtype, unit):
                raise UserError(f"attribute {name!r} is defined as {old.dtype} [{old.unit}], not {dtype} [{unit}]; "
                                f"define the new meaning under a new name")
            return old
        self._append({"op": "define", "name": name, "dtype": dtype, "unit": unit, "description": description})
        return spec

    @property
    def attributes(self) -> dict[str, AttributeSpec]:
        return {f["name"]: AttributeSpec(f["name"], f["dtype"], f["unit"], f.get("description", ""))
                for f in self._facts if f["op"] == "define"}

    def _check_values(self, entity: str, values: dict, qualifiers: dict | None) -> dict:
        attrs = self.attributes
        out = {}
        for name, value in dict(values).items():
            spec = attrs.get(name)
            if spec is None:
                raise UserError(f"entity {entity!r}: attribute {name!r} is not defined; call "
                                f"define_attribute({name!r}, dtype) first")
            ok = {"float": (int, float), "int": (int,), "bool": (bool,), "string": (str,), "categorical": (str,)}
            if value is not None and (not isinstance(value, ok[spec.dtype])
                                      or (spec.dtype in ("int", "float") and isinstance(value, bool))):
                raise UserError(f"entity {entity!r}: attribute {name!r} is {spec.dtype}, got {value!r}")
            out[name] = value
        for name in dict(qualifiers or {}):
            if name not in out:
                raise UserError(f"entity {entity!r}: qualifiers for {name!r}, which this command does not set")
        return out

    # ---- commands ------------------------------------------------------------------------------
    def create(self, entity: str, type: str, attributes: dict | None = None, *, at, qualifiers: dict | None = None) -> int:
        """Create ``entity`` of ``type`` known from ``at``, with optional attributes and their qualifiers
        (``qualifiers={"tariff": {"source": "crm"}}``). Returns the repository version."""
        if not isinstance(entity, str) or not entity:
            raise UserError(f"entity id must be non-empty text, got {entity!r}")
        if self._alive(entity, None):
            raise UserError(f"entity {entity!r} already exists; use update() to change it")
        values = self._check_values(entity, attributes or {}, qualifiers)
        return self._append({"op": "create", "entity": entity, "type": str(type), "at": _ns(at, "at"),
                             "values": values, "qualifiers": dict(qualifiers or {})})

    def update(self, entity: str, attributes: dict, *, at, qualifiers: dict | None = None) -> int:
        """Set attributes of ``entity`` from ``at`` on (``None`` removes a value)."""
        self._require(entity, at)
        values = self._check_values(entity, attributes, qualifiers)
        return self._append({"op": "update", "entity": entity, "at": _ns(at, "at"), "values": values,
                             "qualifiers": dict(qualifiers or {})})

    def delete(self, entity: str, *, at) -> int:
        """Delete ``entity`` from ``at`` on: later reads do not see it or its predicates; earlier reads still do."""
        self._require(entity, at)
        return self._append({"op": "delete", "entity": entity, "at": _ns(at, "at")})

    def relate(self, subject: str, predicate: str, object: str, attributes: dict | None = None, *, at) -> int:
        """Add the predicate ``subject -predicate-> object`` from ``at`` on, with optional edge attributes."""
        if not isinstance(predicate, str) or not _NAME.match(predicate):
            raise UserError(f"predicate {predicate!r} must be lower-case letters, digits and _ (e.g. 'calls')")
        self._require(subject, at)
        self._require(object, at)
        return self._append({"op": "relate", "subject": subject, "predicate": predicate, "object": object,
                             "at": _ns(at, "at"), "values": dict(attributes or {})})

    def unrelate(self, subject: str, predicate: str, object: str, *, at) -> int:
        """Remove the predicate from ``at`` on."""
        return self._append({"op": "unrelate", "subject": subject, "predicate": predicate, "object": object,
                             "at": _ns(at, "at")})

    def _alive(self, entity: str, at_ns: int | None) -> bool:
        alive = False
        for f in self._facts:
            if f.get("entity") == entity and (at_ns is None or f["at"] <= at_ns):
                alive = f["op"] != "delete" if f["op"] in ("create", "delete") else alive
        return alive

    def _require(self, entity: str, at) -> None:
        if not self._alive(entity, _ns(at, "at")):
            raise UserError(f"entity {entity!r} does not exist at {at!r}; create() it first (at or before that time)")

    # ---- reads ---------------------------------------------------------------------------------
    def _known(self, at_ns: int) -> list[dict]:
        # facts in the order they became known; equal times keep the order they were recorded in
        return sorted((f for f in self._facts if f["op"] != "define" and f["at"] <= at_ns),
                      key=lambda f: (f["at"], f["version"]))

    def _state(self, at) -> tuple[dict, dict, dict, dict]:
        types, values, quals, edges = {}, {}, {}, {}
        for f in self._known(_ns(at, "at")):
            op = f["op"]
            if op == "create":
                types[f["entity"]] = f["type"]
                values[f["entity"]] = {}
                quals[f["entity"]] = {}
            if op in ("create", "update"):
                for k, v in f["values"].items():
                    values[f["entity"]].pop(k, None) if v is None else values[f["entity"]].__setitem__(k, v)
                    quals[f["entity"]][k] = dict(f["qualifiers"].get(k, {}))
            elif op == "delete":
                for d in (types, values, quals):
                    d.pop(f["entity"], None)
            elif op == "relate":
                edges[(f["subject"], f["predicate"], f["object"])] = dict(f["values"])
            elif op == "unrelate":
                edges.pop((f["subject"], f["predicate"], f["object"]), None)
        edges = {e: v for e, v in edges.items() if e[0] in types and e[2] in types}
        return types, values, quals, edges

    def as_of(self, at, version: int | None = None):
        """The repository as known at ``at``: a :class:`LabelledGraph` (entities, attributes, predicates);
        with ``version`` (a lake commit), from the facts recorded by that commit only."""
        from workbench.graphs import LabelledGraph

        if version is not None:
            return self.snapshot(version=version).as_of(at)
        types, values, _, edges = self._state(at)
        return LabelledGraph(types, tuple(edges), {e: v for e, v in values.items() if v})

    def attribute(self, entity: str, name: str, at) -> Any:
        """The value of one attribute of ``entity`` as known at ``at`` (``None`` when it has none)."""
        return self._state(at)[1].get(entity, {}).get(name)

    def qualifiers(self, entity: str, name: str, at) -> dict:
        """The qualifiers recorded with the attribute value seen at ``at``."""
        return self._state(at)[2].get(entity, {}).get(name, {})

    def predicates(self, at) -> pl.DataFrame:
        """The predicates known at ``at``: subject, predicate, object and the edge attributes as a JSON text."""
        rows = [(s, p, o, json.dumps(v, sort_keys=True)) for (s, p, o), v in self._state(at)[3].items()]
        return pl.DataFrame(rows, schema=["subject", "predicate", "object", "attributes"], orient="row")

    def reachable(self, entity: str, predicate: str, at) -> set[str]:
        """Entities reached from ``entity`` by one or more ``predicate`` edges (via the transitive closure)."""
        from workbench.graphs import transitive_closure

        g = self.as_of(at).to_networkx()
        sub = g.edge_subgraph([(u, v, k) for u, v, k in g.edges(keys=True) if k == predicate]).copy()
        if entity not in sub:
            return set()
        nodes = list(sub)
        reach = transitive_closure(__import__("networkx").DiGraph(sub), method="bitset")
        i = nodes.index(entity)
        return {nodes[j] for j in range(len(nodes)) if reach[i, j]}

    def history(self, name: str) -> pl.DataFrame:
        """Every recorded value of attribute ``name``: columns entity, time (Datetime ns) and ``name``, one
        row per change, sorted by time (null: the value was removed, or the entity deleted). The pipeline's
        ``enrich`` joins this backwards in time, so each event sees only the value known at its time."""
        spec = self.attributes.get(name)
        if spec is None:
            raise UserError(f"knowledge attribute {name!r} is not defined; defined: {sorted(self.attributes)}")
        rows = []
        for f in sorted(self._facts, key=lambda f: (f.get("at", 0), f["version"])):
            if f["op"] in ("create", "update") and name in f["values"]:
                rows.append((f["entity"], f["at"], f["values"][name]))
            elif f["op"] == "delete":
                rows.append((f["entity"], f["at"], None))
        return pl.DataFrame({
            "entity": pl.Series([r[0] for r in rows], dtype=pl.String),
            "time": pl.Series([r[1] for r in rows], dtype=pl.Int64).cast(pl.Datetime("ns")),
            name: pl.Series([r[2] for r in rows], dtype=POLARS_DTYPES[spec.dtype]),
        })

    def attach(self, frame: pl.DataFrame, attributes, *, entity: str, time: str = "time") -> pl.DataFrame:
        """``frame`` (row order kept) plus one column per attribute: its value for the row's ``entity`` as
        valid at the row's ``time`` -- the latest value at or before it, never a later one (the same
        point-in-time rule as a training frame). ``attributes`` is a list, or {attribute: column name}."""
        attributes = {a: a for a in ([attributes] if isinstance(attributes, str) else attributes)} \
            if not isinstance(attributes, dict) else dict(attributes)
        missing = [c for c in (entity, time) if c not in frame.columns]
        if missing:
            raise UserError(f"attach: the frame has no column(s) {missing}; it has {frame.columns} (pass entity=, time=)")
        clash = sorted(set(attributes.values()) & set(frame.columns))
        if clash:
            raise UserError(f"attach: the frame already has column(s) {clash}; map the attributes to other names, "
                            f"e.g. {{{next(iter(attributes))!r}: 'kr_{next(iter(attributes))}'}}")
        out = frame.with_row_index("__row")
        times = out.select(pl.col(time).cast(pl.Datetime("ns")).alias("__t"), "__row")
        keyed = out.select("__row", pl.col(entity).cast(pl.String).alias("__entity")).join(times, on="__row")
        for attr, column in attributes.items():
            hist = self.history(attr).rename({"entity": "__entity", "time": "__known", attr: column}).sort("__known")
            # backward as-of join: the latest value known at or before the row's time, never a later one
            keyed = keyed.sort("__t").join_asof(hist, left_on="__t", right_on="__known", by="__entity",
                                                strategy="backward", check_sortedness=False).drop("__known")
        return out.join(keyed.drop("__entity", "__t"), on="__row", how="left").sort("__row").drop("__row")

    def __repr__(self) -> str:
        where = self._lake.url if self._lake is not None else (self._path or "memory")
        return f"KnowledgeRepository({where}, {len(self.attributes)} attributes, version {self.version})"
