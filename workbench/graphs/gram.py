"""Gram (Amann and Scholl, 1992): typed graphs queried by walks, hyperwalks and an algebra over them.

A Gram **schema** is a directed graph over types: node types (``CITY``, ``HOTEL``) and edge types between them
(``CITY -in-> HOTEL``). An instance graph has a type on every node and edge and conforms to the schema. A
**walk** alternates nodes and edges, ``(n0, e1, n1, ..., ek, nk)``; a **walk expression** is a regular
expression over the type names read along the walk, for example ``JOURNEY first STOP (next STOP)*``. The
schema says which expressions can match at all (:meth:`GramSchema.admits`).

A **hyperwalk** is a tuple of walks under named attributes; a set of hyperwalks with the same attributes is a
relation, and the **hyperwalk algebra** works on such relations: projection, selection, renaming, join
(the walks meet at a node), concatenation (a walk continued by another), and union, intersection,
difference. :func:`brute_force_walks` enumerates every walk up to a length and filters it with Python's
``re``, which the tests use as the reference for :func:`walks`, evaluated by an automaton product instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import networkx as nx

from workbench.errors import UserError
from workbench.graphs._checks import require_labelled_nodes
from workbench.graphs.patterns import _NFA

SURVEY = {
    "model": "Gram", "year": 1992, "cite": "Amann & Scholl 1992",
    "reference": "B. Amann, M. Scholl, Gram: a graph data model and query language, ECHT 1992",
    "data_structure": "directed labelled multigraph typed by a schema graph of node and edge types",
    "query_language": "walk expressions (regular expressions over types) and the hyperwalk algebra",
    "integrity": "schema-instance consistency: node types and typed edges between them",
    "operators": ("walks", "projection", "selection", "renaming", "join", "concatenation", "union", "intersection", "difference"),
}

Walk = tuple  # (n0, e1, n1, ..., ek, nk); an edge is its type name


@dataclass(frozen=True, eq=False)
class GramSchema:
    """Node types and edge types ``(source type, edge type, target type)``."""

    node_types: frozenset
    edge_types: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_types", frozenset(self.node_types))
        for e in self.edge_types:
            if not (isinstance(e, tuple) and len(e) == 3 and e[0] in self.node_types and e[2] in self.node_types):
                raise UserError(f"Gram schema: edge type {e!r} must join two node types of {sorted(self.node_types)}")

    def as_graph(self) -> "GramGraph":
        """The schema as a Gram graph whose nodes are its types (so walk expressions run over it)."""
        return GramGraph({t: t for t in self.node_types}, tuple(self.edge_types), validate=False)

    def admits(self, expression: str, max_length: int = 6) -> bool:
        """True when some walk of the schema spells a word of ``expression`` (else no instance can match)."""
        return bool(walks(self.as_graph(), expression, max_length=max_length))


@dataclass(frozen=True, eq=False)
class GramGraph:
    """An instance: nodes ``id -> type`` and edges ``(source, edge type, target)``, conforming to ``schema``."""

    nodes: Mapping[Hashable, str]
    edges: tuple = ()
    schema: GramSchema | None = None
    validate: bool = True

    def __post_init__(self) -> None:
        nodes = require_labelled_nodes("nodes", self.nodes)
        for e in self.edges:
            if not (isinstance(e, tuple) and len(e) == 3) or e[0] not in nodes or e[2] not in nodes:
                raise UserError(f"Gram: edge {e!r} must be (source, type, target) between known nodes")
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", tuple(dict.fromkeys(self.edges)))
        if self.validate and self.schema is not None:
            problems = self.violations()
            if problems:
                raise UserError(f"{problems[0]}; fix it or build with validate=False to inspect")

    def violations(self) -> list[str]:
        """Schema-instance consistency: node types declared, every edge typed by a schema edge type."""
        if self.schema is None:
            return []
        out = [f"Gram: node {n!r} has type {t!r}, which the schema does not declare"
               for n, t in self.nodes.items() if t not in self.schema.node_types]
        allowed = set(self.schema.edge_types)
        out += [f"Gram: edge {u!r} -{lab}-> {v!r} ({self.nodes[u]} -{lab}-> {self.nodes[v]}) has no schema edge type"
                for u, lab, v in self.edges if (self.nodes[u], lab, self.nodes[v]) not in allowed]
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GramGraph):
            return NotImplemented
        return dict(self.nodes) == dict(other.nodes) and set(self.edges) == set(other.edges)

    def __repr__(self) -> str:
        return f"GramGraph({len(self.nodes)} nodes, {len(self.edges)} edges)"

    def to_networkx(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(model="gram")
        for n, t in self.nodes.items():
            g.add_node(n, label=t)
        for u, lab, v in self.edges:
            g.add_edge(u, v, key=lab, label=lab)
        return g

    @classmethod
    def from_networkx(cls, graph: nx.MultiDiGraph, schema: GramSchema | None = None) -> "GramGraph":
        if not isinstance(graph, nx.DiGraph):
            raise UserError(f"graph must be a networkx MultiDiGraph, got {type(graph).__name__}")
        return cls({n: d["label"] for n, d in graph.nodes(data=True)},
                   tuple((u, d["label"], v) for u, v, d in graph.edges(data=True)), schema)


# -- walk expressions -------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][\w\-]*)|(?P<op>[|*+?()]))")


def _parse(expression: str) -> tuple:
    """Regular expression over type names: juxtaposition is sequence; ``|``, ``*``, ``+``, ``?``, parentheses."""
    if not isinstance(expression, str) or not expression.strip():
        raise UserError(f"walk expression must be a non-empty string such as 'CITY in HOTEL', got {expression!r}")
    tokens, pos, text = [], 0, expression.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise UserError(f"walk expression {expression!r}: unexpected {text[pos:].lstrip()[:1]!r} at {pos}")
        tokens.append(("name", m["name"]) if m["name"] else ("op", m["op"]))
        pos = m.end()
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else None

    def alt():
        nonlocal i
        node = seq()
        while peek() == ("op", "|"):
            i += 1
            node = ("alt", node, seq())
        return node

    def seq():
        node = post()
        while peek() is not None and (peek()[0] == "name" or peek() == ("op", "(")):
            node = ("seq", node, post())
        return node

    def post():
        nonlocal i
        node = atom()
        while peek() in (("op", "*"), ("op", "+"), ("op", "?")):
            node = ({"*": "star", "+": "plus", "?": "opt"}[peek()[1]], node)
            i += 1
        return node

    def atom():
        nonlocal i
        tok = peek()
        if tok is None:
            raise UserError(f"walk expression {expression!r} ends early; a type name or '(' is missing")
        i += 1
        if tok[0] == "name":
            return ("label", tok[1], False)
        if tok[1] == "(":
            node = alt()
            if peek() != ("op", ")"):
                raise UserError(f"walk expression {expression!r}: missing ')'")
            i += 1
            return node
        raise UserError(f"walk expression {expression!r}: unexpected {tok[1]!r}")

    tree = alt()
    if i != len(tokens):
        raise UserError(f"walk expression {expression!r}: unexpected {tokens[i][1]!r} after a complete expression")
    return tree


def _type_word(graph: GramGraph, walk: Walk) -> list[str]:
    return [graph.nodes[x] if k % 2 == 0 else x for k, x in enumerate(walk)]


def walks(graph: GramGraph, expression: str, *, max_length: int = 6) -> set[Walk]:
    """Every walk with at most ``max_length`` edges whose types, read node, edge, node, ..., spell a word of
    ``expression``. Walks may repeat nodes (they are walks, not paths); the bound keeps the set finite.

    Evaluated as a search of the product of the graph with a Thompson automaton of the expression."""
    if not isinstance(graph, GramGraph):
        raise UserError(f"graph must be a GramGraph, got {type(graph).__name__}")
    nfa = _NFA(_parse(expression))
    closure = {q: nfa.closure([q]) for q in range(nfa.count)}
    out_edges: dict = {}
    for u, lab, v in graph.edges:
        out_edges.setdefault(u, []).append((lab, v))

    def step(states: set, symbol: str) -> set:
        nxt = set()
        for q in states:
            for name, _, target in nfa.moves.get(q, ()):
                if name == symbol:
                    nxt |= closure[target]
        return nxt

    found: set = set()
    frontier = []
    for n, t in graph.nodes.items():
        states = step(closure[nfa.start], t)
        if states:
            frontier.append(((n,), states))
    for length in range(max_length + 1):
        nxt_frontier = []
        for walk, states in frontier:
            if nfa.accept in states:
                found.add(walk)
            if length == max_length:
                continue
            for lab, v in out_edges.get(walk[-1], ()):
                s1 = step(states, lab)
                s2 = step(s1, graph.nodes[v]) if s1 else set()
                if s2:
                    nxt_frontier.append((walk + (lab, v), s2))
        frontier = nxt_frontier
    return found


def brute_force_walks(graph: GramGraph, expression: str, *, max_length: int = 6) -> set[Walk]:
    """Reference: enumerate every walk up to ``max_length`` edges and keep those whose type word matches the
    expression, translated to a Python regular expression over space-separated names."""
    tree = _parse(expression)

    def to_re(t: tuple) -> str:
        if t[0] == "label":
            return re.escape(t[1]) + " "
        if t[0] == "seq":
            return to_re(t[1]) + to_re(t[2])
        if t[0] == "alt":
            return f"(?:{to_re(t[1])}|{to_re(t[2])})"
        suffix = {"star": "*", "plus": "+", "opt": "?"}[t[0]]
        return f"(?:{to_re(t[1])}){suffix}"

    pattern = re.compile(to_re(tree))
    all_walks = [(n,) for n in graph.nodes]
    frontier = list(all_walks)
    for _ in range(max_length):
        frontier = [w + (lab, v) for w in frontier for u, lab, v in graph.edges if u == w[-1]]
        all_walks += frontier
    return {w for w in all_walks if pattern.fullmatch("".join(x + " " for x in _type_word(graph, w)))}


# -- the hyperwalk algebra ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hyperwalks:
    """A relation of hyperwalks: ``attributes`` name the walks of each row; ``rows`` is a set of tuples."""

    attributes: tuple
    rows: frozenset = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if len(set(self.attributes)) != len(self.attributes):
            raise UserError(f"hyperwalk attributes {self.attributes} repeat a name")
        rows = frozenset(tuple(r) for r in self.rows)
        for r in rows:
            if len(r) != len(self.attributes):
                raise UserError(f"hyperwalk row {r!r} has {len(r)} walks for attributes {self.attributes}")
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "rows", rows)

    def dicts(self) -> list[dict]:
        return [dict(zip(self.attributes, r)) for r in sorted(self.rows, key=repr)]

    def __len__(self) -> int:
        return len(self.rows)


def hyperwalks(graph: GramGraph, expressions: Mapping[str, str], *, max_length: int = 6) -> Hyperwalks:
    """The product of the walk sets of ``{attribute: expression}`` (one walk per attribute per row)."""
    rel = Hyperwalks((), frozenset({()}))
    for name, expr in expressions.items():
        rel = product(rel, Hyperwalks((name,), frozenset((w,) for w in walks(graph, expr, max_length=max_length))))
    return rel


def product(r: Hyperwalks, s: Hyperwalks) -> Hyperwalks:
    clash = set(r.attributes) & set(s.attributes)
    if clash:
        raise UserError(f"product: attributes {sorted(clash)} are on both sides; rename one side first")
    return Hyperwalks(r.attributes + s.attributes, frozenset(a + b for a in r.rows for b in s.rows))


def projection(r: Hyperwalks, attributes: Iterable[str]) -> Hyperwalks:
    attributes = tuple(attributes)
    missing = [a for a in attributes if a not in r.attributes]
    if missing:
        raise UserError(f"projection on {missing}, which are not attributes of {r.attributes}")
    idx = [r.attributes.index(a) for a in attributes]
    return Hyperwalks(attributes, frozenset(tuple(row[i] for i in idx) for row in r.rows))


def selection(r: Hyperwalks, predicate: Callable[[dict], bool]) -> Hyperwalks:
    return Hyperwalks(r.attributes, frozenset(row for row in r.rows if predicate(dict(zip(r.attributes, row)))))


def renaming(r: Hyperwalks, names: Mapping[str, str]) -> Hyperwalks:
    unknown = [a for a in names if a not in r.attributes]
    if unknown:
        raise UserError(f"renaming {unknown}, which are not attributes of {r.attributes}")
    return Hyperwalks(tuple(names.get(a, a) for a in r.attributes), r.rows)


def join(r: Hyperwalks, s: Hyperwalks, on: tuple[str, str]) -> Hyperwalks:
    """Rows of ``r`` and ``s`` whose walks ``on = (a, b)`` meet: the last node of ``r.a`` is the first of ``s.b``."""
    a, b = on
    if a not in r.attributes or b not in s.attributes:
        raise UserError(f"join on {on}: {a!r} must be an attribute of the left side, {b!r} of the right side")
    ia, ib = r.attributes.index(a), s.attributes.index(b)
    by_start: dict = {}
    for row in s.rows:
        by_start.setdefault(row[ib][0], []).append(row)
    both = product(Hyperwalks(r.attributes), Hyperwalks(s.attributes))  # checks the attribute names
    return Hyperwalks(both.attributes, frozenset(x + y for x in r.rows for y in by_start.get(x[ia][-1], ())))


def concatenation(r: Hyperwalks, s: Hyperwalks, on: tuple[str, str], name: str) -> Hyperwalks:
    """Join on ``on``, then replace the two walks by one walk ``name``: ``r.a`` continued by ``s.b``."""
    joined = join(r, s, on)
    a, b = on
    ia, ib = joined.attributes.index(a), joined.attributes.index(b)
    keep = [i for i in range(len(joined.attributes)) if i not in (ia, ib)]
    attrs = (name,) + tuple(joined.attributes[i] for i in keep)
    if len(set(attrs)) != len(attrs):
        raise UserError(f"concatenation: the new attribute {name!r} clashes with {attrs[1:]}")
    return Hyperwalks(attrs, frozenset((row[ia] + row[ib][1:],) + tuple(row[i] for i in keep) for row in joined.rows))


def _same(r: Hyperwalks, s: Hyperwalks, op: str) -> None:
    if r.attributes != s.attributes:
        raise UserError(f"{op} needs the same attributes on both sides, got {r.attributes} and {s.attributes}")


def union(r: Hyperwalks, s: Hyperwalks) -> Hyperwalks:
    _same(r, s, "union")
    return Hyperwalks(r.attributes, r.rows | s.rows)


def intersection(r: Hyperwalks, s: Hyperwalks) -> Hyperwalks:
    _same(r, s, "intersection")
    return Hyperwalks(r.attributes, r.rows & s.rows)


def difference(r: Hyperwalks, s: Hyperwalks) -> Hyperwalks:
    _same(r, s, "difference")
    return Hyperwalks(r.attributes, r.rows - s.rows)


def example() -> GramGraph:
    """The travel-agency world of the Gram paper, small: a journey of stops in cities with hotels."""
    schema = GramSchema({"JOURNEY", "STOP", "CITY", "HOTEL"},
                        (("JOURNEY", "first", "STOP"), ("STOP", "next", "STOP"), ("STOP", "at", "CITY"),
                         ("CITY", "in", "HOTEL")))
    nodes = {"j1": "JOURNEY", "s1": "STOP", "s2": "STOP", "s3": "STOP", "paris": "CITY", "lyon": "CITY",
             "h1": "HOTEL", "h2": "HOTEL", "h3": "HOTEL"}
    edges = (("j1", "first", "s1"), ("s1", "next", "s2"), ("s2", "next", "s3"), ("s1", "at", "paris"),
             ("s2", "at", "lyon"), ("s3", "at", "paris"), ("paris", "in", "h1"), ("paris", "in", "h2"),
             ("lyon", "in", "h3"))
    return GramGraph(nodes, edges, schema)


__all__ = ["GramGraph", "GramSchema", "Hyperwalks", "SURVEY", "brute_force_walks", "concatenation", "difference",
           "example", "hyperwalks", "intersection", "join", "product", "projection", "renaming", "selection",
           "union", "walks"]
