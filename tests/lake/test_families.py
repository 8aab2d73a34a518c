"""Feature families: a named group of features written and read together."""

import datetime as dt

import polars as pl
import pytest

from workbench.errors import UserError
from workbench.lake import EventKey, FeatureLake

D = dt.datetime
FAMILY = "/telecom/family/customer/call_experience"
MEMBERS = ["/telecom/feature/customer/call_duration", "/telecom/feature/customer/call_drops",
           "/telecom/feature/customer/call_noise"]


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    for name, dtype in zip(MEMBERS, ("float", "int", "float")):
        lake.register_feature(name, dtype)
    lake.register_family(FAMILY, MEMBERS, description="how a customer's calls went")
    return lake


def calls(**values):
    return pl.DataFrame({"customer": ["a", "b"], "time": [D(2026, 1, 2)] * 2, **values})


def test_a_family_is_written_in_one_commit_and_read_by_its_name(lake):
    version = lake.version
    report = lake.write_family(FAMILY, calls(**dict(zip(MEMBERS, ([61.0, 30.5], [0, 2], [0.1, None])))))
    assert report.commit == version + 1 and report.values_written == 5
    assert lake.get_family(EventKey({"customer": "b"}), FAMILY) == dict(zip(MEMBERS, (30.5, 2, None)))
    tf = lake.training_frame(pl.DataFrame({"customer": ["a"], "event_time": [D(2026, 1, 3)]}), [FAMILY])
    assert tf.columns == ["customer", "event_time", *MEMBERS]
    assert lake.history(EventKey({"customer": "a"}), FAMILY).columns == ["time", *MEMBERS]


def test_a_family_write_needs_every_member_and_nothing_else(lake):
    with pytest.raises(UserError, match="lacks.*call_noise"):
        lake.write_family(FAMILY, calls(**dict(zip(MEMBERS[:2], ([1.0, 2.0], [0, 0])))))
    lake.register_feature("/telecom/feature/customer/tariff", "string")
    with pytest.raises(UserError, match="also has.*tariff"):
        lake.write_family(FAMILY, calls(**dict(zip(MEMBERS, ([1.0, 2.0], [0, 0], [0.1, 0.1]))),
                                        **{"/telecom/feature/customer/tariff": ["x", "y"]}))


def test_families_are_versioned_with_the_commits_and_checked(lake):
    assert lake.families()["family"].to_list() == [FAMILY]
    lake.register_feature("/telecom/feature/device/battery", "float")
    with pytest.raises(UserError, match="entity 'customer'"):
        lake.register_family("/telecom/family/customer/mixed", [MEMBERS[0], "/telecom/feature/device/battery"])
    with pytest.raises(UserError, match="not registered"):
        lake.register_family("/telecom/family/customer/other", [MEMBERS[0], "/telecom/feature/customer/nope"])
    with pytest.raises(UserError, match="/<domain>/family/<entity>/<name>"):
        lake.register_family("/telecom/feature/customer/x", MEMBERS)
    with pytest.raises(UserError, match="belongs to family"):
        lake.delete_feature(MEMBERS[0])
    # a later commit (a write) carries the family forward; deleting it is its own commit
    lake.write(calls(**{MEMBERS[0]: [1.0, 2.0]}))
    assert FeatureLake.open(lake.url).families()["family"].to_list() == [FAMILY]
    lake.delete_family(FAMILY)
    assert lake.families().height == 0
    with pytest.raises(UserError, match="unknown family"):
        lake.training_frame(pl.DataFrame({"customer": ["a"], "event_time": [D(2026, 1, 3)]}), [FAMILY])
