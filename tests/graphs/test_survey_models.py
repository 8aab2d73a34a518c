"""GGL, GMOD + G-Log, PaMaL, GOAL and Gram: each rule and operator against brute force or networkx."""

import itertools
import random

import networkx as nx
import pytest

from workbench.errors import UserError
from workbench.graphs import ggl, glog, gmod, goal, gram, pamal


def _homomorphisms(pattern_nodes, pattern_edges, nodes, edges, compatible):
    """Reference: every map pattern -> graph that keeps node attributes and edges (tries all of them)."""
    names = sorted(pattern_nodes)
    out = []
    for combo in itertools.product(sorted(nodes, key=repr), repeat=len(names)):
        m = dict(zip(names, combo))
        if all(compatible(p, m[p]) for p in names) and all((m[u], lab, m[v]) in edges for u, lab, v in pattern_edges):
            out.append(m)
    return sorted(out, key=repr)


# -- GGL ----------------------------------------------------------------------------------------------------------
def _random_ggl(rng):
    n = rng.randint(2, 5)
    nodes = {f"v{i}": rng.choice(["A", "B", None]) for i in range(n)}
    symbols = {f"s{i}": rng.choice(["x", "y"]) for i in range(rng.randint(0, 3))}
    targets = list(nodes) + list(symbols)
    edges = {(u, rng.choice("pq"), rng.choice(targets)) for u in nodes for _ in range(rng.randint(0, 3))}
    return ggl.GglGraph(nodes, symbols, tuple(sorted(edges)))


def test_ggl_path_query_equals_brute_force():
    rng = random.Random(7)
    queries = [ggl.PathQuery("r", (("r", "p", "a"),)),
               ggl.PathQuery("r", (("r", "p", "a"), ("r", "q", "b")), equal=(("a", "b"),)),
               ggl.PathQuery("r", (("r", "p", "a"), ("a", "q", "c"), ("r", "q", "c")), root_label="A"),
               ggl.PathQuery("r", (("r", "p", "a"), ("r", "p", "b"), ("a", "q", "x"), ("b", "q", "y")),
                             equal=(("x", "y"),))]
    answered = 0
    for _ in range(40):
        g = _random_ggl(rng)
        for q in queries:
            ours = g.path_query(q)
            assert ours == ggl.brute_force_path_query(g, q)
            answered += bool(ours)
    assert answered > 20  # the random graphs do answer the queries


def test_ggl_equality_compares_symbol_values():
    g = ggl.example()
    q = ggl.PathQuery("r", (("r", "clone", "a"), ("r", "clone", "b"), ("a", "carries", "ma"),
                            ("b", "carries", "mb"), ("ma", "name", "na"), ("mb", "name", "nb")),
                      equal=(("na", "nb"),))
    pairs = {(b["a"], b["ma"], b["b"], b["mb"]) for b in g.path_query(q)}
    assert ("c1", "m1", "c2", "m3") in pairs  # sA and sC are different symbols with the same value D7S1
    assert ("c1", "m1", "c1", "m2") not in pairs


def test_ggl_web_query_is_the_set_of_embeddings():
    rng = random.Random(3)
    for _ in range(25):
        g = _random_ggl(rng)
        q = ggl.GglGraph({"a": rng.choice(["A", None]), "b": None}, {}, (("a", "p", "b"),), validate=False)
        nodes = {**{n: ("v", lab) for n, lab in g.nodes.items()}, **{n: ("s", None) for n in g.symbols}}
        ref = _homomorphisms(q.nodes, q.edges, nodes, set(g.edges),
                             lambda p, n: q.nodes[p] is None or nodes[n][1] == q.nodes[p])
        assert sorted(g.web_query(q), key=repr) == ref


def test_ggl_rules_name_the_offender_and_round_trip():
    g = ggl.example()
    assert ggl.GglGraph.from_networkx(g.to_networkx()) == g
    with pytest.raises(UserError, match=r"R1: symbol 'sA' has an outgoing 'name' edge"):
        ggl.GglGraph({"a": "A"}, {"sA": 1}, (("sA", "name", "a"),))
    with pytest.raises(UserError, match=r"R2: 'c' is packed by both"):
        ggl.GglGraph({"p": "P", "q": "Q", "c": "C"}, packed={"p": {"c"}, "q": {"c"}})
    with pytest.raises(UserError, match=r"R3: packed vertex 'p' packs symbol 's'"):
        ggl.GglGraph({"p": "P"}, {"s": 1}, packed={"p": {"s"}})
    with pytest.raises(UserError, match="pack each other"):
        ggl.GglGraph({"p": "P", "q": "Q"}, packed={"p": {"q"}, "q": {"p"}})
    with pytest.raises(UserError, match="rooted DAG"):
        ggl.PathQuery("r", (("r", "p", "a"), ("a", "p", "r")))


