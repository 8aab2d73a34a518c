"""The graph models: validation, networkx round trips, and each model's own operations."""

import networkx as nx
import pytest

from workbench.graphs import GdmGraph, GoodGraph, Hypergraph, LabelledGraph, NestedGraph, OemGraph
from workbench.graphs.hypergraph import fd_violations, groovy_objects
from workbench.graphs.labelled import schema_violations
from workbench.graphs import examples as E

ROUND_TRIP = ["schema", "instance", "groovy", "good", "gdm", "oem", "rdf", "nested"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_networkx_round_trip(name):
    model = E.all_examples()[name]
    back = type(model).from_networkx(model.to_networkx())
    assert back == model


def test_labelled_validation_names_the_argument():
    with pytest.raises(ValueError, match=r"edges\[0\] target 'zed' is not a node"):
        LabelledGraph({"a": "Person"}, (("a", "knows", "zed"),))
    with pytest.raises(ValueError, match=r"nodes\['a'\] must be a non-empty string label"):
        LabelledGraph({"a": ""})
    with pytest.raises(ValueError, match="kind must be one of"):
        LabelledGraph({"a": "P"}, kind="table")
    with pytest.raises(ValueError, match="properties are for instance graphs"):
        LabelledGraph({"a": "P"}, properties={"a": {"x": 1}}, kind="schema")


def test_schema_conformance_reports_each_problem():
    schema, inst = E.schema_example(), E.instance_example()
    assert schema_violations(inst, schema) == []
    bad = LabelledGraph({**inst.nodes, "x": "Robot"}, inst.edges + (("p1", "wrote", "ann"),), dict(inst.properties))
    problems = schema_violations(bad, schema)
    assert len(problems) == 2
    assert "type 'Robot'" in problems[0] and "p1 -wrote-> 'ann'" in problems[1].replace("'p1'", "p1")


def test_groovy_shared_subobject_and_dependencies():
    h = E.groovy_example()
    shared = h.shared_subobjects()
    assert shared == {"dept:R&D,3": ["e1", "e2"]}
    assert fd_violations(h) == []
    broken = groovy_objects({"e1": {"dept": "R&D", "floor": 3}, "e2": {"dept": "R&D", "floor": 4}},
                            dependencies=[(["dept"], ["floor"])])
    (msg,) = fd_violations(broken)
    assert "fd0" in msg and "floor=3" in msg and "floor=4" in msg


def test_hypergraph_rejects_unknown_members_and_empty_edges():
    with pytest.raises(ValueError, match=r"hyperedges\['e'\] names unknown nodes 'z'"):
        Hypergraph({"a": "x"}, {"e": {"a", "z"}})
    with pytest.raises(ValueError, match="is empty"):
        Hypergraph({"a": "x"}, directed={"d": (set(), {"a"})})


def test_good_functional_edges_are_single_valued():
    with pytest.raises(ValueError, match="functional edges must be single-valued"):
        GoodGraph({"a": "P", "s": "S", "t": "S"}, (("a", "name", "s"), ("a", "name", "t")), {"s": "x", "t": "y"})
    GoodGraph({"a": "P", "s": "S", "t": "S"}, (("a", "name", "s"), ("a", "name", "t")), {"s": "x", "t": "y"},
              frozenset({"name"}))


def test_good_node_addition_is_idempotent_and_adds_one_node_per_embedding():
    g, pat = E.good_example(), E.good_coauthor_pattern()
    # Embeddings of x-wrote->p<-wrote-y (homomorphisms, so x = y is allowed): (x, y) over {ann, bob}^2 on p1,
    # and (bob, bob) on p2. The new node's edges name only x and y, so (bob, bob) twice gives one node: 4.
    assert len(g._embeddings(pat)) == 5
    added = g.node_addition(pat, "Coauthorship", {"first": "x", "second": "y"})
    new = [n for n in added.nodes if n not in g.nodes]
    assert len(new) == 4
    assert all(added.nodes[n] == "Coauthorship" for n in new)
    assert added.node_addition(pat, "Coauthorship", {"first": "x", "second": "y"}) == added


def test_good_edge_addition_deletion_node_deletion():
    g, pat = E.good_example(), E.good_coauthor_pattern()
    # coauthor as a functional edge: ann would get two (ann and bob), which GOOD leaves undefined.
    with pytest.raises(ValueError, match="would break a functional edge"):
        g.edge_addition(pat, [("x", "coauthor", "y")])
    multi = GoodGraph(dict(g.nodes), g.edges, dict(g.values), g.multivalued | {"coauthor"})
    with_edges = multi.edge_addition(pat, [("x", "coauthor", "y")])
    added = set(with_edges.edges) - set(g.edges)
    assert added == {("ann", "coauthor", "ann"), ("ann", "coauthor", "bob"), ("bob", "coauthor", "ann"),
                     ("bob", "coauthor", "bob")}
    fewer = g.edge_deletion(pat, [("x", "wrote", "p")])
    assert not any(label == "wrote" for _, label, _ in fewer.edges)
    paper_only = GoodGraph({"p": "Paper"})
    gone = g.node_deletion(paper_only, "p")
    assert "p1" not in gone.nodes and all(e[2] not in {"p1", "p2"} for e in gone.edges)


def test_good_edge_addition_conflict_raises():
    g = E.good_example()
    pat = GoodGraph({"x": "Person", "y": "Person"})
    with pytest.raises(ValueError, match="would break a functional edge"):
        g.edge_addition(pat, [("x", "friend", "y")])


def test_good_abstraction_groups_equal_property_sets():
    g = E.good_example()
    people = GoodGraph({"x": "Person"})
    out = g.abstraction(people, "x", "HobbyClub", via="hobby", member="member")
    clubs = {n for n, lab in out.nodes.items() if lab == "HobbyClub"}
    groups = sorted(sorted(v for u, lab, v in out.edges if u == c and lab == "member") for c in clubs)
    assert groups == [["ann", "bob"], ["cid"]]
    assert "member" in out.multivalued


def test_gdm_well_formed_and_each_violation():
    assert E.gdm_example().violations() == []
    problems = E.gdm_example(well_formed=False).violations()
    codes = sorted(p.split(":")[0] for p in problems)
    assert codes == ["W1", "W4", "W5"]
    comp = GdmGraph({"c": ("composite", "Pair"), "x": ("object", "X")}, values={"x": 1})
    assert sorted(p[:2] for p in comp.violations()) == ["W2", "W3"]
    with pytest.raises(ValueError, match=r"kind in \('object', 'composite', 'basic'\)"):
        GdmGraph({"a": ("table", "T")})


def test_oem_reachability_and_python_round_trip():
    doc = {"paper": [{"title": "Graphs", "year": 2005}, {"title": "Paths", "year": 2007}], "owner": "Ann"}
    oem = OemGraph.from_python(doc)
    assert oem.to_python() == doc
    assert oem.describe("&2")["type"] == "string" or oem.describe("&2")["type"] == "complex"
    assert OemGraph.from_networkx(oem.to_networkx()) == oem
    with pytest.raises(ValueError, match="not reachable from the root"):
        OemGraph("r", (("r", "a", "x"), ("y", "b", "z")), {"x": 1, "z": 2})
    with pytest.raises(ValueError, match="only complex objects have edges"):
        OemGraph("r", (("r", "a", "x"), ("x", "b", "z")), {"x": 1, "z": 2})
    cyclic = E.oem_example()
    assert cyclic.describe("&y2") == {"oid": "&y2", "type": "integer", "value": 2007}
    cyc = OemGraph("r", (("r", "a", "b"), ("b", "up", "r")))
    with pytest.raises(ValueError, match="cycle"):
        cyc.to_python()


def test_nested_develop_undevelop():
    n = E.nested_example()
    closed = n.view()
    assert sorted(map(str, closed.nodes)) == ["dan", "lab", "p1"]
    master_edges = {(u, v): d for u, v, d in closed.edges(data=True) if d["master"]}
    # lab -> p1 summarises ann -wrote-> p1 and cid -wrote-> p1.
    assert sorted(master_edges[("lab", "p1")]["members"]) == [("ann", "wrote", "p1"), ("cid", "wrote", "p1")]
    one = n.develop("lab")
    assert sorted(map(str, one.view().nodes)) == ["cid", "dan", "group", "p1"]
    two = one.develop("group")
    assert sorted(map(str, two.view().nodes)) == ["ann", "bob", "cid", "dan", "p1"]
    assert two.view().number_of_edges() == len(n.edges)
    assert two.undevelop("lab") == n
    with pytest.raises(ValueError, match="is not a master node"):
        n.develop("ann")
    with pytest.raises(ValueError, match="belongs to masters"):
        NestedGraph({"a": "x"}, masters={"m1": ("M", {"a"}), "m2": ("M", {"a"})})


def test_from_networkx_requires_labels():
    g = nx.MultiDiGraph()
    g.add_node("a")
    with pytest.raises(ValueError, match="has no 'label' attribute"):
        LabelledGraph.from_networkx(g)
