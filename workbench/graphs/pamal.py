"""PaMaL, the Pattern Matching Language (Gemis and Paredaens, 1993): schema and instance in one graph.

Node kinds. Schema: **class** nodes and **basic-type** nodes (``String``, ``Int``), plus **tuple** (drawn ⊗)
and **set** (drawn ✱) nodes that build structured types. Instance: **object** nodes, **value** nodes, and
tuple and set nodes again. Edge kinds: **attribute** edges (any label), **∈** edges from a set node to its
members (label ``in``), **typ** edges from an instance node to its schema node, and **isa** edges between
classes. Operations are pattern based: node and edge addition and deletion for every embedding of a pattern;
**reduction** merges instance tuple and set nodes that have become equal, and equal values; a **loop**
repeats an operation to a fixpoint and a **procedure** names a sequence of operations.

Rules (``violations``), each naming the node or edge:

- P1: ``in`` edges leave set nodes only; ``typ`` edges leave instance nodes and end at schema nodes;
- P2: a tuple node has at most one attribute edge per label and no ``in`` edges;
- P3: every instance node has exactly one ``typ`` edge, to a schema node of the matching kind
  (object → class, value → basic type, tuple → tuple, set → set);
- P4: ``isa`` edges join classes and form no cycle;
- P5: every instance edge is allowed by the schema, through ``typ`` and up the ``isa`` hierarchy;
- P6: instance values lie in their basic type's domain.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import networkx as nx

from workbench.errors import UserError
from workbench.graphs._typed import TypedGraph, reduce_duplicates

SCHEMA_KINDS = ("class", "basic", "tuple-type", "set-type")
INSTANCE_KINDS = ("object", "value", "tuple", "set")
TYP_TARGET = {"object": "class", "value": "basic", "tuple": "tuple-type", "set": "set-type"}
BASIC_DOMAINS = {"String": (str,), "Int": (int,), "Real": (int, float), "Bool": (bool,)}
SPECIAL = ("in", "typ", "isa")

SURVEY = {
    "model": "PaMaL", "year": 1993, "cite": "Gemis & Paredaens 1993",
    "reference": "M. Gemis, J. Paredaens, An object-oriented pattern matching language, JSSST 1993",
    "data_structure": "schema and instance in one graph: class, basic-type, tuple and set nodes; attribute, "
                      "in, typ and isa edges",
    "query_language": "pattern-based node/edge addition and deletion, reduction, loops and procedures",
    "integrity": "typ edges to the right kind of schema node, edges allowed by the schema via isa; tuple "
                 "attributes single-valued",
    "operators": ("node_addition", "node_deletion", "edge_addition", "edge_deletion", "reduction", "loop", "Procedure"),
}


@dataclass(frozen=True, eq=False, repr=False)
class PamalGraph(TypedGraph):
    """A PaMaL graph. Nodes ``id -> (kind, label)`` with kinds in :data:`SCHEMA_KINDS` + :data:`INSTANCE_KINDS`;
    edge labels ``in``, ``typ``, ``isa`` are PaMaL's own, any other label is an attribute."""

    KINDS: ClassVar[tuple[str, ...]] = SCHEMA_KINDS + INSTANCE_KINDS
    VALUE_KINDS: ClassVar[tuple[str, ...]] = ("value",)
    MODEL: ClassVar[str] = "pamal"

    def typ(self, node: Hashable) -> Hashable | None:
        targets = [v for u, lab, v in self.edges if u == node and lab == "typ"]
        return targets[0] if len(targets) == 1 else None

    def superclasses(self, cls: Hashable) -> set:
        """``cls`` and every class above it through isa."""
        isa = nx.DiGraph([(u, v) for u, lab, v in self.edges if lab == "isa"])
        return {cls} | (nx.descendants(isa, cls) if cls in isa else set())

    def rule_violations(self) -> list[str]:
        out = []
        kind = {n: k for n, (k, _) in self.nodes.items()}
        for u, lab, v in self.edges:
            if lab == "in" and kind[u] not in ("set", "set-type"):
                out.append(f"P1: in edge {u!r} -in-> {v!r} leaves a {kind[u]} node; only set nodes have members")
            if lab == "typ" and (kind[u] not in INSTANCE_KINDS or kind[v] not in SCHEMA_KINDS):
                out.append(f"P1: typ edge {u!r} -typ-> {v!r} must go from an instance node to a schema node")
        for n, (k, _) in self.nodes.items():
            if k in ("tuple", "tuple-type"):
                labels = [lab for lab, _ in self.out_edges(n) if lab not in ("typ",)]
                twice = sorted({lab for lab in labels if labels.count(lab) > 1})
                if "in" in labels or twice:
                    out.append(f"P2: tuple node {n!r} has " + ("an in edge" if "in" in labels
                                                             else f"repeated attributes {twice}"))
            if k in INSTANCE_KINDS:
                typs = [v for lab, v in self.out_edges(n) if lab == "typ"]
                if len(typs) != 1:
                    out.append(f"P3: instance node {n!r} has {len(typs)} typ edges; it needs exactly one")
                elif kind[typs[0]] != TYP_TARGET[k]:
                    out.append(f"P3: {k} node {n!r} is typed by {typs[0]!r}, a {kind[typs[0]]} node; it needs a "
                               f"{TYP_TARGET[k]} node")
                elif k == "value" and n in self.values:
                    domain = BASIC_DOMAINS.get(self.nodes[typs[0]][1])
                    if domain and not isinstance(self.values[n], domain):
                        out.append(f"P6: value node {n!r} holds {self.values[n]!r}, outside the domain of "
                                   f"{self.nodes[typs[0]][1]}")
        isa = [(u, v) for u, lab, v in self.edges if lab == "isa"]
        for u, v in isa:
            if kind[u] != "class" or kind[v] != "class":
                out.append(f"P4: isa edge {u!r} -isa-> {v!r} must join two class nodes")
        for cycle in sorted(nx.simple_cycles(nx.DiGraph(isa)), key=repr):
            out.append(f"P4: isa edges form a cycle {sorted(cycle, key=repr)}")
        if any(m.startswith("P3") or m.startswith("P4") for m in out):
            return out  # P5 reads typ and isa; it means nothing until they are right
        allowed = {(u, lab, v) for u, lab, v in self.edges if kind[u] in SCHEMA_KINDS and lab not in SPECIAL[1:]}
        for u, lab, v in self.edges:
            if kind[u] not in INSTANCE_KINDS or lab in ("typ", "isa"):
                continue
            tu, tv = self.typ(u), self.typ(v)
            sources = self.superclasses(tu) if kind[tu] == "class" else {tu}
            targets = self.superclasses(tv) if kind[tv] == "class" else {tv}
            if not any((s, lab, t) in allowed for s in sources for t in targets):
                out.append(f"P5: edge {u!r} -{lab}-> {v!r} is not allowed: no schema edge {tu!r} -{lab}-> {tv!r} "
                           "(nor through isa)")
        return out

    def instance_kinds(self) -> tuple[str, ...]:
        return INSTANCE_KINDS


