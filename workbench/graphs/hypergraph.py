"""Hypergraphs with undirected and directed hyperedges, and GROOVY objects built on them.

GROOVY (Levene and Poulovassilis, 1991) models an object as a hypergraph of its attribute values: the
value nodes are ``attribute=value`` pairs, an object is an undirected hyperedge over its value nodes,
value functional dependencies are directed hyperedges (tail values determine head values), and a
sub-object shared by two objects is a hyperedge contained in both of theirs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.graphs._checks import require_label, require_labelled_nodes, require_mapping


@dataclass(frozen=True, eq=False)
class Hypergraph:
    """Nodes with labels, undirected hyperedges (sets of nodes) and directed hyperedges (tail set -> head set).

    Parameters
    ----------
    nodes : mapping node id -> label.
    hyperedges : mapping hyperedge name -> iterable of member nodes (at least one).
    directed : mapping hyperedge name -> ``(tail, head)``, two non-empty iterables of nodes.
    """

    nodes: Mapping[Hashable, str]
    hyperedges: Mapping[str, frozenset] = field(default_factory=dict)
    directed: Mapping[str, tuple[frozenset, frozenset]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        nodes = require_labelled_nodes("nodes", self.nodes)

        def members(where: str, items: Any) -> frozenset:
            if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
                raise TypeError(f"{where} must be an iterable of node ids, got {items!r}")
            out = frozenset(items)
            if not out:
                raise ValueError(f"{where} is empty; a hyperedge needs at least one node")
            missing = sorted(map(repr, out - nodes.keys()))
            if missing:
                raise ValueError(f"{where} names unknown nodes {', '.join(missing)}; add them to nodes")
            return out

        hyper = {require_label("hyperedges key", k): members(f"hyperedges[{k!r}]", v)
                 for k, v in require_mapping("hyperedges", self.hyperedges).items()}
        directed = {}
        for k, pair in require_mapping("directed", self.directed).items():
            require_label("directed key", k)
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ValueError(f"directed[{k!r}] must be a (tail, head) tuple of node sets, got {pair!r}")
            directed[k] = (members(f"directed[{k!r}] tail", pair[0]), members(f"directed[{k!r}] head", pair[1]))
        clash = hyper.keys() & directed.keys()
        if clash:
            raise ValueError(f"hyperedge names {sorted(clash)} are used twice; names must be unique")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "hyperedges", MappingProxyType(hyper))
        object.__setattr__(self, "directed", MappingProxyType(directed))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hypergraph):
            return NotImplemented
        return (dict(self.nodes) == dict(other.nodes) and dict(self.hyperedges) == dict(other.hyperedges)
                and dict(self.directed) == dict(other.directed))

    def __repr__(self) -> str:
        return (f"Hypergraph({len(self.nodes)} nodes, {len(self.hyperedges)} undirected and "
                f"{len(self.directed)} directed hyperedges)")

    def to_networkx(self) -> nx.DiGraph:
        """The incidence (bipartite) digraph: one vertex per node and per hyperedge.

        Undirected membership is an edge hyperedge -> node with ``role='member'``; a directed hyperedge has
        edges tail -> hyperedge (``role='tail'``) and hyperedge -> head (``role='head'``).
        """
        g = nx.DiGraph(model="hypergraph")
        for node, label in self.nodes.items():
            g.add_node(("node", node), kind="node", label=label, id=node)
        for name, nodes in self.hyperedges.items():
            g.add_node(("edge", name), kind="hyperedge", label=name, id=name)
            for n in nodes:
                g.add_edge(("edge", name), ("node", n), role="member", label="member")
        for name, (tail, head) in self.directed.items():
            g.add_node(("edge", name), kind="directed", label=name, id=name)
            for n in tail:
                g.add_edge(("node", n), ("edge", name), role="tail", label="tail")
            for n in head:
                g.add_edge(("edge", name), ("node", n), role="head", label="head")
        return g

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph) -> "Hypergraph":
        """Inverse of :meth:`to_networkx`."""
        if not isinstance(graph, nx.DiGraph) or graph.graph.get("model") != "hypergraph":
            raise TypeError("graph must be a DiGraph made by Hypergraph.to_networkx (graph attribute model='hypergraph')")
        nodes, hyper, directed = {}, {}, {}
        for v, data in graph.nodes(data=True):
            if data["kind"] == "node":
                nodes[data["id"]] = data["label"]
        for v, data in graph.nodes(data=True):
            if data["kind"] == "hyperedge":
                hyper[data["id"]] = {graph.nodes[w]["id"] for w in graph.successors(v)}
            elif data["kind"] == "directed":
                directed[data["id"]] = ({graph.nodes[w]["id"] for w in graph.predecessors(v)},
                                        {graph.nodes[w]["id"] for w in graph.successors(v)})
        return cls(nodes, hyper, directed)

    def sub_hyperedges(self) -> dict[str, list[str]]:
        """For each undirected hyperedge, the other undirected hyperedges strictly containing it."""
        return {e: sorted(f for f, fm in self.hyperedges.items() if f != e and m < fm)
                for e, m in self.hyperedges.items()}

    def shared_subobjects(self) -> dict[str, list[str]]:
        """Hyperedges contained in two or more others: GROOVY's shared sub-objects, with their containers."""
        return {e: inside for e, inside in self.sub_hyperedges().items() if len(inside) >= 2}