# -- GMOD and G-Log ------------------------------------------------------------------------------------------------
def test_gmod_rules_each_named():
    g = gmod.example()
    assert g.violations() == [] and g.unknown_values() == ["a3"]
    s = g.schema
    cases = {
        "G1": ({"r": ("object", "Robot")}, (), {}),
        "G2": ({"p": ("object", "Paper"), "q": ("object", "Person")}, (("p", "wrote", "q"),), {}),
        "G3": ({"v": ("primitive", "String"), "w": ("primitive", "String")}, (("v", "name", "w"),), {"v": "x"}),
        "G4": ({"x": ("object", "Person"), "a": ("primitive", "Int")}, (("x", "age", "a"),), {"a": "old"}),
    }
    for code, (nodes, edges, values) in cases.items():
        bad = gmod.GmodGraph(nodes, edges, values, schema=s, validate=False)
        assert any(v.startswith(code) for v in bad.violations()), (code, bad.violations())
        with pytest.raises(UserError, match=code):
            gmod.GmodGraph(nodes, edges, values, schema=s)


def test_gmod_query_view_update():
    g = gmod.example()
    p = gmod.pattern({"x": ("object", "Person"), "y": ("object", "Person")}, (("x", "knows", "y"),))
    nodes = {n: spec for n, spec in g.nodes.items()}
    ref = _homomorphisms(p.nodes, p.edges, nodes, set(g.edges), lambda a, n: nodes[n] == p.nodes[a])
    assert sorted(g.query(p), key=repr) == ref
    view = g.view(p)
    assert set(view.edges) == {("ann", "knows", "bob"), ("bob", "knows", "cid")}
    sym = g.add(p, edges=[("y", "knows", "x")])
    assert ("bob", "knows", "ann") in sym.edges and sym.add(p, edges=[("y", "knows", "x")]) == sym
    gone = g.delete(p, edges=[("x", "knows", "y")])
    assert not [e for e in gone.edges if e[1] == "knows"]
    unknown_age = gmod.pattern({"x": ("object", "Person"), "a": ("primitive", "Int")}, (("x", "age", "a"),),
                               {"a": 35})
    assert [m["x"] for m in g.query(unknown_age)] == ["bob"]  # cid's unknown age matches no given value
    with pytest.raises(UserError, match="G2"):
        g.add(p, edges=[("x", "wrote", "y")])  # an update may not break the schema


def _chain_graph(rng, n):
    schema = gmod.GmodSchema({"N": "object", "Int": "primitive"},
                             (("N", "e", "N"), ("N", "anc", "N"), ("N", "strict", "N"), ("N", "w", "Int"),
                              ("N", "heavier", "N")))
    nodes = {f"n{i}": ("object", "N") for i in range(n)}
    nodes.update({f"w{i}": ("primitive", "Int") for i in range(n)})
    edges = {(f"n{rng.randrange(n)}", "e", f"n{rng.randrange(n)}") for _ in range(n + 2)}
    edges |= {(f"n{i}", "w", f"w{i}") for i in range(n)}
    return gmod.GmodGraph(nodes, tuple(sorted(edges)), {f"w{i}": rng.randint(0, 5) for i in range(n)}, schema=schema)


def test_glog_fixpoint_is_the_transitive_closure_with_negation_and_predicates():
    rng = random.Random(11)
    N = ("object", "N")
    rules = [glog.Rule({"x": N, "y": N}, (("x", "e", "y"),), add_edges=(("x", "anc", "y"),), name="base"),
             glog.Rule({"x": N, "y": N, "z": N}, (("x", "anc", "y"), ("y", "e", "z")),
                       add_edges=(("x", "anc", "z"),), name="step")]
    for _ in range(8):
        g = _chain_graph(rng, rng.randint(2, 6))
        out = glog.evaluate(g, rules)
        base = nx.DiGraph([(u, v) for u, lab, v in g.edges if lab == "e"])
        assert {(u, v) for u, lab, v in out.edges if lab == "anc"} == set(nx.transitive_closure(base).edges)
        # negation on a base label: e-edges with no e-edge back
        neg = glog.Rule({"x": N, "y": N}, (("x", "e", "y"),), absent=(("y", "e", "x"),),
                        add_edges=(("x", "strict", "y"),), name="neg")
        strict = {(u, v) for u, lab, v in glog.evaluate(g, [neg]).edges if lab == "strict"}
        assert strict == {(u, v) for u, v in base.edges if not base.has_edge(v, u)}
        # a predicate on values: x -e-> y where x's weight exceeds y's
        I = ("primitive", "Int")
        pred = glog.Rule({"x": N, "y": N, "a": I, "b": I}, (("x", "e", "y"), ("x", "w", "a"), ("y", "w", "b")),
                         conditions=(("a", ">", "b"),), add_edges=(("x", "heavier", "y"),), name="pred")
        heavier = {(u, v) for u, lab, v in glog.evaluate(g, [pred]).edges if lab == "heavier"}
        weight = {u: g.values[w] for u, lab, w in g.edges if lab == "w"}
        assert heavier == {(u, v) for u, v in base.edges if weight[u] > weight[v]}


