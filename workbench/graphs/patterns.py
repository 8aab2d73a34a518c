"""Graph queries: pattern matching (GOOD / G-Log style embeddings) and regular path queries (Gram walks).

Both work on any model that has ``to_networkx()`` or on a networkx (Multi)DiGraph whose nodes carry a
``label`` (and optionally ``value``) attribute and whose edges carry a ``label``.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx


def as_networkx(model: Any, argument: str = "graph") -> nx.DiGraph:
    """The networkx view of a model (``model.to_networkx()``) or the graph itself."""
    if isinstance(model, nx.DiGraph):
        return model
    to_nx = getattr(model, "to_networkx", None)
    if to_nx is None:
        raise TypeError(f"{argument} must be a graph model (with to_networkx) or a networkx DiGraph/MultiDiGraph, "
                        f"got {type(model).__name__}")
    return to_nx()


@dataclass(frozen=True)
class _EdgeIndex:
    out: dict
    inc: dict
    triples: frozenset


def _edge_index(g: nx.DiGraph) -> _EdgeIndex:
    out: dict = defaultdict(set)
    inc: dict = defaultdict(set)
    triples = set()
    for u, v, data in g.edges(data=True):
        label = data.get("label")
        out[(u, label)].add(v)
        inc[(v, label)].add(u)
        triples.add((u, label, v))
    return _EdgeIndex(out, inc, frozenset(triples))


def _sort_key(x: Any) -> tuple:
    return (type(x).__name__, repr(x))


def match_pattern(pattern: Any, instance: Any, *, injective: bool = False,
                  node_keys: Iterable[str] = ("label", "value")) -> list[dict[Hashable, Hashable]]:
    """All embeddings of ``pattern`` into ``instance``.

    An embedding maps every pattern node to an instance node so that node attributes named in
    ``node_keys`` agree (where the pattern node sets them, not None) and every pattern edge
    ``u -label-> v`` has an instance edge ``m(u) -label-> m(v)``. GOOD and G-Log patterns are
    homomorphisms (two pattern nodes may map to one instance node); ``injective=True`` asks for
    distinct images (subgraph monomorphism, networkx's ``subgraph_monomorphisms_iter``).

    Returns a list of dicts pattern node -> instance node, in a deterministic order.
    """
    p = as_networkx(pattern, "pattern")
    g = as_networkx(instance, "instance")
    keys = tuple(node_keys)
    idx = _edge_index(g)
    p_edges = [(u, d.get("label"), v) for u, v, d in p.edges(data=True)]
    if any(label is None for _, label, _ in p_edges):
        raise ValueError("pattern has an edge without a 'label' attribute; label every pattern edge")

    def compatible(pn: Hashable, gn: Hashable) -> bool:
        pd, gd = p.nodes[pn], g.nodes[gn]
        return all(pd.get(k) is None or gd.get(k) == pd.get(k) for k in keys)

    instance_nodes = sorted(g.nodes, key=_sort_key)
    candidates = {pn: [gn for gn in instance_nodes if compatible(pn, gn)] for pn in p.nodes}
    # Visit pattern nodes most-constrained first, then always a neighbour of what is placed, so that the
    # edge index narrows each later choice to the neighbours of an already matched node.
    order: list = []
    remaining = set(p.nodes)
    und = p.to_undirected(as_view=True)
    while remaining:
        start = min(remaining, key=lambda n: (len(candidates[n]), _sort_key(n)))
        queue = deque([start])
        remaining.discard(start)
        while queue:
            n = queue.popleft()
            order.append(n)
            for m in sorted(und.neighbors(n), key=lambda x: (len(candidates[x]), _sort_key(x))):
                if m in remaining:
                    remaining.discard(m)
                    queue.append(m)
    edges_at = defaultdict(list)
    position = {n: i for i, n in enumerate(order)}
    for u, label, v in p_edges:
        later = u if position[u] >= position[v] else v
        edges_at[later].append((u, label, v))

    results: list[dict] = []
    mapping: dict = {}
    used: set = set()

    def options(pn: Hashable) -> Iterable:
        for u, label, v in edges_at[pn]:
            if u == pn and v != pn:
                return [x for x in sorted(idx.inc.get((mapping[v], label), ()), key=_sort_key)]
            if v == pn and u != pn:
                return [x for x in sorted(idx.out.get((mapping[u], label), ()), key=_sort_key)]
        return candidates[pn]

    def extend(i: int) -> None:
        if i == len(order):
            results.append(dict(mapping))
            return
        pn = order[i]
        allowed = set(candidates[pn])
        for gn in options(pn):
            if gn not in allowed or (injective and gn in used):
                continue
            mapping[pn] = gn
            if all((mapping[u], label, mapping[v]) in idx.triples for u, label, v in edges_at[pn]):
                used.add(gn)
                extend(i + 1)
                used.discard(gn)
            del mapping[pn]

    extend(0)
    return results


# ---------------------------------------------------------------------------------------------------------
# Regular path queries
# ---------------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<label>[A-Za-z_][\w:\-]*)|(?P<op>[.|/*+?()^]))")


def parse_path_expression(expression: str) -> tuple:
    """Parse a regular path expression over edge labels into a small syntax tree.

    Grammar: ``alt := seq ('|' seq)*``, ``seq := post (('.' | '/') post)*``, ``post := atom ('*' | '+' | '?')*``,
    ``atom := label | '^' label | '(' alt ')'``. ``^label`` walks an edge backwards (as in SPARQL property paths).
    Trees are tuples: ``('label', name, inverse)``, ``('seq', a, b)``, ``('alt', a, b)``, ``('star', a)``,
    ``('plus', a)``, ``('opt', a)``.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"expression must be a non-empty path expression such as 'parent.child*', got {expression!r}")
    tokens, pos = [], 0
    text = expression.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"expression {expression!r}: unexpected character {text[pos:].lstrip()[:1]!r} at "
                             f"position {pos}; labels are identifiers, operators are . / | * + ? ( ) ^")
        tokens.append(("label", m["label"]) if m["label"] else ("op", m["op"]))
        pos = m.end()
    i = 0

    def peek() -> tuple | None:
        return tokens[i] if i < len(tokens) else None

    def take(op: str) -> bool:
        nonlocal i
        if peek() == ("op", op):
            i += 1
            return True
        return False

    def alt() -> tuple:
        node = seq()
        while take("|"):
            node = ("alt", node, seq())
        return node

    def seq() -> tuple:
        node = post()
        while take(".") or take("/"):
            node = ("seq", node, post())
        return node

    def post() -> tuple:
        node = atom()
        while True:
            if take("*"):
                node = ("star", node)
            elif take("+"):
                node = ("plus", node)
            elif take("?"):
                node = ("opt", node)
            else:
                return node

    def atom() -> tuple:
        nonlocal i
        tok = peek()
        if tok is None:
            raise ValueError(f"expression {expression!r} ends early; a label or '(' is missing")
        if tok[0] == "label":
            i += 1
            return ("label", tok[1], False)
        if take("^"):
            nxt = peek()
            if nxt is None or nxt[0] != "label":
                raise ValueError(f"expression {expression!r}: '^' must be followed by an edge label")
            i += 1
            return ("label", nxt[1], True)
        if take("("):
            node = alt()
            if not take(")"):
                raise ValueError(f"expression {expression!r}: missing ')'")
            return node
        raise ValueError(f"expression {expression!r}: unexpected {tok[1]!r}; expected a label, '^' or '('")

    tree = alt()
    if i != len(tokens):
        raise ValueError(f"expression {expression!r}: unexpected {tokens[i][1]!r} after a complete expression")
    return tree


