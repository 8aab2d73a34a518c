"""GMOD (Andries, Gemis, Paredaens, Thyssens, Van den Bussche, EDBT 1992): one operation, pattern matching.

A GMOD schema is a graph of **class** nodes (drawn as rectangles) and **primitive** classes (ovals, such as
``String``), joined by labelled property edges. An instance has object nodes (rectangles, labelled by their
class) and primitive nodes (ovals holding a value). A primitive value may be unknown (``None``): GMOD admits
incomplete information. Query, update and view are all *pattern matching*: a pattern is a small instance-shaped
graph; a query returns its embeddings, an update adds or deletes nodes and edges once per embedding, and a view
is the part of the instance covered by the embeddings.

Rules an instance obeys (``violations``), each message naming the node or edge:

- G1: every node's class is declared by the schema, with the same kind (object / primitive);
- G2: every edge ``u -p-> v`` is allowed by a schema edge ``class(u) -p-> class(v)``;
- G3: primitive nodes have no outgoing edges;
- G4: a known primitive value lies in its primitive class's domain.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.errors import UserError
from workbench.graphs._typed import TypedGraph

#: Domains of the primitive classes (what G4 checks).
PRIMITIVE_DOMAINS: dict[str, tuple[type, ...]] = {"String": (str,), "Int": (int,), "Real": (int, float),
                                                  "Bool": (bool,)}

SURVEY = {
    "model": "GMOD", "year": 1992, "cite": "Andries et al. 1992",
    "reference": "M. Andries, M. Gemis, J. Paredaens, I. Thyssens, J. Van den Bussche, Concepts for "
                 "graph-oriented object manipulation, EDBT 1992",
    "data_structure": "directed labelled graph: class nodes and primitive-value nodes; schema graph and "
                      "instance graph; unknown values allowed",
    "query_language": "graph patterns as the single operation for query, update (add/delete) and view; "
                      "G-Log rules over it",
    "integrity": "schema-instance consistency (classes and property edges); primitive domains",
    "operators": ("GmodGraph.query", "GmodGraph.view", "GmodGraph.add", "GmodGraph.delete", "glog.evaluate"),
}


@dataclass(frozen=True)
class GmodSchema:
    """Classes ``name -> "object" | "primitive"`` and property edges ``(class, property, class)``."""

    classes: Mapping[str, str]
    properties: tuple = ()

    def __post_init__(self) -> None:
        for c, kind in self.classes.items():
            if kind not in ("object", "primitive"):
                raise UserError(f"GMOD schema: class {c!r} must be 'object' or 'primitive', got {kind!r}")
            if kind == "primitive" and c not in PRIMITIVE_DOMAINS:
                raise UserError(f"GMOD schema: primitive class {c!r} is unknown; use one of "
                                f"{sorted(PRIMITIVE_DOMAINS)}")
        for p in self.properties:
            if not (isinstance(p, tuple) and len(p) == 3 and p[0] in self.classes and p[2] in self.classes):
                raise UserError(f"GMOD schema: property {p!r} must join two declared classes")
            if self.classes[p[0]] == "primitive":
                raise UserError(f"GMOD schema: property {p!r} leaves primitive class {p[0]!r}; values have no "
                                "properties")
        object.__setattr__(self, "properties", tuple(dict.fromkeys(self.properties)))


@dataclass(frozen=True, eq=False, repr=False)
class GmodGraph(TypedGraph):
    """A GMOD instance (or pattern: ``schema=None``, unknown labels and values match anything).

    Parameters
    ----------
    nodes : id -> ``("object", class)`` or ``("primitive", primitive class)``.
    edges : ``(source, property, target)``.
    values : primitive node -> value (``None``: unknown).
    schema : the :class:`GmodSchema` the instance must conform to; ``None`` for a pattern.
    """

    schema: GmodSchema | None = None

    KINDS: ClassVar[tuple[str, ...]] = ("object", "primitive")
    VALUE_KINDS: ClassVar[tuple[str, ...]] = ("primitive",)
    MODEL: ClassVar[str] = "gmod"

    def _key(self) -> tuple:
        return super()._key() + (self.schema,)

    def rule_violations(self) -> list[str]:
        out = []
        for n, (kind, _) in self.nodes.items():
            if kind == "primitive" and self.out_edges(n):
                out.append(f"G3: primitive node {n!r} has outgoing edges {sorted(l for l, _ in self.out_edges(n))}")
        if self.schema is None:
            return out
        classes, allowed = self.schema.classes, set(self.schema.properties)
        for n, (kind, label) in self.nodes.items():
            if label not in classes or classes[label] != kind:
                out.append(f"G1: node {n!r} is a {kind} of class {label!r}, which the schema does not declare "
                           f"as a {kind} class")
            elif kind == "primitive" and self.values.get(n) is not None:
                value = self.values[n]
                if not isinstance(value, PRIMITIVE_DOMAINS[label]) or (label != "Bool" and isinstance(value, bool)):
                    out.append(f"G4: primitive node {n!r} holds {value!r}, outside the domain of {label}")
        for u, p, v in self.edges:
            signature = (self.nodes[u][1], p, self.nodes[v][1])
            if signature not in allowed:
                out.append(f"G2: edge {u!r} -{p}-> {v!r} ({signature[0]} -{p}-> {signature[2]}) is not a schema "
                           "property")
        return out

    def unknown_values(self) -> list[Hashable]:
        """Primitive nodes whose value is unknown (incomplete information)."""
        return sorted((n for n, (k, _) in self.nodes.items() if k == "primitive" and self.values.get(n) is None),
                      key=repr)

    def query(self, pattern: "GmodGraph") -> list[dict]:
        """The embeddings of ``pattern`` (GMOD's query is a pattern; an unknown value matches only a pattern
        node that leaves the value open)."""
        return self.match(pattern)

    def view(self, pattern: "GmodGraph") -> "GmodGraph":
        """The view defined by ``pattern``: the nodes and edges of the instance that some embedding covers."""
        keep_nodes, keep_edges = set(), set()
        for emb in self.match(pattern):
            keep_nodes |= set(emb.values())
            keep_edges |= {(emb[u], p, emb[v]) for u, p, v in pattern.edges}
        return self.replace(nodes={n: s for n, s in self.nodes.items() if n in keep_nodes},
                            edges=tuple(e for e in self.edges if e in keep_edges),
                            values={n: v for n, v in self.values.items() if n in keep_nodes})

    @classmethod
    def from_networkx(cls, graph, schema: GmodSchema | None = None) -> "GmodGraph":
        """Inverse of :meth:`to_networkx` (the schema is not part of the networkx graph; pass it again)."""
        return cls(**cls._from_networkx_fields(graph), schema=schema)


def pattern(nodes: Mapping[Hashable, tuple], edges: tuple = (), values: Mapping[Hashable, Any] | None = None
            ) -> GmodGraph:
    """A GMOD pattern: no schema, ``None`` labels and values as wildcards."""
    return GmodGraph(dict(nodes), tuple(edges), dict(values or {}), validate=False)


def example() -> GmodGraph:
    """People, the papers they wrote and their ages; Cid's age is unknown."""
    schema = GmodSchema({"Person": "object", "Paper": "object", "String": "primitive", "Int": "primitive"},
                        (("Person", "name", "String"), ("Person", "age", "Int"), ("Person", "wrote", "Paper"),
                         ("Paper", "title", "String"), ("Person", "knows", "Person")))
    nodes = {"ann": ("object", "Person"), "bob": ("object", "Person"), "cid": ("object", "Person"),
             "p1": ("object", "Paper"), "n1": ("primitive", "String"), "n2": ("primitive", "String"),
             "n3": ("primitive", "String"), "a1": ("primitive", "Int"), "a2": ("primitive", "Int"),
             "a3": ("primitive", "Int"), "t1": ("primitive", "String")}
    values = {"n1": "Ann", "n2": "Bob", "n3": "Cid", "a1": 41, "a2": 35, "a3": None, "t1": "Graphs"}
    edges = (("ann", "name", "n1"), ("bob", "name", "n2"), ("cid", "name", "n3"), ("ann", "age", "a1"),
             ("bob", "age", "a2"), ("cid", "age", "a3"), ("ann", "wrote", "p1"), ("bob", "wrote", "p1"),
             ("p1", "title", "t1"), ("ann", "knows", "bob"), ("bob", "knows", "cid"))
    return GmodGraph(nodes, edges, values, schema=schema)


__all__ = ["GmodGraph", "GmodSchema", "PRIMITIVE_DOMAINS", "SURVEY", "example", "pattern"]
