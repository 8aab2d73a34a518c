"""The registry: what features exist, what functions compute them, and the graph between the two.

Features are named ``/<domain>/feature/<entity>/<name>``; functions ``/<domain>/function/<inference|
interpretation>/<name>``.  A function is a directed hyperedge from its input features to its output
features; the registry refuses an edge that would close a cycle, so every cascade of recomputations
triggered by a write terminates.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import polars as pl

from workbench.errors import UserError

DTYPES = ("float", "int", "bool", "string", "categorical")
KINDS = ("ML", "DL", "RULE", "OPTIMIZATION", "INTERPRETATION")

_SEGMENT = r"[a-z][a-z0-9_]*"
_MEDIA = r"(?:(?P<media>text|image|audio|video)/)?"  # the design's optional media segment
FEATURE_NAME = re.compile(rf"^/(?P<domain>{_SEGMENT})/feature/(?P<entity>{_SEGMENT})/{_MEDIA}(?P<name>{_SEGMENT})$")
FUNCTION_NAME = re.compile(
    rf"^/(?P<domain>{_SEGMENT})/function/(?P<role>inference|interpretation)/{_MEDIA}(?P<name>{_SEGMENT})$"
)
FEATURE_CONVENTION = ("/<domain>/feature/<entity>/<name> (lower-case segments, e.g. /telecom/feature/customer/drops; "
                      "an optional text|image|audio|video segment may precede <name>)")
FUNCTION_CONVENTION = (
    "/<domain>/function/<inference|interpretation>/<name> (e.g. /telecom/function/inference/churn_score)"
)


def check_feature_name(name: Any) -> re.Match:
    """Return the regex match of a valid feature name, or raise a ValueError that shows the convention."""
    if not isinstance(name, str) or not (m := FEATURE_NAME.match(name)):
        raise ValueError(f"feature name {name!r} does not follow {FEATURE_CONVENTION}")
    return m


def check_function_name(name: Any) -> re.Match:
    """Return the regex match of a valid function name, or raise a ValueError that shows the convention."""
    if not isinstance(name, str) or not (m := FUNCTION_NAME.match(name)):
        raise ValueError(f"function name {name!r} does not follow {FUNCTION_CONVENTION}")
    return m


@dataclass(frozen=True)
class FeatureSpec:
    """A registered feature: its full name, value type, unit and description, and, for an aggregate, the
    window it summarises (``window="day"``: each value is stamped at its day's end, so at midnight)."""

    name: str
    dtype: str
    unit: str | None = None
    description: str = ""
    categories: tuple[str, ...] | None = None
    window: str | None = None

    @property
    def entity(self) -> str:
        """The entity the feature describes (the key must contain it)."""
        return FEATURE_NAME.match(self.name)["entity"]

    @property
    def domain(self) -> str:
        return FEATURE_NAME.match(self.name)["domain"]

    def to_json(self) -> dict:
        d = asdict(self)
        d["categories"] = list(self.categories) if self.categories is not None else None
        if d["window"] is None:  # registries written before aggregation windows existed stay byte-identical
            del d["window"]
        return d


def _pairs(value, what: str) -> tuple[tuple[str, str], ...]:
    """A mapping given as a dict or as (name, field) pairs -> sorted pairs of non-empty texts."""
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = tuple(sorted((k, v) for k, v in items))
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a dict {{feature name: model field}}, got {value!r}") from None
    for k, v in pairs:
        if not isinstance(k, str) or not isinstance(v, str) or not v:
            raise UserError(f"{what}: {k!r} -> {v!r}; both sides must be non-empty text (feature name -> field)")
    return pairs


@dataclass(frozen=True)
class HttpInvocation:
    """How to call a function over HTTP: POST the input frame as JSON records, read JSON records back.

    A model behind HTTP has its own field names. ``feature_request_mapping={feature: field}`` renames input
    feature columns to the model's request fields; ``feature_response_mapping={feature: field}`` names the
    response field that holds each output feature (renamed back to the feature on the way in). Features
    left out travel under their full names; ``key`` and ``time`` always keep theirs."""

    url: str
    method: str = "POST"
    timeout_s: float = 30.0
    headers: tuple[tuple[str, str], ...] = ()
    feature_request_mapping: tuple[tuple[str, str], ...] = ()
    feature_response_mapping: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("feature_request_mapping", "feature_response_mapping"):
            pairs = _pairs(getattr(self, name), name)
            fields = [f for _, f in pairs]
            twice = sorted({f for f in fields if fields.count(f) > 1})
            if twice:
                raise UserError(f"{name} maps several features to field(s) {twice}; each feature needs its own field")
            reserved = sorted({f for f in fields if f in ("key", "time")})
            if reserved:
                raise UserError(f"{name} uses the reserved field(s) {reserved}: 'key' and 'time' always travel "
                                f"under their own names; pick another field name")
            object.__setattr__(self, name, pairs)

    def to_json(self) -> dict:
        d = {"url": self.url, "method": self.method, "timeout_s": self.timeout_s,
             "headers": [list(h) for h in self.headers]}
        for name in ("feature_request_mapping", "feature_response_mapping"):
            if getattr(self, name):  # registries written before the mappings existed stay byte-identical
                d[name] = dict(getattr(self, name))
        return d

    @classmethod
    def from_json(cls, d: dict) -> "HttpInvocation":
        return cls(d["url"], d["method"], d["timeout_s"], tuple(map(tuple, d["headers"])),
                   _pairs(d.get("feature_request_mapping", {}), "feature_request_mapping"),
                   _pairs(d.get("feature_response_mapping", {}), "feature_response_mapping"))


@dataclass(frozen=True)
class FunctionSpec:
    """A registered function: a hyperedge from ``inputs`` (features) + ``attributes`` (key attributes it
    reads) to ``outputs`` (features), with a kind and an invocation (callable or HTTP)."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kind: str = "ML"
    attributes: tuple[str, ...] = ()
    description: str = ""
    ttl_ns: int | None = None
    callable_ref: str | None = None  # "module:qualname" when the callable can be re-imported
    http: HttpInvocation | None = None
    fn: Callable | None = field(default=None, compare=False, repr=False)
    # Knowledge-repository attributes the resolver attaches to each input row, as valid at the row's time
    # (point-in-time, like features), for the entity named by the inputs' ``<entity>`` segment.
    knowledge: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.http is None:
            return
        # Mappings name the function's own features; anything else is a typo to report before any call.
        for what, mapping, allowed, side in (
                ("feature_request_mapping", self.http.feature_request_mapping, self.inputs, "inputs"),
                ("feature_response_mapping", self.http.feature_response_mapping, self.outputs, "outputs")):
            unknown = [k for k, _ in mapping if k not in allowed]
            if unknown:
                raise UserError(f"function {self.name!r}: {what} names {unknown}, which are not among its {side} "
                                f"{list(allowed)}; map only the function's own {side}")
        renamed = dict(self.http.feature_request_mapping)
        clash = sorted(set(renamed.values()) & (set(self.inputs) - set(renamed)))
        if clash:
            raise UserError(f"function {self.name!r}: feature_request_mapping renames a feature to {clash}, the "
                            f"name of another input that travels unrenamed; pick distinct field names")

    @property
    def role(self) -> str:
        return FUNCTION_NAME.match(self.name)["role"]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "kind": self.kind,
            "attributes": list(self.attributes),
            "description": self.description,
            "ttl_ns": self.ttl_ns,
            "callable_ref": self.callable_ref,
            "http": None if self.http is None else self.http.to_json(),
            # only when used, so registries written before the field existed keep their stored form
            **({"knowledge": list(self.knowledge)} if self.knowledge else {}),
        }

    @classmethod
    def from_json(cls, d: dict) -> "FunctionSpec":
        http = d.get("http")
        if http is not None:
            http = HttpInvocation.from_json(http)
        return cls(
            name=d["name"],
            inputs=tuple(d["inputs"]),
            outputs=tuple(d["outputs"]),
            kind=d["kind"],
            attributes=tuple(d["attributes"]),
            description=d.get("description", ""),
            ttl_ns=d.get("ttl_ns"),
            callable_ref=d.get("callable_ref"),
            http=http,
            knowledge=tuple(d.get("knowledge", ())),
        )


def callable_ref(fn: Callable) -> str | None:
    """``module:qualname`` if ``fn`` can be imported back by that name in another process, else None."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname or module == "__main__":
        return None
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - any failure means "not re-importable", which is an answer
        return None
    return f"{module}:{qualname}" if obj is fn else None


def import_callable(ref: str) -> Callable:
    module, qualname = ref.split(":", 1)
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class Registry:
    """Features and functions of one lake; immutable-by-copy (every change returns a new Registry) so a
    commit can hold the registry exactly as it was when the commit was made."""

    def __init__(self, features: dict[str, FeatureSpec] | None = None, functions: dict[str, FunctionSpec] | None = None):
        self._features = dict(features or {})
        self._functions = dict(functions or {})

    # ---- persistence -------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "features": [f.to_json() for f in self._features.values()],
            "functions": [f.to_json() for f in self._functions.values()],
        }

    @classmethod
    def from_json(cls, d: dict) -> "Registry":
        feats = {}
        for f in d.get("features", []):
            cats = f.get("categories")
            feats[f["name"]] = FeatureSpec(f["name"], f["dtype"], f.get("unit"), f.get("description", ""),
                                           tuple(cats) if cats is not None else None, f.get("window"))
        funcs = {f["name"]: FunctionSpec.from_json(f) for f in d.get("functions", [])}
        return cls(feats, funcs)

    # ---- queries -----------------------------------------------------------------------------------
    @property
    def features(self) -> dict[str, FeatureSpec]:
        return dict(self._features)

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return dict(self._functions)

    def feature(self, name: str) -> FeatureSpec:
        """The feature called ``name``; KeyError lists near names when it is unknown."""
        try:
            return self._features[name]
        except KeyError:
            raise KeyError(f"unknown feature {name!r}; registered: {sorted(self._features)}") from None

    def function(self, name: str) -> FunctionSpec:
        """The function called ``name``."""
        try:
            return self._functions[name]
        except KeyError:
            raise KeyError(f"unknown function {name!r}; registered: {sorted(self._functions)}") from None

    def inputs_of(self, function: str) -> tuple[str, ...]:
        """The input features of a function."""
        return self.function(function).inputs

    def readers_of(self, feature: str) -> list[str]:
        """The functions that read ``feature`` (the function resolver's question)."""
        return sorted(n for n, f in self._functions.items() if feature in f.inputs)

    def producer_of(self, feature: str) -> str | None:
        """The function that writes ``feature``, if any."""
        for n, f in self._functions.items():
            if feature in f.outputs:
                return n
        return None

    def features_table(self) -> pl.DataFrame:
        """One row per feature: name, entity, dtype, unit, description, produced_by, read_by."""
        rows = [
            {
                "name": f.name,
                "entity": f.entity,
                "dtype": f.dtype,
                "unit": f.unit,
                "description": f.description,
                "produced_by": self.producer_of(f.name),
                "read_by": ", ".join(self.readers_of(f.name)),
            }
            for f in self._features.values()
        ]
        schema = {k: pl.String for k in ("name", "entity", "dtype", "unit", "description", "produced_by", "read_by")}
        return pl.DataFrame(rows, schema=schema)

    def functions_table(self) -> pl.DataFrame:
        """One row per function: name, role, kind, inputs, outputs, invocation."""
        rows = [
            {
                "name": f.name,
                "role": f.role,
                "kind": f.kind,
                "inputs": ", ".join(f.inputs),
                "outputs": ", ".join(f.outputs),
                "invocation": "http" if f.http else ("callable" if (f.fn or f.callable_ref) else "unbound"),
            }
            for f in self._functions.values()
        ]
        schema = {k: pl.String for k in ("name", "role", "kind", "inputs", "outputs", "invocation")}
        return pl.DataFrame(rows, schema=schema)

    def topological_functions(self) -> list[str]:
        """Functions ordered so that every producer comes before its readers (Kahn's algorithm)."""
        deps = {n: {self.producer_of(i) for i in f.inputs} - {None} for n, f in self._functions.items()}
        order, ready = [], sorted(n for n, d in deps.items() if not d)
        while ready:
            n = ready.pop(0)
            order.append(n)
            for m in sorted(deps):
                if n in deps[m]:
                    deps[m].discard(n)
                    if not deps[m] and m not in order and m not in ready:
                        ready.append(m)
        return order

    # ---- changes (each returns a new Registry) ----------------------------------------------------
    def with_feature(self, spec: FeatureSpec) -> "Registry":
        old = self._features.get(spec.name)
        if old is not None and (old.dtype, old.categories, old.window) != (spec.dtype, spec.categories, spec.window):
            raise ValueError(
                f"feature {spec.name!r} is already registered with dtype={old.dtype!r}; a feature's type "
                f"cannot change under stored values: register a new name (e.g. a _v2 suffix)"
            )
        return Registry({**self._features, spec.name: spec}, self._functions)

    def with_function(self, spec: FunctionSpec) -> "Registry":
        for feat in spec.inputs + spec.outputs:
            if feat not in self._features:
                raise ValueError(
                    f"function {spec.name!r} refers to unregistered feature {feat!r}; "
                    f"register it first with lake.register_feature({feat!r}, dtype=...)"
                )
        for out in spec.outputs:
            producer = self.producer_of(out)
            if producer is not None and producer != spec.name:
                raise ValueError(
                    f"feature {out!r} is already produced by {producer!r}; one producer per feature keeps "
                    f"lineage unambiguous"
                )
        cycle = self._cycle_through(spec)
        if cycle:
            raise ValueError(
                f"function {spec.name!r} would close a cycle: {' -> '.join(cycle)}; a feature may not "
                f"depend on itself through functions"
            )
        return Registry(self._features, {**self._functions, spec.name: spec})

    def _cycle_through(self, spec: FunctionSpec) -> list[str] | None:
        # Depth-first search from each output of the new function along "feature -> reader's outputs";
        # reaching one of its inputs means the new hyperedge closes a cycle.
        funcs = {**self._functions, spec.name: spec}
        targets = set(spec.inputs)

        def walk(feature: str, path: list[str], seen: set[str]) -> list[str] | None:
            if feature in targets:
                return path
            for fname, f in funcs.items():
                if feature in f.inputs and fname not in seen:
                    for out in f.outputs:
                        found = walk(out, path + [fname, out], seen | {fname})
                        if found:
                            return found
            return None

        for out in spec.outputs:
            found = walk(out, [spec.name, out], {spec.name})
            if found:
                return [found[-1]] + found
        return None
