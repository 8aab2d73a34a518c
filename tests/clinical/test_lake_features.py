import datetime as dt

import polars as pl
import pytest

from workbench.clinical import (
    average_real_variability,
    generate_cohort,
    mean_arterial_pressure,
    pseudonymize,
    register_clinical_features,
    write_vitals,
)
from workbench.clinical.lake_features import (
    MAP,
    MAP_FUNCTION,
    MAP_MEAN,
    READINGS,
    SBP_ARV,
    SYSTOLIC,
)
from workbench.lake import EventKey, FeatureLake

KEY = b"lake test key, thirty-two bytes or more"


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(n_patients=6, seed=11, n_days=5)


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    register_clinical_features(lake)
    return lake


def expected_daily(frame: pl.DataFrame) -> pl.DataFrame:
    """The daily features computed straight from the table, independently of the lake."""
    hour_end = pl.col("measured_at").dt.truncate("1h") + pl.duration(hours=1)
    per_reading = frame.with_columns(
        patient=pl.col("national_id").map_elements(lambda i: pseudonymize(i, KEY), return_dtype=pl.String),
        time=hour_end,
        day=((hour_end - pl.duration(hours=1)).dt.truncate("1d") + pl.duration(days=1)).cast(pl.Datetime("ns")),
        map=pl.when(pl.col("context") == "exercise")
        .then(mean_arterial_pressure("systolic", "diastolic", "heart_rate"))
        .otherwise(mean_arterial_pressure("systolic", "diastolic")),
    )
    rest = pl.col("context") == "rest"
    return per_reading.group_by("patient", "day").agg(
        pl.len().alias("readings"),
        pl.col("map").mean().alias("map_mean"),
        average_real_variability(pl.col("systolic").filter(rest), pl.col("time").filter(rest)).alias("sbp_arv"),
    )


def lake_daily(lake, patients) -> pl.DataFrame:
    frames = []
    for p in patients:
        h = lake.history(EventKey({"patient": p}, window="day"), [READINGS, MAP_MEAN, SBP_ARV], window="day")
        frames.append(h.with_columns(patient=pl.lit(p)))
    return pl.concat(frames).rename({"time": "day", READINGS: "readings", MAP_MEAN: "map_mean", SBP_ARV: "sbp_arv"})


def compare(lake, frame):
    want = expected_daily(frame).sort("patient", "day")
    got = lake_daily(lake, want["patient"].unique().to_list()).sort("patient", "day")
    joined = want.join(got, on=["patient", "day"], how="full", suffix="_lake")
    assert joined.height == want.height == got.height
    assert (joined["readings"] == joined["readings_lake"]).all()
    for col in ("map_mean", "sbp_arv"):
        a, b = joined[col], joined[f"{col}_lake"]
        assert (a.is_null() == b.is_null()).all(), col
        assert ((a - b).abs().fill_null(0) < 1e-9).all(), col


def test_measurements_flow_into_daily_features(lake, cohort):
    report = write_vitals(lake, cohort, KEY)
    assert report["patient_hours"] == cohort.height
    compare(lake, cohort)  # the day roll-up is the pipeline's, done by write_vitals itself
    run = lake.run_pending()
    assert {c["function"] for c in run.calls} == {MAP_FUNCTION}
    compare(lake, cohort)
    # The per-reading MAP landed in the hour window.
    p = pseudonymize(cohort["national_id"][0], KEY)
    first = cohort.row(0, named=True)
    hour_end = first["measured_at"].replace(minute=0, second=0) + dt.timedelta(hours=1)
    got = lake.get(EventKey({"patient": p}, window="hour"), MAP, window="hour", at=hour_end)
    fn = mean_arterial_pressure
    want = (
        fn(first["systolic"], first["diastolic"], first["heart_rate"])
        if first["context"] == "exercise"
        else fn(first["systolic"], first["diastolic"])
    )
    assert got == pytest.approx(want)


def test_a_new_measurement_updates_its_day(lake, cohort):
    write_vitals(lake, cohort, KEY)
    lake.run_pending()
    first = cohort.row(0, named=True)
    day = first["measured_at"].date()
    new = pl.DataFrame(
        [{**first, "measured_at": dt.datetime.combine(day, dt.time(13, 15)), "systolic": 190, "diastolic": 100,
          "heart_rate": 80, "context": "rest"}],
        schema=cohort.schema,
    )  # fmt: skip
    p = pseudonymize(first["national_id"], KEY)
    day_end = dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1)
    day_key = EventKey({"patient": p}, window="day")
    before = lake.get(day_key, MAP_MEAN, at=day_end)
    written = write_vitals(lake, new, KEY)
    assert written["day"].values_changed >= 2  # that day's readings and map_mean, from all of its hours
    assert lake.deltas(pending_only=True).height > 0
    run = lake.run_pending()
    assert {c["function"] for c in run.calls} == {MAP_FUNCTION}
    assert lake.get(day_key, MAP_MEAN, at=day_end) > before
    compare(lake, pl.concat([cohort, new]))