def test_glog_unknown_values_satisfy_no_predicate():
    g = gmod.example()  # cid's age is unknown
    P, I = ("object", "Person"), ("primitive", "Int")
    schema = gmod.GmodSchema(dict(g.schema.classes), g.schema.properties + (("Person", "differs", "Person"),))
    rule = glog.Rule({"x": P, "y": P, "a": I, "b": I}, (("x", "knows", "y"), ("x", "age", "a"), ("y", "age", "b")),
                     conditions=(("a", "!=", "b"),), add_edges=(("x", "differs", "y"),))
    out = glog.evaluate(g.replace(schema=schema), [rule])
    assert [(u, v) for u, lab, v in out.edges if lab == "differs"] == [("ann", "bob")]  # not bob -> cid


def test_glog_refuses_unstratified_negation_and_creates_skolem_nodes_once():
    N = ("object", "N")
    bad = [glog.Rule({"x": N, "y": N}, (("x", "e", "y"),), absent=(("x", "anc", "y"),),
                     add_edges=(("x", "anc", "y"),), name="loop")]
    with pytest.raises(UserError, match="negated edge label 'anc' is asserted"):
        glog.evaluate(_chain_graph(random.Random(0), 3), bad)
    schema = gmod.GmodSchema({"N": "object", "Pair": "object"}, (("N", "e", "N"), ("Pair", "of", "N")))
    g = gmod.GmodGraph({"a": N, "b": N}, (("a", "e", "b"),), schema=schema)
    make = glog.Rule({"x": N, "y": N}, (("x", "e", "y"),), add_nodes={"p": ("object", "Pair")},
                     add_edges=(("p", "of", "x"), ("p", "of", "y")))
    out = glog.evaluate(g, [make])
    assert sum(1 for k, lab in out.nodes.values() if lab == "Pair") == 1


# -- PaMaL ---------------------------------------------------------------------------------------------------------
def test_pamal_rules_each_named():
    base = pamal.example()
    assert base.violations() == []
    nodes, edges = dict(base.nodes), list(base.edges)
    breaks = {
        "P1": (nodes, edges + [("ann", "in", "nA")]),
        "P2": ({**nodes, "T": ("tuple-type", "T"), "t": ("tuple", "T")},
               edges + [("t", "typ", "T"), ("t", "a", "nA"), ("t", "a", "nB")]),
        "P3": ({**nodes, "eve": ("object", "Person")}, edges),
        "P4": (nodes, edges + [("Agent", "isa", "Person")]),
        "P5": (nodes, edges + [("ann", "phones", "nA")]),
        "P6": ({**nodes, "nX": ("value", "String")}, edges + [("nX", "typ", "String")]),
    }
    values = dict(base.values)
    for code, (n, e) in breaks.items():
        vals = {**values, "nX": 7} if code == "P6" else values
        bad = pamal.PamalGraph(n, tuple(e), vals, validate=False)
        assert any(v.startswith(code) for v in bad.violations()), (code, bad.violations())
    ok = pamal.PamalGraph(nodes, tuple(edges + [("ann", "name", "nB")]), values)  # inherited from Agent: allowed
    assert ok.violations() == []


def test_pamal_reduction_merges_equal_sets_to_a_fixpoint():
    g = pamal.example()
    r = pamal.reduction(g)
    assert "sB" not in r.nodes and ("bob", "phones", "sA") in r.edges
    assert pamal.reduction(r) == r
    # reference: nodes are equal when their (typ, member) sets are equal; two equal sets -> one
    members = {s: frozenset(v for u, lab, v in g.edges if u == s and lab != "typ") for s in ("sA", "sB")}
    assert members["sA"] == members["sB"]
    nested = pamal.PamalGraph({**g.nodes, "Outer": ("set-type", "Outer"), "o1": ("set", "Outer"),
                               "o2": ("set", "Outer")},
                              g.edges + (("Outer", "in", "Phones"), ("o1", "typ", "Outer"), ("o2", "typ", "Outer"),
                                         ("o1", "in", "sA"), ("o2", "in", "sB")), dict(g.values))
    assert {"o1", "o2"} - set(pamal.reduction(nested).nodes) == {"o2"}  # equal only after sA = sB


