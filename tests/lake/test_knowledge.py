"""The knowledge repository: versioned entities, attributes, qualifiers and predicates, read as of a time."""

import datetime as dt

import pytest

from workbench.errors import UserError
from workbench.graphs import LabelledGraph, regular_path_query
from workbench.lake import FeatureLake
from workbench.lake.knowledge import KnowledgeRepository

T0 = dt.datetime(2026, 1, 1)
H = dt.timedelta(hours=1)


def telecom(kr):
    kr.define_attribute("tariff", "categorical")
    kr.define_attribute("age", "int", "year")
    kr.create("ann", "customer", {"tariff": "basic", "age": 30}, at=T0, qualifiers={"tariff": {"source": "crm"}})
    kr.create("bob", "customer", {"tariff": "gold"}, at=T0 + H)
    kr.create("cy", "customer", {}, at=T0 + H)
    kr.relate("ann", "calls", "bob", {"call_time_s": 120}, at=T0 + 2 * H)
    kr.relate("bob", "calls", "cy", at=T0 + 3 * H)
    kr.update("ann", {"tariff": "gold"}, at=T0 + 10 * H, qualifiers={"tariff": {"source": "web"}})
    return kr


def test_attributes_are_read_as_of_a_time_and_an_update_after_it_is_not_seen():
    kr = telecom(KnowledgeRepository())
    assert kr.attribute("ann", "tariff", T0 - H) is None  # not yet created
    assert kr.attribute("ann", "tariff", T0 + 9 * H) == "basic"  # the PIT-leak check: the later update is unseen
    assert kr.attribute("ann", "tariff", T0 + 10 * H) == "gold"
    assert kr.qualifiers("ann", "tariff", T0 + 9 * H) == {"source": "crm"}
    assert kr.qualifiers("ann", "tariff", T0 + 11 * H) == {"source": "web"}
    assert kr.attribute("ann", "age", T0 + 11 * H) == 30  # an update leaves other attributes alone


def test_as_of_is_a_labelled_graph_with_predicates_and_their_attributes():
    kr = telecom(KnowledgeRepository())
    g = kr.as_of(T0 + 5 * H)
    assert isinstance(g, LabelledGraph)
    assert dict(g.nodes) == {"ann": "customer", "bob": "customer", "cy": "customer"}
    assert set(g.edges) == {("ann", "calls", "bob"), ("bob", "calls", "cy")}
    assert g.properties["ann"] == {"tariff": "basic", "age": 30}
    assert kr.predicates(T0 + 5 * H).filter(subject="ann")["attributes"].to_list() == ['{"call_time_s": 120}']
    assert set(kr.as_of(T0 + 2 * H).edges) == {("ann", "calls", "bob")}


def test_path_queries_and_transitive_closure_work_on_it():
    kr = telecom(KnowledgeRepository())
    assert kr.reachable("ann", "calls", T0 + 5 * H) == {"bob", "cy"}
    assert kr.reachable("ann", "calls", T0 + 2 * H) == {"bob"}  # bob -> cy is not known yet
    pairs = regular_path_query(kr.as_of(T0 + 5 * H), "calls+", sources=["ann"])
    assert pairs == [("ann", "bob"), ("ann", "cy")]


def test_delete_hides_the_entity_and_its_predicates_from_then_on_only():
    kr = telecom(KnowledgeRepository())
    kr.delete("bob", at=T0 + 20 * H)
    assert "bob" in kr.as_of(T0 + 19 * H).nodes
    later = kr.as_of(T0 + 21 * H)
    assert "bob" not in later.nodes and later.edges == ()
    assert kr.reachable("ann", "calls", T0 + 21 * H) == set()
    assert kr.history("tariff").filter(entity="bob")["tariff"].to_list() == ["gold", None]
    with pytest.raises(UserError, match="entity 'bob' does not exist"):
        kr.update("bob", {"tariff": "basic"}, at=T0 + 22 * H)
    kr.unrelate("ann", "calls", "bob", at=T0 + 4 * H)
    assert ("ann", "calls", "bob") not in kr.as_of(T0 + 5 * H).edges


def test_bad_commands_are_one_line_user_errors():
    kr = telecom(KnowledgeRepository())
    cases = [
        (lambda: kr.update("ann", {"colour": "red"}, at=T0 + 30 * H), "attribute 'colour' is not defined"),
        (lambda: kr.update("ann", {"age": "old"}, at=T0 + 30 * H), "attribute 'age' is int"),
        (lambda: kr.create("ann", "customer", at=T0), "already exists"),
        (lambda: kr.define_attribute("age", "float"), "defined as int"),
        (lambda: kr.relate("ann", "Calls!", "bob", at=T0 + 30 * H), "predicate 'Calls!'"),
        (lambda: kr.update("ann", {"age": 3}, at="yesterday"), "is not a time"),
    ]
    for call, match in cases:
        with pytest.raises(UserError, match=match):
            call()


def test_a_lakes_repository_persists_and_records_the_lake_commit(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    telecom(lake.knowledge)
    again = FeatureLake.open(tmp_path / "lake").knowledge
    assert again.attribute("ann", "tariff", T0 + 11 * H) == "gold"
    assert again.version == 8
    log = again.log()
    assert log["lake_version"].to_list() == [lake.version] * 8
    assert not list((tmp_path / "lake" / "knowledge").glob(".log-*"))  # no temporary file left behind
    assert lake.check().findings == []  # the integrity check does not mistake the folder for damage


_WRITER = """
import datetime as dt, sys
from workbench.lake.knowledge import KnowledgeRepository
import fsspec
fs = fsspec.filesystem("file")
kr = KnowledgeRepository(fs, sys.argv[1] + "/log.json")
kr.define_attribute("n", "int")
kr.create("e", "thing", {"n": 0}, at=dt.datetime(2026, 1, 1))
i = 0
while True:
    i += 1
    kr.update("e", {"n": i}, at=dt.datetime(2026, 1, 1) + dt.timedelta(seconds=i))
"""


def test_sigkill_mid_write_leaves_a_readable_log_of_whole_facts(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import fsspec

    folder = tmp_path / "knowledge"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = folder / "log.json"
            if log.exists() and log.stat().st_size > 2000:  # a few dozen facts written
                break
            time.sleep(0.05)
        else:
            pytest.fail("the writer never got going")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    kr = KnowledgeRepository(fsspec.filesystem("file"), str(folder / "log.json"))
    versions = kr.log()["version"].to_list()
    assert versions == list(range(1, len(versions) + 1)) and len(versions) > 10
    last = len(versions) - 2  # updates after define and create
    assert kr.attribute("e", "n", dt.datetime(2030, 1, 1)) == last
