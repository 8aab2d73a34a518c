"""GOAL, the Graph-based Object and Association Language (Hidders and Paredaens, 1993).

GOAL extends GOOD with **association** nodes: an n-ary relationship is a node of its own whose outgoing edges
are its attributes, and two associations of one label with the same attributes are *the same* association
(they have no identity beyond their values). Besides them there are **object** nodes (identity) and **value**
nodes (printable). Edges are **functional** (at most one per label and node) or **multivalued**; **ISA**
edges order the object classes. Manipulation is pattern based: for every embedding of a pattern add or
delete nodes and edges; an added association equal to an existing one is the existing one.

A **schema** lists the classes with their kind, the property edges ``(class, label, class)`` (with the
multivalued labels), and ISA pairs. It is *consistent* when (S1) ISA joins object classes and has no cycle,
(S2) a class never sees one property label, declared on it or inherited, with two different targets, and
(S3) every association class has at least one property. Instance rules (``violations``):

- I1: every node's class is declared with the node's kind;
- I2: every edge is a property of the source's class or of a class above it through ISA, and its target's
  class is the declared target or below it;
- I3: a functional label occurs at most once per node;
- I4: no two associations of one class with the same attributes, no two equal values of one class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import networkx as nx

from workbench.errors import UserError
from workbench.graphs._typed import TypedGraph, duplicates, reduce_duplicates

SURVEY = {
    "model": "GOAL", "year": 1993, "cite": "Hidders & Paredaens 1993",
    "reference": "J. Hidders, J. Paredaens, GOAL, a graph-based object and association language, CISM 1993",
    "data_structure": "directed labelled graph: object, value and association nodes; functional and "
                      "multivalued edges; ISA",
    "query_language": "pattern-based addition and deletion (GOOD-style), associations merged by value",
    "integrity": "consistent schema (ISA acyclic, no conflicting inherited properties); functional edges; "
                 "associations identified by their attributes",
    "operators": ("GoalGraph.add", "GoalGraph.delete", "GoalSchema.consistency_violations"),
}


@dataclass(frozen=True)
class GoalSchema:
    """Classes ``name -> "object" | "value" | "association"``, properties ``(class, label, class)``, the
    multivalued labels, and ISA pairs ``(sub, super)``."""

    classes: Mapping[str, str]
    properties: tuple = ()
    multivalued: frozenset = frozenset()
    isa: tuple = ()

    def __post_init__(self) -> None:
        for c, k in self.classes.items():
            if k not in ("object", "value", "association"):
                raise UserError(f"GOAL schema: class {c!r} has kind {k!r}; use object, value or association")
        for p in self.properties:
            if not (isinstance(p, tuple) and len(p) == 3 and p[0] in self.classes and p[2] in self.classes):
                raise UserError(f"GOAL schema: property {p!r} must join two declared classes")
        for pair in self.isa:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(c in self.classes for c in pair)):
                raise UserError(f"GOAL schema: isa {pair!r} must be a (sub, super) pair of declared classes")
        object.__setattr__(self, "multivalued", frozenset(self.multivalued))

    def above(self, cls: str) -> set:
        """``cls`` and its superclasses."""
        g = nx.DiGraph(list(self.isa))
        return {cls} | (nx.descendants(g, cls) if cls in g else set())

    def properties_of(self, cls: str) -> dict[str, set]:
        """Label -> the targets a class sees, declared on it or inherited."""
        out: dict[str, set] = {}
        for c in self.above(cls):
            for s, lab, t in self.properties:
                if s == c:
                    out.setdefault(lab, set()).add(t)
        return out

    def consistency_violations(self) -> list[str]:
        out = []
        for sub, sup in self.isa:
            if self.classes[sub] != "object" or self.classes[sup] != "object":
                out.append(f"S1: isa {sub!r} -> {sup!r} must join object classes")
        for cycle in sorted(nx.simple_cycles(nx.DiGraph(list(self.isa))), key=repr):
            out.append(f"S1: isa forms a cycle {sorted(cycle)}")
        if out:
            return out
        for c in sorted(self.classes):
            for lab, targets in sorted(self.properties_of(c).items()):
                if len(targets) > 1:
                    out.append(f"S2: class {c!r} sees property {lab!r} with targets {sorted(targets)}; an "
                               "inherited property may not be redeclared with another target")
            if self.classes[c] == "association" and not self.properties_of(c):
                out.append(f"S3: association class {c!r} has no properties; an association is its attributes")
        return out

    def is_consistent(self) -> bool:
        return not self.consistency_violations()


@dataclass(frozen=True, eq=False, repr=False)
class GoalGraph(TypedGraph):
    """A GOAL instance over a consistent :class:`GoalSchema` (``schema=None``: a pattern)."""

    schema: GoalSchema | None = None

    KINDS: ClassVar[tuple[str, ...]] = ("object", "value", "association")
    VALUE_KINDS: ClassVar[tuple[str, ...]] = ("value",)
    MODEL: ClassVar[str] = "goal"

    def _extra_init(self) -> None:
        if self.schema is not None and self.validate:
            problems = self.schema.consistency_violations()
            if problems:
                raise UserError(f"GOAL schema is not consistent: {problems[0]}")

    def _key(self) -> tuple:
        return super()._key() + (self.schema,)

    def multivalued(self) -> frozenset:
        return self.schema.multivalued if self.schema else frozenset()

    def rule_violations(self) -> list[str]:
        out = []
        if self.schema is not None:
            s = self.schema
            for n, (kind, label) in self.nodes.items():
                if s.classes.get(label) != kind:
                    out.append(f"I1: node {n!r} is a {kind} of class {label!r}, not declared as a {kind} class")
            if not out:
                for u, lab, v in self.edges:
                    targets = s.properties_of(self.nodes[u][1]).get(lab, set())
                    if not targets & s.above(self.nodes[v][1]):
                        out.append(f"I2: edge {u!r} -{lab}-> {v!r} is not a property of {self.nodes[u][1]!r} "
                                   f"to {self.nodes[v][1]!r} (nor inherited)")
        counts = Counter((u, lab) for u, lab, _ in self.edges if lab not in self.multivalued())
        for (u, lab), c in sorted(counts.items(), key=repr):
            if c > 1:
                out.append(f"I3: node {u!r} has {c} {lab!r} edges, but {lab!r} is functional")
        for group in duplicates(self, ("association", "value")):
            out.append(f"I4: nodes {group} are equal by value; an association (or value) exists once")
        return out

    def add(self, pattern, nodes=(), edges=()) -> "GoalGraph":
        """GOOD-style addition; an added association equal to an existing one is merged into it."""
        grown = TypedGraph.add(self.replace(validate=False), pattern, nodes, edges)
        return reduce_duplicates(grown, ("association", "value"), keep=self.nodes).replace(validate=self.validate)

    @classmethod
    def from_networkx(cls, graph, schema: GoalSchema | None = None) -> "GoalGraph":
        return cls(**cls._from_networkx_fields(graph), schema=schema)


def pattern(nodes: dict, edges: tuple = (), values: dict | None = None) -> GoalGraph:
    return GoalGraph(nodes, edges, dict(values or {}), validate=False)


def example() -> GoalGraph:
    """Students and employees are persons; an Enrolment association joins a student and a course."""
    schema = GoalSchema(
        {"Person": "object", "Student": "object", "Employee": "object", "Course": "object", "String": "value",
         "Enrolment": "association"},
        (("Person", "name", "String"), ("Course", "title", "String"), ("Enrolment", "student", "Student"),
         ("Enrolment", "course", "Course"), ("Employee", "teaches", "Course")),
        multivalued=frozenset({"teaches"}), isa=(("Student", "Person"), ("Employee", "Person")))
    nodes = {"ann": ("object", "Student"), "bob": ("object", "Employee"), "db": ("object", "Course"),
             "ai": ("object", "Course"), "nA": ("value", "String"), "nB": ("value", "String"),
             "tDB": ("value", "String"), "tAI": ("value", "String"), "e1": ("association", "Enrolment")}
    values = {"nA": "Ann", "nB": "Bob", "tDB": "Databases", "tAI": "AI"}
    edges = (("ann", "name", "nA"), ("bob", "name", "nB"), ("db", "title", "tDB"), ("ai", "title", "tAI"),
             ("bob", "teaches", "db"), ("bob", "teaches", "ai"), ("e1", "student", "ann"), ("e1", "course", "db"))
    return GoalGraph(nodes, edges, values, schema=schema)


__all__ = ["GoalGraph", "GoalSchema", "SURVEY", "example", "pattern"]
