"""Pattern matching and regular path queries, each against an independent oracle."""

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from networkx.algorithms import isomorphism as iso

from workbench.graphs import (DomainConstraint, KeyConstraint, LabelledGraph, ReferentialConstraint,
                              check_constraints, match_pattern, regular_path_query)
from workbench.graphs.patterns import path_relation
from workbench.graphs import examples as E
from workbench.graphs.patterns import parse_path_expression

LABELS = ["a", "b", "c"]


@st.composite
def labelled_digraphs(draw, max_nodes=6):
    n = draw(st.integers(1, max_nodes))
    g = nx.MultiDiGraph()
    for i in range(n):
        g.add_node(i, label=draw(st.sampled_from(["P", "Q"])))
    arcs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(LABELS), st.integers(0, n - 1)),
                         max_size=2 * n))
    for u, lab, v in set(arcs):
        g.add_edge(u, v, key=lab, label=lab)
    return g


def brute_force_embeddings(p, g, injective):
    """Try every map from pattern nodes to graph nodes."""
    pn, gn = list(p.nodes), list(g.nodes)
    triples = {(u, d["label"], v) for u, v, d in g.edges(data=True)}
    out = []
    for images in itertools.product(gn, repeat=len(pn)):
        if injective and len(set(images)) < len(images):
            continue
        m = dict(zip(pn, images))
        if all(p.nodes[x]["label"] == g.nodes[m[x]]["label"] for x in pn) and all(
                (m[u], d["label"], m[v]) in triples for u, v, d in p.edges(data=True)):
            out.append(m)
    return out


def canon(maps):
    return sorted(tuple(sorted(m.items())) for m in maps)


@settings(max_examples=80, deadline=None)
@given(labelled_digraphs(max_nodes=3), labelled_digraphs(max_nodes=5), st.booleans())
def test_match_pattern_equals_brute_force(p, g, injective):
    assert canon(match_pattern(p, g, injective=injective)) == canon(brute_force_embeddings(p, g, injective))


def test_injective_matches_equal_networkx_monomorphisms():
    g = E.instance_example().to_networkx()
    pattern = LabelledGraph({"x": "Person", "y": "Person", "p": "Paper"}, (("x", "wrote", "p"), ("y", "wrote", "p")))
    ours = match_pattern(pattern, g, injective=True)
    simple = nx.DiGraph(g)
    simple_p = nx.DiGraph(pattern.to_networkx())
    gm = iso.DiGraphMatcher(simple, simple_p, node_match=iso.categorical_node_match("label", None),
                            edge_match=iso.categorical_edge_match("label", None))
    theirs = [{v: k for k, v in m.items()} for m in gm.subgraph_monomorphisms_iter()]
    assert canon(ours) == canon(theirs)
    assert canon(ours) == [(("p", "p1"), ("x", "ann"), ("y", "bob")), (("p", "p1"), ("x", "bob"), ("y", "ann"))]


def test_pattern_with_printable_value():
    g = E.good_example()
    from workbench.graphs import GoodGraph
    pattern = GoodGraph({"x": "Person", "n": "String"}, (("x", "name", "n"),), {"n": "Bob"})
    assert match_pattern(pattern, g) == [{"x": "bob", "n": "n_bob"}]


@settings(max_examples=120, deadline=None)
@given(labelled_digraphs(), st.sampled_from(["a", "a.b", "a*", "(a|b)+.c", "a.b*.c?", "^a.b", "(a.^b)*", "a/b|c"]))
def test_rpq_automaton_equals_relational_algebra(g, expr):
    assert set(regular_path_query(g, expr)) == path_relation(g, expr)


def test_gram_walk_parent_child_star():
    # tom's parent is ann; ann's children are tom and bob; bob's child is cid.
    g = nx.MultiDiGraph()
    for n in ("tom", "ann", "bob", "cid"):
        g.add_node(n, label="Person")
    for u, lab, v in [("tom", "parent", "ann"), ("ann", "child", "tom"), ("ann", "child", "bob"),
                      ("bob", "child", "cid")]:
        g.add_edge(u, v, key=lab, label=lab)
    # parent.child*: the parent, then any number of child steps (zero included): ann and her descendants.
    assert regular_path_query(g, "parent.child*", sources=["tom"]) == [
        ("tom", "ann"), ("tom", "bob"), ("tom", "cid"), ("tom", "tom")]
    assert regular_path_query(g, "parent.child", sources=["tom"]) == [("tom", "bob"), ("tom", "tom")]
    assert regular_path_query(g, "^child", sources=["cid"]) == [("cid", "bob")]
    assert regular_path_query(g, "child+", sources=["ann"]) == [("ann", "bob"), ("ann", "cid"), ("ann", "tom")]


def test_path_expression_errors():
    with pytest.raises(ValueError, match="missing '\\)'"):
        parse_path_expression("(a.b")
    with pytest.raises(ValueError, match="unexpected character"):
        parse_path_expression("a.$")
    with pytest.raises(ValueError, match="non-empty path expression"):
        parse_path_expression("  ")
    with pytest.raises(ValueError, match="ends early"):
        parse_path_expression("a.")
    with pytest.raises(ValueError, match="sources"):
        regular_path_query(E.instance_example(), "knows", sources=["nobody"])


def test_integrity_constraints_report_every_violation():
    inst = E.instance_example()
    rules = [DomainConstraint("Person", "age", int), DomainConstraint("Paper", "year", lambda y: 1900 < y < 2100),
             KeyConstraint("Person", ("name",)), ReferentialConstraint("Person", "Paper", edge_label="wrote")]
    assert check_constraints(inst, rules) == []
    props = {k: dict(v) for k, v in inst.properties.items()}
    props["cid"]["age"] = "old"           # domain
    props["bob"]["name"] = "Ann"          # key
    props["p2"]["year"] = 1066            # domain (predicate)
    bad = LabelledGraph(dict(inst.nodes), inst.edges + (("cid", "wrote", "uchile"),), props)
    found = check_constraints(bad, rules)
    assert [type(v.constraint).__name__ for v in found] == ["DomainConstraint", "DomainConstraint",
                                                            "KeyConstraint", "ReferentialConstraint"]
    assert [v.where for v in found] == ["cid", "p2", "bob", ("cid", "wrote", "uchile")]
    fk = LabelledGraph({"a": "Person", "o": "Org"}, properties={"a": {"employer": "nowhere"}, "o": {}})
    (v,) = check_constraints(fk, [ReferentialConstraint("Person", "Org", attribute="employer")])
    assert "refers to no Org" in v.message
    with pytest.raises(ValueError, match="exactly one of edge_label"):
        ReferentialConstraint("Person", "Org")
    with pytest.raises(ValueError, match="non-empty tuple"):
        KeyConstraint("Person", "name")
