"""FROZEN REFERENCE, not product code: workbench.clinical.lake_features as it was before the hour -> day
roll-up moved onto the lake's pipeline machinery (hand-written polars group_by plus a registered daily
function). tests/clinical/test_lake_pipeline.py runs it beside the pipeline version and requires the same
stored values. Do not edit; it is the old behaviour.
"""
# ruff: noqa


from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from workbench.clinical.cohort import require_vitals_frame
from workbench.clinical.features import average_real_variability, mean_arterial_pressure
from workbench.clinical.fhir import row_problems
from workbench.clinical.pseudonym import _check_key, pseudonymize

ENTITY = "patient"
SYSTOLIC = "/health/feature/patient/systolic"
DIASTOLIC = "/health/feature/patient/diastolic"
HEART_RATE = "/health/feature/patient/heart_rate"
AFTER_EXERCISE = "/health/feature/patient/after_exercise"
MAP = "/health/feature/patient/map"
READINGS = "/health/feature/patient/readings"
MAP_MEAN = "/health/feature/patient/map_mean"
SBP_ARV = "/health/feature/patient/sbp_arv"
MAP_FUNCTION = "/health/function/interpretation/mean_arterial_pressure"
DAILY_FUNCTION = "/health/function/interpretation/daily_blood_pressure"

FEATURES = [
    (SYSTOLIC, "float", "mm[Hg]", "systolic pressure, mean of the readings in the hour"),
    (DIASTOLIC, "float", "mm[Hg]", "diastolic pressure, mean of the readings in the hour"),
    (HEART_RATE, "float", "/min", "heart rate, mean of the readings in the hour"),
    (AFTER_EXERCISE, "bool", None, "the hour's readings were taken right after exercise"),
    (MAP, "float", "mm[Hg]", "mean arterial pressure of the hour's reading (Meaney's formula after exercise)"),
    (READINGS, "int", "1", "hours of the day with a blood-pressure reading"),
    (MAP_MEAN, "float", "mm[Hg]", "mean of the day's mean arterial pressures"),
    (SBP_ARV, "float", "mm[Hg]", "time-weighted average real variability of the day's resting systolic readings"),
]
HOUR_INPUTS = [SYSTOLIC, DIASTOLIC, HEART_RATE, AFTER_EXERCISE]
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)


def reading_map() -> pl.Expr:
    """MAP of an hour cell: Meaney's heart-rate formula after exercise, the resting one-third rule else."""
    return (
        pl.when(pl.col(AFTER_EXERCISE))
        .then(mean_arterial_pressure(pl.col(SYSTOLIC), pl.col(DIASTOLIC), pl.col(HEART_RATE)))
        .otherwise(mean_arterial_pressure(pl.col(SYSTOLIC), pl.col(DIASTOLIC)))
    )


def map_per_reading(inputs: pl.DataFrame) -> pl.DataFrame:
    """Lake function (hour window): ``map`` from the hour's systolic, diastolic, heart rate and context."""
    return inputs.select("key", "time", reading_map().alias(MAP))


def hour_readings(lake, days: pl.DataFrame) -> pl.DataFrame:
    """The hour cells of the given patient-days, read back from the lake point-in-time.

    ``days`` has ``patient`` and ``time`` (the day window's end). Returns one row per hour cell with a
    reading: ``patient``, ``day`` (the day's end), ``time`` (the hour's end) and the hour features.
    """
    pairs = days.select(ENTITY, pl.col("time").cast(pl.Datetime("ns")).alias("day")).unique()
    slots = pairs.with_columns(
        time=pl.datetime_ranges(pl.col("day") - _DAY + _HOUR, pl.col("day"), interval="1h", time_unit="ns")
    ).explode("time")
    # ttl just under an hour: each slot sees only the cell stamped at its own end, never the hour before.
    frame = lake.training_frame(slots, HOUR_INPUTS, window="hour", ttl="59m", time="time", entities=(ENTITY,))
    return frame.filter(pl.col(SYSTOLIC).is_not_null())


class DailyBloodPressure:
    """Lake function (day window): the day's ``map_mean`` and resting ``sbp_arv`` for each patient-day.

    Triggered by a change of the day's ``readings``; it reads the day's hour cells back from the lake
    at ``lake_url`` (an object with the URL rather than a closure, so it pickles for dask workers).
    """

    def __init__(self, lake_url: str):
        self.lake_url = str(lake_url)
        self._lake = None

    def __getstate__(self) -> dict:
        return {"lake_url": self.lake_url, "_lake": None}

    def __repr__(self) -> str:
        return f"DailyBloodPressure({self.lake_url!r})"

    def __call__(self, inputs: pl.DataFrame) -> pl.DataFrame:
        if self._lake is None:
            from workbench.lake import FeatureLake

            self._lake = FeatureLake.open(self.lake_url)
        targets = inputs.select("key", ENTITY, pl.col("time").cast(pl.Datetime("ns")))
        cells = hour_readings(self._lake, targets)
        rest = ~pl.col(AFTER_EXERCISE)
        daily = cells.group_by(ENTITY, "day").agg(
            reading_map().mean().alias(MAP_MEAN),
            average_real_variability(pl.col(SYSTOLIC).filter(rest), pl.col("time").filter(rest)).alias(SBP_ARV),
        )
        out = targets.join(daily, left_on=[ENTITY, "time"], right_on=[ENTITY, "day"], how="left")
        return out.select("key", "time", MAP_MEAN, SBP_ARV)


