"""Simatic-XT style nesting (Mainguenaud, 1992): master nodes that hide a subgraph until developed.

A master node stands for a set of nodes (which may include other masters, so masters nest like a tree).
While a master is undeveloped, the view shows the master in place of its contents, and every edge
between its contents and the outside becomes a *master edge* between the master and the other end
(carrying the underlying edges it summarises). ``develop`` opens a master to show its members one level
down; ``undevelop`` closes it again. Both return a new graph: the structure is immutable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import networkx as nx

from workbench.graphs._checks import require_edge_set, require_label, require_labelled_nodes, require_mapping, require_node_id


@dataclass(frozen=True, eq=False)
class NestedGraph:
    """Base graph plus a forest of master nodes and the set of developed masters.

    Parameters
    ----------
    nodes : base node id -> label.
    edges : base edges ``(source, label, target)``.
    masters : master id -> (label, members); members are base nodes or other masters; every node belongs to
        at most one master (the masters form a forest).
    developed : masters currently opened. A master inside an undeveloped master stays hidden whatever its flag.
    """

    nodes: Mapping[Hashable, str]
    edges: tuple = ()
    masters: Mapping[Hashable, tuple[str, frozenset]] = field(default_factory=dict)
    developed: frozenset = frozenset()

    def __post_init__(self) -> None:
        nodes = require_labelled_nodes("nodes", self.nodes)
        edges = require_edge_set("edges", self.edges, nodes)
        masters = {}
        for m, spec in require_mapping("masters", self.masters).items():
            require_node_id("masters key", m)
            if m in nodes:
                raise ValueError(f"master id {m!r} is also a base node id; use distinct ids")
            if not isinstance(spec, tuple) or len(spec) != 2:
                raise ValueError(f"masters[{m!r}] must be (label, members), got {spec!r}")
            require_label(f"masters[{m!r}] label", spec[0])
            members = frozenset(spec[1])
            if not members:
                raise ValueError(f"masters[{m!r}] has no members; a master node stands for at least one node")
            masters[m] = (spec[0], members)
        parent: dict = {}
        for m, (_, members) in masters.items():
            for x in members:
                if x not in nodes and x not in masters:
                    raise ValueError(f"masters[{m!r}] member {x!r} is neither a node nor a master")
                if x in parent:
                    raise ValueError(f"{x!r} belongs to masters {parent[x]!r} and {m!r}; each node has one master")
                parent[x] = m
        for m in masters:
            seen, x = {m}, m
            while x in parent:
                x = parent[x]
                if x in seen:
                    raise ValueError(f"master {m!r} contains itself through nesting; masters must form a tree")
                seen.add(x)
        developed = frozenset(self.developed)
        unknown = developed - masters.keys()
        if unknown:
            raise ValueError(f"developed names {sorted(map(repr, unknown))} that are not masters")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "masters", MappingProxyType(masters))
        object.__setattr__(self, "developed", developed)
        object.__setattr__(self, "_parent", MappingProxyType(parent))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NestedGraph):
            return NotImplemented
        return (dict(self.nodes) == dict(other.nodes) and set(self.edges) == set(other.edges)
                and dict(self.masters) == dict(other.masters) and self.developed == other.developed)

    def __repr__(self) -> str:
        return (f"NestedGraph({len(self.nodes)} nodes, {len(self.edges)} edges, {len(self.masters)} masters, "
                f"developed={sorted(map(str, self.developed))})")

    def develop(self, master: Hashable) -> "NestedGraph":
        """Open ``master``: its members appear in the view (the master's own master must be open to see it)."""
        if master not in self.masters:
            raise ValueError(f"master {master!r} is not a master node; known: {sorted(map(str, self.masters))}")
        return NestedGraph(dict(self.nodes), self.edges, dict(self.masters), self.developed | {master})

    def undevelop(self, master: Hashable) -> "NestedGraph":
        """Close ``master`` and every master inside it, so that reopening shows one level at a time."""
        if master not in self.masters:
            raise ValueError(f"master {master!r} is not a master node; known: {sorted(map(str, self.masters))}")
        inside = {master}
        changed = True
        while changed:
            extra = {x for m in inside for x in self.masters[m][1] if x in self.masters} - inside
            changed = bool(extra)
            inside |= extra
        return NestedGraph(dict(self.nodes), self.edges, dict(self.masters), self.developed - inside)

    def visible(self, node: Hashable) -> Hashable:
        """What stands for ``node`` in the current view: itself, or its outermost closed master."""
        if node not in self.nodes and node not in self.masters:
            raise ValueError(f"node {node!r} is neither a node nor a master")
        chain = [node]
        while chain[-1] in self._parent:
            chain.append(self._parent[chain[-1]])
        # The outermost closed master hides everything below it.
        shown = node
        for x in chain[1:]:
            if x not in self.developed:
                shown = x
        return shown

    def view(self) -> nx.MultiDiGraph:
        """The flat graph the user sees now.

        Nodes carry ``label`` and ``master`` (True for a closed master, drawn as a double-bordered box); a closed
        master's ``size`` is the number of base nodes it hides.
        Edges inside one closed master disappear; other edges between visible nodes keep their label, and
        edges touching a closed master become master edges: ``label`` lists the summarised labels,
        ``master=True``, ``members`` holds the base edges and ``multiplicity`` counts them.
        """
        g = nx.MultiDiGraph(model="nested")
        shown = {n: self.visible(n) for n in self.nodes}
        for n in self.nodes:
            if shown[n] == n:
                g.add_node(n, label=self.nodes[n], master=False)
        for m in self.masters:
            if self.visible(m) == m and m not in self.developed:
                hidden = sum(1 for n in self.nodes if shown[n] == m)
                g.add_node(m, label=self.masters[m][0], master=True, size=hidden)
        grouped: dict = defaultdict(list)
        for u, label, v in self.edges:
            a, b = shown[u], shown[v]
            if a == b and a in self.masters:
                continue
            if a == u and b == v:
                g.add_edge(u, v, key=label, label=label, master=False, members=[(u, label, v)])
            else:
                grouped[(a, b)].append((u, label, v))
        for (a, b), members in grouped.items():
            labels = sorted({label for _, label, _ in members})
            g.add_edge(a, b, key="master", label=",".join(labels), master=True, members=sorted(members, key=repr),
                       multiplicity=len(members))
        return g

    def to_networkx(self) -> nx.MultiDiGraph:
        """The full structure: base nodes and edges plus master nodes with ``contains`` edges to members."""
        g = nx.MultiDiGraph(model="nested-full")
        for n, label in self.nodes.items():
            g.add_node(n, label=label, master=False)
        for m, (label, _) in self.masters.items():
            g.add_node(m, label=label, master=True, developed=m in self.developed)
        for u, label, v in self.edges:
            g.add_edge(u, v, key=label, label=label, contains=False)
        for m, (_, members) in self.masters.items():
            for x in members:
                g.add_edge(m, x, key="contains", label="contains", contains=True)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph) -> "NestedGraph":
        """Inverse of :meth:`to_networkx`."""
        if not isinstance(graph, nx.DiGraph):
            raise TypeError(f"graph must be a networkx MultiDiGraph, got {type(graph).__name__}")
        nodes = {n: d["label"] for n, d in graph.nodes(data=True) if not d.get("master")}
        members = defaultdict(set)
        edges = []
        for u, v, d in graph.edges(data=True):
            (members[u].add(v) if d.get("contains") else edges.append((u, d["label"], v)))
        masters = {n: (d["label"], frozenset(members[n])) for n, d in graph.nodes(data=True) if d.get("master")}
        developed = {n for n, d in graph.nodes(data=True) if d.get("master") and d.get("developed")}
        return cls(nodes, tuple(edges), masters, frozenset(developed))
