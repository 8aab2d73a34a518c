"""GROOVY's schema level: implied dependencies, set-valued heads, class schemas and inheritance."""

import itertools
import random

import networkx as nx
import pytest

from workbench.errors import UserError
from workbench.graphs import groovy


def _implied_by_two_row_relations(N, F, tail, head):
    """Reference (Armstrong completeness): X -> Y follows from F iff every two-object instance that satisfies F
    and whose objects agree on X also agrees on Y. Two objects agree exactly on some set Z of attributes."""
    for r in range(len(N) + 1):
        for Z in map(frozenset, itertools.combinations(sorted(N), r)):
            satisfies = all(not t <= Z or h <= Z for t, h in F)
            if satisfies and frozenset(tail) <= Z and not frozenset(head) <= Z:
                return False
    return True


def test_implication_equals_the_two_row_brute_force():
    rng = random.Random(2)
    N = ["A", "B", "C", "D", "E"]
    for _ in range(30):
        F = tuple((frozenset(rng.sample(N, rng.randint(1, 2))), frozenset(rng.sample(N, 1)))
                  for _ in range(rng.randint(1, 4)))
        schema = groovy.ObjectSchema(set(N), F)
        for tail in itertools.combinations(N, 2):
            for head in N:
                assert schema.implies(tail, [head]) == _implied_by_two_row_relations(N, schema.F, tail, [head])


def test_set_valued_head_and_named_violations():
    objects_schema, _, objects = groovy.example()
    assert objects_schema.violations(objects) == []
    assert objects_schema.implies(["NAME", "LASTNAME"], ["PARENTS"])
    bad = dict(objects)
    bad["e3"] = {"NAME": "Ann", "LASTNAME": "Lee", "PARENTS": frozenset({"Kim"})}
    msgs = objects_schema.violations(bad)
    assert msgs == ["FD LASTNAME, NAME -> PARENTS: objects 'e1' and 'e3' agree on the tail but differ on ['PARENTS']"]
    wrong_kind = {"x": {"NAME": "A", "PARENTS": "Kim"}, "y": {"DEPT": frozenset({"a"})}}
    assert [m.split(":")[0] for m in objects_schema.violations(wrong_kind)] == ["object 'x'", "object 'y'"]
    with pytest.raises(UserError, match="do not satisfy the object schema"):
        objects_schema.values(bad)


def test_value_level_shares_the_department_sub_object():
    objects_schema, _, objects = groovy.example()
    values = objects_schema.values(objects)
    assert values.shared_subobjects() == {"S0:DEPT=R&D,FLOOR=3": ["e1", "e2"]}
    assert values.directed["fd0:e1"] == ({"NAME=Ann", "LASTNAME=Lee"}, {"PARENTS={Kim, Max}"})


def test_class_schema_needs_N_and_inheritance_is_the_inclusion_hasse_diagram():
    _, classes, _ = groovy.example()
    with pytest.raises(UserError, match="H must contain N itself"):
        groovy.ClassSchema({"A", "B"}, (), ({"A"},))
    rng = random.Random(4)
    N = frozenset("ABCD")
    for _ in range(20):
        H = {N} | {frozenset(rng.sample(sorted(N), rng.randint(1, 3))) for _ in range(4)}
        schema = groovy.ClassSchema(N, (), tuple(H))
        order = nx.DiGraph([(schema.name(a), schema.name(b)) for a in H for b in H if b < a])
        order.add_nodes_from(schema.name(h) for h in H)
        assert set(schema.inheritance().edges) == set(nx.transitive_reduction(order).edges)
    assert set(classes.inheritance().edges) == {("Employee", "Person"), ("Person", "Named")}
    assert classes.lattice_violations() == []
    split = groovy.ClassSchema({"A", "B"}, (), ({"A", "B"}, {"A"}, {"B"}))
    assert split.lattice_violations() == ["classes {A} and {B} have no least common superclass in H"]


def test_class_object_schema_keeps_the_dependencies_inside_it():
    _, classes, _ = groovy.example()
    person = classes.object_schema({"NAME", "LASTNAME", "PARENTS"})
    assert person.F == ((frozenset({"NAME", "LASTNAME"}), frozenset({"PARENTS"})),)
    with pytest.raises(UserError, match="is not a class"):
        classes.object_schema({"DEPT"})
