"""OEM text syntax round trips and errors; integrating two sources and a query that spans both."""

import random

import pytest

from workbench.errors import UserError
from workbench.graphs import examples as E
from workbench.graphs import oem_exchange as X
from workbench.graphs import regular_path_query
from workbench.graphs.oem import OemGraph


def _random_oem(rng):
    n = rng.randint(1, 8)
    complex_ = [f"&c{i}" for i in range(n)]
    edges = [(complex_[rng.randrange(i)], rng.choice(["a", "b"]), complex_[i]) for i in range(1, n)]
    edges += [(rng.choice(complex_), "ref", rng.choice(complex_)) for _ in range(rng.randint(0, 3))]  # sharing, cycles
    atoms = {}
    for k in range(rng.randint(0, 5)):
        oid = f"&v{k}"
        atoms[oid] = rng.choice(["x y", 'quote " and \\', 7, -3, 2.5, True, False, "é"])
        edges.append((rng.choice(complex_), rng.choice(["name", "size"]), oid))
    return OemGraph("&c0", tuple(edges), atoms)


def test_text_round_trip():
    assert X.loads(X.dumps(E.oem_example())) == E.oem_example()
    rng = random.Random(6)
    for _ in range(60):
        g = _random_oem(rng)
        back = X.loads(X.dumps(g))
        assert back == g and {o: type(v) for o, v in back.atoms.items()} == {o: type(v) for o, v in g.atoms.items()}


def test_parse_errors_name_the_line():
    with pytest.raises(UserError, match=r"line 2: reference to &zz, which is never defined"):
        X.loads('<r &r {\n <a &zz>\n}>')
    with pytest.raises(UserError, match=r"line 1: expected an object id"):
        X.loads("<r {}>")
    with pytest.raises(UserError, match=r"object &a is defined twice"):
        X.loads('<r &r { <x &a 1> <y &a 2> }>')
    with pytest.raises(UserError, match=r"line 3 column 2: unexpected"):
        X.loads('<r &r {\n <x &a 1>\n @ }>')
    with pytest.raises(UserError, match="no literal for bytes"):
        X.dumps(OemGraph("&r", (("&r", "blob", "&b"),), {"&b": b"\x00"}))


def test_integration_fuses_names_and_a_query_spans_both_sources():
    sources = X.example_sources()
    merged = X.integrate(sources, fuse=["name"])
    assert merged.root == "&mediator" and ("&mediator", "lib", "&lib.db") in merged.edges
    # reference: join the two documents in Python on the author / employee name
    lib, hr = sources["lib"].to_python(), sources["hr"].to_python()
    authors = {a["name"] for p in lib["paper"] for a in (p["author"] if isinstance(p["author"], list) else [p["author"]])}
    depts = {e["dept"] for e in hr["employee"] if e["name"] in authors}
    answer = regular_path_query(merged, "lib.paper.author.name.^name.dept", sources=[merged.root])
    assert {merged.atoms[d] for _, d in answer} == depts == {"R&D"}
    # without fusion the sources stay apart and the same query finds nothing
    apart = X.integrate(sources)
    assert regular_path_query(apart, "lib.paper.author.name.^name.dept", sources=[apart.root]) == []
    assert len(apart.objects) == len(merged.objects) + 1  # "Ann" is one object once fused
    assert X.loads(X.dumps(merged)) == merged
    with pytest.raises(UserError, match="plain name"):
        X.integrate({"my source": sources["lib"]})
