"""GOOD, the Graph-Oriented Object Database model (Gyssens, Paredaens, Van den Bussche, Van Gucht, 1990).

A GOOD instance is a directed labelled graph with two kinds of node: non-printable nodes are abstract
objects (drawn as squares), printable nodes carry a printable value such as a string or number (drawn as
circles). Edges are functional (at most one edge of a given label leaves a node: single-valued
attributes) or multivalued (any number; drawn with double arrowheads). Data manipulation is five
pattern-based transformations: for every embedding of a pattern, add or delete a node or an edge, or
abstract nodes with equal property sets into one new object.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.graphs._checks import require_edge_set, require_label, require_labelled_nodes, require_mapping
from workbench.graphs.patterns import match_pattern

SURVEY = {
    "model": "GOOD", "year": 1990, "cite": "Gyssens et al. 1990",
    "reference": "M. Gyssens, J. Paredaens, J. Van den Bussche, D. Van Gucht, A graph-oriented object database "
                 "model, PODS 1990",
    "data_structure": "directed labelled graph: non-printable (object) and printable (value) nodes; functional "
                      "and multivalued edges",
    "query_language": "five pattern-based transformations: node/edge addition and deletion, abstraction",
    "integrity": "functional edges single-valued; instance consistent with the scheme",
    "operators": ("GoodGraph.node_addition", "GoodGraph.node_deletion", "GoodGraph.edge_addition",
                  "GoodGraph.edge_deletion", "GoodGraph.abstraction"),
}


@dataclass(frozen=True, eq=False)
class GoodGraph:
    """A GOOD instance (or pattern).

    Parameters
    ----------
    nodes : node id -> label (class name for non-printable nodes, value domain such as ``"String"`` for
        printable ones).
    edges : iterable of ``(source, label, target)``.
    values : node id -> printable value; a node is printable exactly when it has an entry here. In a
        pattern, a printable node with value ``None`` matches any value of its label.
    multivalued : edge labels that are multivalued; every other edge label is functional.
    """

    nodes: Mapping[Hashable, str]
    edges: tuple = ()
    values: Mapping[Hashable, Any] = field(default_factory=dict)
    multivalued: frozenset = frozenset()

    def __post_init__(self) -> None:
        nodes = require_labelled_nodes("nodes", self.nodes)
        edges = require_edge_set("edges", self.edges, nodes)
        values = dict(require_mapping("values", self.values))
        unknown = [n for n in values if n not in nodes]
        if unknown:
            raise ValueError(f"values has nodes {unknown!r} that are not in nodes; add them or drop the values")
        if isinstance(self.multivalued, str) or not isinstance(self.multivalued, Iterable):
            raise TypeError(f"multivalued must be a set of edge labels, got {self.multivalued!r}")
        multivalued = frozenset(self.multivalued)
        counts = Counter((u, label) for u, label, _ in edges if label not in multivalued)
        clashes = [f"{u!r} has {n} '{label}' edges" for (u, label), n in counts.items() if n > 1]
        if clashes:
            raise ValueError("functional edges must be single-valued, but " + "; ".join(clashes)
                             + "; declare the label in multivalued or keep one edge")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "values", MappingProxyType(values))
        object.__setattr__(self, "multivalued", multivalued)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GoodGraph):
            return NotImplemented
        return (dict(self.nodes) == dict(other.nodes) and set(self.edges) == set(other.edges)
                and dict(self.values) == dict(other.values) and self.multivalued == other.multivalued)

    def __repr__(self) -> str:
        return (f"GoodGraph({len(self.nodes)} nodes ({len(self.values)} printable), {len(self.edges)} edges, "
                f"multivalued={sorted(self.multivalued)})")

    def is_printable(self, node: Hashable) -> bool:
        """True for printable (value) nodes, False for non-printable (object) nodes."""
        if node not in self.nodes:
            raise ValueError(f"node {node!r} is not in this graph")
        return node in self.values

    def to_networkx(self) -> nx.MultiDiGraph:
        """Node attributes ``label``, ``printable``, ``value``; edge attributes ``label``, ``multivalued``."""
        g = nx.MultiDiGraph(model="good", multivalued=sorted(self.multivalued))
        for node, label in self.nodes.items():
            g.add_node(node, label=label, printable=node in self.values, value=self.values.get(node))
        for u, label, v in self.edges:
            g.add_edge(u, v, key=label, label=label, multivalued=label in self.multivalued)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph) -> "GoodGraph":
        """Inverse of :meth:`to_networkx`."""
        if not isinstance(graph, nx.DiGraph):
            raise TypeError(f"graph must be a networkx MultiDiGraph, got {type(graph).__name__}")
        nodes = {n: d["label"] for n, d in graph.nodes(data=True)}
        values = {n: d.get("value") for n, d in graph.nodes(data=True) if d.get("printable")}
        edges = [(u, d["label"], v) for u, v, d in graph.edges(data=True)]
        multi = set(graph.graph.get("multivalued", ())) | {d["label"] for _, _, d in graph.edges(data=True)
                                                            if d.get("multivalued")}
        return cls(nodes, tuple(edges), values, frozenset(multi))

    # -- the five transformations ------------------------------------------------------------------------
    def _embeddings(self, pattern: "GoodGraph") -> list[dict]:
        if not isinstance(pattern, GoodGraph):
            raise TypeError(f"pattern must be a GoodGraph, got {type(pattern).__name__}")
        return match_pattern(pattern, self)

    def _fresh_id(self, label: str, taken: set) -> str:
        k = 0
        while f"{label}#{k}" in taken:
            k += 1
        return f"{label}#{k}"

    def node_addition(self, pattern: "GoodGraph", label: str, edges: Mapping[str, Hashable]) -> "GoodGraph":
        """NA: for each embedding, add a non-printable ``label`` node with an edge ``name -> image of node``
        for every ``name: pattern node`` in ``edges``; no node is added where one with exactly these
        outgoing edges already exists (so the operation is idempotent, as in GOOD)."""
        require_label("label", label)
        edges = dict(require_mapping("edges", edges))
        for name, pn in edges.items():
            require_label("edges key", name)
            if pn not in pattern.nodes:
                raise ValueError(f"edges[{name!r}] names {pn!r}, which is not a pattern node")
        nodes, all_edges = dict(self.nodes), list(self.edges)
        out = defaultdict(set)
        for u, lab, v in all_edges:
            out[u].add((lab, v))
        existing = {(nodes[n], frozenset(out[n])) for n in nodes if n not in self.values}
        for emb in self._embeddings(pattern):
            wanted = frozenset((name, emb[pn]) for name, pn in edges.items())
            if (label, wanted) in existing:
                continue
            new = self._fresh_id(label, set(nodes))
            nodes[new] = label
            all_edges += [(new, name, target) for name, target in sorted(wanted, key=repr)]
            existing.add((label, wanted))
        return GoodGraph(nodes, tuple(all_edges), dict(self.values), self.multivalued)

    def node_deletion(self, pattern: "GoodGraph", node: Hashable) -> "GoodGraph":
        """ND: delete the image of pattern node ``node`` in every embedding, with its edges."""
        if node not in pattern.nodes:
            raise ValueError(f"node {node!r} is not a node of the pattern")
        doomed = {emb[node] for emb in self._embeddings(pattern)}
        nodes = {n: lab for n, lab in self.nodes.items() if n not in doomed}
        edges = tuple(e for e in self.edges if e[0] not in doomed and e[2] not in doomed)
        values = {n: v for n, v in self.values.items() if n not in doomed}
        return GoodGraph(nodes, edges, values, self.multivalued)

    def edge_addition(self, pattern: "GoodGraph", edges: Iterable[tuple[Hashable, str, Hashable]]) -> "GoodGraph":
        """EA: for each embedding add ``image(u) -label-> image(v)`` for every ``(u, label, v)`` in ``edges``.

        Raises ValueError when that would give a node two different functional edges of one label (GOOD
        leaves such an EA undefined)."""
        edges = list(edges)
        for i, (u, label, v) in enumerate(edges):
            require_label(f"edges[{i}] label", label)
            if u not in pattern.nodes or v not in pattern.nodes:
                raise ValueError(f"edges[{i}] = {(u, label, v)!r} must join pattern nodes")
        added = list(self.edges)
        for emb in self._embeddings(pattern):
            added += [(emb[u], label, emb[v]) for u, label, v in edges]
        try:
            return GoodGraph(dict(self.nodes), tuple(added), dict(self.values), self.multivalued)
        except ValueError as exc:
            raise ValueError(f"edge addition would break a functional edge: {exc}") from None

    def edge_deletion(self, pattern: "GoodGraph", edges: Iterable[tuple[Hashable, str, Hashable]]) -> "GoodGraph":
        """ED: for each embedding delete ``image(u) -label-> image(v)`` for every ``(u, label, v)`` in ``edges``
        (each must be an edge of the pattern)."""
        edges = list(edges)
        for e in edges:
            if e not in set(pattern.edges):
                raise ValueError(f"edges entry {e!r} is not an edge of the pattern; ED deletes matched edges")
        doomed = {(emb[u], label, emb[v]) for emb in self._embeddings(pattern) for u, label, v in edges}
        return GoodGraph(dict(self.nodes), tuple(e for e in self.edges if e not in doomed),
                         dict(self.values), self.multivalued)

    def abstraction(self, pattern: "GoodGraph", node: Hashable, label: str, via: str, member: str) -> "GoodGraph":
        """AB: group the images of pattern node ``node`` by their set of ``via``-edge targets; for each group
        add one ``label`` node with a multivalued ``member`` edge to every node in the group (GOOD's way of
        turning "same properties" into a new object, e.g. people with the same hobbies)."""
        if node not in pattern.nodes:
            raise ValueError(f"node {node!r} is not a node of the pattern")
        require_label("label", label)
        require_label("via", via)
        require_label("member", member)
        images = sorted({emb[node] for emb in self._embeddings(pattern)}, key=repr)
        targets = defaultdict(set)
        for u, lab, v in self.edges:
            if lab == via:
                targets[u].add(v)
        groups: dict[frozenset, list] = defaultdict(list)
        for n in images:
            groups[frozenset(targets[n])].append(n)
        nodes, edges = dict(self.nodes), list(self.edges)
        for key in sorted(groups, key=lambda k: repr(sorted(map(repr, k)))):
            new = self._fresh_id(label, set(nodes))
            nodes[new] = label
            edges += [(new, member, n) for n in groups[key]]
        return GoodGraph(nodes, tuple(edges), dict(self.values), self.multivalued | {member})
