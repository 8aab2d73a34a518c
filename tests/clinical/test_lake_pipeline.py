"""Clinical's hour -> day roll-up on the lake pipeline stores exactly what the hand-written version stored."""

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from workbench.clinical import generate_cohort, pseudonymize, register_clinical_features, write_vitals
from workbench.clinical import lake_features as lf
from workbench.lake import EventKey, FeatureLake

KEY = b"lake test key, thirty-two bytes or more"
HOUR_FEATURES = [lf.SYSTOLIC, lf.DIASTOLIC, lf.HEART_RATE, lf.AFTER_EXERCISE, lf.MAP]
DAY_FEATURES = [lf.READINGS, lf.MAP_MEAN, lf.SBP_ARV]


def legacy():
    spec = importlib.util.spec_from_file_location("legacy_lake_features", Path(__file__).with_name("legacy_lake_features.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored(lake, patients, window, features):
    frames = [lake.history(EventKey({"patient": p}, window=window), features, window=window)
              .with_columns(patient=pl.lit(p)) for p in patients]
    return pl.concat(frames).sort("patient", "time")


def same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns and a.height == b.height > 0
    for col in a.columns:
        x, y = a[col], b[col]
        assert (x.is_null() == y.is_null()).all(), col
        if x.dtype.is_float():
            assert np.allclose(x.drop_nulls().to_numpy(), y.drop_nulls().to_numpy(), rtol=0, atol=1e-9), col
        else:
            assert x.equals(y), col


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(n_patients=8, seed=3, n_days=6)


def test_the_pipeline_roll_up_stores_what_the_old_code_stored_across_two_batches(tmp_path, cohort):
    old = legacy()
    new_lake, old_lake = FeatureLake.open(tmp_path / "new"), FeatureLake.open(tmp_path / "old")
    register_clinical_features(new_lake)
    old.register_clinical_features(old_lake)
    # a first batch, then a second one that adds readings to days the first one already filled
    cut = cohort["measured_at"].sort()[cohort.height * 2 // 3]
    first, second = cohort.filter(pl.col("measured_at") < cut), cohort.filter(pl.col("measured_at") >= cut)
    last = first.row(-1, named=True)
    extra = pl.DataFrame([{**last, "measured_at": dt.datetime.combine(last["measured_at"].date(), dt.time(3, 5)),
                           "systolic": 171, "diastolic": 99, "heart_rate": 77, "context": "rest"}], schema=cohort.schema)
    for batch in (first, pl.concat([second, extra])):
        reports = write_vitals(new_lake, batch, KEY), old.write_vitals(old_lake, batch, KEY)
        assert reports[0]["patient_hours"] == reports[1]["patient_hours"]
        assert reports[0]["patient_days"] == reports[1]["patient_days"]
        new_lake.run_pending()
        old_lake.run_pending()
    patients = sorted({pseudonymize(i, KEY) for i in cohort["national_id"].unique()})
    same(stored(new_lake, patients, "hour", HOUR_FEATURES), stored(old_lake, patients, "hour", HOUR_FEATURES))
    same(stored(new_lake, patients, "day", DAY_FEATURES), stored(old_lake, patients, "day", DAY_FEATURES))
    # the roll-up is recorded as a pipeline in the lake's lineage
    assert {p.rsplit("/", 1)[-1] for p in new_lake.lineage().nodes if p.startswith("process:vitals/")} == {
        "readings", "tagged", "hourly", "per_hour", "daily"}


def test_the_roll_up_is_the_pipeline_and_keeps_the_registered_descriptions(tmp_path, cohort):
    lake = FeatureLake.open(tmp_path / "lake")
    register_clinical_features(lake)
    before = lake.registry.features_table()
    write_vitals(lake, cohort, KEY)
    assert lake.registry.features_table().equals(before)  # no feature added, none re-described
    assert lf.MAP_FUNCTION in lake.registry.functions and len(lake.registry.functions) == 1
    text = str(lake.pipeline(lf.vitals_pipeline()))
    assert "daily [reduce, day] <- per_hour" in text and "=> feature /health/feature/patient/sbp_arv" in text