def test_writing_the_same_frame_twice_changes_nothing(lake, cohort):
    write_vitals(lake, cohort, KEY)
    lake.run_pending()
    version = lake.version
    again = write_vitals(lake, cohort, KEY)
    assert again["hour"].commit is None and again["day"].commit is None
    assert lake.run_pending().calls == [] and lake.version == version


def test_no_clear_identifier_or_name_in_the_lake(lake, cohort, tmp_path):
    write_vitals(lake, cohort, KEY)
    lake.run_pending()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "lake").rglob("*") if p.is_file())
    for nid in cohort["national_id"].unique():
        assert nid.encode() not in blob
    for name in cohort["name"].unique():
        assert name.encode("utf-8") not in blob
    # Stored arrays are compressed, so also ask the lake what its keys are: pseudonyms, nothing else.
    pseudonyms = {pseudonymize(i, KEY) for i in cohort["national_id"].unique()}
    for window in ("hour", "day"):
        keys = lake.keys(window)
        assert keys.columns == ["key", "patient"]
        assert set(keys["patient"]) == pseudonyms


def test_bad_rows_stop_the_write_and_leave_the_lake_alone(lake, cohort):
    version = lake.version
    bad = cohort.with_columns(systolic=pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("systolic")))
    with pytest.raises(ValueError, match=r"row 2: systolic missing"):
        write_vitals(lake, bad, KEY)
    first = cohort.row(0, named=True)
    clash = pl.DataFrame(
        [first, {**first, "measured_at": first["measured_at"] + dt.timedelta(minutes=1),
                 "context": "exercise" if first["context"] == "rest" else "rest", "heart_rate": 120}],
        schema=cohort.schema,
    )  # fmt: skip
    with pytest.raises(ValueError, match="same clock hour"):
        write_vitals(lake, clash, KEY)
    with pytest.raises(ValueError, match="missing columns"):
        write_vitals(lake, cohort.drop("sex"), KEY)
    with pytest.raises(ValueError, match="at least 32"):
        write_vitals(lake, cohort, b"short")
    assert lake.version == version


def test_duplicate_readings_in_one_hour_are_averaged(lake, cohort):
    first = cohort.row(0, named=True)
    pair = pl.DataFrame(
        [first, {**first, "measured_at": first["measured_at"] + dt.timedelta(seconds=70), "systolic": first["systolic"] + 6}],
        schema=cohort.schema,
    )  # fmt: skip
    write_vitals(lake, pair, KEY)
    p = pseudonymize(first["national_id"], KEY)
    hour_end = first["measured_at"].replace(minute=0, second=0) + dt.timedelta(hours=1)
    if (first["measured_at"] + dt.timedelta(seconds=70)).hour != first["measured_at"].hour:
        pytest.skip("the generated first reading sits at the end of its hour")
    assert lake.get(EventKey({"patient": p}, window="hour"), SYSTOLIC, window="hour", at=hour_end) == first["systolic"] + 3


def test_training_frame_reads_the_daily_features_point_in_time(lake, cohort):
    write_vitals(lake, cohort, KEY)
    lake.run_pending()
    p = pseudonymize(cohort["national_id"][0], KEY)
    start = dt.datetime.combine(cohort["measured_at"].min().date(), dt.time())
    entity = pl.DataFrame({"patient": [p, p], "event_time": [start + dt.timedelta(hours=12), start + dt.timedelta(days=2)]})
    frame = lake.training_frame(entity, [MAP_MEAN, SBP_ARV], window="day")
    # Half a day in, no day has ended yet: nothing is known. Two days in, day 2's value is.
    assert frame[MAP_MEAN][0] is None
    day2 = lake.get(EventKey({"patient": p}, window="day"), MAP_MEAN, at=start + dt.timedelta(days=2))
    assert day2 is not None and frame[MAP_MEAN][1] == day2


@pytest.mark.slow
def test_functions_run_on_a_dask_cluster(tmp_path, cohort):
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:  # fmt: skip
        lake = FeatureLake.open(tmp_path / "lake", client=client)
        register_clinical_features(lake)
        write_vitals(lake, cohort, KEY)
        run = lake.run_pending()
        assert {c["routed"] for c in run.calls} == {"dask"}
        compare(lake, cohort)
