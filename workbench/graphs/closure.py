"""Transitive closure of a directed graph: Warshall for the lesson, and a fast version.

Convention (the same as ``networkx.transitive_closure(G)`` with its default ``reflexive=False``): the
closure is R+, pairs joined by a walk of length >= 1. So ``closure[i, i]`` is True exactly when node ``i``
lies on a cycle, a self-loop included; it is not added for every node.

The fast version first condenses strongly connected components (every node of a component reaches the
same set; all arcs are relabelled in a few whole-array operations, none when the graph is one component
or has no cycles), then propagates reachability over the condensation DAG in reverse topological order, one
bitset row per component, packed 64 components to a ``uint64`` word; the node-level matrix is read back
by indexing the component matrix with the component of each node. On a CUDA device the closure of the
condensation is instead computed by repeated squaring of a boolean matrix (``R <- R or R @ R``), which is
what a GPU does best.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from workbench.graphs._arrays import ranges as _ranges

METHODS = ("auto", "warshall", "bitset", "matmul")


def adjacency_matrix(graph: Any, nodelist: list | None = None) -> sp.csr_array:
    """A boolean CSR adjacency matrix of ``graph`` (a networkx DiGraph, a square numpy array or a scipy
    sparse matrix), with rows/columns in ``nodelist`` order for a networkx graph (default ``list(graph)``)."""
    if isinstance(graph, nx.Graph):
        if not graph.is_directed():
            raise TypeError("graph must be directed (nx.DiGraph); for an undirected graph use graph.to_directed()")
        nodes = list(graph) if nodelist is None else list(nodelist)
        return sp.csr_array(nx.to_scipy_sparse_array(graph, nodelist=nodes, dtype=bool, format="csr"))
    if isinstance(graph, sp.csr_array) and graph.dtype == bool and graph.ndim == 2 and graph.shape[0] == graph.shape[1] \
            and graph.has_canonical_format and graph.data.all():
        return graph  # already what we need: no copy of a large graph
    if sp.issparse(graph):
        a = sp.csr_array(graph)
    elif isinstance(graph, np.ndarray):
        a = sp.csr_array(graph.astype(bool))
    else:
        raise TypeError(f"adjacency must be a square numpy array, a scipy sparse matrix or a networkx DiGraph, "
                        f"got {type(graph).__name__}")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square (n x n), got shape {a.shape}")
    a = sp.csr_array(a.astype(bool))
    a.eliminate_zeros()
    a.sum_duplicates()
    return a


def warshall(adjacency: Any) -> np.ndarray:
    """Warshall's algorithm, as in the textbook: after step k, ``C[i, j]`` says whether j is reachable from
    i through intermediate nodes among the first k. O(n^3); one numpy row operation per (k, i) pair that
    needs it, so the loop structure stays visible."""
    c = adjacency_matrix(adjacency).toarray()
    n = c.shape[0]
    for k in range(n):
        for i in range(n):
            if c[i, k]:
                # i reaches k, so i reaches everything k reaches.
                c[i, :] |= c[k, :]
    return c


def condensation(adjacency: Any) -> tuple[np.ndarray, sp.csr_array, np.ndarray]:
    """Strongly connected components: ``(component of each node, DAG adjacency between components,
    cyclic flag per component)``. A component is cyclic when it has two or more nodes or a self-loop.
    Components are numbered in the order of their smallest node, so a graph without cycles gets the
    identity numbering."""
    a = adjacency_matrix(adjacency)
    n = a.shape[0]
    k, comp = connected_components(a, directed=True, connection="strong")
    if k == 1:
        # One component (a giant SCC): nothing to renumber or relabel.
        cyclic = np.array([n > 1 or bool(a.diagonal().any())])
        return np.zeros(n, dtype=np.int64), sp.csr_array((1, 1), dtype=bool), cyclic
    # Renumber by smallest node: the first occurrence of each label, in node order.
    labels, first = np.unique(comp, return_index=True)
    relabel = np.empty(k, dtype=np.int32)
    relabel[labels[np.argsort(first, kind="stable")]] = np.arange(k, dtype=np.int32)
    comp = relabel[comp]
    sizes = np.bincount(comp, minlength=k)
    cyclic = sizes > 1
    loops = np.flatnonzero(a.diagonal())
    cyclic[comp[loops]] = True  # a self-loop makes a one-node component cyclic
    if k == n:
        # One node each: the DAG is the graph less its self-loops (and comp is the identity), with no
        # per-arc relabelling.
        dag = a.copy() if loops.size else a
        if loops.size:
            dag.setdiag(False)
            dag.eliminate_zeros()
        return comp.astype(np.int64), sp.csr_array(dag), cyclic
    # Every arc relabelled at once (int32 keeps the temporaries small on a dense graph).
    cu = np.repeat(comp, np.diff(a.indptr))
    cv = comp[a.indices]
    between = cu != cv
    dag = sp.csr_array((np.ones(int(between.sum()), dtype=bool), (cu[between], cv[between])), shape=(k, k))
    dag.sum_duplicates()
    return comp.astype(np.int64), dag, cyclic


def _levels(dag: sp.csr_array) -> np.ndarray:
    """Height of every DAG node: 0 for sinks, else 1 + the largest height among its successors.

    Computed by peeling sinks level by level with whole-array operations, so the Python loop runs once per
    level (the DAG's depth), not once per node."""
    k = dag.shape[0]
    level = np.full(k, -1, dtype=np.int64)
    outdeg = np.diff(dag.indptr).astype(np.int64)
    pred = dag.T.tocsr()  # predecessors of each node, to decrement their out-degrees
    frontier = np.flatnonzero(outdeg == 0)
    h = 0
    while frontier.size:
        level[frontier] = h
        starts, ends = pred.indptr[frontier], pred.indptr[frontier + 1]
        parents = pred.indices[_ranges(starts, ends)]
        np.subtract.at(outdeg, parents, 1)
        cand = np.unique(parents)
        frontier = cand[(outdeg[cand] == 0) & (level[cand] < 0)]
        h += 1
    if (level < 0).any():
        raise RuntimeError("condensation is not acyclic; this is a bug in the SCC step")
    return level


def _closure_bitset(dag: sp.csr_array, cyclic: np.ndarray) -> np.ndarray:
    """Reachability between components as packed uint64 rows (bit d of row c: c reaches d by >= 1 step).

    Components are processed a whole level at a time, sinks first: every successor of a level-h component
    has a lower level, so its row is final. A level's rows are the OR, over each component's successors d,
    of row(d) with bit d set: one gather and one ``bitwise_or.reduceat`` per level, over the DAG's arcs
    sorted once by the level of their source."""
    k = dag.shape[0]
    words = (k + 63) // 64
    reach = np.zeros((k, words), dtype=np.uint64)
    # reach_incl[d] = reach[d] with bit d set: what an arc into d contributes.
    reach_incl = np.zeros((k, words), dtype=np.uint64)
    ks = np.arange(k)
    reach_incl[ks, ks // 64] = np.left_shift(np.uint64(1), (ks % 64).astype(np.uint64))
    cyc = np.flatnonzero(cyclic)
    level = _levels(dag)
    src = np.repeat(ks, np.diff(dag.indptr))
    arc_order = np.lexsort((src, level[src]))
    src, dst = src[arc_order], dag.indices[arc_order]
    # First arc of each source, and where each level's arcs begin.
    first = np.flatnonzero(np.r_[True, src[1:] != src[:-1]]) if src.size else np.zeros(0, dtype=np.int64)
    src_level = level[src[first]] if src.size else np.zeros(0, dtype=np.int64)
    level_first = np.searchsorted(src_level, np.arange(1, level.max() + 2)) if k else np.zeros(1, dtype=np.int64)
    for h in range(len(level_first) - 1):
        f0, f1 = level_first[h], level_first[h + 1]
        if f0 == f1:
            continue
        heads = first[f0:f1]
        comps = src[heads]
        a1 = first[f1] if f1 < len(first) else len(src)
        counts = np.diff(np.append(heads, a1))
        # One successor (most components of a sparse graph): a plain row copy. More: a reduceat.
        one = counts == 1
        reach[comps[one]] = reach_incl[dst[heads[one]]]
        if not one.all():
            many_heads, many_counts = heads[~one], counts[~one]
            arcs = _ranges(many_heads, many_heads + many_counts)
            seg = np.concatenate(([0], np.cumsum(many_counts)[:-1]))
            reach[comps[~one]] = np.bitwise_or.reduceat(reach_incl[dst[arcs]], seg, axis=0)
        reach_incl[comps] |= reach[comps]
    # A cyclic component reaches itself; nothing else depends on it (reach_incl already has the bit).
    reach[cyc, cyc // 64] |= np.left_shift(np.uint64(1), (cyc % 64).astype(np.uint64))
    return reach


def _unpack(reach: np.ndarray, k: int) -> np.ndarray:
    bits = np.unpackbits(reach.view(np.uint8), axis=1, bitorder="little", count=k)
    return bits.view(bool)


def _expand(reach: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Node-level closure from the component-level one: entry (i, j) is reach[comp[i], comp[j]]."""
    k, n = reach.shape[0], len(comp)
    if k == n and np.array_equal(comp, np.arange(n)):
        return reach  # no cycles: components are the nodes, in order
    if k == 1:
        return _constant(n, bool(reach[0, 0]))
    # Columns first on the k distinct rows, then whole rows copied per node: k x n scattered reads
    # instead of n x n.
    return np.take(np.take(reach, comp, axis=1), comp, axis=0)


def _repeat_row(row: np.ndarray, n: int) -> np.ndarray:
    """A writable (n, len(row)) matrix whose every row is ``row``. All zero: ``np.zeros`` (the operating
    system hands out zeroed pages). Otherwise the row copied into every row of an empty matrix, which
    measures 5-10% faster than ``np.full``'s element-wise fill at n = 10,000 (the 100 MB write bounds both)."""
    if not row.any():
        return np.zeros((n, row.size), dtype=row.dtype)
    out = np.empty((n, row.size), dtype=row.dtype)
    out[...] = row
    return out


def _constant(n: int, value: bool) -> np.ndarray:
    """A writable n x n boolean matrix with every entry ``value``."""
    return _repeat_row(np.full(n, value, dtype=bool), n)


def _expand_packed(reach: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """As :func:`_expand`, with rows packed 8 columns to a byte (``np.packbits(..., bitorder="little")``):
    the k distinct rows are expanded and packed once, then copied per node."""
    return np.take(np.packbits(np.take(reach, comp, axis=1), axis=1, bitorder="little"), comp, axis=0)


def _packed_constant(n: int, value: bool) -> np.ndarray:
    """The packed n x n matrix with every entry ``value`` (the padding bits past column n stay 0)."""
    row = np.full((n + 7) // 8, 0xFF if value else 0, dtype=np.uint8)
    if value and n % 8:
        row[-1] = (1 << (n % 8)) - 1
    return _repeat_row(row, n)


def unpack_closure(packed: np.ndarray, n: int | None = None) -> np.ndarray:
    """The n x n boolean matrix from ``transitive_closure(..., packed=True)``'s packed rows."""
    packed = np.asarray(packed, dtype=np.uint8)
    n = packed.shape[0] if n is None else n
    return np.unpackbits(packed, axis=1, count=n, bitorder="little").view(bool)


def _closure_matmul(dag: sp.csr_array, cyclic: np.ndarray, device: str) -> np.ndarray:
    import torch

    k = dag.shape[0]
    r = torch.zeros((k, k), dtype=torch.float32, device=device)
    coo = dag.tocoo()
    r[torch.as_tensor(coo.row, device=device), torch.as_tensor(coo.col, device=device)] = 1.0
    # Squaring doubles the walk length covered each time, so ceil(log2 k) + 1 rounds suffice; stop early
    # when nothing changes. Counts are clamped back to 0/1 so float32 never overflows.
    while True:
        nxt = torch.clamp(r + r @ r, max=1.0)
        if torch.equal(nxt, r):
            break
        r = nxt
    out = (r > 0).cpu().numpy()
    idx = np.flatnonzero(cyclic)
    out[idx, idx] = True
    return out


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # torch is optional for this module; without it there is no CUDA either
        return False
    return bool(torch.cuda.is_available())


def transitive_closure(adjacency: Any, *, method: str = "auto", device: str | None = None, packed: bool = False) -> np.ndarray:
    """The transitive closure R+ as an n x n boolean numpy array (networkx's default convention: the
    diagonal is True only for nodes on a cycle).

    Parameters
    ----------
    adjacency : square numpy array, scipy sparse matrix, or networkx DiGraph (rows in ``list(G)`` order).
    method : ``"warshall"`` (the O(n^3) lesson version), ``"bitset"`` (SCC condensation + packed-bit
        propagation), ``"matmul"`` (SCC condensation + boolean matrix squaring in torch) or ``"auto"``
        (matmul on CUDA when available, bitset otherwise).
    device : torch device for ``matmul`` (default: ``"cuda"`` when available, else ``"cpu"``).
    packed : return the rows packed 8 columns to a byte, an (n, ceil(n / 8)) uint8 array in
        ``np.packbits(closure, axis=1, bitorder="little")`` layout: an eighth of the memory, and for a
        large closure an eighth of the time spent writing it out. :func:`unpack_closure` gives the matrix.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "warshall":
        out = warshall(adjacency)
        return np.packbits(out, axis=1, bitorder="little") if packed else out
    if method == "auto":
        method = "matmul" if _cuda_available() else "bitset"
    if method == "matmul" and device is None:
        device = "cuda" if _cuda_available() else "cpu"
    a = adjacency_matrix(adjacency)
    n = a.shape[0]
    if n == 0:
        return np.zeros((0, 0), dtype=np.uint8 if packed else bool)
    comp, dag, cyclic = condensation(a)
    k = dag.shape[0]
    if k == 1:  # one strongly connected component: everything reaches everything, or nothing
        return _packed_constant(n, bool(cyclic[0])) if packed else _expand(np.array([[bool(cyclic[0])]]), comp)
    if method == "matmul":
        reach = _closure_matmul(dag, cyclic, device)
        return _expand_packed(reach, comp) if packed else _expand(reach, comp)
    bits = _closure_bitset(dag, cyclic)
    if packed and k == n and sys.byteorder == "little" and np.array_equal(comp, np.arange(n)):
        # No cycles: the component rows are the node rows, and uint64 words read as little-endian bytes
        # are already packbits' little bit order.
        return np.ascontiguousarray(bits.view(np.uint8)[:, : (n + 7) // 8])
    reach = _unpack(bits, k)
    return _expand_packed(reach, comp) if packed else _expand(reach, comp)


def closure_to_networkx(closure: np.ndarray, nodelist: list | None = None) -> nx.DiGraph:
    """The closure matrix as a DiGraph on ``nodelist`` (default ``range(n)``), for comparison with networkx."""
    closure = np.asarray(closure, dtype=bool)
    if closure.ndim != 2 or closure.shape[0] != closure.shape[1]:
        raise ValueError(f"closure must be a square matrix, got shape {closure.shape}")
    nodes = list(range(closure.shape[0])) if nodelist is None else list(nodelist)
    if len(nodes) != closure.shape[0]:
        raise ValueError(f"nodelist has {len(nodes)} nodes but closure is {closure.shape[0]} x {closure.shape[0]}")
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    rows, cols = np.nonzero(closure)
    g.add_edges_from((nodes[i], nodes[j]) for i, j in zip(rows.tolist(), cols.tolist()))
    return g


def random_digraph(n: int, mean_degree: float, seed: int = 0, *, self_loops: bool = False) -> sp.csr_array:
    """An Erdos-Renyi style digraph with ``n * mean_degree`` random arcs (duplicates merged), as CSR."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not mean_degree >= 0:
        raise ValueError(f"mean_degree must be >= 0, got {mean_degree!r}")
    rng = np.random.default_rng(seed)
    m = int(round(n * mean_degree))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    if not self_loops:
        keep = u != v
        u, v = u[keep], v[keep]
    a = sp.csr_array((np.ones(len(u), dtype=bool), (u, v)), shape=(n, n))
    a.sum_duplicates()
    return a


def citation_graph(n: int, seed: int = 0, *, refs: int = 5, mutual_fraction: float = 0.02) -> nx.DiGraph:
    """A generated citation graph: paper i cites up to ``refs`` earlier papers chosen by preferential
    attachment (popular papers get cited more). A ``mutual_fraction`` of citations is answered by a citation
    back (papers revised after each other's preprints), which gives the few cycles real citation data has."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not 0.0 <= mutual_fraction <= 1.0:
        raise ValueError(f"mutual_fraction must lie in [0, 1], got {mutual_fraction!r}")
    rng = random.Random(seed)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    targets: list[int] = [0]
    for i in range(1, n):
        cited = sorted({rng.choice(targets) for _ in range(min(refs, i))})
        for j in cited:
            g.add_edge(i, j)
            if rng.random() < mutual_fraction:
                g.add_edge(j, i)
        targets.extend(cited)
        targets.append(i)
    return g


def check_closure_answer(adjacency: Any, answer: Any) -> str:
    """Exercise check: compare a hand-made closure (an n x n 0/1 matrix or a set of ``(i, j)`` pairs) with
    the true R+ and say what is wrong: missing pairs with a walk that proves them, extra pairs, and the
    diagonal convention when only the diagonal is off. Returns ``"correct"`` when it matches."""
    truth = transitive_closure(adjacency, method="bitset")
    n = truth.shape[0]
    if isinstance(answer, (set, frozenset, list)) and all(isinstance(p, tuple) and len(p) == 2 for p in answer):
        given = np.zeros((n, n), dtype=bool)
        for i, j in answer:
            if not (0 <= i < n and 0 <= j < n):
                return f"pair {(i, j)} names a node outside 0..{n - 1}"
            given[i, j] = True
    else:
        given = np.asarray(answer)
        if given.shape != (n, n):
            return f"answer must be a {n} x {n} matrix or a set of (i, j) pairs; got shape {given.shape}"
        given = given.astype(bool)
    if (given == truth).all():
        return "correct"
    g = nx.DiGraph(adjacency_matrix(adjacency))
    lines = []
    missing = list(zip(*np.nonzero(truth & ~given)))
    extra = list(zip(*np.nonzero(given & ~truth)))
    for i, j in missing[:5]:
        if i == j:
            # The shortest cycle through i: an arc i -> s, then the shortest walk from s back to i.
            back = [nx.shortest_path(g, s, int(i)) for s in sorted(g.successors(int(i))) if nx.has_path(g, s, int(i))]
            cycle = [int(i)] + min(back, key=len)[:-1]
            lines.append(f"missing ({i}, {i}): node {i} lies on the cycle {cycle}, so it reaches itself")
        else:
            lines.append(f"missing ({i}, {j}): walk {nx.shortest_path(g, int(i), int(j))}")
    for i, j in extra[:5]:
        if i == j:
            lines.append(f"extra ({i}, {i}): node {i} is on no cycle; R+ (networkx's default) has (i, i) only "
                         "for nodes on a cycle, it is not the reflexive closure")
        else:
            lines.append(f"extra ({i}, {j}): there is no walk from {i} to {j}")
    more = len(missing) + len(extra) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)
