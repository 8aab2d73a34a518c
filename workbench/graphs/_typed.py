"""The shared skeleton of the object models whose nodes have a *kind* (GMOD, PaMaL, GOAL): typed nodes, labelled
edges, values on value nodes, networkx conversion, and pattern-based addition and deletion.

A subclass says which kinds exist (``KINDS``), which of them carry values (``VALUE_KINDS``) and which rules its
instances obey (``rule_violations``). Construction checks the structure (ends exist, kinds known, values only on
value kinds) and then the model's own rules, raising a :class:`~workbench.errors.UserError` that names the
offending node or edge; ``validate=False`` builds a graph anyway, so a lesson can show what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar

import networkx as nx

from workbench.errors import UserError
from workbench.graphs._checks import require_label, require_mapping, require_node_id
from workbench.graphs.patterns import match_pattern


@dataclass(frozen=True, eq=False, repr=False)
class TypedGraph:
    """Nodes ``id -> (kind, label)``, edges ``(source, label, target)``, ``values`` for value-kind nodes.

    ``None`` as a value is *unknown* (incomplete information); in a pattern, a ``None`` label or value matches
    anything."""

    nodes: Mapping[Hashable, tuple[str, str | None]]
    edges: tuple = ()
    values: Mapping[Hashable, Any] = field(default_factory=dict)
    validate: bool = True

    KINDS: ClassVar[tuple[str, ...]] = ()
    VALUE_KINDS: ClassVar[tuple[str, ...]] = ()
    MODEL: ClassVar[str] = "typed"

    def __post_init__(self) -> None:
        nodes = {}
        for n, spec in require_mapping("nodes", self.nodes).items():
            require_node_id("nodes key", n)
            if not isinstance(spec, tuple) or len(spec) != 2 or spec[0] not in self.KINDS:
                raise UserError(f"{self.MODEL}: node {n!r} must be (kind, label) with kind in {self.KINDS}, "
                                f"got {spec!r}")
            if spec[1] is not None:
                require_label(f"nodes[{n!r}] label", spec[1])
            nodes[n] = (spec[0], spec[1])
        edges = []
        for i, e in enumerate(self.edges):
            if not isinstance(e, tuple) or len(e) != 3:
                raise UserError(f"{self.MODEL}: edges[{i}] must be a (source, label, target) tuple, got {e!r}")
            for end in (e[0], e[2]):
                if end not in nodes:
                    raise UserError(f"{self.MODEL}: edge {e!r} names {end!r}, which is not a node; add the node")
            require_label(f"edges[{i}] label", e[1])
            edges.append(e)
        values = dict(require_mapping("values", self.values))
        for n in values:
            if n not in nodes:
                raise UserError(f"{self.MODEL}: values names {n!r}, which is not a node")
            if nodes[n][0] not in self.VALUE_KINDS:
                raise UserError(f"{self.MODEL}: node {n!r} is a {nodes[n][0]} node and cannot carry a value; only "
                                f"{'/'.join(self.VALUE_KINDS)} nodes do")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", tuple(dict.fromkeys(edges)))
        object.__setattr__(self, "values", MappingProxyType(values))
        self._extra_init()
        if self.validate:
            problems = self.violations()
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise UserError(f"{problems[0]}{more}; fix it or build with validate=False to inspect")

    def _extra_init(self) -> None:
        """Hook for subclasses with extra fields to check and freeze."""

    # -- identity -------------------------------------------------------------------------------------------
    def _key(self) -> tuple:
        return (dict(self.nodes), set(self.edges), dict(self.values))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.nodes)} nodes, {len(self.edges)} edges)"

    def replace(self, **changes: Any) -> "TypedGraph":
        """A copy with some fields replaced (the structure itself is immutable)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(changes)
        return type(self)(**current)

    # -- rules ----------------------------------------------------------------------------------------------
    def violations(self) -> list[str]:
        """Every broken rule, one message each, naming the node or edge; empty when the graph is valid."""
        return self.rule_violations()

    def rule_violations(self) -> list[str]:
        return []

    def out_edges(self, node: Hashable) -> list[tuple[str, Hashable]]:
        return [(lab, v) for u, lab, v in self.edges if u == node]

    # -- networkx -------------------------------------------------------------------------------------------
    def to_networkx(self) -> nx.MultiDiGraph:
        """Node attributes ``kind``, ``label``, ``value`` (and ``known`` for value nodes); edge attribute ``label``."""
        g = nx.MultiDiGraph(model=self.MODEL)
        for n, (kind, label) in self.nodes.items():
            g.add_node(n, kind=kind, label=label, value=self.values.get(n), known=n in self.values)
        for u, label, v in self.edges:
            g.add_edge(u, v, key=label, label=label)
        return g

    @classmethod
    def _from_networkx_fields(cls, graph: nx.MultiDiGraph) -> dict:
        if not isinstance(graph, nx.DiGraph) or graph.graph.get("model") != cls.MODEL:
            raise UserError(f"graph must be a networkx graph made by {cls.__name__}.to_networkx "
                            f"(graph attribute model={cls.MODEL!r})")
        return dict(nodes={n: (d["kind"], d["label"]) for n, d in graph.nodes(data=True)},
                    edges=tuple((u, d["label"], v) for u, v, d in graph.edges(data=True)),
                    values={n: d["value"] for n, d in graph.nodes(data=True) if d.get("known")})

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph) -> "TypedGraph":
        """Inverse of :meth:`to_networkx`."""
        return cls(**cls._from_networkx_fields(graph))

    # -- pattern matching and pattern-based updates -----------------------------------------------------------
    def _pattern_view(self) -> nx.MultiDiGraph:
        g = self.to_networkx()
        for n in g:
            if not g.nodes[n]["known"]:
                g.nodes[n]["value"] = None
        return g

    def match(self, pattern: "TypedGraph") -> list[dict]:
        """Every embedding of ``pattern`` (homomorphisms keeping kind, label where given, value where given)."""
        if not isinstance(pattern, TypedGraph):
            raise UserError(f"pattern must be a {type(self).__name__}, got {type(pattern).__name__}")
        return match_pattern(pattern._pattern_view(), self._pattern_view(), node_keys=("kind", "label", "value"))

    def add(self, pattern: "TypedGraph", nodes: Mapping[Hashable, tuple] = (), edges: Iterable[tuple] = ()
            ) -> "TypedGraph":
        """For every embedding of ``pattern``: add one node per entry of ``nodes`` (new variable ->
        ``(kind, label)`` or ``(kind, label, value)``) and the ``edges`` between pattern and new variables.

        A new node is named after its label and the images of the pattern nodes it is joined to (a Skolem
        name), so adding twice adds nothing new."""
        nodes = dict(nodes or {})
        edges = list(edges)
        for var in nodes:
            if var in pattern.nodes:
                raise UserError(f"new node {var!r} is already a pattern node; give new nodes fresh names")
        for e in edges:
            for end in (e[0], e[2]):
                if end not in pattern.nodes and end not in nodes:
                    raise UserError(f"edge {e!r} to add names {end!r}, neither a pattern node nor a new node")
        new_nodes, new_edges, new_values = dict(self.nodes), list(self.edges), dict(self.values)
        for emb in self.match(pattern):
            image = dict(emb)
            for var, spec in nodes.items():
                anchors = sorted((lab, repr(emb[v])) for u, lab, v in edges if u == var and v in emb)
                anchors += sorted((f"^{lab}", repr(emb[u])) for u, lab, v in edges if v == var and u in emb)
                name = f"{spec[1]}({', '.join(f'{a}={b}' for a, b in anchors)})" if anchors else f"{spec[1]}()"
                image[var] = name
                new_nodes[name] = (spec[0], spec[1])
                if len(spec) == 3:
                    new_values[name] = spec[2]
            new_edges += [(image[u], lab, image[v]) for u, lab, v in edges]
        return self.replace(nodes=new_nodes, edges=tuple(new_edges), values=new_values)

    def delete(self, pattern: "TypedGraph", nodes: Iterable[Hashable] = (), edges: Iterable[tuple] = ()
               ) -> "TypedGraph":
        """For every embedding of ``pattern``: delete the images of ``nodes`` (with their edges) and of the
        pattern ``edges``."""
        nodes, edges = list(nodes), list(edges)
        for n in nodes:
            if n not in pattern.nodes:
                raise UserError(f"node {n!r} to delete is not a pattern node")
        for e in edges:
            if e not in set(pattern.edges):
                raise UserError(f"edge {e!r} to delete is not an edge of the pattern")
        doomed_nodes, doomed_edges = set(), set()
        for emb in self.match(pattern):
            doomed_nodes |= {emb[n] for n in nodes}
            doomed_edges |= {(emb[u], lab, emb[v]) for u, lab, v in edges}
        return self.replace(nodes={n: s for n, s in self.nodes.items() if n not in doomed_nodes},
                            edges=tuple(e for e in self.edges if e not in doomed_edges
                                        and e[0] not in doomed_nodes and e[2] not in doomed_nodes),
                            values={n: v for n, v in self.values.items() if n not in doomed_nodes})


