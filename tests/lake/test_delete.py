"""Delete and update commands flow through the delta log and re-trigger what depends on them."""

import datetime as dt

import polars as pl
import pytest

from workbench.errors import UserError
from workbench.lake import EventKey, FeatureLake

D = dt.datetime
X = "/shop/feature/customer/spend"
Y = "/shop/feature/customer/spend_x2"
F = "/shop/function/inference/double"


def double(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select("key", "time", (pl.col(X) * 2).alias(Y))


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature(X, "float")
    lake.register_feature(Y, "float")
    lake.register_function(F, double, [X], [Y])
    lake.write(pl.DataFrame({"customer": ["a", "a", "b"], "time": [D(2026, 1, 1), D(2026, 1, 2), D(2026, 1, 1)],
                             X: [1.0, 3.0, 5.0]}))
    lake.run_pending()
    return lake


def k(c):
    return EventKey({"customer": c})


def test_delete_clears_values_as_deltas_and_dependants_recompute(lake):
    report = lake.delete(X, keys=[k("a")], start=D(2026, 1, 2))
    assert report.values_changed == 1
    pending = lake.deltas(pending_only=True)
    assert pending.select("feature", "time").rows() == [(X, D(2026, 1, 2))]
    assert lake.commits()["operation"][-1] == "delete" and lake.commits()["subject"][-1] == X
    assert lake.get(k("a"), X) == 1.0  # the earlier value is what is known now
    lake.run_pending()
    # the output at the deleted time is recomputed from what is left (the day-1 value, as of day 2)
    assert lake.history(k("a"), Y)[Y].to_list() == [2.0, 2.0]
    assert lake.get(k("b"), Y) == 10.0  # other keys untouched


def test_delete_of_everything_clears_the_dependants_too(lake):
    lake.delete(X)
    lake.run_pending()
    assert lake.get(k("a"), X) is None and lake.get(k("a"), Y) is None and lake.get(k("b"), Y) is None
    assert lake.delete(X).commit is None  # nothing left to delete: no commit


def test_update_corrects_stored_values_and_refuses_new_ones(lake):
    version = lake.version
    with pytest.raises(UserError, match="update would add 1 value.*use write"):
        lake.update(pl.DataFrame({"customer": ["a", "c"], "time": [D(2026, 1, 1)] * 2, X: [9.0, 9.0]}))
    assert lake.version == version
    report = lake.update(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 1)], X: [9.0]}))
    assert report.values_changed == 1 and lake.commits()["operation"][-1] == "update"
    lake.run_pending()
    assert lake.history(k("a"), Y)[Y].to_list() == [18.0, 6.0]


def test_delete_feature_refuses_while_used_then_drops_values_and_name(lake):
    with pytest.raises(UserError, match="read or written by"):
        lake.delete_feature(X)
    other = "/shop/feature/customer/visits"
    lake.register_feature(other, "int")
    lake.write(pl.DataFrame({"customer": ["a"], "time": [D(2026, 1, 3)], other: [4]}))
    assert lake.delete_feature(other) == 1
    assert other not in lake.registry.features
    assert lake.deltas().filter(pl.col("commit") == lake.version)["feature"].to_list() == [other]
    assert other not in lake.dataset("day").data_vars
    assert lake.get(k("a"), X) == 3.0 and lake.check().exit_code == 0
    lake.register_feature(other, "float")  # the name is free again, even with another dtype
