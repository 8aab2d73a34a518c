"""GDM's schema, extension relation, instance constraints and GUL updates with reduction."""

import random

import pytest

from workbench.errors import UserError
from workbench.graphs import gul


def _canonical_groups(inst):
    """Reference for reduction: a value node's canonical form, computed recursively from its content."""
    memo = {}

    def canon(n):
        if n not in memo:
            sort = inst.nodes[n]
            if sort == "object":
                memo[n] = ("object", n)
            elif sort == "basic":
                memo[n] = ("basic", inst.classes[n], repr(inst.values.get(n)))
            else:
                memo[n] = ("composite", inst.classes[n],
                           frozenset((lab, canon(v)) for u, lab, v in inst.edges if u == n))
        return memo[n]

    groups = {}
    for n in inst.nodes:
        if inst.nodes[n] != "object":
            groups.setdefault(canon(n), []).append(n)
    return sorted((sorted(g, key=repr) for g in groups.values() if len(g) > 1), key=repr)


def test_extension_is_closed_under_isa_and_allows_several_classes():
    inst = gul.example()
    assert inst.violations() == []
    assert inst.extension()["ann"] == {"Employee", "Student", "Person"}
    assert ("bob", "Person") in inst.extension_pairs() and ("bob", "Employee") not in inst.extension_pairs()
    assert gul.GdmInstance.from_networkx(inst.to_networkx(), inst.schema) == inst


def test_each_constraint_names_its_offender():
    inst = gul.example()
    s, nodes, classes, edges, values = inst.schema, dict(inst.nodes), dict(inst.classes), inst.edges, dict(inst.values)
    cases = [
        ("I-NS: node 'x' belongs to no class", {**nodes, "x": "object"}, classes, edges, values),
        ("I-NS: object node 'bob' is put in classes ['String']", nodes, {**classes, "bob": {"Person", "String"}},
         edges, values),
        ("I-BVT: basic-value node 'no' holds 'eight'", nodes, classes, edges, {**values, "no": "eight"}),
        ("I-BVT: basic-value node 'st' holds no value", nodes, classes, edges,
         {k: v for k, v in values.items() if k != "st"}),
        ("I-REA: edge 'bob' -salary-> 'sal'", nodes, classes, edges + (("bob", "salary", "sal"),), values),
        ("I-REA: node 'ann' has 2 'name' edges", nodes, classes, edges + (("ann", "name", "n2"),), values),
    ]
    for message, n, c, e, v in cases:
        bad = gul.GdmInstance(s, n, c, e, v, validate=False)
        assert any(message in m for m in bad.violations()), (message, bad.violations())
        with pytest.raises(UserError, match=message.split(":")[0]):
            gul.GdmInstance(s, n, c, e, v)
    # set-valued: two phones are fine, and an Employee may have a salary through its own class
    assert ("ann", "phone", "ph2") in edges


def test_reduction_equals_the_canonical_form_partition():
    rng = random.Random(8)
    schema = gul.example().schema
    for _ in range(25):
        inst = gul.example()
        nodes, classes, edges, values = dict(inst.nodes), dict(inst.classes), list(inst.edges), dict(inst.values)
        for i in range(rng.randint(1, 4)):  # more addresses, some equal to others
            a, st, no = f"a{i}", f"s{i}", f"k{i}"
            nodes.update({a: "composite", st: "basic", no: "basic"})
            classes.update({a: {"Address"}, st: {"String"}, no: {"Int"}})
            values.update({st: rng.choice(["Beauchef", "Blanco"]), no: rng.choice([851, 2120])})
            edges += [(a, "street", st), (a, "number", no)]
        raw = gul.GdmInstance(schema, nodes, classes, tuple(edges), values, validate=False)
        assert raw.similar_groups() == _canonical_groups(raw)
        reduced = raw.reduce()
        assert reduced.similar_groups() == [] and reduced.reduce() == reduced
        assert len(reduced.nodes) == len(raw.nodes) - sum(len(g) - 1 for g in _canonical_groups(raw))


def test_gul_addition_reduces_and_deletion_removes_matches():
    inst = gul.example()
    everyone = gul.GulPattern({"p": ("object", {"Person"}, None)})
    out = inst.add(everyone, {"c": ("basic", {"String"}, "Santiago")}, [("p", "phone", "c")])
    # the new basic values are all "Santiago" of class String: reduction leaves one node
    santiago = [n for n, v in out.values.items() if v == "Santiago"]
    assert len(santiago) == 1 and {(u, v) for u, lab, v in out.edges if v in santiago} == {("ann", santiago[0]),
                                                                                          ("bob", santiago[0])}
    assert out.add(everyone, {"c": ("basic", {"String"}, "Santiago")}, [("p", "phone", "c")]) == out
    students = gul.GulPattern({"p": ("object", {"Student"}, None), "x": ("basic", {"Int"}, None)},
                              (("p", "salary", "x"),))
    assert [m["p"] for m in inst.match(students)] == ["ann"]
    no_salary = inst.delete(students, edges=[("p", "salary", "x")])
    assert ("ann", "salary", "sal") not in no_salary.edges and "sal" in no_salary.nodes
    with pytest.raises(UserError, match="I-REA"):
        inst.add(everyone, {"c": ("basic", {"Int"}, 1)}, [("p", "salary", "c")])  # bob is no Employee