def duplicates(graph: TypedGraph, kinds: Iterable[str]) -> list[list[Hashable]]:
    """Groups of nodes of ``kinds`` that are equal by content: same kind and label, and the same value (value
    nodes) or the same outgoing edges (tuple, set and association nodes), to a fixpoint, since merging two
    equal members can make their containers equal."""
    kinds = set(kinds)
    rep = {n: n for n in graph.nodes}
    while True:
        groups: dict = {}
        for n, (kind, label) in graph.nodes.items():
            if kind not in kinds:
                continue
            if n in graph.values:
                content = ("v", repr(graph.values[n]))
            else:
                content = ("e", frozenset((lab, rep[v]) for lab, v in graph.out_edges(n)))
            groups.setdefault((kind, label, content), []).append(n)
        new_rep = dict(rep)
        for members in groups.values():
            first = min(members, key=repr)
            for m in members:
                new_rep[m] = first
        if new_rep == rep:
            return sorted((sorted(ms, key=repr) for ms in groups.values() if len(ms) > 1), key=repr)
        rep = new_rep


def reduce_duplicates(graph: TypedGraph, kinds: Iterable[str], keep: Iterable[Hashable] = ()) -> TypedGraph:
    """Merge every group of :func:`duplicates` into one member, redirecting edges: a member of ``keep`` (the
    nodes that existed before an update) if there is one, else the first by repr."""
    keep = set(keep)
    rep = {}
    for group in duplicates(graph, kinds):
        first = next((n for n in group if n in keep), group[0])
        for n in group:
            rep[n] = first
    if not rep:
        return graph
    nodes = {n: s for n, s in graph.nodes.items() if rep.get(n, n) == n}
    edges = tuple(dict.fromkeys((rep.get(u, u), lab, rep.get(v, v)) for u, lab, v in graph.edges))
    values = {n: v for n, v in graph.values.items() if n in nodes}
    return graph.replace(nodes=nodes, edges=edges, values=values)
