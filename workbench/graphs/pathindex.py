"""A GraphGrep path index (Shasha, Wang and Giugno, PODS 2002) over a database of small labelled graphs.

Every graph is summarised by the label sequences of its simple paths of up to ``max_length`` nodes
(GraphGrep's *lp*, called MaxL here). Each sequence is hashed into one of ``n_buckets`` counters, giving a
fixed-length *fingerprint* per graph. If the query embeds into a graph (injectively: a subgraph
monomorphism, or the stricter induced isomorphism), each simple path of the query maps to a distinct simple
path of the graph with the same labels, so every query counter is <= the graph's counter; hashing only
merges counters, which keeps the inequality. So the filter ``all(fp_query <= fp_graph)`` never drops an
answer, and only the graphs that pass it are verified: here with networkx's VF2 matcher, in
:mod:`workbench.graphs.graphgrep` with GraphGrep's own combination of id-paths.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from networkx.algorithms import isomorphism as iso

from workbench.graphs._checks import require_positive_int

_node_match = iso.categorical_node_match("label", None)


def _check_graph(g: object, where: str) -> nx.Graph:
    if not isinstance(g, nx.Graph) or g.is_directed() or g.is_multigraph():
        raise TypeError(f"{where} must be an undirected simple nx.Graph, got {type(g).__name__}")
    missing = [n for n, d in g.nodes(data=True) if "label" not in d]
    if missing:
        raise ValueError(f"{where} has nodes without a 'label' attribute: {missing[:5]!r}; label every node")
    return g


def label_paths(graph: nx.Graph, max_length: int) -> Counter:
    """Counts of label sequences over all simple paths of 1..``max_length`` nodes (both directions)."""
    graph = _check_graph(graph, "graph")
    require_positive_int("max_length", max_length)
    labels = {n: str(d["label"]) for n, d in graph.nodes(data=True)}
    adj = {n: list(graph.neighbors(n)) for n in graph}
    counts: Counter = Counter()

    def walk(node, seq: tuple, on_path: set) -> None:
        counts[seq] += 1
        if len(seq) == max_length:
            return
        for m in adj[node]:
            if m not in on_path:
                on_path.add(m)
                walk(m, seq + (labels[m],), on_path)
                on_path.discard(m)

    for n in graph:
        walk(n, (labels[n],), {n})
    return counts


def _bucket(seq: tuple, n_buckets: int) -> int:
    # A keyed-free stable hash: Python's hash() of str changes with PYTHONHASHSEED between processes.
    digest = hashlib.blake2b("\x1f".join(seq).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n_buckets


def fingerprint(graph: nx.Graph, max_length: int, n_buckets: int) -> np.ndarray:
    """The hashed path-count vector of one graph (length ``n_buckets``, int32)."""
    require_positive_int("n_buckets", n_buckets)
    fp = np.zeros(n_buckets, dtype=np.int32)
    for seq, c in label_paths(graph, max_length).items():
        fp[_bucket(seq, n_buckets)] += c
    return fp


def is_subgraph(query: nx.Graph, graph: nx.Graph, *, induced: bool = False) -> bool:
    """VF2 (networkx GraphMatcher with label match): does ``query`` embed into ``graph``?"""
    gm = iso.GraphMatcher(graph, query, node_match=_node_match)
    return gm.subgraph_is_isomorphic() if induced else gm.subgraph_is_monomorphic()


def vf2_scan(database: Sequence[nx.Graph], query: nx.Graph, *, induced: bool = False) -> list[int]:
    """The baseline: run VF2 against every graph of the database. Returns the matching graph indices."""
    _check_graph(query, "query")
    return [i for i, g in enumerate(database) if is_subgraph(query, g, induced=induced)]


@dataclass
class SearchResult:
    """Answer of :meth:`PathIndex.search`: matches, the candidates that passed the filter, and counts."""

    matches: list[int]
    candidates: list[int]
    database_size: int

    @property
    def pruned_fraction(self) -> float:
        """Share of the database the filter removed before any VF2 call."""
        return 1.0 - len(self.candidates) / self.database_size if self.database_size else 0.0


class PathIndex:
    """GraphGrep: fingerprints of hashed label-path counts, filter, then VF2 verification.

    Parameters
    ----------
    database : sequence of undirected ``nx.Graph`` with a ``label`` on every node.
    max_length : MaxL, the longest path (in nodes) that is indexed; GraphGrep's default is 4.
    n_buckets : fingerprint length (hash table size).
    """

    def __init__(self, database: Sequence[nx.Graph], max_length: int = 4, n_buckets: int = 256):
        if isinstance(database, nx.Graph) or not isinstance(database, Sequence) or not database:
            raise ValueError("database must be a non-empty list of labelled nx.Graph objects")
        self.max_length = require_positive_int("max_length", max_length)
        self.n_buckets = require_positive_int("n_buckets", n_buckets)
        self.database = list(database)
        for i, g in enumerate(self.database):
            _check_graph(g, f"database[{i}]")
        self.fingerprints = np.stack([fingerprint(g, max_length, n_buckets) for g in self.database])

    def __len__(self) -> int:
        return len(self.database)

    def __repr__(self) -> str:
        return f"PathIndex({len(self)} graphs, MaxL={self.max_length}, {self.n_buckets} buckets)"

    def candidates(self, query: nx.Graph) -> list[int]:
        """Indices of the graphs whose fingerprint dominates the query's (the filter step)."""
        q = fingerprint(_check_graph(query, "query"), self.max_length, self.n_buckets)
        return np.flatnonzero((self.fingerprints >= q).all(axis=1)).tolist()

    def search(self, query: nx.Graph, *, induced: bool = False) -> SearchResult:
        """Filter with the fingerprints, then verify the candidates with VF2."""
        cands = self.candidates(query)
        matches = [i for i in cands if is_subgraph(query, self.database[i], induced=induced)]
        return SearchResult(matches, cands, len(self))