def register_clinical_features(lake) -> dict[str, list[str]]:
    """Register the vital-sign features and the two functions (see the module docstring) on ``lake``.

    Safe to call again (an identical registration is a no-op); call it in every new process before
    ``lake.run_pending()``, since the daily function is bound to this lake's URL.
    """
    for name, dtype, unit, description in FEATURES:
        lake.register_feature(name, dtype, unit=unit, description=description)
    lake.register_function(
        MAP_FUNCTION, map_per_reading, inputs=HOUR_INPUTS, outputs=[MAP], kind="RULE",
        description="mean arterial pressure per reading: (SBP - DBP)/3 at rest, Meaney et al. 2000 after exercise",
    )  # fmt: skip
    lake.register_function(
        DAILY_FUNCTION, DailyBloodPressure(lake.url), inputs=[READINGS], outputs=[MAP_MEAN, SBP_ARV], kind="RULE",
        description="daily mean MAP and time-weighted ARV of resting systolic pressure (Mena et al. 2005)",
    )  # fmt: skip
    return {"features": [f[0] for f in FEATURES], "functions": [MAP_FUNCTION, DAILY_FUNCTION]}


def write_vitals(lake, frame: pl.DataFrame, key: bytes) -> dict[str, Any]:
    """Write vital-sign rows (the :data:`VITALS_SCHEMA` table) into ``lake`` under keyed pseudonyms.

    Rows are checked first as for the FHIR export; any bad row stops the write (``ValueError`` naming
    the row positions and reasons, nothing written). Then the hour cells are upserted, and the day's
    ``readings`` count is recomputed from what the lake now holds and upserted: two commits, both
    idempotent, so after a crash between them writing the same frame again completes the job. Run
    ``lake.run_pending()`` afterwards to compute ``map``, ``map_mean`` and ``sbp_arv``.

    Returns the two lake write reports and the number of patient-hours and patient-days touched.
    """
    require_vitals_frame(frame, "write_vitals(frame)")
    key = _check_key(key, "write_vitals(key)")
    problems = frame.select(row_problems(frame)).with_row_index("row").filter(pl.col("reason").is_not_null())
    if problems.height:
        shown = "; ".join(f"row {r}: {why}" for r, why in problems.head(10).iter_rows())
        raise ValueError(
            f"write_vitals(frame): {problems.height} row(s) are not fit for the lake, nothing was written "
            f"({shown}{' ...' if problems.height > 10 else ''}). Filter them out, e.g. with to_fhir(...).rejects."
        )
    pseudonyms = {nid: pseudonymize(nid, key) for nid in frame["national_id"].unique().to_list()}
    readings = frame.select(
        pl.col("national_id").replace_strict(pseudonyms, return_dtype=pl.String).alias(ENTITY),
        (pl.col("measured_at").dt.truncate("1h") + _HOUR).alias("time"),
        "systolic", "diastolic", "heart_rate", "context",
    ).with_row_index("row")  # fmt: skip
    hours = readings.group_by(ENTITY, "time", maintain_order=True).agg(
        pl.col("systolic").cast(pl.Float64).mean().alias(SYSTOLIC),
        pl.col("diastolic").cast(pl.Float64).mean().alias(DIASTOLIC),
        pl.col("heart_rate").cast(pl.Float64).mean().alias(HEART_RATE),
        (pl.col("context").first() == "exercise").alias(AFTER_EXERCISE),
        pl.col("context").n_unique().alias("contexts"),
        pl.col("row"),
    )
    mixed = hours.filter(pl.col("contexts") > 1)
    if mixed.height:
        rows = mixed["row"].explode().head(10).to_list()
        raise ValueError(
            f"write_vitals(frame): rows {rows} put a resting and an after-exercise reading of one patient into the "
            f"same clock hour; an hour cell holds one context. Drop or re-time one of them. Nothing was written."
        )
    hour_report = lake.write(hours.drop("contexts", "row"), window="hour", entities=(ENTITY,), time="time")

    days = hours.select(
        ENTITY, ((pl.col("time") - _HOUR).dt.truncate("1d") + _DAY).cast(pl.Datetime("ns")).alias("time")
    ).unique()
    counts = hour_readings(lake, days).group_by(ENTITY, "day").agg(pl.len().cast(pl.Int64).alias(READINGS))
    day_frame = days.join(
        counts.rename({"day": "time"}), on=[ENTITY, "time"], how="left"
    ).with_columns(pl.col(READINGS).fill_null(0))  # fmt: skip
    day_report = lake.write(day_frame, window="day", entities=(ENTITY,), time="time")
    return {"hour": hour_report, "day": day_report, "patient_hours": hours.height, "patient_days": days.height}
