"""Vital signs in the feature lake: readings per hour, MAP per reading, daily MAP and ARV per patient.

Data flow (every key is ``EventKey(entities={"patient": <pseudonym>})``; the clear id never enters
the lake; times are naive Taiwan local time, each stamped with the *end* of its window, when the
value became known). The roll-ups are the lake pipeline :data:`VITALS_PIPELINE`
(:mod:`workbench.lake.pipeline`)::

    readings (ingest) -> tagged (compute: after_exercise) -> hourly (reduce, hour)
        -> per_hour (function: /health/function/interpretation/mean_arterial_pressure)
        -> daily (reduce, day: readings = count, map_mean = mean(map), sbp_arv = resting ARV)

    write_vitals(lake, frame, key)
      hour window:  systolic, diastolic, heart_rate, after_exercise      (one cell per patient-hour)
      day window:   readings, map_mean, sbp_arv                         (one cell per patient-day)

    lake.run_pending()
      hour: /health/function/interpretation/mean_arterial_pressure
            (systolic, diastolic, heart_rate, after_exercise) -> map

The day roll-up is incremental: the pipeline reads the hour cells of each day whose hours changed back
from the lake, so a later batch with one more reading of a day recomputes that day from all its hours.

``map`` uses the resting rule at rest and Meaney's heart-rate formula after exercise
(:func:`~workbench.clinical.mean_arterial_pressure`). ``map_mean`` is the day's mean of those;
``sbp_arv`` is the time-weighted ARV (Mena et al. 2005) of the day's *resting* systolic readings,
since a reading straight after exercise measures the exercise, not the patient's variability.

An hour cell holds the mean of the readings taken in that clock hour (home-monitoring guidelines
average the two readings taken a minute apart). Readings of one patient-hour must come in one batch:
a later batch for the same hour replaces the cell (so re-sending a batch changes nothing).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from workbench.clinical.cohort import require_vitals_frame
from workbench.clinical.features import mean_arterial_pressure
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


def vitals_pipeline():
    """The hour -> day roll-up of vital signs as a lake pipeline (see the module docstring)."""
    from workbench.lake.pipeline import Pipeline, Process

    mmhg = "mm[Hg]"
    return Pipeline([
        Process("readings", "ingest", params={"entities": [ENTITY], "columns": {
            "systolic": {"dtype": "float", "unit": mmhg}, "diastolic": {"dtype": "float", "unit": mmhg},
            "heart_rate": {"dtype": "float", "unit": "/min"}, "context": "string"}}),
        Process("tagged", "compute", ("readings",), {"columns": {
            "after_exercise": {"expr": "context = 'exercise'", "dtype": "bool"}}}),
        # write_vitals refuses an hour with both contexts first, so max() is the hour's one context
        Process("hourly", "reduce", ("tagged",), {"every": "hour", "aggregations": {
            "systolic": "mean(systolic)", "diastolic": "mean(diastolic)", "heart_rate": "mean(heart_rate)",
            "after_exercise": "max(after_exercise)"},
            "features": {"systolic": SYSTOLIC, "diastolic": DIASTOLIC, "heart_rate": HEART_RATE,
                         "after_exercise": AFTER_EXERCISE}}),
        Process("per_hour", "function", ("hourly",), {"function": MAP_FUNCTION, "inputs": {
            SYSTOLIC: "systolic", DIASTOLIC: "diastolic", HEART_RATE: "heart_rate", AFTER_EXERCISE: "after_exercise"}}),
        Process("daily", "reduce", ("per_hour",), {"every": "day", "aggregations": {
            "readings": "count(systolic)",
            "map_mean": {"how": "mean", "column": MAP},
            "sbp_arv": {"how": "workbench.clinical.features:average_real_variability", "column": "systolic",
                        "where": "NOT after_exercise"}},
            "features": {"readings": READINGS, "map_mean": MAP_MEAN, "sbp_arv": SBP_ARV}}),
    ], domain="health", name="vitals")


def register_clinical_features(lake) -> dict[str, list[str]]:
    """Register the vital-sign features and the MAP function (see the module docstring) on ``lake``.

    Safe to call again (an identical registration is a no-op).
    """
    for name, dtype, unit, description in FEATURES:
        lake.register_feature(name, dtype, unit=unit, description=description)
    lake.register_function(
        MAP_FUNCTION, map_per_reading, inputs=HOUR_INPUTS, outputs=[MAP], kind="RULE",
        description="mean arterial pressure per reading: (SBP - DBP)/3 at rest, Meaney et al. 2000 after exercise",
    )  # fmt: skip
    return {"features": [f[0] for f in FEATURES], "functions": [MAP_FUNCTION]}


def write_vitals(lake, frame: pl.DataFrame, key: bytes) -> dict[str, Any]:
    """Write vital-sign rows (the :data:`VITALS_SCHEMA` table) into ``lake`` under keyed pseudonyms.

    Rows are checked first as for the FHIR export; any bad row stops the write (``ValueError`` naming
    the row positions and reasons, nothing written). Then :func:`vitals_pipeline` runs on them: the hour
    cells are upserted, and each touched day's ``readings``, ``map_mean`` and ``sbp_arv`` are recomputed
    from the day's hour cells as the lake now holds them and upserted: two commits, both idempotent, so
    after a crash between them writing the same frame again completes the job. Run ``lake.run_pending()``
    afterwards to compute the per-hour ``map`` feature.

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
        pl.col("measured_at").alias("time"), "systolic", "diastolic", "heart_rate", "context",
    )  # fmt: skip
    hours = (readings.with_row_index("row").group_by(ENTITY, pl.col("time").dt.truncate("1h"), maintain_order=True)
             .agg(pl.col("context").n_unique().alias("contexts"), pl.col("row")))
    mixed = hours.filter(pl.col("contexts") > 1)
    if mixed.height:
        rows = mixed["row"].explode().head(10).to_list()
        raise ValueError(
            f"write_vitals(frame): rows {rows} put a resting and an after-exercise reading of one patient into the "
            f"same clock hour; an hour cell holds one context. Drop or re-time one of them. Nothing was written."
        )
    days = hours.select(ENTITY, pl.col("time").dt.truncate("1d")).unique()
    # the features are registered already: the pipeline only writes them (and keeps their descriptions)
    run = lake.pipeline(vitals_pipeline()).run(readings=readings, cascade=False)
    return {"hour": run.writes["hourly"], "day": run.writes["daily"], "patient_hours": hours.height,
            "patient_days": days.height}
