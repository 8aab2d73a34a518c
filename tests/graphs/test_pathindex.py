"""GraphGrep: the filter never loses an answer, and filter + verify equals a VF2 scan."""

import networkx as nx
import numpy as np
import pytest

from workbench.graphs import PathIndex
from workbench.graphs.generators import graph_database, sample_query
from workbench.graphs.pathindex import label_paths, vf2_scan
from workbench.graphs.pathindex import fingerprint


def test_label_paths_of_a_labelled_path():
    g = nx.Graph()
    g.add_nodes_from([(0, {"label": "C"}), (1, {"label": "O"}), (2, {"label": "C"})])
    g.add_edges_from([(0, 1), (1, 2)])
    counts = label_paths(g, 3)
    assert counts == {("C",): 2, ("O",): 1, ("C", "O"): 2, ("O", "C"): 2, ("C", "O", "C"): 2}


@pytest.mark.parametrize("induced", [False, True])
def test_search_equals_vf2_scan(induced):
    db = graph_database(120, seed=5, nodes=(6, 14))
    index = PathIndex(db, max_length=4, n_buckets=64)
    for q in range(6):
        query = sample_query(db, 4 + q % 3, seed=q)
        result = index.search(query, induced=induced)
        expected = vf2_scan(db, query, induced=induced)
        assert result.matches == expected
        assert set(expected) <= set(result.candidates)
        assert 0.0 <= result.pruned_fraction < 1.0


def test_filter_prunes_on_a_rare_label():
    db = graph_database(60, seed=1, nodes=(6, 10), labels=("C", "N"))
    query = nx.Graph()
    query.add_node(0, label="Zn")
    assert PathIndex(db).search(query).candidates == []


def test_fingerprint_is_stable_across_processes():
    # blake2b, not hash(): the same graph gives the same buckets whatever PYTHONHASHSEED is.
    g = nx.Graph()
    g.add_nodes_from([(0, {"label": "C"}), (1, {"label": "N"})])
    g.add_edge(0, 1)
    fp = fingerprint(g, 2, 16)
    assert fp.sum() == 4 and fp.dtype == np.int32
    assert np.flatnonzero(fp).tolist() == sorted(np.flatnonzero(fp).tolist())


def test_path_index_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        PathIndex([])
    g = nx.Graph([(0, 1)])
    with pytest.raises(ValueError, match="without a 'label'"):
        PathIndex([g])
    with pytest.raises(TypeError, match="undirected simple"):
        PathIndex([nx.DiGraph()])
    with pytest.raises(ValueError, match="max_length must be an integer >= 1"):
        PathIndex(graph_database(2), max_length=0)