def test_pamal_operations_loops_and_procedures():
    g = pamal.example()
    person = pamal.pattern({"x": ("object", "Person"), "P": ("class", "Person")}, (("x", "typ", "P"),))
    knows_schema = pamal.edge_addition(pamal.pattern({"P": ("class", "Person")}), [("P", "knows", "P")])
    everyone = pamal.edge_addition(
        pamal.pattern({"x": ("object", None), "y": ("object", None)}), [("x", "knows", "y")])
    proc = pamal.Procedure("acquaint", (knows_schema, everyone))
    out = proc(g)
    assert {(u, v) for u, lab, v in out.edges if lab == "knows" and u in ("ann", "bob")} == \
        {(a, b) for a in ("ann", "bob") for b in ("ann", "bob")}
    # a loop of "friend of a friend" edge additions reaches the transitive closure
    chain = g.add(pamal.pattern({"P": ("class", "Person")}), {}, [("P", "knows", "P")])
    chain = chain.add(person, {}, [])  # no-op
    for a, b in [("ann", "bob")]:
        chain = chain.replace(edges=chain.edges + ((a, "knows", b),))
    eve = chain.replace(nodes={**chain.nodes, "eve": ("object", "Person")},
                        edges=chain.edges + (("eve", "typ", "Person"), ("bob", "knows", "eve")))
    fof = pamal.edge_addition(pamal.pattern({"x": ("object", None), "y": ("object", None), "z": ("object", None)},
                                            (("x", "knows", "y"), ("y", "knows", "z"))), [("x", "knows", "z")])
    closed = pamal.loop(fof)(eve)
    base = nx.DiGraph([(u, v) for u, lab, v in eve.edges if lab == "knows" and eve.nodes[u][0] == "object"])
    assert {(u, v) for u, lab, v in closed.edges if lab == "knows" and closed.nodes[u][0] == "object"} == \
        set(nx.transitive_closure(base).edges)
    removed = pamal.node_deletion(person, "x")(g)
    assert "ann" not in removed.nodes and removed.violations() == []
    with pytest.raises(UserError, match="P5"):
        pamal.edge_addition(person, [("x", "phones", "x")])(g)


# -- GOAL ----------------------------------------------------------------------------------------------------------
def test_goal_consistent_schema_rule():
    s = goal.example().schema
    assert s.is_consistent()
    cyclic = goal.GoalSchema(dict(s.classes), s.properties, s.multivalued, s.isa + (("Person", "Student"),))
    assert cyclic.consistency_violations()[0].startswith("S1: isa forms a cycle")
    clash = goal.GoalSchema({**s.classes, "Code": "value"}, s.properties + (("Student", "name", "Code"),),
                            s.multivalued, s.isa)
    assert any("S2: class 'Student' sees property 'name'" in v for v in clash.consistency_violations())
    empty = goal.GoalSchema({**s.classes, "Empty": "association"}, s.properties, s.multivalued, s.isa)
    assert any(v.startswith("S3") for v in empty.consistency_violations())
    with pytest.raises(UserError, match="not consistent"):
        goal.GoalGraph({}, schema=clash)


def test_goal_instance_rules_and_association_identity():
    g = goal.example()
    assert g.violations() == []
    s = g.schema
    nodes, edges, values = dict(g.nodes), g.edges, dict(g.values)
    assert any(v.startswith("I1") for v in goal.GoalGraph({**nodes, "r": ("object", "Robot")}, edges, values,
                                                            schema=s, validate=False).violations())
    assert any(v.startswith("I2") for v in goal.GoalGraph(nodes, edges + (("db", "name", "nA"),), values,
                                                          schema=s, validate=False).violations())
    assert any(v.startswith("I3: node 'ann' has 2 'name'") for v in goal.GoalGraph(
        nodes, edges + (("ann", "name", "nB"),), values, schema=s, validate=False).violations())
    twin = goal.GoalGraph({**nodes, "e2": ("association", "Enrolment")},
                          edges + (("e2", "student", "ann"), ("e2", "course", "db")), values, schema=s, validate=False)
    assert any(v.startswith("I4") and "'e1', 'e2'" in v for v in twin.violations())
    # a property's target may be a subclass of the declared one: Course -taughtBy-> Person, bob is an Employee
    taught = goal.GoalSchema(dict(s.classes), s.properties + (("Course", "taughtBy", "Person"),), s.multivalued, s.isa)
    assert goal.GoalGraph(nodes, edges + (("db", "taughtBy", "bob"),), values, schema=taught).violations() == []
    # inherited property: a Student has a name through Student isa Person (I2 holds)
    enrol = goal.pattern({"s": ("object", "Student"), "c": ("object", "Course")})
    out = g.add(enrol, {"e": ("association", "Enrolment")}, [("e", "student", "s"), ("e", "course", "c")])
    assoc = sorted(n for n, (k, _) in out.nodes.items() if k == "association")
    assert len(assoc) == 2 and "e1" in assoc  # (ann, db) is the existing e1, (ann, ai) is new
    assert out.add(enrol, {"e": ("association", "Enrolment")}, [("e", "student", "s"), ("e", "course", "c")]) == out
    dropped = out.delete(goal.pattern({"e": ("association", "Enrolment"), "c": ("object", "Course")},
                                      (("e", "course", "c"),)), nodes=["e"])
    assert not [n for n, (k, _) in dropped.nodes.items() if k == "association"]


