"""RDF: rdflib round trips, and basic graph patterns answered by our engine and by rdflib's SPARQL."""

import rdflib
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import Literal, URIRef
import pytest

from workbench.graphs import RdfGraph, basic_graph_pattern
from workbench.graphs.generators import social_graph
from workbench.graphs.rdf import bgp_to_sparql, sparql_solutions
from workbench.graphs import examples as E
from workbench.graphs.rdf import EX

R = [URIRef(EX + x) for x in ("a", "b", "c", "d")]
P = [URIRef(EX + x) for x in ("p", "q")]
L = [Literal(1), Literal("x")]


def test_ntriples_and_turtle_round_trip(tmp_path):
    g = E.rdf_example()
    for fmt in ("nt", "turtle"):
        text = g.serialize(fmt, path=tmp_path / f"g.{fmt}")
        assert RdfGraph.parse(text, format=fmt) == g
        assert RdfGraph.parse(path=tmp_path / f"g.{fmt}", format=fmt) == g
    assert g.serialize("nt") == g.serialize("nt")  # sorted lines: reproducible
    assert "ex:knows" in g.serialize("turtle")


def test_rdf_validation_messages():
    with pytest.raises(TypeError, match="predicate must be a URIRef"):
        RdfGraph(frozenset({(R[0], Literal("p"), R[1])}))
    with pytest.raises(TypeError, match="wrap plain values in Literal"):
        RdfGraph(frozenset({(R[0], P[0], 3)}))
    with pytest.raises(ValueError, match="format must be one of"):
        E.rdf_example().serialize("xml")
    with pytest.raises(ValueError, match="exactly one of data"):
        RdfGraph.parse()


def test_bgp_matches_sparql_on_the_example():
    g = E.rdf_example()
    ex = rdflib.Namespace(EX)
    pats = [("?x", ex.knows, "?y"), ("?y", rdflib.RDF.type, ex.Person), ("?x", ex.name, "?n")]
    ours = basic_graph_pattern(g, pats)
    assert ours == sparql_solutions(g.to_rdflib(), pats)
    assert ours == [{"x": ex.ann, "y": ex.bob, "n": Literal("Ann")}]
    assert bgp_to_sparql(pats).startswith("SELECT ?n ?x ?y WHERE {")


@st.composite
def graph_and_bgp(draw):
    subjects = st.sampled_from(R)
    objects = st.sampled_from(R + L)
    triples = draw(st.frozensets(st.tuples(subjects, st.sampled_from(P), objects), max_size=14))
    variables = ["?x", "?y", "?z"]
    term_s = st.one_of(st.sampled_from(variables), subjects)
    term_p = st.one_of(st.sampled_from(variables), st.sampled_from(P))
    term_o = st.one_of(st.sampled_from(variables), objects)
    pats = draw(st.lists(st.tuples(term_s, term_p, term_o), min_size=1, max_size=3))
    if not any(isinstance(x, str) and x.startswith("?") for pat in pats for x in pat):
        pats[0] = ("?x",) + pats[0][1:]
    return RdfGraph(triples), pats


@settings(max_examples=80, deadline=None)
@given(graph_and_bgp())
def test_bgp_equals_rdflib_sparql(case):
    g, pats = case
    assert basic_graph_pattern(g, pats) == sparql_solutions(g.to_rdflib(), pats)


def test_bgp_on_generated_social_graph():
    g = social_graph(150, seed=2)
    ex = rdflib.Namespace(EX)
    pats = [("?a", ex.knows, "?b"), ("?b", ex.worksFor, "?o"), ("?a", ex.worksFor, "?o")]
    ours = basic_graph_pattern(g, pats)
    assert ours == sparql_solutions(g.to_rdflib(), pats)
    assert len(ours) > 0


def test_constant_absent_from_data_gives_no_solutions():
    g = E.rdf_example()
    assert basic_graph_pattern(g, [("?x", URIRef(EX + "nothing"), "?y")]) == []
    with pytest.raises(TypeError, match="must be a variable"):
        basic_graph_pattern(g, [("?x", "knows", "?y")])


@settings(max_examples=60, deadline=None)
@given(graph_and_bgp(), st.sampled_from([0, 1, 3]))
def test_row_by_row_and_array_joins_give_the_same_solutions(case, small_table):
    # Small partial-solution tables are joined row by row, larger ones as numpy arrays; a switch at any
    # size (0: arrays from the start) must not change the answer.
    import workbench.graphs.rdf as rdf

    g, pats = case
    expected = sparql_solutions(g.to_rdflib(), pats)
    before = rdf.SMALL_TABLE
    try:
        rdf.SMALL_TABLE = small_table
        assert basic_graph_pattern(g, pats) == expected
    finally:
        rdf.SMALL_TABLE = before


def test_a_selective_star_query_on_the_social_graph_through_both_joins():
    import workbench.graphs.rdf as rdf

    g = social_graph(400, seed=3)
    ex = rdflib.Namespace(EX)
    pats = [("?p", rdflib.RDF.type, ex.Person), ("?p", ex.worksFor, ex.org1), ("?p", ex.name, "?n"), ("?p", ex.knows, "?q")]
    expected = sparql_solutions(g.to_rdflib(), pats)
    assert expected
    before = rdf.SMALL_TABLE
    try:
        for small_table in (0, 64, 10**9):
            rdf.SMALL_TABLE = small_table
            assert basic_graph_pattern(g, pats) == expected
    finally:
        rdf.SMALL_TABLE = before


def test_an_unselective_first_pattern_goes_to_the_arrays_before_it_is_expanded(monkeypatch):
    # Row by row is for small tables only: a first pattern with thousands of matches must not be
    # expanded tuple by tuple (that made the mutual-knows query four times slower).
    import workbench.graphs.rdf as rdf

    g = social_graph(400, seed=3)
    ex = rdflib.Namespace(EX)
    pats = [("?a", ex.knows, "?b"), ("?b", ex.knows, "?a"), ("?a", ex.worksFor, "?o"), ("?b", ex.worksFor, "?o")]
    expected = sparql_solutions(g.to_rdflib(), pats)
    calls = []
    real = rdf._extend
    monkeypatch.setattr(rdf, "_extend", lambda rows, *a: calls.append(len(rows)) or real(rows, *a))
    assert basic_graph_pattern(g, pats) == expected
    assert calls == []
