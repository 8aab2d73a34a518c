import datetime as dt

import polars as pl
import pytest

from workbench.clinical import VITALS_SCHEMA, generate_cohort, is_valid_national_id, read_vitals
from workbench.clinical.cohort import DEFAULT_VITALS_PATH

COLUMNS = ["national_id", "name", "birth_date", "sex", "measured_at", "systolic", "diastolic", "heart_rate", "context"]


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(n_patients=40, seed=3)


def test_columns_and_types_are_the_contract(cohort):
    assert cohort.columns == COLUMNS
    assert cohort.schema == pl.Schema(VITALS_SCHEMA)
    assert cohort["measured_at"].dtype.time_zone is None


def test_same_seed_same_frame_other_seed_other_frame(cohort):
    assert generate_cohort(n_patients=40, seed=3).equals(cohort)
    assert not generate_cohort(n_patients=40, seed=4).equals(cohort)


def test_ids_are_valid_and_agree_with_sex(cohort):
    patients = cohort.unique("national_id")
    assert patients.height == 40
    assert all(is_valid_national_id(i) for i in patients["national_id"])
    assert all((i[1] == "1") == (s == "M") for i, s in patients.select("national_id", "sex").iter_rows())
    # One birth date, sex and name per id.
    assert cohort.group_by("national_id").agg(pl.col("birth_date", "sex", "name").n_unique()).select(
        pl.exclude("national_id").max()
    ).row(0) == (1, 1, 1)


def test_values_are_physiological(cohort):
    rest = cohort.filter(pl.col("context") == "rest")
    exercise = cohort.filter(pl.col("context") == "exercise")
    assert (cohort["systolic"] > cohort["diastolic"]).all()
    assert 115 < rest["systolic"].mean() < 145 and 70 < rest["diastolic"].mean() < 90
    assert 60 < rest["heart_rate"].mean() < 80
    assert exercise["heart_rate"].min() >= 100 and exercise["systolic"].mean() > rest["systolic"].mean()
    hours = cohort["measured_at"].dt.hour()
    assert ((hours >= 3) & (hours <= 23)).all() and hours.is_in([6, 7, 8, 20, 21, 22]).mean() > 0.8
    ages = (dt.date(2026, 9, 1) - cohort["birth_date"]).dt.total_days() / 365.25
    assert ages.min() >= 29.9 and ages.max() <= 85.1


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_patients"):
        generate_cohort(n_patients=0)
    with pytest.raises(ValueError, match="n_days"):
        generate_cohort(n_days=0)


def test_shipped_dataset_is_the_generator_output():
    assert DEFAULT_VITALS_PATH.is_file(), "regenerate with workbench.clinical.cohort.write_default_dataset()"
    assert read_vitals().equals(generate_cohort(n_patients=300, seed=0))


def test_csv_and_parquet_round_trip(cohort, tmp_path):
    cohort.write_csv(tmp_path / "v.csv")
    cohort.with_columns(extra=pl.lit(1)).write_parquet(tmp_path / "v.parquet")
    assert read_vitals(tmp_path / "v.csv").equals(cohort)
    assert read_vitals(str(tmp_path / "v.parquet")).equals(cohort)


def test_read_errors_name_the_problem(cohort, tmp_path):
    cohort.drop("heart_rate").write_csv(tmp_path / "short.csv")
    with pytest.raises(ValueError, match="heart_rate"):
        read_vitals(tmp_path / "short.csv")
    (tmp_path / "v.json").write_text("{}")
    with pytest.raises(ValueError, match=".csv or .parquet"):
        read_vitals(tmp_path / "v.json")
    with pytest.raises(FileNotFoundError):
        read_vitals(tmp_path / "none.csv")
    with pytest.raises(TypeError, match="source"):
        read_vitals(42)


def test_postgres_needs_the_url(monkeypatch):
    monkeypatch.delenv("WORKBENCH_PG_URL", raising=False)
    with pytest.raises(ValueError, match="WORKBENCH_PG_URL"):
        read_vitals("postgres")


@pytest.mark.postgres
def test_read_from_postgres(postgres_url, monkeypatch, cohort):
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE vitals (national_id text, name text, birth_date date, sex text, "
            "measured_at timestamp, systolic int, diastolic int, heart_rate int, context text, note text)"
        )
        with conn.cursor().copy(
            "COPY vitals (national_id, name, birth_date, sex, measured_at, systolic, diastolic, heart_rate, context)"
            " FROM STDIN"
        ) as copy:
            for row in cohort.iter_rows():
                copy.write_row(row)
    monkeypatch.setenv("WORKBENCH_PG_URL", postgres_url)
    assert read_vitals("postgres").sort("national_id", "measured_at").equals(cohort)
    with pytest.raises(ValueError, match="table"):
        read_vitals("postgres", table="vitals; drop table vitals")
