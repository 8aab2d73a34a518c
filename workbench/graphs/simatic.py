"""Simatic-XT networks (Mainguenaud, 1992): typed networks and the operators over them.

Simatic-XT was designed for multi-scaled networks such as transport or utility networks. A **network type**
names its node types and the edge types allowed between them (a road network joins towns by roads; a rail
network stations by lines). A **network** is a graph of that type. Levels of detail come from master nodes
and master edges (:mod:`workbench.graphs.nested`): :meth:`Network.nest` groups nodes under masters, and the
closed view carries, on each master node, the number of nodes it stands for (``size``) and, on each master
edge, how many base edges it summarises (``multiplicity``).

The operators take networks to networks (or to a truth value): **union**, **intersection**, **difference**,
**concatenation** (two networks glued at named node pairs), **selection** (the sub-network whose nodes and
edges satisfy predicates), **path** (the sub-network of every walk from one node to another) and
**inclusion** (is one network a sub-network of the other).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.errors import UserError
from workbench.graphs._checks import require_labelled_nodes
from workbench.graphs.nested import NestedGraph

SURVEY = {
    "model": "Simatic-XT", "year": 1992, "cite": "Mainguenaud 1992",
    "reference": "M. Mainguenaud, Simatic-XT: a data model to deal with multi-scaled networks, Computers, "
                 "Environment and Urban Systems 16(4), 1992",
    "data_structure": "typed networks with master nodes and master edges (nested levels of detail)",
    "query_language": "network operators: union, intersection, difference, concatenation, selection, path, "
                      "inclusion; develop/undevelop",
    "integrity": "network types (allowed node and edge types); masters nest as a tree",
    "operators": ("union", "intersection", "difference", "concatenation", "selection", "path", "inclusion", "nested.NestedGraph.develop", "nested.NestedGraph.undevelop"),
}


@dataclass(frozen=True)
class NetworkType:
    """``node_types`` and the ``edge_types`` ``(source type, label, target type)`` a network may use."""

    name: str
    node_types: frozenset
    edge_types: frozenset = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_types", frozenset(self.node_types))
        object.__setattr__(self, "edge_types", frozenset(self.edge_types))
        for e in self.edge_types:
            if not (isinstance(e, tuple) and len(e) == 3 and e[0] in self.node_types and e[2] in self.node_types):
                raise UserError(f"network type {self.name!r}: edge type {e!r} must join two of its node types")


@dataclass(frozen=True, eq=False)
class Network:
    """A network of type ``type``: nodes ``id -> node type``, edges ``(u, label, v)``, node ``attributes``."""

    type: NetworkType
    nodes: Mapping[Hashable, str]
    edges: tuple = ()
    attributes: Mapping[Hashable, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.type, NetworkType):
            raise UserError(f"type must be a NetworkType, got {type(self.type).__name__}")
        nodes = require_labelled_nodes("nodes", self.nodes)
        for n, t in nodes.items():
            if t not in self.type.node_types:
                raise UserError(f"network {self.type.name!r}: node {n!r} has type {t!r}, not one of "
                                f"{sorted(self.type.node_types)}")
        for e in self.edges:
            if not (isinstance(e, tuple) and len(e) == 3) or e[0] not in nodes or e[2] not in nodes:
                raise UserError(f"network {self.type.name!r}: edge {e!r} must join two of its nodes")
            if (nodes[e[0]], e[1], nodes[e[2]]) not in self.type.edge_types:
                raise UserError(f"network {self.type.name!r}: edge {e!r} ({nodes[e[0]]} -{e[1]}-> {nodes[e[2]]}) "
                                "is not an edge type of the network type")
        attrs = {n: dict(a) for n, a in dict(self.attributes).items() if n in nodes}
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", tuple(dict.fromkeys(self.edges)))
        object.__setattr__(self, "attributes", MappingProxyType(attrs))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (self.type == other.type and dict(self.nodes) == dict(other.nodes)
                and set(self.edges) == set(other.edges))

    def __repr__(self) -> str:
        return f"Network({self.type.name!r}, {len(self.nodes)} nodes, {len(self.edges)} edges)"

    def _with(self, nodes: Mapping, edges) -> "Network":
        return Network(self.type, nodes, tuple(edges), {n: a for n, a in self.attributes.items() if n in nodes})

    def to_networkx(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(model="simatic", network_type=self.type.name)
        for n, t in self.nodes.items():
            g.add_node(n, label=t, **self.attributes.get(n, {}))
        for u, lab, v in self.edges:
            g.add_edge(u, v, key=lab, label=lab)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph, network_type: NetworkType) -> "Network":
        nodes = {n: d["label"] for n, d in graph.nodes(data=True)}
        attrs = {n: {k: v for k, v in d.items() if k != "label"} for n, d in graph.nodes(data=True)}
        return cls(network_type, nodes, tuple((u, d["label"], v) for u, v, d in graph.edges(data=True)), attrs)

    def nest(self, masters: Mapping[Hashable, tuple[str, frozenset]]) -> NestedGraph:
        """The same network with master nodes over it (closed), for levels of detail."""
        return NestedGraph(dict(self.nodes), self.edges, masters)


def _check_types(a: Network, b: Network, op: str) -> None:
    if not isinstance(a, Network) or not isinstance(b, Network):
        raise UserError(f"{op} takes two Network objects")
    if a.type != b.type:
        raise UserError(f"{op}: networks of types {a.type.name!r} and {b.type.name!r}; both must have one type")


def _merged_nodes(a: Network, b: Network, op: str) -> dict:
    nodes = dict(a.nodes)
    for n, t in b.nodes.items():
        if n in nodes and nodes[n] != t:
            raise UserError(f"{op}: node {n!r} is a {nodes[n]} in one network and a {t} in the other")
        nodes[n] = t
    return nodes


def union(a: Network, b: Network) -> Network:
    _check_types(a, b, "union")
    nodes = _merged_nodes(a, b, "union")
    attrs = {**dict(b.attributes), **dict(a.attributes)}
    return Network(a.type, nodes, a.edges + b.edges, attrs)


def intersection(a: Network, b: Network) -> Network:
    _check_types(a, b, "intersection")
    nodes = {n: t for n, t in a.nodes.items() if b.nodes.get(n) == t}
    return a._with(nodes, [e for e in a.edges if e in set(b.edges)])


def difference(a: Network, b: Network) -> Network:
    """The edges of ``a`` that are not in ``b``, with their ends, and the nodes of ``a`` that ``b`` lacks."""
    _check_types(a, b, "difference")
    edges = [e for e in a.edges if e not in set(b.edges)]
    keep = {n for n in a.nodes if n not in b.nodes} | {x for u, _, v in edges for x in (u, v)}
    return a._with({n: t for n, t in a.nodes.items() if n in keep}, edges)


def concatenation(a: Network, b: Network, joins: Mapping[Hashable, Hashable]) -> Network:
    """Glue ``b`` to ``a``: each ``b`` node in ``joins`` (b node -> a node) becomes that ``a`` node."""
    _check_types(a, b, "concatenation")
    if not joins:
        raise UserError("concatenation needs at least one (b node -> a node) join; otherwise use union")
    for nb, na in joins.items():
        if nb not in b.nodes or na not in a.nodes:
            raise UserError(f"concatenation join {nb!r} -> {na!r} must map a node of the second network to one of "
                            "the first")
        if b.nodes[nb] != a.nodes[na]:
            raise UserError(f"concatenation join {nb!r} -> {na!r} glues a {b.nodes[nb]} to a {a.nodes[na]}")
    rename = lambda n: joins.get(n, n)  # noqa: E731
    moved = Network(b.type, {rename(n): t for n, t in b.nodes.items()},
                    tuple((rename(u), lab, rename(v)) for u, lab, v in b.edges),
                    {rename(n): at for n, at in b.attributes.items()})
    return union(a, moved)


def selection(net: Network, node: Callable[[Hashable, str, dict], bool] | None = None,
              edge: Callable[[tuple], bool] | None = None) -> Network:
    """The sub-network of nodes with ``node(id, type, attributes)`` true and edges with ``edge((u, l, v))`` true
    whose two ends were selected (a missing predicate selects everything)."""
    keep = {n: t for n, t in net.nodes.items() if node is None or node(n, t, dict(net.attributes.get(n, {})))}
    return net._with(keep, [e for e in net.edges if e[0] in keep and e[2] in keep and (edge is None or edge(e))])


def path(net: Network, source: Hashable, target: Hashable) -> Network:
    """The sub-network of every walk from ``source`` to ``target``: nodes reachable from the source that reach
    the target, and the edges between them (empty when there is no such walk)."""
    for n, what in ((source, "source"), (target, "target")):
        if n not in net.nodes:
            raise UserError(f"path {what} {n!r} is not a node of the network")
    forward: dict = {}
    backward: dict = {}
    for u, _, v in net.edges:
        forward.setdefault(u, set()).add(v)
        backward.setdefault(v, set()).add(u)

    def reach(start, adj):
        seen, stack = {start}, [start]
        while stack:
            for m in adj.get(stack.pop(), ()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    from_source, to_target = reach(source, forward), reach(target, backward)
    if target not in from_source:
        return net._with({}, [])
    on = from_source & to_target
    return net._with({n: t for n, t in net.nodes.items() if n in on},
                     [e for e in net.edges if e[0] in on and e[2] in on])


def inclusion(a: Network, b: Network) -> bool:
    """True when ``a`` is a sub-network of ``b`` (its nodes with their types, and its edges)."""
    _check_types(a, b, "inclusion")
    return all(b.nodes.get(n) == t for n, t in a.nodes.items()) and set(a.edges) <= set(b.edges)


ROADS = NetworkType("roads", {"Town", "Junction"},
                    {("Town", "road", "Town"), ("Town", "road", "Junction"), ("Junction", "road", "Town"),
                     ("Junction", "road", "Junction")})


def example() -> tuple[Network, Network]:
    """Two road networks, north and south, that share the town ``mid``."""
    north = Network(ROADS, {"a": "Town", "b": "Town", "j1": "Junction", "mid": "Town"},
                    (("a", "road", "j1"), ("j1", "road", "b"), ("b", "road", "mid"), ("j1", "road", "mid")),
                    {"a": {"population": 12000}, "b": {"population": 3000}, "mid": {"population": 50000}})
    south = Network(ROADS, {"mid": "Town", "c": "Town", "j2": "Junction", "d": "Town"},
                    (("mid", "road", "j2"), ("j2", "road", "c"), ("j2", "road", "d"), ("d", "road", "c")),
                    {"c": {"population": 800}, "d": {"population": 20000}, "mid": {"population": 50000}})
    return north, south


__all__ = ["Network", "NetworkType", "ROADS", "SURVEY", "concatenation", "difference", "example", "inclusion",
           "intersection", "path", "selection", "union"]
