"""A seeded synthetic cohort of home blood-pressure readings, and the reader for vital-sign tables.

The cohort imitates a few weeks of home monitoring in adults aged 30-85: each patient has a
baseline systolic/diastolic pressure that rises with age (more so with hypertension), a personal
reading-to-reading variability, a slow day-to-day drift, a morning surge, and, for some patients,
readings taken right after exercise (heart rate 100-160/min, systolic up by 20-50 mmHg). Readings
are at around 07:00 and 21:00 local time (exercise around 17:30), some days missed. Everything is synthetic: ids are
checksum-valid but drawn at random, names are drawn from common surnames and given-name characters.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import polars as pl

from workbench.clinical._national_id import synthetic_national_ids

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VITALS_PATH = REPO_ROOT / "datasets" / "clinical" / "vitals.csv"
PG_URL_ENV = "WORKBENCH_PG_URL"

VITALS_SCHEMA: dict[str, pl.DataType] = {
    "national_id": pl.String(),
    "name": pl.String(),
    "birth_date": pl.Date(),
    "sex": pl.String(),
    "measured_at": pl.Datetime("us"),
    "systolic": pl.Int64(),
    "diastolic": pl.Int64(),
    "heart_rate": pl.Int64(),
    "context": pl.String(),
}
CONTEXTS = ("rest", "exercise")

_SURNAMES = list("陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周徐蘇葉莊呂江何蕭羅高")
_GIVEN_CHARS = list("家怡志明雅婷淑芬俊宏建華美玲文雄佳慧宗翰冠廷欣嘉承恩宇柏瑋子涵雨彥慈安育秀英國峰")


def generate_cohort(
    n_patients: int = 300,
    seed: int = 0,
    *,
    n_days: int = 28,
    start: dt.date = dt.date(2026, 9, 1),
) -> pl.DataFrame:
    """Synthetic vital-sign readings of ``n_patients`` patients over ``n_days`` days from ``start``.

    Returns one row per reading, sorted by (national_id, measured_at), with exactly the columns of
    :data:`VITALS_SCHEMA`: ``national_id`` (str, synthetic checksum-valid Taiwanese id), ``name``
    (str), ``birth_date`` (date), ``sex`` ("M"/"F"), ``measured_at`` (naive datetime, Taiwan local
    time, whole seconds), ``systolic``, ``diastolic``, ``heart_rate`` (int, mmHg and /min) and
    ``context`` ("rest"/"exercise"). The same arguments always give the same frame.
    """
    if not isinstance(n_patients, int) or n_patients < 1:
        raise ValueError(f"generate_cohort(n_patients): expected a positive int, got {n_patients!r}")
    if not isinstance(n_days, int) or n_days < 1:
        raise ValueError(f"generate_cohort(n_days): expected a positive int, got {n_days!r}")
    rng = np.random.default_rng(seed)

    sex = rng.choice(np.array(["M", "F"]), size=n_patients)
    ids = synthetic_national_ids(n_patients, sex, rng)
    names = [
        rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN_CHARS, size=2, replace=False)) for _ in range(n_patients)
    ]
    age_days = rng.uniform(30, 85, size=n_patients) * 365.25
    birth = [start - dt.timedelta(days=int(a)) for a in age_days]
    age = age_days / 365.25

    # Baselines: systolic climbs with age (arterial stiffening), diastolic flattens after ~60, so the
    # pulse pressure widens with age as in population surveys.
    hypertensive = rng.random(n_patients) < np.clip(0.1 + 0.008 * (age - 30), 0, 0.6)
    sbp0 = 112 + 0.5 * (age - 30) + 18 * hypertensive + rng.normal(0, 9, n_patients)
    dbp0 = 72 + 0.25 * np.minimum(age - 30, 30) - 0.2 * np.maximum(age - 60, 0) + 9 * hypertensive
    dbp0 = np.minimum(dbp0 + rng.normal(0, 6, n_patients), sbp0 - 28)
    hr0 = rng.normal(71, 8, n_patients) - 0.05 * (age - 50)
    # Personal reading-to-reading variability: log-normal, so a few patients vary a lot.
    sbp_sd = rng.lognormal(np.log(7.0), 0.35, n_patients)
    exerciser = rng.random(n_patients) < 0.4

    rows: dict[str, list] = {c: [] for c in VITALS_SCHEMA}
    for p in range(n_patients):
        drift = 0.0
        for day in range(n_days):
            drift = 0.7 * drift + rng.normal(0, 2.5)  # slow day-to-day drift (AR(1))
            date = start + dt.timedelta(days=day)
            slots = []
            # (context, mean and sd of the time of day in hours, its allowed range, systolic surge)
            if rng.random() < 0.85:
                slots.append(("rest", 7.0, 0.67, (5, 11), 5.0))  # morning surge
            if exerciser[p] and rng.random() < 0.3:
                slots.append(("exercise", 17.5, 0.5, (16, 19), 0.0))
            if rng.random() < 0.7:
                slots.append(("rest", 21.0, 0.75, (19.5, 24), 0.0))
            for context, mean_h, sd_h, (lo_h, hi_h), surge in slots:
                # The ranges keep a rest and an exercise reading out of the same clock hour.
                seconds = int(np.clip(rng.normal(mean_h, sd_h) * 3600, lo_h * 3600, hi_h * 3600 - 1))
                noise = rng.normal(0, sbp_sd[p])
                if context == "exercise":
                    hr = rng.uniform(100, 160)
                    sbp = sbp0[p] + drift + (hr - hr0[p]) * rng.uniform(0.35, 0.6) + noise
                    dbp = dbp0[p] + rng.normal(0, 5)
                else:
                    hr = hr0[p] + rng.normal(0, 5)
                    sbp = sbp0[p] + drift + surge + noise
                    dbp = dbp0[p] + 0.45 * (drift + surge) + 0.5 * noise + rng.normal(0, 3)
                dbp = min(dbp, sbp - 20)
                rows["national_id"].append(ids[p])
                rows["name"].append(names[p])
                rows["birth_date"].append(birth[p])
                rows["sex"].append(str(sex[p]))
                rows["measured_at"].append(dt.datetime.combine(date, dt.time()) + dt.timedelta(seconds=seconds))
                rows["systolic"].append(int(round(sbp)))
                rows["diastolic"].append(int(round(dbp)))
                rows["heart_rate"].append(int(round(hr)))
                rows["context"].append(context)
    frame = pl.DataFrame(rows, schema=VITALS_SCHEMA)
    return frame.sort("national_id", "measured_at")


def write_default_dataset(path: str | Path = DEFAULT_VITALS_PATH, n_patients: int = 300, seed: int = 0) -> Path:
    """Regenerate the shipped data set (``datasets/clinical/vitals.csv``) from its seed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_cohort(n_patients=n_patients, seed=seed).write_csv(path)
    return path