# -- Gram ----------------------------------------------------------------------------------------------------------
EXPRESSIONS = ["A", "A x B", "A (x B | y A)*", "(A x)+ B", "B y? A", "A x B y A x B"]


def _random_gram(rng):
    n = rng.randint(1, 5)
    nodes = {i: rng.choice("AB") for i in range(n)}
    edges = {(rng.randrange(n), rng.choice("xy"), rng.randrange(n)) for _ in range(rng.randint(0, 2 * n))}
    return gram.GramGraph(nodes, tuple(sorted(edges)))


def test_gram_walks_equal_brute_force():
    rng = random.Random(5)
    for _ in range(30):
        g = _random_gram(rng)
        for expr in EXPRESSIONS:
            assert gram.walks(g, expr, max_length=4) == gram.brute_force_walks(g, expr, max_length=4), expr


def test_gram_algebra_against_nested_loops():
    rng = random.Random(9)
    for _ in range(15):
        g = _random_gram(rng)
        r = gram.hyperwalks(g, {"w": "A (x B)?"}, max_length=3)
        s = gram.hyperwalks(g, {"v": "B y? A", "u": "A"}, max_length=3)
        joined = gram.join(r, s, ("w", "v"))
        ref = {a + b for a in r.rows for b in s.rows if a[0][-1] == b[0][0]}
        assert joined.rows == ref and joined.attributes == ("w", "v", "u")
        cat = gram.concatenation(r, s, ("w", "v"), "wv")
        assert cat.rows == {(a[0] + b[0][1:], b[1]) for a in r.rows for b in s.rows if a[0][-1] == b[0][0]}
        assert all(w in gram.brute_force_walks(g, "A (x B)? y? A", max_length=6) for w, _ in cat.rows)
        assert gram.projection(s, ["u"]).rows == {(b[1],) for b in s.rows}
        sel = gram.selection(r, lambda row: len(row["w"]) > 1)
        assert sel.rows == {a for a in r.rows if len(a[0]) > 1}
        other = gram.renaming(gram.hyperwalks(g, {"z": "A x B"}, max_length=3), {"z": "w"})
        assert gram.union(r, other).rows == r.rows | other.rows
        assert gram.intersection(r, other).rows == r.rows & other.rows
        assert gram.difference(r, other).rows == r.rows - other.rows


def test_gram_schema_consistency_and_admitted_expressions():
    g = gram.example()
    assert g.violations() == [] and g.schema.admits("JOURNEY first STOP (next STOP)* at CITY")
    assert not g.schema.admits("STOP at HOTEL")
    with pytest.raises(UserError, match=r"edge 'h1' -at-> 'paris' \(HOTEL -at-> CITY\) has no schema edge type"):
        gram.GramGraph(dict(g.nodes), g.edges + (("h1", "at", "paris"),), g.schema)
    with pytest.raises(UserError, match="same attributes"):
        gram.union(gram.Hyperwalks(("a",)), gram.Hyperwalks(("b",)))
    with pytest.raises(UserError, match="missing '\\)'"):
        gram.walks(g, "(STOP next")
    assert gram.GramGraph.from_networkx(g.to_networkx()) == g


@pytest.mark.parametrize("module", [ggl, gmod, pamal, goal, gram])
def test_networkx_round_trip(module):
    # (every example is drawn by tests/graphs/test_drawing.py)
    model = module.example()
    if module in (gmod, goal, gram):
        back = type(model).from_networkx(model.to_networkx(), model.schema)
    else:
        back = type(model).from_networkx(model.to_networkx())
    assert back == model
