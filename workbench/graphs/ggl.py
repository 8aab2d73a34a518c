"""GGL (Graves, Bergeman and Lawrence, 1995), a graph model built for genome-mapping data.

Data: **labelled** nodes (an entity with a class label), **unlabelled** nodes (anonymous, used to group or to
stand for an unnamed thing), **symbol** nodes (atomic values such as a marker name), and edges labelled by the
name of a relation. A **packed graph vertex** is a vertex that stands for a whole subgraph (its members), so
a map can be shown at several levels of detail and related to other vertices as a unit.

Two query styles:

- a **path query** is a rooted DAG: from a root variable, labelled steps lead to further variables, and
  *equality constraints* ask two variables to end at the same node (or at symbols with the same value);
  :meth:`GglGraph.path_query` answers it by extending bindings step by step, and
  :func:`brute_force_path_query` by trying every assignment (the tests' reference);
- a **WEB-style query** is itself a graph with variables in place of nodes, answered by its embeddings.

Rules (``violations``): symbol nodes have no outgoing edges (R1); packed vertices nest as a forest and pack
existing vertices (R2); a packed vertex does not pack a symbol (R3).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from workbench.errors import UserError
from workbench.graphs._checks import require_label, require_mapping, require_node_id
from workbench.graphs.patterns import match_pattern

SURVEY = {
    "model": "GGL", "year": 1995, "cite": "Graves et al. 1995",
    "reference": "M. Graves, E. R. Bergeman, C. B. Lawrence, Graph database systems, IEEE Engineering in "
                 "Medicine and Biology 14(6), 1995",
    "data_structure": "labelled and unlabelled nodes, symbol (value) nodes, relation-labelled edges, packed "
                      "graph vertices (nested subgraphs)",
    "query_language": "rooted-DAG path queries with equality constraints; query-as-graph (WEB)",
    "integrity": "symbols are leaves; packing forms a forest",
    "operators": ("GglGraph.path_query", "GglGraph.web_query", "brute_force_path_query"),
}


@dataclass(frozen=True, eq=False)
class GglGraph:
    """A GGL graph.

    Parameters
    ----------
    nodes : vertex id -> class label, or ``None`` for an unlabelled vertex.
    symbols : symbol node id -> its atomic value.
    edges : ``(source, relation, target)``.
    packed : packed vertex (a key of ``nodes``) -> the vertices and symbols it packs.
    """

    nodes: Mapping[Hashable, str | None]
    symbols: Mapping[Hashable, Any] = field(default_factory=dict)
    edges: tuple = ()
    packed: Mapping[Hashable, frozenset] = field(default_factory=dict)
    validate: bool = True

    def __post_init__(self) -> None:
        nodes = {}
        for n, label in require_mapping("nodes", self.nodes).items():
            require_node_id("nodes key", n)
            nodes[n] = None if label is None else require_label(f"nodes[{n!r}]", label)
        symbols = dict(require_mapping("symbols", self.symbols))
        both = sorted(map(repr, nodes.keys() & symbols.keys()))
        if both:
            raise UserError(f"GGL: {', '.join(both)} are both vertices and symbols; use distinct ids")
        everything = nodes.keys() | symbols.keys()
        for e in self.edges:
            if not (isinstance(e, tuple) and len(e) == 3) or e[0] not in everything or e[2] not in everything:
                raise UserError(f"GGL: edge {e!r} must be (source, relation, target) between known nodes")
            require_label(f"relation of edge {e!r}", e[1])
        packed = {}
        for p, members in require_mapping("packed", self.packed).items():
            if p not in nodes:
                raise UserError(f"GGL: packed vertex {p!r} is not a vertex; add it to nodes")
            members = frozenset(members)
            unknown = sorted(map(repr, members - everything))
            if unknown:
                raise UserError(f"GGL: packed vertex {p!r} packs unknown nodes {', '.join(unknown)}")
            packed[p] = members
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "symbols", MappingProxyType(symbols))
        object.__setattr__(self, "edges", tuple(dict.fromkeys(self.edges)))
        object.__setattr__(self, "packed", MappingProxyType(packed))
        if self.validate:
            problems = self.violations()
            if problems:
                raise UserError(f"{problems[0]}; fix it or build with validate=False to inspect")

    def violations(self) -> list[str]:
        out = [f"R1: symbol {u!r} has an outgoing {lab!r} edge; symbols are values, they relate to nothing"
               for u, lab, _ in self.edges if u in self.symbols]
        owner: dict = {}
        for p, members in sorted(self.packed.items(), key=repr):
            for m in sorted(members, key=repr):
                if m in owner:
                    out.append(f"R2: {m!r} is packed by both {owner[m]!r} and {p!r}; packing must form a forest")
                owner.setdefault(m, p)
                if m in self.symbols:
                    out.append(f"R3: packed vertex {p!r} packs symbol {m!r}; pack vertices, link symbols by edges")
        nest = nx.DiGraph([(p, m) for p, ms in self.packed.items() for m in ms if m in self.packed or m == p])
        for cycle in sorted(nx.simple_cycles(nest), key=repr):
            out.append(f"R2: packed vertices {sorted(cycle, key=repr)} pack each other")
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GglGraph):
            return NotImplemented
        return (dict(self.nodes), dict(self.symbols), set(self.edges), dict(self.packed)) == \
               (dict(other.nodes), dict(other.symbols), set(other.edges), dict(other.packed))

    def __repr__(self) -> str:
        return (f"GglGraph({len(self.nodes)} vertices ({len(self.packed)} packed), {len(self.symbols)} symbols, "
                f"{len(self.edges)} edges)")

    def to_networkx(self) -> nx.MultiDiGraph:
        """Nodes with ``kind`` (vertex, symbol, packed), ``label``, ``value``; packing as ``contains`` edges."""
        g = nx.MultiDiGraph(model="ggl")
        for n, label in self.nodes.items():
            g.add_node(n, kind="packed" if n in self.packed else "vertex", label=label, value=None)
        for n, value in self.symbols.items():
            g.add_node(n, kind="symbol", label=None, value=value)
        for u, lab, v in self.edges:
            g.add_edge(u, v, key=lab, label=lab, contains=False)
        for p, members in self.packed.items():
            for m in members:
                g.add_edge(p, m, key="contains", label="contains", contains=True)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph) -> "GglGraph":
        if not isinstance(graph, nx.DiGraph) or graph.graph.get("model") != "ggl":
            raise UserError("graph must come from GglGraph.to_networkx (graph attribute model='ggl')")
        nodes = {n: d["label"] for n, d in graph.nodes(data=True) if d["kind"] != "symbol"}
        symbols = {n: d["value"] for n, d in graph.nodes(data=True) if d["kind"] == "symbol"}
        packed: dict = {n: set() for n, d in graph.nodes(data=True) if d["kind"] == "packed"}
        edges = []
        for u, v, d in graph.edges(data=True):
            (packed[u].add(v) if d["contains"] else edges.append((u, d["label"], v)))
        return cls(nodes, symbols, tuple(edges), packed)

    # -- queries ------------------------------------------------------------------------------------------
    def _same(self, a: Hashable, b: Hashable) -> bool:
        if a == b:
            return True
        return a in self.symbols and b in self.symbols and self.symbols[a] == self.symbols[b]

    def path_query(self, query: "PathQuery") -> list[dict]:
        """Bindings of the query's variables (root first) that satisfy every step and equality."""
        if not isinstance(query, PathQuery):
            raise UserError(f"query must be a ggl.PathQuery, got {type(query).__name__}")
        out_index: dict = {}
        for u, lab, v in self.edges:
            out_index.setdefault((u, lab), []).append(v)
        roots = [n for n, lab in self.nodes.items() if query.root_label is None or lab == query.root_label]
        results = []
        order = query.order()

        def extend(binding: dict, k: int) -> None:
            if k == len(order):
                if all(self._same(binding[a], binding[b]) for a, b in query.equal):
                    results.append(dict(binding))
                return
            var = order[k]
            incoming = [(u, lab) for u, lab, v in query.steps if v == var]
            options = set(out_index.get((binding[incoming[0][0]], incoming[0][1]), ()))
            for u, lab in incoming[1:]:  # a DAG: every incoming step must agree
                options &= set(out_index.get((binding[u], lab), ()))
            for o in sorted(options, key=repr):
                binding[var] = o
                extend(binding, k + 1)
                del binding[var]

        for r in sorted(roots, key=repr):
            extend({query.root: r}, 1)
        return sorted(results, key=lambda b: [repr(b[v]) for v in order])

    def web_query(self, query: "GglGraph") -> list[dict]:
        """WEB's query-as-graph: the embeddings of ``query`` (``None`` labels and symbol values are variables)."""
        if not isinstance(query, GglGraph):
            raise UserError(f"query must be a GglGraph pattern, got {type(query).__name__}")
        return match_pattern(query.to_networkx(), self.to_networkx(), node_keys=("label", "value"))


