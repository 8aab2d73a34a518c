"""GraphGrep's own matcher (Giugno and Shasha, ICPR 2002; Shasha, Wang, Giugno, PODS 2002).

GraphGrep does not hand the candidates that survive its fingerprint filter to a general subgraph-isomorphism
routine. Its index keeps, for every label path of a graph, the **id-paths** that spell it (the node
sequences), and a query is answered from those:

1. the query is **decomposed** into label paths of at most MaxL nodes that together cover every query node
   and edge (:func:`decompose`);
2. for a candidate graph, each query path is looked up in the graph's id-paths with the same labels; a
   graph lacking one of them is dropped;
3. the id-path lists are **combined**: one id-path is chosen per query path so that a query node shared by
   two paths gets the same graph node in both, and distinct query nodes get distinct graph nodes. Each
   consistent choice is a subgraph monomorphism, since every query edge lies on a chosen path and so maps
   onto a graph edge. For an induced match the non-edges are checked at the end.

The combination is a backtracking join, the path with the fewest id-paths first. :class:`IdPathIndex`
computes a graph's id-paths for a label sequence once, when a query first asks for it, and keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from workbench.graphs._checks import require_positive_int
from workbench.graphs.pathindex import PathIndex, SearchResult, _check_graph


def decompose(query: nx.Graph, max_length: int) -> list[tuple]:
    """Simple paths of at most ``max_length`` nodes (query node ids) covering every query edge and node.

    Greedy and deterministic: each path starts at an uncovered edge and grows at both ends along uncovered
    edges while it stays simple and short enough."""
    query = _check_graph(query, "query")
    require_positive_int("max_length", max_length)
    uncovered = {frozenset(e) for e in query.edges}
    paths: list[tuple] = []
    for u, v in sorted(query.edges, key=lambda e: (str(min(e, key=str)), str(max(e, key=str)))):
        if frozenset((u, v)) not in uncovered:
            continue
        if max_length < 2:
            raise ValueError("max_length must be >= 2 to cover the edges of a query; GraphGrep's default is 4")
        path = [u, v]
        uncovered.discard(frozenset((u, v)))
        grown = True
        while grown and len(path) < max_length:
            grown = False
            for end in (-1, 0):
                if len(path) >= max_length:
                    break
                tip = path[end]
                nxt = sorted((w for w in query.neighbors(tip) if w not in path
                              and frozenset((tip, w)) in uncovered), key=str)
                if nxt:
                    uncovered.discard(frozenset((tip, nxt[0])))
                    path = path + [nxt[0]] if end == -1 else [nxt[0]] + path
                    grown = True
        paths.append(tuple(path))
    covered = {n for p in paths for n in p}
    paths += [(n,) for n in sorted(query.nodes, key=str) if n not in covered]
    return paths


class IdPathIndex:
    """The id-paths of one graph by label sequence, computed on first request and kept."""

    def __init__(self, graph: nx.Graph):
        self.graph = _check_graph(graph, "graph")
        self.labels = {n: str(d["label"]) for n, d in graph.nodes(data=True)}
        self.by_label: dict[str, list] = {}
        for n in sorted(graph.nodes, key=str):
            self.by_label.setdefault(self.labels[n], []).append(n)
        self._cache: dict[tuple, list[tuple]] = {}

    def id_paths(self, labels: tuple) -> list[tuple]:
        """Every simple path of the graph whose node labels spell ``labels``, as node tuples."""
        if labels not in self._cache:
            out: list[tuple] = []

            def walk(path: list) -> None:
                if len(path) == len(labels):
                    out.append(tuple(path))
                    return
                want = labels[len(path)]
                for m in self.graph.neighbors(path[-1]):
                    if self.labels[m] == want and m not in path:
                        path.append(m)
                        walk(path)
                        path.pop()

            for start in self.by_label.get(labels[0], ()):
                walk([start])
            self._cache[labels] = out
        return self._cache[labels]


def combine(query: nx.Graph, paths: list[tuple], index: IdPathIndex, *, induced: bool = False,
            first_only: bool = True) -> list[dict]:
    """The consistent choices of one id-path per query path, as query node -> graph node mappings."""
    labels = {n: str(d["label"]) for n, d in query.nodes(data=True)}
    options = []
    for p in paths:
        found = index.id_paths(tuple(labels[n] for n in p))
        if not found:
            return []
        options.append((p, found))
    options.sort(key=lambda item: len(item[1]))
    mapping: dict = {}
    used: dict = {}
    results: list[dict] = []

    def ok_induced() -> bool:
        g = index.graph
        nodes = list(mapping)
        return all(g.has_edge(mapping[a], mapping[b]) == query.has_edge(a, b)
                   for i, a in enumerate(nodes) for b in nodes[i + 1:])

    def extend(k: int) -> bool:
        if k == len(options):
            if not induced or ok_induced():
                results.append(dict(mapping))
                return first_only
            return False
        qpath, found = options[k]
        for ipath in found:
            added = []
            consistent = True
            for qn, gn in zip(qpath, ipath):
                if qn in mapping:
                    if mapping[qn] != gn:
                        consistent = False
                        break
                elif gn in used:  # injective: another query node already has this graph node
                    consistent = False
                    break
                else:
                    mapping[qn] = gn
                    used[gn] = qn
                    added.append(qn)
            if consistent and extend(k + 1):
                return True
            for qn in added:
                del used[mapping[qn]]
                del mapping[qn]
        return False

    extend(0)
    return results


def matches(query: nx.Graph, graph: nx.Graph | IdPathIndex, *, max_length: int = 4, induced: bool = False) -> bool:
    """Does ``query`` embed in ``graph`` (injectively; ``induced=True``: as an induced subgraph)?"""
    index = graph if isinstance(graph, IdPathIndex) else IdPathIndex(graph)
    return bool(combine(query, decompose(query, max_length), index, induced=induced))


class GraphGrep(PathIndex):
    """The fingerprint filter of :class:`~workbench.graphs.pathindex.PathIndex`, verified by GraphGrep's own
    combination of id-paths instead of VF2."""

    def __init__(self, database: Sequence[nx.Graph], max_length: int = 4, n_buckets: int = 256):
        super().__init__(database, max_length, n_buckets)
        self._id_paths: dict[int, IdPathIndex] = {}

    def id_path_index(self, i: int) -> IdPathIndex:
        if i not in self._id_paths:
            self._id_paths[i] = IdPathIndex(self.database[i])
        return self._id_paths[i]

    def search(self, query: nx.Graph, *, induced: bool = False) -> SearchResult:
        cands = self.candidates(query)
        paths = decompose(query, max(2, self.max_length))
        found = [i for i in cands if combine(query, paths, self.id_path_index(i), induced=induced)]
        return SearchResult(found, cands, len(self))


__all__ = ["GraphGrep", "IdPathIndex", "combine", "decompose", "matches"]
