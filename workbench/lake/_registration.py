"""The registry's commands: register a feature or a function, each one commit (re-registering the same is a no-op)."""

from __future__ import annotations

from typing import Callable, Sequence

from workbench.errors import UserError
from workbench.lake._keys import WINDOWS
from workbench.lake._queries import duration_ns
from workbench.lake._registry import (DTYPES, FEATURE_NAME, KINDS, FeatureSpec, FunctionSpec, HttpInvocation, callable_ref,
                                      check_feature_name, check_function_name)
from workbench.lake.media import MEDIA


def register_feature(lake, name: str, dtype: str, unit: str | None = None, description: str = "",
                     categories: Sequence[str] | None = None, window: str | None = None) -> FeatureSpec:
    """:meth:`FeatureLake.register_feature` (documented there), for ``lake``."""
    check_feature_name(name)
    if dtype not in DTYPES and dtype not in MEDIA:
        raise ValueError(f"dtype={dtype!r} for feature {name!r}; expected one of {DTYPES} or a media "
                         f"quantity {MEDIA}")
    if categories is not None:
        if dtype != "categorical":
            raise ValueError(f"categories= only applies to dtype='categorical', not {dtype!r}")
        categories = tuple(str(c) for c in categories)
    if unit is not None and not isinstance(unit, str):
        raise TypeError(f"unit must be text such as 'dB' or 's', got {unit!r}")
    if window is not None and window not in WINDOWS:
        raise UserError(f"window={window!r} for feature {name!r}; expected one of {WINDOWS} (or None for a "
                        f"value that is not an aggregate)")
    spec = FeatureSpec(name, dtype, unit, description, categories, window)
    with lake.writing():
        head = lake._head()
        reg = lake._registry_of(head)
        if reg.features.get(name) == spec:
            return spec
        old = reg.features.get(name)
        new = reg.with_feature(spec)  # refuses a dtype change
        if old is not None and old.unit != spec.unit:
            raise UserError(
                f"feature {name!r} is registered with unit={old.unit!r}, not {unit!r}; stored values keep "
                f"their unit, so register the new unit under a new name (e.g. a _v2 suffix)")
        new = reg.with_feature(spec)
        lake._publish(operation="register_feature", registry=new, windows=head["windows"], deltas=None,
                      n_deltas=0, processed_through=head["processed_through"], parent=head["id"],
                      extra={"subject": name})
    return spec


def register_function(lake, name: str, fn: Callable | None, inputs: Sequence[str], outputs: Sequence[str],
                      kind: str = "ML", *, attributes: Sequence[str] = (), description: str = "",
                      ttl=None, http: HttpInvocation | dict | None = None,
                      knowledge: Sequence[str] = ()) -> FunctionSpec:
    """:meth:`FeatureLake.register_function` (documented there), for ``lake``."""
    check_function_name(name)
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} for function {name!r}; expected one of {KINDS}")
    inputs, outputs = tuple(inputs), tuple(outputs)
    if not inputs or not outputs:
        raise ValueError(f"function {name!r} needs at least one input and one output feature")
    if set(inputs) & set(outputs):
        raise ValueError(f"function {name!r} reads and writes {sorted(set(inputs) & set(outputs))}: a cycle")
    if isinstance(http, dict):
        http = HttpInvocation(**{**http, "headers": tuple(tuple(h) for h in dict(http.get("headers", {})).items())})
    if (fn is None) == (http is None):
        raise ValueError(f"function {name!r}: pass exactly one of fn (a callable) or http (an invocation)")
    if fn is not None and not callable(fn):
        raise TypeError(f"fn for {name!r} must be callable, got {type(fn).__name__}")
    knowledge = (knowledge,) if isinstance(knowledge, str) else tuple(knowledge)
    if knowledge:
        check_knowledge_inputs(lake, name, inputs, knowledge)
    spec = FunctionSpec(name=name, inputs=inputs, outputs=outputs, kind=kind, attributes=tuple(attributes),
                        description=description, ttl_ns=duration_ns(ttl, "ttl"),
                        callable_ref=callable_ref(fn) if fn is not None else None, http=http,
                        knowledge=knowledge)
    with lake.writing():
        head = lake._head()
        reg = lake._registry_of(head)
        old = reg.functions.get(name)
        if old is None or old.to_json() != spec.to_json():
            new = reg.with_function(spec)
            lake._publish(operation="register_function", registry=new, windows=head["windows"], deltas=None,
                          n_deltas=0, processed_through=head["processed_through"], parent=head["id"],
                          extra={"subject": name})
        if fn is not None:
            lake._callables[name] = fn
    return spec


def knowledge_entity(inputs: Sequence[str]) -> str:
    """The entity whose knowledge attributes a function reads: its inputs' ``<entity>`` segment."""
    return FEATURE_NAME.match(inputs[0])["entity"]


def check_knowledge_inputs(lake, name: str, inputs: Sequence[str], knowledge: Sequence[str]) -> None:
    """Refuse, in one line, knowledge attributes that are not defined, or inputs of several entities."""
    entities = sorted({FEATURE_NAME.match(f)["entity"] for f in inputs if FEATURE_NAME.match(f)})
    if len(entities) != 1:
        raise UserError(f"function {name!r}: knowledge attributes are attached for one entity, but its inputs "
                        f"belong to {entities}; split the function or drop knowledge=")
    defined = lake.knowledge.attributes
    unknown = [a for a in knowledge if a not in defined]
    if unknown:
        raise UserError(f"function {name!r}: knowledge attribute(s) {unknown} are not defined in the lake's "
                        f"knowledge repository (defined: {sorted(defined)}); define them with "
                        "lake.knowledge.define_attribute first")