def require_vitals_frame(frame: object, origin: str) -> pl.DataFrame:
    """``frame`` if it is a polars DataFrame with every :data:`VITALS_SCHEMA` column, else a clear error."""
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"{origin}: expected a polars DataFrame (see read_vitals), got {type(frame).__name__}")
    missing = [c for c in VITALS_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"{origin}: missing columns {missing}; a vital-sign table needs {list(VITALS_SCHEMA)}")
    return frame


def _conform(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    require_vitals_frame(frame, f"read_vitals: {origin}")
    try:
        return frame.select(pl.col(c).cast(t, strict=True) for c, t in VITALS_SCHEMA.items())
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"read_vitals: {origin} has a column that does not convert to its type: {exc}") from None


def read_vitals(source: str | os.PathLike | None = None, *, table: str = "vitals") -> pl.DataFrame:
    """Read a vital-sign table with the columns and types of :data:`VITALS_SCHEMA`.

    ``source``: ``None`` for the shipped ``datasets/clinical/vitals.csv``; a ``.csv`` or ``.parquet``
    path; or ``"postgres"`` to read ``table`` from the PostgreSQL database whose connection URL is in
    the environment variable ``WORKBENCH_PG_URL`` (the URL is never taken from an argument, so it
    does not end up in a notebook). Extra columns are dropped; a missing column or a value that
    does not convert raises ``ValueError``.
    """
    if isinstance(source, str) and source == "postgres":
        return _read_postgres(table)
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"read_vitals(source): expected None, a path or 'postgres', got {type(source).__name__}")
    path = DEFAULT_VITALS_PATH if source is None else Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"read_vitals(source): no file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pl.read_csv(path, schema_overrides=VITALS_SCHEMA, try_parse_dates=True)
        except pl.exceptions.PolarsError as exc:
            raise ValueError(f"read_vitals: {path} does not parse as a vital-sign CSV: {exc}") from None
    elif suffix == ".parquet":
        frame = pl.read_parquet(path)
    else:
        raise ValueError(f"read_vitals(source): expected a .csv or .parquet file, got {path.name!r}")
    return _conform(frame, str(path))


def _read_postgres(table: str) -> pl.DataFrame:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        raise ValueError(
            f"read_vitals(source='postgres'): set the environment variable {PG_URL_ENV} to a connection "
            f"URL such as postgresql://user@host:5432/dbname"
        )
    import psycopg
    from psycopg import sql

    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"read_vitals(table): expected 'name' or 'schema.name', got {table!r}")
    query = sql.SQL("SELECT {cols} FROM {table}").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in VITALS_SCHEMA),
        table=sql.Identifier(*parts),
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        data = cur.fetchall()
    frame = pl.DataFrame(data, schema=list(VITALS_SCHEMA), orient="row")
    # A timestamptz column arrives time-zone aware: express it in Taiwan local time, then drop the zone.
    if isinstance(frame.schema["measured_at"], pl.Datetime) and frame.schema["measured_at"].time_zone:
        frame = frame.with_columns(pl.col("measured_at").dt.convert_time_zone("Asia/Taipei").dt.replace_time_zone(None))
    return _conform(frame, f"PostgreSQL table {table}")
