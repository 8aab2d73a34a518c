"""GraphGrep's own matcher: path decomposition and id-path combination give VF2's answers."""

import random

import networkx as nx
import pytest
from networkx.algorithms import isomorphism as iso

from workbench.graphs.generators import graph_database, random_labelled_graph, sample_query
from workbench.graphs.graphgrep import GraphGrep, IdPathIndex, combine, decompose, matches
from workbench.graphs.pathindex import vf2_scan

_match = iso.categorical_node_match("label", None)


def test_decomposition_covers_every_edge_and_node_with_short_simple_paths():
    rng = random.Random(1)
    for _ in range(50):
        q = random_labelled_graph(rng, rng.randint(1, 9), ["C", "N", "O"], extra_edges=rng.random())
        q.add_node(99, label="S")  # an isolated node must be covered too
        for max_length in (2, 3, 4, 5):
            paths = decompose(q, max_length)
            assert all(1 <= len(p) <= max_length and len(set(p)) == len(p) for p in paths)
            assert all(q.has_edge(a, b) for p in paths for a, b in zip(p, p[1:]))
            assert {frozenset(e) for e in q.edges} <= {frozenset(e) for p in paths for e in zip(p, p[1:])}
            assert {n for p in paths for n in p} == set(q.nodes)


def test_every_combination_is_a_vf2_monomorphism():
    rng = random.Random(2)
    for _ in range(40):
        g = random_labelled_graph(rng, rng.randint(4, 10), ["C", "C", "N"], extra_edges=0.5)
        q = random_labelled_graph(rng, rng.randint(1, 4), ["C", "N"], extra_edges=0.4)
        ours = combine(q, decompose(q, 3), IdPathIndex(g), first_only=False)
        theirs = [{qn: gn for gn, qn in m.items()}
                  for m in iso.GraphMatcher(g, q, node_match=_match).subgraph_monomorphisms_iter()]
        assert sorted(map(sorted, (m.items() for m in ours))) == sorted(map(sorted, (m.items() for m in theirs)))


@pytest.mark.parametrize("induced", [False, True])
def test_graphgrep_search_equals_the_vf2_scan(induced):
    db = graph_database(80, seed=3, nodes=(6, 16))
    index = GraphGrep(db, max_length=4, n_buckets=64)
    rng = random.Random(4)
    for q in range(10):
        query = sample_query(db, 3 + q % 5, seed=q)
        if q % 3 == 2:  # not every query is cut out of the database
            query = random_labelled_graph(rng, 4, ["C", "N", "O"], extra_edges=0.5)
        assert index.search(query, induced=induced).matches == vf2_scan(db, query, induced=induced)


def test_matches_on_single_graphs_and_triangles():
    tri = nx.cycle_graph(3)
    nx.set_node_attributes(tri, "C", "label")
    path3 = nx.path_graph(3)
    nx.set_node_attributes(path3, "C", "label")
    assert matches(path3, tri) and not matches(path3, tri, induced=True) and not matches(tri, path3)
    with pytest.raises(ValueError, match="max_length must be >= 2"):
        decompose(tri, 1)