def _value_node(attribute: str, value: Any) -> str:
    return f"{attribute}={value}"


def groovy_objects(objects: Mapping[str, Mapping[str, Any]],
                   dependencies: Iterable[tuple[Iterable[str], Iterable[str]]] = (),
                   subobjects: Mapping[str, Iterable[str]] | None = None) -> Hypergraph:
    """Build a GROOVY value-level hypergraph.

    Parameters
    ----------
    objects : object name -> {attribute: value}. Each becomes an undirected hyperedge over its
        ``attribute=value`` nodes; equal values are one shared node.
    dependencies : functional dependencies ``(tail attributes, head attributes)``; for every object having
        all of them, a directed hyperedge ``fd<i>:<object>`` from its tail values to its head values.
    subobjects : optional sub-object name -> attributes; for every object having all of them, a hyperedge
        ``<sub>:<values>`` over those values (one hyperedge per distinct value tuple, so two objects with the
        same values share it).
    """
    objects = require_mapping("objects", objects)
    nodes: dict[str, str] = {}
    hyper: dict[str, set] = {}
    for name, attrs in objects.items():
        require_label("objects key", name)
        require_mapping(f"objects[{name!r}]", attrs)
        if not attrs:
            raise ValueError(f"objects[{name!r}] has no attributes; an object needs at least one value")
        for a, value in attrs.items():
            nodes[_value_node(a, value)] = require_label(f"objects[{name!r}] attribute", a)
        hyper[name] = {_value_node(a, v) for a, v in attrs.items()}
    directed: dict[str, tuple[set, set]] = {}
    for i, dep in enumerate(dependencies):
        if not isinstance(dep, tuple) or len(dep) != 2:
            raise ValueError(f"dependencies[{i}] must be (tail attributes, head attributes), got {dep!r}")
        tail, head = list(dep[0]), list(dep[1])
        if not tail or not head:
            raise ValueError(f"dependencies[{i}] needs non-empty tail and head attribute lists, got {dep!r}")
        for name, attrs in objects.items():
            if all(a in attrs for a in tail + head):
                directed[f"fd{i}:{name}"] = ({_value_node(a, attrs[a]) for a in tail},
                                             {_value_node(a, attrs[a]) for a in head})
    for sub, attributes in (subobjects or {}).items():
        attributes = list(attributes)
        for name, attrs in objects.items():
            if all(a in attrs for a in attributes):
                key = f"{sub}:" + ",".join(str(attrs[a]) for a in attributes)
                hyper[key] = {_value_node(a, attrs[a]) for a in attributes}
    return Hypergraph(nodes, hyper, directed)


def fd_violations(graph: Hypergraph) -> list[str]:
    """Pairs of directed hyperedges of one dependency (``fd<i>:...``) with equal tails but different heads."""
    if not isinstance(graph, Hypergraph):
        raise TypeError(f"graph must be a Hypergraph, got {type(graph).__name__}")
    seen: dict[tuple[str, frozenset], tuple[str, frozenset]] = {}
    problems = []
    for name, (tail, head) in sorted(graph.directed.items()):
        dep = name.split(":", 1)[0]
        key = (dep, tail)
        if key in seen and seen[key][1] != head:
            other = seen[key][0]
            problems.append(f"{dep}: {name} and {other} agree on {sorted(tail)} but give "
                            f"{sorted(head)} vs {sorted(seen[key][1])}")
        seen.setdefault(key, (name, head))
    return problems