@dataclass(frozen=True)
class PathQuery:
    """A rooted DAG query: ``steps`` are ``(variable, relation, variable)`` leading away from ``root``;
    ``equal`` pairs of variables must end at the same node or at equal symbols."""

    root: str
    steps: tuple
    equal: tuple = ()
    root_label: str | None = None

    def __post_init__(self) -> None:
        dag = nx.DiGraph([(u, v) for u, _, v in self.steps])
        dag.add_node(self.root)
        if not nx.is_directed_acyclic_graph(dag):
            raise UserError(f"path query steps {self.steps} contain a cycle; a GGL path query is a rooted DAG")
        unreached = sorted(set(dag) - nx.descendants(dag, self.root) - {self.root})
        if unreached:
            raise UserError(f"path query variables {unreached} are not reached from the root {self.root!r}")
        for a, b in self.equal:
            if a not in dag or b not in dag:
                raise UserError(f"equality ({a!r}, {b!r}) names a variable that no step reaches")

    def order(self) -> list[str]:
        dag = nx.DiGraph([(u, v) for u, _, v in self.steps])
        dag.add_node(self.root)
        return list(nx.lexicographical_topological_sort(dag, key=str))


def brute_force_path_query(graph: GglGraph, query: PathQuery) -> list[dict]:
    """Every assignment of nodes to the variables, kept when it satisfies all steps and equalities."""
    order = query.order()
    everything = sorted(list(graph.nodes) + list(graph.symbols), key=repr)
    edges = set(graph.edges)
    out = []
    for combo in itertools.product(everything, repeat=len(order)):
        b = dict(zip(order, combo))
        if b[query.root] not in graph.nodes or (query.root_label and graph.nodes[b[query.root]] != query.root_label):
            continue
        if all((b[u], lab, b[v]) in edges for u, lab, v in query.steps) and \
                all(graph._same(b[x], b[y]) for x, y in query.equal):
            out.append(b)
    return sorted(out, key=lambda b: [repr(b[v]) for v in order])


def example() -> GglGraph:
    """Two clones on a chromosome map, each carrying markers; the clones are packed into a contig."""
    nodes = {"chr7": "Chromosome", "contig": "Contig", "c1": "Clone", "c2": "Clone", "m1": "Marker",
             "m2": "Marker", "m3": "Marker", "x": None}
    symbols = {"sA": "D7S1", "sB": "D7S2", "sC": "D7S1"}
    edges = (("chr7", "has", "contig"), ("c1", "carries", "m1"), ("c1", "carries", "m2"), ("c2", "carries", "m3"),
             ("m1", "name", "sA"), ("m2", "name", "sB"), ("m3", "name", "sC"), ("c1", "overlaps", "x"),
             ("c2", "overlaps", "x"), ("chr7", "clone", "c1"), ("chr7", "clone", "c2"))
    return GglGraph(nodes, symbols, edges, {"contig": frozenset({"c1", "c2", "x"})})


__all__ = ["GglGraph", "PathQuery", "SURVEY", "brute_force_path_query", "example"]
