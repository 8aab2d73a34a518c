import polars as pl
import pytest

from workbench.lake import FeatureLake, LakeValidationError
from workbench.lake import demo


def double_drops(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select("key", "time", (pl.col(demo.DROPS) * 2).alias("/telecom/feature/customer/drops_x2"))


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    demo.register_telecom(lake)
    return lake


@pytest.mark.parametrize("name", ["telecom/feature/customer/x", "/telecom/features/customer/x",
                                  "/Telecom/feature/customer/x", "/telecom/feature/customer", "/t/feature/c/x/y"])
def test_feature_names_follow_the_convention(lake, name):
    with pytest.raises(ValueError, match=r"/<domain>/feature/<entity>/<name>"):
        lake.register_feature(name, "float")


def test_function_names_dtypes_and_kinds_are_checked(lake):
    with pytest.raises(ValueError, match=r"<inference\|interpretation>"):
        lake.register_function("/telecom/function/training/x", double_drops, [demo.DROPS], [demo.CHURN])
    with pytest.raises(ValueError, match="expected one of"):
        lake.register_feature("/telecom/feature/customer/y", "decimal")
    with pytest.raises(ValueError, match="kind="):
        lake.register_function("/telecom/function/inference/x", double_drops, [demo.DROPS], [demo.CHURN], kind="AI")
    with pytest.raises(ValueError, match="register it first"):
        lake.register_function("/telecom/function/inference/x", double_drops, [demo.DROPS],
                               ["/telecom/feature/customer/unknown"])
    with pytest.raises(ValueError, match="already registered with dtype"):
        lake.register_feature(demo.DROPS, "float")


def test_cycles_are_refused(lake):
    # churn_score reads drops and writes churn; a function from churn back to drops would close a loop.
    lake.register_feature("/telecom/feature/customer/drops_x2", "int")
    with pytest.raises(ValueError, match="cycle") as err:
        lake.register_function("/telecom/function/inference/back", double_drops, [demo.PRIORITY], [demo.CALLS])
    assert demo.CHURN_FN in str(err.value)
    with pytest.raises(ValueError, match="cycle"):
        lake.register_function("/telecom/function/inference/self", double_drops, [demo.DROPS], [demo.DROPS])
    with pytest.raises(ValueError, match="already produced by"):
        lake.register_function("/telecom/function/inference/dup", double_drops, [demo.DROPS], [demo.CHURN])
    # the refused registrations left nothing behind
    assert set(lake.registry.functions) == {demo.CHURN_FN, demo.PRIORITY_FN}


def test_queries(lake):
    reg = lake.registry
    assert reg.function(demo.CHURN_FN).kind == "ML"
    assert reg.inputs_of(demo.CHURN_FN) == (demo.CALLS, demo.DURATION, demo.DROPS, demo.NOISE)
    assert reg.readers_of(demo.CHURN) == [demo.PRIORITY_FN]
    assert reg.readers_of(demo.DROPS) == [demo.CHURN_FN]
    assert reg.topological_functions() == [demo.CHURN_FN, demo.PRIORITY_FN]
    table = reg.features_table()
    assert table.filter(pl.col("name") == demo.CHURN)["produced_by"].item() == demo.CHURN_FN
    assert reg.functions_table().height == 2


def test_registry_persists_and_module_functions_rebind(lake, tmp_path):
    lake.register_feature("/telecom/feature/customer/drops_x2", "int", unit="1", description="twice the drops")
    local = lambda frame: frame  # noqa: E731 - deliberately not importable from another process
    lake.register_function("/telecom/function/inference/x2", local, [demo.DROPS],
                           ["/telecom/feature/customer/drops_x2"], kind="RULE")
    again = FeatureLake.open(tmp_path / "lake")
    reg = again.registry
    assert reg.feature("/telecom/feature/customer/drops_x2").description == "twice the drops"
    assert reg.function(demo.CHURN_FN).callable_ref == "workbench.lake.demo:churn_score"
    assert reg.function("/telecom/function/inference/x2").callable_ref is None
    # the lambda is unknown in the reopened lake: running it says how to bind it
    again.write(demo.telecom_days(2, 2, seed=0))
    with pytest.raises(RuntimeError, match="bind it with lake.register_function"):
        again.run_pending()
    again.register_function("/telecom/function/inference/x2", double_drops, [demo.DROPS],
                            ["/telecom/feature/customer/drops_x2"], kind="RULE")
    report = again.run_pending()
    assert "/telecom/function/inference/x2" in {c["function"] for c in report.calls}


def test_validation_error_is_a_value_error():
    assert issubclass(LakeValidationError, ValueError)
