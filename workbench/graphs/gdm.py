"""GDM, the Graph-based Data Model (Hidders, 2002), with its well-formedness checked rule by rule.

GDM has three kinds of node: object nodes (entities with identity, drawn as squares), composite-value
nodes (tuples identified by their components, drawn as diamonds) and basic-value nodes (printable values,
drawn as circles). Labelled edges give attributes and relationships; ``isa`` edges between object nodes
give specialisation (drawn with hollow arrowheads). The graph is built from its structure alone; whether
it is *well formed* is a separate question answered by :meth:`GdmGraph.violations`, one message per
broken rule, so that a teaching example can show an ill-formed graph and what is wrong with it.

The rules W1-W5 are this project's own summary of what makes such a graph sensible; they are not Hidders'.
GDM's schema graph, its extension relation with multiple classes and set-valued attributes, the constraints
I-NS, I-BVT and I-REA, and GUL's additions and deletions with reduction are in :mod:`workbench.graphs.gul`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.graphs._checks import require_label, require_mapping, require_node_id, require_triples

NODE_KINDS = ("object", "composite", "basic")

#: The well-formedness rules checked by :meth:`GdmGraph.violations`, by code (the project's own, see above).
RULES = {
    "W1": "a basic-value node carries a value and has no outgoing edges",
    "W2": "object and composite-value nodes carry no value",
    "W3": "a composite-value node has at least one component edge and at most one per label",
    "W4": "values are identified by content: no two composite-value nodes with the same components, "
          "no two basic-value nodes with the same label and value",
    "W5": "isa edges join object nodes and contain no cycle",
}

SURVEY = {
    "model": "GDM", "year": 2002, "cite": "Hidders 2003",
    "reference": "J. Hidders, Typing graph-manipulation operations, ICDT 2003 (GDM and its update language GUL)",
    "data_structure": "object, composite-value and basic-value nodes; labelled and isa edges; schema graph "
                      "with an extension relation (multiple classes, set-valued attributes)",
    "query_language": "GUL: pattern-based addition and deletion, followed by reduction of similar value nodes",
    "integrity": "I-NS node sorts, I-BVT basic-value types, I-REA allowed edges (in workbench.graphs.gul)",
    "operators": ("GdmGraph.violations", "gul.GdmInstance.add", "gul.GdmInstance.delete", "gul.GdmInstance.reduce",
                  "gul.GdmInstance.extension"),
}


@dataclass(frozen=True, eq=False)
class GdmGraph:
    """A GDM graph.

    Parameters
    ----------
    nodes : node id -> ``(kind, label)`` with kind in ``"object" | "composite" | "basic"``.
    edges : iterable of ``(source, label, target)``.
    isa : iterable of ``(sub, super)`` pairs.
    values : node id -> value (for basic-value nodes).
    """

    nodes: Mapping[Hashable, tuple[str, str]]
    edges: tuple = ()
    isa: tuple = ()
    values: Mapping[Hashable, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        nodes = {}
        for node, spec in require_mapping("nodes", self.nodes).items():
            require_node_id("nodes key", node)
            if not isinstance(spec, tuple) or len(spec) != 2 or spec[0] not in NODE_KINDS:
                raise ValueError(f"nodes[{node!r}] must be (kind, label) with kind in {NODE_KINDS}, got {spec!r}")
            require_label(f"nodes[{node!r}] label", spec[1])
            nodes[node] = (spec[0], spec[1])
        edges = tuple(dict.fromkeys(require_triples("edges", self.edges, nodes)))
        isa = []
        for i, pair in enumerate(self.isa):
            if not isinstance(pair, tuple) or len(pair) != 2 or pair[0] not in nodes or pair[1] not in nodes:
                raise ValueError(f"isa[{i}] must be a (sub, super) pair of existing nodes, got {pair!r}")
            isa.append(pair)
        values = dict(require_mapping("values", self.values))
        unknown = [n for n in values if n not in nodes]
        if unknown:
            raise ValueError(f"values has nodes {unknown!r} that are not in nodes")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "isa", tuple(dict.fromkeys(isa)))
        object.__setattr__(self, "values", MappingProxyType(values))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GdmGraph):
            return NotImplemented
        return (dict(self.nodes) == dict(other.nodes) and set(self.edges) == set(other.edges)
                and set(self.isa) == set(other.isa) and dict(self.values) == dict(other.values))

    def __repr__(self) -> str:
        kinds = Counter(k for k, _ in self.nodes.values())
        return (f"GdmGraph({kinds['object']} object, {kinds['composite']} composite-value, {kinds['basic']} "
                f"basic-value nodes, {len(self.edges)} edges, {len(self.isa)} isa)")

    def kind(self, node: Hashable) -> str:
        """``"object"``, ``"composite"`` or ``"basic"``."""
        if node not in self.nodes:
            raise ValueError(f"node {node!r} is not in this graph")
        return self.nodes[node][0]

    def violations(self) -> list[str]:
        """One message per broken well-formedness rule (see :data:`RULES`); empty when well formed."""
        out = []
        outgoing = defaultdict(list)
        for u, label, v in self.edges:
            outgoing[u].append((label, v))
        for n, (kind, label) in self.nodes.items():
            if kind == "basic":
                if n not in self.values:
                    out.append(f"W1: basic-value node {n!r} ({label}) has no value")
                if outgoing[n]:
                    out.append(f"W1: basic-value node {n!r} has outgoing edges {sorted(l for l, _ in outgoing[n])}")
            elif n in self.values:
                out.append(f"W2: {kind} node {n!r} carries a value {self.values[n]!r}")
            if kind == "composite":
                if not outgoing[n]:
                    out.append(f"W3: composite-value node {n!r} has no component edges")
                twice = sorted(l for l, c in Counter(l for l, _ in outgoing[n]).items() if c > 1)
                if twice:
                    out.append(f"W3: composite-value node {n!r} has more than one component labelled {twice}")
        by_content = defaultdict(list)
        for n, (kind, label) in self.nodes.items():
            if kind == "composite":
                by_content[("c", label, frozenset(outgoing[n]))].append(n)
            elif kind == "basic" and n in self.values:
                by_content[("b", label, repr(self.values[n]))].append(n)
        for key, same in by_content.items():
            if len(same) > 1:
                what = "composite-value" if key[0] == "c" else "basic-value"
                out.append(f"W4: {what} nodes {sorted(same, key=repr)} have the same content; merge them into one")
        for sub, sup in self.isa:
            bad = [n for n in (sub, sup) if self.nodes[n][0] != "object"]
            if bad:
                out.append(f"W5: isa edge {sub!r} -> {sup!r} touches non-object nodes {bad}")
        isa_graph = nx.DiGraph(list(self.isa))
        cycles = []
        for cycle in nx.simple_cycles(isa_graph):
            # Start each cycle at its smallest node so the message does not depend on hash order.
            k = min(range(len(cycle)), key=lambda i: repr(cycle[i]))
            cycles.append(cycle[k:] + cycle[:k])
        for cycle in sorted(cycles, key=repr):
            out.append(f"W5: isa edges form a cycle {cycle}")
        return out

    def is_well_formed(self) -> bool:
        """True when :meth:`violations` is empty."""
        return not self.violations()

    def to_networkx(self) -> nx.MultiDiGraph:
        """Node attributes ``kind``, ``label``, ``value``; isa edges have label ``isa`` and ``isa=True``."""
        g = nx.MultiDiGraph(model="gdm")
        for n, (kind, label) in self.nodes.items():
            g.add_node(n, kind=kind, label=label, value=self.values.get(n))
        for u, label, v in self.edges:
            g.add_edge(u, v, key=label, label=label, isa=False)
        for u, v in self.isa:
            g.add_edge(u, v, key="isa", label="isa", isa=True)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph) -> "GdmGraph":
        """Inverse of :meth:`to_networkx`."""
        if not isinstance(graph, nx.DiGraph):
            raise TypeError(f"graph must be a networkx MultiDiGraph, got {type(graph).__name__}")
        nodes = {n: (d["kind"], d["label"]) for n, d in graph.nodes(data=True)}
        values = {n: d["value"] for n, d in graph.nodes(data=True) if d.get("value") is not None}
        edges, isa = [], []
        for u, v, d in graph.edges(data=True):
            (isa.append((u, v)) if d.get("isa") else edges.append((u, d["label"], v)))
        return cls(nodes, tuple(edges), tuple(isa), values)
