"""The knowledge repository: versioned entities, attributes, qualifiers and predicates, read as of a time."""

import datetime as dt

import polars as pl
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


def test_a_lakes_facts_are_lake_commits_and_survive_reopening(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    start = lake.version
    telecom(lake.knowledge)
    again = FeatureLake.open(tmp_path / "lake").knowledge
    assert again.attribute("ann", "tariff", T0 + 11 * H) == "gold"
    assert again.version == 8
    # one lake commit per fact, in order: the fact and its lake version cannot disagree
    assert again.log()["lake_version"].to_list() == list(range(start + 1, start + 9)) and lake.version == start + 8
    commits = lake.commits().filter(operation="knowledge")
    assert commits.height == 8 and commits["subject"][0] == "define tariff"
    assert not (tmp_path / "lake" / "knowledge").exists()  # no side file to get out of step
    assert lake.check().findings == []  # the integrity check verifies the commits that carry the facts


def test_a_snapshot_at_a_lake_version_leaves_out_later_facts_whatever_their_valid_time(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    telecom(lake.knowledge)
    before = lake.version
    # a correction recorded later but valid from the start: a model trained before it never saw it
    lake.knowledge.update("ann", {"age": 31}, at=T0)
    kr = FeatureLake.open(lake.url).knowledge
    assert kr.attribute("ann", "age", T0 + H) == 31
    assert kr.snapshot(version=before).attribute("ann", "age", T0 + H) == 30
    assert kr.as_of(T0 + H, version=before).properties["ann"]["age"] == 30
    assert kr.as_of(T0 + H).properties["ann"]["age"] == 31
    recorded = kr.log()["recorded"][-1]
    assert kr.snapshot(recorded=recorded - dt.timedelta(microseconds=1)).attribute("ann", "age", T0 + H) == 30
    with pytest.raises(UserError, match="snapshot.. needs version="):
        kr.snapshot()


def test_attach_reads_each_rows_attribute_as_of_its_time_and_never_later():
    kr = telecom(KnowledgeRepository())
    rows = pl.DataFrame({"who": ["ann", "ann", "ann", "bob", "zed"],
                         "event_time": [T0 - H, T0 + 9 * H, T0 + 10 * H, T0 + 5 * H, T0 + 5 * H]})
    out = kr.attach(rows, {"tariff": "plan"}, entity="who", time="event_time")
    # before creation: unknown; before the update: the old value (the PIT-leak check); at it: the new one
    assert out["plan"].to_list() == [None, "basic", "gold", "gold", None]
    assert out.select("who", "event_time").equals(rows)  # row order and columns kept
    with pytest.raises(UserError, match="already has column"):
        kr.attach(rows.with_columns(pl.lit(1).alias("tariff")), ["tariff"], entity="who", time="event_time")


def test_a_later_attribute_change_does_not_leak_into_an_earlier_training_row(tmp_path):
    from workbench.lake import EventKey
    from workbench.lake.pipeline import Pipeline, Process

    lake = FeatureLake.open(tmp_path / "lake")
    kr = lake.knowledge
    kr.define_attribute("target", "float", "mmHg")
    kr.create("p1", "patient", {"target": 130.0}, at=T0)
    pipe = lake.pipeline(Pipeline([
        Process("readings", "ingest", params={"entities": ["patient"], "columns": {"sbp": {"dtype": "float",
                                                                                          "unit": "mmHg"}}}),
        Process("daily", "reduce", ("readings",), {"every": "day", "aggregations": {"sbp": "max(sbp)"}}),
        Process("t", "enrich", ("daily",), {"entity": "patient", "attributes": ["target"]}),
        Process("over", "compute", ("t",), {"columns": {"over": {"expr": "sbp - target", "unit": "mmHg"}}}),
    ], domain="health", name="vitals"))
    days = [T0 + dt.timedelta(days=d, hours=9) for d in range(4)]
    pipe.run(readings=pl.DataFrame({"patient": ["p1"] * 2, "time": days[:2], "sbp": [140.0, 150.0]}))
    version_before = lake.version
    kr.update("p1", {"target": 110.0}, at=T0 + dt.timedelta(days=2))  # a new target from day 2 on
    pipe.run(readings=pl.DataFrame({"patient": ["p1"] * 2, "time": days[2:], "sbp": [140.0, 150.0]}))
    over = "/health/feature/patient/over"
    key = EventKey({"patient": "p1"}, window="day")
    assert lake.history(key, [over], window="day")[over].to_list() == [10.0, 20.0, 30.0, 40.0]
    # a training row on day 1 gets day 1's feature and the target valid then, not the later one
    rows = pl.DataFrame({"patient": ["p1", "p1"], "event_time": [T0 + dt.timedelta(days=1, hours=12),
                                                                 T0 + dt.timedelta(days=3, hours=12)]})
    frame = lake.knowledge.attach(lake.training_frame(rows, [over], window="day"), ["target"], entity="patient",
                                  time="event_time")
    assert frame[over].to_list() == [10.0, 30.0] and frame["target"].to_list() == [130.0, 110.0]
    # re-running the second batch on the knowledge as it was before the update reproduces the old answer
    again = pipe.run(knowledge_version=version_before,
                     readings=pl.DataFrame({"patient": ["p1"], "time": days[3:], "sbp": [150.0]}))
    assert again.frames["over"]["over"].to_list() == [20.0]


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


def _kill_writer_once(script: str, target, ready) -> None:
    """Run ``script`` on ``target`` in a child process and SIGKILL it once ``ready()`` holds (at most 60 s)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen([sys.executable, "-c", script, str(target)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if time.monotonic() >= deadline:
                pytest.fail("the writer never got going")
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)


def test_sigkill_mid_write_leaves_a_readable_log_of_whole_facts(tmp_path):
    import fsspec

    folder = tmp_path / "knowledge"
    log = folder / "log.json"
    _kill_writer_once(_WRITER, folder, lambda: log.exists() and log.stat().st_size > 2000)  # a few dozen facts
    kr = KnowledgeRepository(fsspec.filesystem("file"), str(folder / "log.json"))
    versions = kr.log()["version"].to_list()
    assert versions == list(range(1, len(versions) + 1)) and len(versions) > 10
    last = len(versions) - 2  # updates after define and create
    assert kr.attribute("e", "n", dt.datetime(2030, 1, 1)) == last


_LAKE_WRITER = """
import datetime as dt, sys
from workbench.lake import FeatureLake
kr = FeatureLake.open(sys.argv[1]).knowledge
kr.define_attribute("n", "int")
kr.create("e", "thing", {"n": 0}, at=dt.datetime(2026, 1, 1))
i = 0
while True:
    i += 1
    kr.update("e", {"n": i}, at=dt.datetime(2026, 1, 1) + dt.timedelta(seconds=i))
"""


def test_sigkill_mid_fact_leaves_a_lake_of_whole_facts(tmp_path):
    path = tmp_path / "lake"
    FeatureLake.open(path)
    _kill_writer_once(_LAKE_WRITER, path, lambda: len(list((path / "commits").glob("*.json"))) >= 15)
    lake = FeatureLake.open(path)
    kr = lake.knowledge
    versions = kr.log()["version"].to_list()
    assert versions == list(range(1, len(versions) + 1)) and len(versions) > 10
    assert kr.attribute("e", "n", dt.datetime(2030, 1, 1)) == len(versions) - 2  # updates after define and create
    assert lake.check().exit_code == 0
    kr.update("e", {"n": -1}, at=dt.datetime(2030, 1, 1))  # the next writer gets the lock at once


def test_a_damaged_fact_commit_is_skipped_and_repair_rolls_the_fact_back(tmp_path):
    import warnings

    from workbench.lake import LakeIntegrityWarning, check

    lake = FeatureLake.open(tmp_path / "lake")
    telecom(lake.knowledge)
    last = sorted((tmp_path / "lake" / "commits").glob("*.json"))[-1]  # the newest commit: the last fact
    raw = bytearray(last.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    last.write_bytes(bytes(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LakeIntegrityWarning)
        kr = FeatureLake.open(tmp_path / "lake").knowledge
        # the last fact (ann's tariff update) rode in the damaged commit: it is not read, the rest are
        assert kr.version == 7 and kr.attribute("ann", "tariff", T0 + 11 * H) == "basic"
        assert check(tmp_path / "lake", repair=True).exit_code == 1
    again = FeatureLake.open(tmp_path / "lake").knowledge
    assert again.version == 7 and check(tmp_path / "lake").exit_code == 0
    again.update("ann", {"tariff": "gold"}, at=T0 + 10 * H)  # writing on after the repair works
    assert FeatureLake.open(tmp_path / "lake").knowledge.attribute("ann", "tariff", T0 + 11 * H) == "gold"


def sbp_over_target(frame):
    """A registered function reading a feature and a knowledge attribute (module level: re-importable)."""
    sbp, over = "/health/feature/patient/sbp", "/health/feature/patient/sbp_over_target"
    return frame.select("key", "time", (pl.col(sbp) - pl.col("target")).alias(over))


def test_the_feature_resolver_reads_knowledge_attributes_as_of_each_window(tmp_path):
    from workbench.lake import EventKey

    lake = FeatureLake.open(tmp_path / "lake")
    kr = lake.knowledge
    kr.define_attribute("target", "float", "mmHg")
    kr.create("p1", "patient", {"target": 130.0}, at=T0)
    kr.update("p1", {"target": 110.0}, at=T0 + dt.timedelta(days=2))  # known before the run, valid from day 2
    sbp, over = "/health/feature/patient/sbp", "/health/feature/patient/sbp_over_target"
    lake.register_feature(sbp, "float", "mmHg")
    lake.register_feature(over, "float", "mmHg")
    with pytest.raises(UserError, match="not defined in the lake's knowledge"):
        lake.register_function("/health/function/inference/over_goal", sbp_over_target, [sbp], [over],
                               kind="RULE", knowledge=["goal"])
    spec = lake.register_function("/health/function/inference/over_target", sbp_over_target, [sbp], [over],
                                  kind="RULE", knowledge=["target"])
    assert spec.knowledge == ("target",) and lake.registry.functions[spec.name].knowledge == ("target",)
    days = [T0 + dt.timedelta(days=d) for d in range(4)]
    lake.write(pl.DataFrame({"patient": ["p1"] * 4, "time": days, sbp: [140.0, 150.0, 140.0, 150.0]}),
               window="day", entities=("patient",))
    lake.run_pending()
    key = EventKey({"patient": "p1"}, window="day")
    # days 0-1 against the target valid then (130), days 2-3 against the later one (110): no leak either way
    assert lake.history(key, [over], window="day")[over].to_list() == [10.0, 20.0, 30.0, 40.0]
    # the definition survives a reopen (stored in the registry)
    assert FeatureLake.open(tmp_path / "lake").registry.functions[spec.name].knowledge == ("target",)
