"""Integrity constraints over a graph model: domain, key (uniqueness) and referential integrity.

The survey's introduction names integrity constraints as the third component of a database model, next to
data structures and the query language. Here they are plain value objects checked by one function that
reports every violation (it never stops at the first), over any model with ``to_networkx()`` whose nodes
carry a ``label`` and attributes (for example a :class:`~workbench.graphs.LabelledGraph` instance with
properties).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Union

from workbench.graphs._checks import require_label
from workbench.graphs.patterns import as_networkx


@dataclass(frozen=True)
class DomainConstraint:
    """Attribute ``attribute`` of every ``label`` node lies in ``domain``: a type (or tuple of types), a set of
    allowed values, or a predicate. ``required=True`` also flags nodes that lack the attribute."""

    label: str
    attribute: str
    domain: Union[type, tuple, frozenset, set, Callable[[Any], bool]]
    required: bool = False

    def __post_init__(self) -> None:
        require_label("label", self.label)
        require_label("attribute", self.attribute)
        ok = (isinstance(self.domain, (type, set, frozenset)) or callable(self.domain)
              or (isinstance(self.domain, tuple) and all(isinstance(t, type) for t in self.domain)))
        if not ok:
            raise TypeError(f"domain must be a type, a tuple of types, a set of values or a predicate, "
                            f"got {self.domain!r}")

    def admits(self, value: Any) -> bool:
        if isinstance(self.domain, (type, tuple)):
            return isinstance(value, self.domain) and not (isinstance(value, bool) and self.domain in (int, float))
        if isinstance(self.domain, (set, frozenset)):
            return value in self.domain
        return bool(self.domain(value))


@dataclass(frozen=True)
class KeyConstraint:
    """No two ``label`` nodes agree on all of ``attributes`` (a key / uniqueness constraint); nodes missing a
    key attribute are reported too, since a key must identify every node."""

    label: str
    attributes: tuple[str, ...]

    def __post_init__(self) -> None:
        require_label("label", self.label)
        if isinstance(self.attributes, str) or not self.attributes:
            raise ValueError(f"attributes must be a non-empty tuple of attribute names, got {self.attributes!r}; "
                             "write ('name',) for a single attribute")
        object.__setattr__(self, "attributes", tuple(self.attributes))


@dataclass(frozen=True)
class ReferentialConstraint:
    """Every ``edge_label`` edge leaving a ``source_label`` node ends at a ``target_label`` node.

    With ``attribute`` set it is a foreign key instead: the attribute of every ``source_label`` node (if present)
    must be the id of an existing ``target_label`` node."""

    source_label: str
    target_label: str
    edge_label: str | None = None
    attribute: str | None = None

    def __post_init__(self) -> None:
        require_label("source_label", self.source_label)
        require_label("target_label", self.target_label)
        if (self.edge_label is None) == (self.attribute is None):
            raise ValueError("give exactly one of edge_label (edges must point at target_label nodes) or "
                             "attribute (a foreign-key attribute)")


Constraint = Union[DomainConstraint, KeyConstraint, ReferentialConstraint]


@dataclass(frozen=True)
class Violation:
    """One broken constraint: which constraint, where (node or edge), and a readable message."""

    constraint: Constraint
    where: Hashable
    message: str


def check_constraints(model: Any, constraints: list[Constraint]) -> list[Violation]:
    """Every violation of ``constraints`` in ``model``, in constraint order then node order."""
    g = as_networkx(model, "model")
    if not isinstance(constraints, (list, tuple)):
        raise TypeError(f"constraints must be a list of constraint objects, got {type(constraints).__name__}")
    by_label = defaultdict(list)
    for n, d in g.nodes(data=True):
        by_label[d.get("label")].append(n)
    out: list[Violation] = []
    for c in constraints:
        if isinstance(c, DomainConstraint):
            for n in by_label[c.label]:
                d = g.nodes[n]
                if c.attribute not in d:
                    if c.required:
                        out.append(Violation(c, n, f"{c.label} {n!r} has no {c.attribute!r} (required)"))
                elif not c.admits(d[c.attribute]):
                    out.append(Violation(c, n, f"{c.label} {n!r}: {c.attribute}={d[c.attribute]!r} is outside "
                                               f"the domain {getattr(c.domain, '__name__', c.domain)!r}"))
        elif isinstance(c, KeyConstraint):
            seen: dict[tuple, Hashable] = {}
            for n in by_label[c.label]:
                d = g.nodes[n]
                absent = [a for a in c.attributes if a not in d]
                if absent:
                    out.append(Violation(c, n, f"{c.label} {n!r} lacks key attribute(s) {absent}"))
                    continue
                key = tuple(d[a] for a in c.attributes)
                if key in seen:
                    out.append(Violation(c, n, f"{c.label} {n!r} repeats key {dict(zip(c.attributes, key))} "
                                               f"of {seen[key]!r}"))
                else:
                    seen[key] = n
        elif isinstance(c, ReferentialConstraint):
            sources = set(by_label[c.source_label])
            if c.edge_label is not None:
                for u, v, d in g.edges(data=True):
                    if u in sources and d.get("label") == c.edge_label and g.nodes[v].get("label") != c.target_label:
                        out.append(Violation(c, (u, c.edge_label, v),
                                             f"edge {u!r} -{c.edge_label}-> {v!r} must end at a {c.target_label}, "
                                             f"but {v!r} is a {g.nodes[v].get('label')}"))
            else:
                targets = set(by_label[c.target_label])
                for n in by_label[c.source_label]:
                    d = g.nodes[n]
                    if c.attribute in d and d[c.attribute] not in targets:
                        out.append(Violation(c, n, f"{c.source_label} {n!r}: {c.attribute}={d[c.attribute]!r} "
                                                   f"refers to no {c.target_label}"))
        else:
            raise TypeError(f"constraints holds {c!r}; expected DomainConstraint, KeyConstraint or "
                            "ReferentialConstraint")
    return out