def random_labelled_graph(rng: random.Random, n_nodes: int, labels: Sequence[str], extra_edges: float = 0.3
                          ) -> nx.Graph:
    """A connected random labelled graph: a random spanning tree plus ``extra_edges * n`` chords."""
    g = nx.Graph()
    for i in range(n_nodes):
        g.add_node(i, label=rng.choice(labels))
        if i:
            g.add_edge(i, rng.randrange(i))
    for _ in range(int(extra_edges * n_nodes)):
        a, b = rng.randrange(n_nodes), rng.randrange(n_nodes)
        if a != b:
            g.add_edge(a, b)
    return g


def graph_database(n_graphs: int, seed: int = 0, *, nodes: tuple[int, int] = (10, 30),
                   labels: Sequence[str] = ("C", "C", "C", "N", "O", "S", "H"), extra_edges: float = 0.3
                   ) -> list[nx.Graph]:
    """A molecule-like database: ``n_graphs`` connected graphs with ``nodes[0]..nodes[1]`` nodes, labels drawn
    from ``labels`` (repeats make a label commoner)."""
    require_positive_int("n_graphs", n_graphs)
    if not (isinstance(nodes, tuple) and len(nodes) == 2 and 1 <= nodes[0] <= nodes[1]):
        raise ValueError(f"nodes must be a (min, max) tuple with 1 <= min <= max, got {nodes!r}")
    rng = random.Random(seed)
    return [random_labelled_graph(rng, rng.randint(*nodes), list(labels), extra_edges) for _ in range(n_graphs)]


def sample_query(database: Sequence[nx.Graph], n_nodes: int, seed: int = 0) -> nx.Graph:
    """A connected query cut out of a random database graph (so at least that graph answers it), with nodes
    renumbered 0..n_nodes-1."""
    require_positive_int("n_nodes", n_nodes)
    rng = random.Random(seed)
    pool = [g for g in database if g.number_of_nodes() >= n_nodes]
    if not pool:
        raise ValueError(f"no database graph has {n_nodes} nodes; ask for a smaller query")
    g = rng.choice(pool)
    start = rng.choice(sorted(g.nodes))
    chosen, frontier = [start], set(g.neighbors(start))
    while len(chosen) < n_nodes and frontier:
        nxt = rng.choice(sorted(frontier))
        chosen.append(nxt)
        frontier |= set(g.neighbors(nxt))
        frontier -= set(chosen)
    # The query keeps the chosen nodes and a spanning tree's worth of their edges plus the rest, i.e. the
    # induced subgraph, so it is an answer both as monomorphism and as induced isomorphism.
    sub = g.subgraph(chosen)
    return nx.convert_node_labels_to_integers(nx.Graph(sub), ordering="sorted")
