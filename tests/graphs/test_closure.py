"""transitive_closure and warshall against networkx.transitive_closure (default reflexive=False)."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.graphs import (adjacency_matrix, citation_graph, closure_to_networkx, condensation,
                              random_digraph, transitive_closure, warshall)


@st.composite
def digraphs(draw):
    n = draw(st.integers(1, 14))
    arcs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(arcs)  # self-loops and cycles included
    return g


def reference(g: nx.DiGraph) -> np.ndarray:
    return nx.to_numpy_array(nx.transitive_closure(g), nodelist=list(g), dtype=bool)


@settings(max_examples=150, deadline=None)
@given(digraphs())
def test_every_method_matches_networkx(g):
    ref = reference(g)
    for method in ("warshall", "bitset", "matmul"):
        got = transitive_closure(g, method=method, device="cpu" if method == "matmul" else None)
        assert got.dtype == bool
        np.testing.assert_array_equal(got, ref, err_msg=method)


def test_reflexive_convention_is_networkx_default():
    g = nx.DiGraph([(0, 1), (1, 2), (2, 1), (3, 3)])
    g.add_node(4)
    c = transitive_closure(g)
    # Diagonal only for nodes on a cycle: 1 and 2 (a 2-cycle) and 3 (a self-loop); not 0 or 4.
    assert c.diagonal().tolist() == [False, True, True, True, False]
    assert nx.is_isomorphic(closure_to_networkx(c), nx.transitive_closure(g))


def test_bitset_spans_word_boundaries():
    # A chain longer than 64 and 128 makes components cross uint64 word borders.
    g = nx.path_graph(150, create_using=nx.DiGraph)
    g.add_edge(149, 140)
    np.testing.assert_array_equal(transitive_closure(g, method="bitset"), reference(g))


def test_sparse_and_dense_inputs_agree():
    a = random_digraph(300, 1.2, seed=3, self_loops=True)
    dense = a.toarray()
    np.testing.assert_array_equal(transitive_closure(a), transitive_closure(dense))
    g = nx.from_scipy_sparse_array(a, create_using=nx.DiGraph)
    np.testing.assert_array_equal(transitive_closure(a), reference(g))


def test_condensation_is_a_dag_with_cyclic_flags():
    g = nx.DiGraph([(0, 1), (1, 0), (1, 2), (3, 3)])
    comp, dag, cyclic = condensation(g)
    assert comp[0] == comp[1] and comp[2] != comp[0]
    assert nx.is_directed_acyclic_graph(nx.from_scipy_sparse_array(dag, create_using=nx.DiGraph))
    assert cyclic[comp[0]] and cyclic[comp[3]] and not cyclic[comp[2]]


def test_citation_graph_closure_matches_networkx():
    g = citation_graph(400, seed=1)
    assert not nx.is_directed_acyclic_graph(g)  # the forward citations make a few cycles
    np.testing.assert_array_equal(transitive_closure(g), reference(g))


def test_bad_inputs():
    with pytest.raises(ValueError, match="must be square"):
        transitive_closure(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="must be directed"):
        transitive_closure(nx.path_graph(3))
    with pytest.raises(ValueError, match="method must be one of"):
        transitive_closure(np.zeros((2, 2)), method="fast")
    with pytest.raises(TypeError, match="adjacency must be"):
        adjacency_matrix([[0, 1], [0, 0]])
    assert transitive_closure(np.zeros((0, 0))).shape == (0, 0)
    assert warshall(sp.csr_array((1, 1), dtype=bool)).tolist() == [[False]]


def test_exercise_check_says_what_is_wrong():
    from workbench.graphs import check_closure_answer
    a = np.zeros((4, 4), dtype=bool)
    a[0, 1] = a[1, 2] = a[2, 1] = True
    truth = {(0, 1), (0, 2), (1, 2), (2, 1), (1, 1), (2, 2)}
    assert check_closure_answer(a, truth) == "correct"
    msg = check_closure_answer(a, truth - {(1, 1)} | {(3, 3)})
    assert "missing (1, 1)" in msg and "cycle" in msg and "extra (3, 3)" in msg and "reflexive" in msg
    assert "walk [0, 1, 2]" in check_closure_answer(a, truth - {(0, 2)})
    assert "4 x 4" in check_closure_answer(a, np.zeros((3, 3)))


@settings(max_examples=100, deadline=None)
@given(digraphs(), st.booleans())
def test_sparse_input_takes_the_same_answers_through_every_shortcut(g, ring):
    # ring=True adds a cycle through every node: one component, the k == 1 shortcut.
    if ring and len(g) > 1:
        g.add_edges_from((i, (i + 1) % len(g)) for i in range(len(g)))
    a = sp.csr_array(nx.to_scipy_sparse_array(g, nodelist=list(g), dtype=bool, format="csr"))
    np.testing.assert_array_equal(transitive_closure(a, method="bitset"), reference(g))


def test_one_component_and_one_node_per_component_shortcuts():
    ring = sp.csr_array((np.ones(5, bool), (np.arange(5), (np.arange(5) + 1) % 5)), shape=(5, 5))
    full = transitive_closure(ring)
    assert full.all() and full.shape == (5, 5) and full.dtype == bool
    full[0, 0] = False  # a matrix of its own, writable: not a broadcast view of one row
    assert full[1:].all() and full[0, 1:].all()
    packed = transitive_closure(ring, packed=True)
    packed[0, 0] = 0
    assert packed[1:, 0].tolist() == [0b11111] * 4
    lone = sp.csr_array((1, 1), dtype=bool)
    assert not transitive_closure(lone).any()  # one node, no self-loop: not on a cycle
    chain_with_loop = sp.csr_array((np.ones(3, bool), ([0, 1, 2], [1, 2, 2])), shape=(3, 3))
    comp, dag, cyclic = condensation(chain_with_loop)
    assert comp.tolist() == [0, 1, 2] and cyclic.tolist() == [False, False, True]
    assert dag.diagonal().sum() == 0  # the self-loop is not a DAG arc
    np.testing.assert_array_equal(transitive_closure(chain_with_loop),
                                  [[False, True, True], [False, False, True], [False, False, True]])


def test_explicit_false_entries_are_not_arcs_and_canonical_input_is_not_copied():
    a = sp.csr_array((np.array([True, False]), ([0, 1], [1, 0])), shape=(2, 2))
    assert not transitive_closure(a)[1, 0]
    b = adjacency_matrix(a)
    assert adjacency_matrix(b) is b


@settings(max_examples=120, deadline=None)
@given(digraphs(), st.sampled_from(["none", "ring", "acyclic"]))
def test_packed_rows_are_the_closure_packed_through_every_shortcut(g, shape):
    # ring: one component (the constant shortcut); acyclic: arcs only upwards, the identity numbering (the
    # component rows returned as they are); none: whatever the draw gave (the general expansion).
    from workbench.graphs.closure import unpack_closure

    n = len(g)
    if shape == "ring" and n > 1:
        g.add_edges_from((i, (i + 1) % n) for i in range(n))
    if shape == "acyclic":
        g = nx.DiGraph([(u, v) for u, v in g.edges if u < v])
        g.add_nodes_from(range(n))
        g = nx.DiGraph(nx.to_numpy_array(g, nodelist=range(n), dtype=bool))
    ref = reference(g)
    for method in ("warshall", "bitset", "matmul"):
        got = transitive_closure(g, method=method, device="cpu" if method == "matmul" else None, packed=True)
        assert got.dtype == np.uint8 and got.shape == (n, (n + 7) // 8), method
        np.testing.assert_array_equal(got, np.packbits(ref, axis=1, bitorder="little"), err_msg=method)
        np.testing.assert_array_equal(unpack_closure(got), ref, err_msg=method)


def test_packed_padding_bits_stay_zero_on_a_giant_component():
    ring = sp.csr_array((np.ones(13, bool), (np.arange(13), (np.arange(13) + 1) % 13)), shape=(13, 13))
    got = transitive_closure(ring, packed=True)
    assert got[:, 0].tolist() == [0xFF] * 13 and got[:, 1].tolist() == [0b11111] * 13
