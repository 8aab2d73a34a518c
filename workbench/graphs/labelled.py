"""Labelled directed graphs, the simplest graph data model: a schema graph and instance graphs.

In the schema, nodes are type names and an edge ``(A, r, B)`` says "an A may be related to a B by r".
An instance graph has typed nodes (label = type) with properties; it conforms to a schema when every
node type is declared and every edge is allowed by a schema edge between the types of its ends.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.graphs._checks import require_edge_set, require_labelled_nodes, require_mapping

_KINDS = ("schema", "instance")

SURVEY = {
    "model": "labelled graph", "year": None, "cite": "AG08, basic notions",
    "reference": "the labelled directed graph the survey uses as the common ground of the models it reviews",
    "data_structure": "directed graph with labels on nodes and edges; a schema graph of types and instance graphs",
    "query_language": "graph patterns and regular path queries (generic, in workbench.graphs.patterns)",
    "integrity": "schema-instance conformance: declared node types, edges allowed by schema edges",
    "operators": ("schema_violations", "labelled_graph"),
}


@dataclass(frozen=True, eq=False)
class LabelledGraph:
    """A directed multigraph with a label on every node and every edge.

    Parameters
    ----------
    nodes : mapping node id -> label (for a schema: the type name itself; for an instance: its type).
    edges : iterable of ``(source, label, target)``.
    properties : optional mapping node id -> {attribute: value} (instances only).
    kind : ``"schema"`` or ``"instance"``.
    """

    nodes: Mapping[Hashable, str]
    edges: tuple[tuple[Hashable, str, Hashable], ...] = ()
    properties: Mapping[Hashable, Mapping[str, Any]] = field(default_factory=dict)
    kind: str = "instance"

    def __post_init__(self) -> None:
        nodes = require_labelled_nodes("nodes", self.nodes)
        edges = require_edge_set("edges", self.edges, nodes)
        props = dict(require_mapping("properties", self.properties))
        for node, attrs in props.items():
            if node not in nodes:
                raise ValueError(f"properties has node {node!r} that is not in nodes; add it to nodes or drop it")
            require_mapping(f"properties[{node!r}]", attrs)
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "schema" and props:
            raise ValueError("properties are for instance graphs; a schema graph carries types only (kind='instance')")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "properties", MappingProxyType({k: dict(v) for k, v in props.items()}))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelledGraph):
            return NotImplemented
        return (self.kind == other.kind and dict(self.nodes) == dict(other.nodes)
                and set(self.edges) == set(other.edges) and dict(self.properties) == dict(other.properties))

    def __repr__(self) -> str:
        return f"LabelledGraph(kind={self.kind!r}, {len(self.nodes)} nodes, {len(self.edges)} edges)"

    def to_networkx(self) -> nx.MultiDiGraph:
        """A ``MultiDiGraph``: node attribute ``label`` plus the properties, edge attribute ``label`` (also the key)."""
        g = nx.MultiDiGraph(model="labelled", kind=self.kind)
        for node, label in self.nodes.items():
            g.add_node(node, label=label, **self.properties.get(node, {}))
        for u, label, v in self.edges:
            g.add_edge(u, v, key=label, label=label)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph | nx.MultiDiGraph, kind: str | None = None) -> "LabelledGraph":
        """Inverse of :meth:`to_networkx`; every node and edge needs a ``label`` attribute."""
        if not isinstance(graph, nx.DiGraph):
            raise TypeError(f"graph must be a networkx DiGraph or MultiDiGraph, got {type(graph).__name__}")
        nodes, props = {}, {}
        for node, data in graph.nodes(data=True):
            if "label" not in data:
                raise ValueError(f"graph node {node!r} has no 'label' attribute; set graph.nodes[n]['label']")
            nodes[node] = data["label"]
            extra = {k: v for k, v in data.items() if k != "label"}
            if extra:
                props[node] = extra
        edges = []
        for u, v, data in graph.edges(data=True):
            if "label" not in data:
                raise ValueError(f"graph edge {u!r}->{v!r} has no 'label' attribute; set it on every edge")
            edges.append((u, data["label"], v))
        return cls(nodes, tuple(edges), props, kind or graph.graph.get("kind", "instance"))


def schema_violations(instance: LabelledGraph, schema: LabelledGraph) -> list[str]:
    """Messages for every way ``instance`` fails to conform to ``schema`` (empty list: it conforms)."""
    if not isinstance(instance, LabelledGraph) or not isinstance(schema, LabelledGraph):
        raise TypeError("instance and schema must both be LabelledGraph objects")
    if schema.kind != "schema":
        raise ValueError(f"schema must have kind='schema', got kind={schema.kind!r}")
    types = set(schema.nodes.values())
    allowed = {(schema.nodes[u], label, schema.nodes[v]) for u, label, v in schema.edges}
    problems = [f"node {n!r} has type {t!r}, which the schema does not declare"
                for n, t in instance.nodes.items() if t not in types]
    for u, label, v in instance.edges:
        signature = (instance.nodes[u], label, instance.nodes[v])
        if signature not in allowed:
            problems.append(f"edge {u!r} -{label}-> {v!r} ({signature[0]} -{label}-> {signature[2]}) "
                            "is not allowed by any schema edge")
    return problems


def labelled_graph(edges: Iterable[tuple[Hashable, str, Hashable]], labels: Mapping[Hashable, str],
                   properties: Mapping | None = None, kind: str = "instance") -> LabelledGraph:
    """Convenience constructor: ``labelled_graph([("ann", "knows", "bob")], {"ann": "Person", "bob": "Person"})``."""
    return LabelledGraph(dict(labels), tuple(edges), dict(properties or {}), kind)