# -- operations: each is a function graph -> graph, so that loops and procedures compose them -----------------
Operation = Callable[[PamalGraph], PamalGraph]


def node_addition(pattern: PamalGraph, new: str, kind: str, label: str, edges: Iterable[tuple]) -> Operation:
    """Add a ``kind``/``label`` node ``new`` per embedding, with ``edges`` (which may mention ``new``)."""
    return lambda g: g.add(pattern, {new: (kind, label)}, edges)


def node_deletion(pattern: PamalGraph, node: Hashable) -> Operation:
    return lambda g: g.delete(pattern, nodes=[node])


def edge_addition(pattern: PamalGraph, edges: Iterable[tuple]) -> Operation:
    edges = list(edges)
    return lambda g: g.add(pattern, {}, edges)


def edge_deletion(pattern: PamalGraph, edges: Iterable[tuple]) -> Operation:
    edges = list(edges)
    return lambda g: g.delete(pattern, edges=edges)


def reduction(graph: PamalGraph) -> PamalGraph:
    """Merge instance tuple and set nodes with the same typ and members, and equal values (to a fixpoint)."""
    return reduce_duplicates(graph, ("tuple", "set", "value"))


def loop(operation: Operation, *, max_rounds: int = 1000) -> Operation:
    """Repeat ``operation`` until the graph stops changing."""
    def run(g: PamalGraph) -> PamalGraph:
        for _ in range(max_rounds):
            nxt = operation(g)
            if nxt == g:
                return g
            g = nxt
        raise UserError(f"PaMaL loop did not reach a fixpoint in {max_rounds} rounds")
    return run


@dataclass(frozen=True)
class Procedure:
    """A named sequence of operations, called like one operation."""

    name: str
    steps: tuple

    def __call__(self, graph: PamalGraph) -> PamalGraph:
        for i, step in enumerate(self.steps):
            if not callable(step):
                raise UserError(f"procedure {self.name!r}: step {i} is {step!r}, not an operation")
            graph = step(graph)
        return graph


def pattern(nodes: dict, edges: tuple = ()) -> PamalGraph:
    return PamalGraph(nodes, edges, validate=False)


def example() -> PamalGraph:
    """A class Person (isa Agent) with a name and a set of phone numbers; two people."""
    nodes = {"Agent": ("class", "Agent"), "Person": ("class", "Person"), "String": ("basic", "String"),
             "Phones": ("set-type", "Phones"),
             "ann": ("object", "Person"), "bob": ("object", "Person"), "nA": ("value", "String"),
             "nB": ("value", "String"), "ph1": ("value", "String"), "ph2": ("value", "String"),
             "sA": ("set", "Phones"), "sB": ("set", "Phones")}
    values = {"nA": "Ann", "nB": "Bob", "ph1": "555-01", "ph2": "555-02"}
    edges = (("Person", "isa", "Agent"), ("Agent", "name", "String"), ("Person", "phones", "Phones"),
             ("Phones", "in", "String"),
             ("ann", "typ", "Person"), ("bob", "typ", "Person"), ("nA", "typ", "String"), ("nB", "typ", "String"),
             ("ph1", "typ", "String"), ("ph2", "typ", "String"), ("sA", "typ", "Phones"), ("sB", "typ", "Phones"),
             ("ann", "name", "nA"), ("bob", "name", "nB"), ("ann", "phones", "sA"), ("bob", "phones", "sB"),
             ("sA", "in", "ph1"), ("sA", "in", "ph2"), ("sB", "in", "ph1"), ("sB", "in", "ph2"))
    return PamalGraph(nodes, edges, values)


__all__ = ["BASIC_DOMAINS", "INSTANCE_KINDS", "PamalGraph", "Procedure", "SCHEMA_KINDS", "SURVEY", "edge_addition",
           "edge_deletion", "example", "loop", "node_addition", "node_deletion", "pattern", "reduction"]