class _NFA:
    """Thompson construction: epsilon moves plus (label, inverse) moves, one start and one accept state."""

    def __init__(self, tree: tuple):
        self.eps: dict[int, list[int]] = defaultdict(list)
        self.moves: dict[int, list[tuple[str, bool, int]]] = defaultdict(list)
        self.count = 0
        self.start, self.accept = self._build(tree)

    def _new(self) -> int:
        self.count += 1
        return self.count - 1

    def _build(self, t: tuple) -> tuple[int, int]:
        kind = t[0]
        if kind == "label":
            s, a = self._new(), self._new()
            self.moves[s].append((t[1], t[2], a))
            return s, a
        if kind == "seq":
            s1, a1 = self._build(t[1])
            s2, a2 = self._build(t[2])
            self.eps[a1].append(s2)
            return s1, a2
        if kind == "alt":
            s, a = self._new(), self._new()
            for sub in t[1:]:
                si, ai = self._build(sub)
                self.eps[s].append(si)
                self.eps[ai].append(a)
            return s, a
        s, a = self._new(), self._new()
        si, ai = self._build(t[1])
        self.eps[s].append(si)
        self.eps[ai].append(a)
        if kind in ("star", "opt"):
            self.eps[s].append(a)
        if kind in ("star", "plus"):
            self.eps[ai].append(si)
        return s, a

    def closure(self, states: Iterable[int]) -> set[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for nxt in self.eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen


def regular_path_query(graph: Any, expression: str, sources: Iterable[Hashable] | None = None
                       ) -> list[tuple[Hashable, Hashable]]:
    """Pairs ``(x, y)`` joined by a walk whose edge labels spell a word of ``expression``.

    Walks, not simple paths (Gram's semantics, and SPARQL's for property paths): ``*`` includes the empty
    walk, so ``(x, x)`` is an answer for every start node when the expression accepts the empty word.
    Evaluated by a breadth-first search of the product of the graph with a Thompson automaton, from each
    node of ``sources`` (default: every node). Returns sorted pairs.
    """
    g = as_networkx(graph)
    nfa = _NFA(parse_path_expression(expression))
    idx = _edge_index(g)
    if sources is None:
        starts = list(g.nodes)
    else:
        starts = list(sources)
        missing = [s for s in starts if s not in g]
        if missing:
            raise ValueError(f"sources {missing[:5]!r} are not nodes of the graph; pass existing node ids")
    answers = set()
    eps_closure = {q: nfa.closure([q]) for q in range(nfa.count)}
    start_states = eps_closure[nfa.start]
    for s in starts:
        seen = {(s, q) for q in start_states}
        queue = deque(seen)
        while queue:
            node, q = queue.popleft()
            if q == nfa.accept:
                answers.add((s, node))
            for label, inverse, target_state in nfa.moves.get(q, ()):
                nxt_nodes = idx.inc.get((node, label), ()) if inverse else idx.out.get((node, label), ())
                for w in nxt_nodes:
                    for q2 in eps_closure[target_state]:
                        if (w, q2) not in seen:
                            seen.add((w, q2))
                            queue.append((w, q2))
    return sorted(answers, key=lambda pair: (_sort_key(pair[0]), _sort_key(pair[1])))


def path_relation(graph: Any, expression: str) -> set[tuple[Hashable, Hashable]]:
    """The same answer as :func:`regular_path_query`, computed by relational algebra on sets of pairs.

    ``label`` is the set of its edges, ``.`` is composition, ``|`` union, ``*`` the reflexive-transitive
    closure over all nodes. Written as the textbook definition, so it serves as an independent check.
    """
    g = as_networkx(graph)
    nodes = set(g.nodes)
    identity = {(n, n) for n in nodes}

    def compose(r: set, s: set) -> set:
        by_first = defaultdict(set)
        for a, b in s:
            by_first[a].add(b)
        return {(x, z) for x, y in r for z in by_first.get(y, ())}

    def plus(r: set) -> set:
        result = set(r)
        while True:
            bigger = result | compose(result, r)
            if bigger == result:
                return result
            result = bigger

    def ev(t: tuple) -> set:
        kind = t[0]
        if kind == "label":
            pairs = {(u, v) for u, v, d in g.edges(data=True) if d.get("label") == t[1]}
            return {(v, u) for u, v in pairs} if t[2] else pairs
        if kind == "seq":
            return compose(ev(t[1]), ev(t[2]))
        if kind == "alt":
            return ev(t[1]) | ev(t[2])
        if kind == "star":
            return identity | plus(ev(t[1]))
        if kind == "plus":
            return plus(ev(t[1]))
        return identity | ev(t[1])

    return ev(parse_path_expression(expression))
