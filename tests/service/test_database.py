"""The database layer: throwaway cluster, ordered migrations, COPY loading, and the two FHIR mappings."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import polars as pl
import psycopg
import pytest

from workbench.clinical.service import (
    apply_migrations,
    list_migrations,
    load_vitals,
    prepare_database,
    python_mapping,
    refresh_fhir,
    sql_mapping,
    throwaway_postgres,
)
from workbench.clinical.service.db import Migration

pytestmark = pytest.mark.postgres


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_throwaway_cluster_listens_on_loopback_only_and_leaves_nothing(pg_cluster):
    with throwaway_postgres(dbname="scratch") as pg:
        root, port = pg.root, pg.port
        with psycopg.connect(pg.url) as conn:
            listen = conn.execute("SHOW listen_addresses").fetchone()[0]
            assert conn.execute("SELECT current_database()").fetchone()[0] == "scratch"
        assert listen == "127.0.0.1" and _port_open(port) and root.exists()
    assert not root.exists() and not _port_open(port) and not pg.running


def test_throwaway_cluster_rejects_a_bad_name():
    with pytest.raises(ValueError, match="dbname"):
        with throwaway_postgres(dbname="x; drop"):
            pass


def test_migrations_apply_once_in_order_and_are_recorded(make_database):
    url = make_database("migrations")
    with psycopg.connect(url) as conn:
        names = [m.name for m in list_migrations()]
        assert names == sorted(names) and names[0].startswith("0001_")
        assert apply_migrations(conn) == names
        assert apply_migrations(conn) == []
        recorded = [r[0] for r in conn.execute("SELECT name FROM public.schema_migrations ORDER BY version")]
        assert recorded == names


def test_an_edited_migration_is_refused(make_database):
    url = make_database("edited_migration")
    with psycopg.connect(url) as conn:
        apply_migrations(conn)
        first = list_migrations()[0]
        edited = [Migration(first.version, first.name, first.sql + "\n-- edited"), *list_migrations()[1:]]
        with pytest.raises(RuntimeError, match="must not change"):
            apply_migrations(conn, edited)


def test_a_failing_migration_names_itself_and_applies_nothing(make_database):
    url = make_database("failing_migration")
    broken = [*list_migrations(), Migration("9999", "9999_broken.sql", "CREATE TABLE nonsense (")]
    with psycopg.connect(url) as conn:
        with pytest.raises(RuntimeError, match="9999_broken.sql"):
            apply_migrations(conn, broken)
        conn.rollback()
        assert conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()[0] is None


def test_load_refuses_a_frame_without_the_columns(make_database):
    url = make_database("bad_frame")
    with psycopg.connect(url) as conn:
        apply_migrations(conn)
        with pytest.raises(ValueError, match="missing columns"):
            load_vitals(conn, pl.DataFrame({"national_id": ["A123456789"]}))
        with pytest.raises(TypeError, match="polars DataFrame"):
            load_vitals(conn, [{"national_id": "A123456789"}])


def test_sql_and_python_mappings_agree_on_the_whole_cohort(make_database, pseudonym_key):
    """Every Patient and Observation of the shipped cohort, built by SQL and by Python, is identical."""
    from workbench.clinical import read_vitals

    frame = read_vitals()  # datasets/clinical/vitals.csv: the whole default cohort
    url = make_database("whole_cohort")
    counts = prepare_database(url, frame, pseudonym_key)
    with psycopg.connect(url) as conn:
        from_sql = sql_mapping(conn, pseudonym_key)
    from_python = python_mapping(frame, pseudonym_key)
    assert counts.rows_in == frame.height == counts.rows_exported + counts.rows_rejected
    assert len(from_sql["observations"]) == len(from_python["observations"]) == 2 * counts.rows_exported
    assert from_sql["patients"] == from_python["patients"]
    assert from_sql["observations"] == from_python["observations"]
    assert from_sql["rejects"] == from_python["rejects"]
    assert counts.patients == len(from_python["patients"])


def _messy(frame: pl.DataFrame) -> pl.DataFrame:
    """A few rows broken in each way the mapping refuses (one reason or several per row)."""
    rows = frame.head(12).to_dicts()
    rows[0]["national_id"] = None
    rows[1]["national_id"] = rows[1]["national_id"][:-1] + str((int(rows[1]["national_id"][-1]) + 1) % 10)
    rows[2]["sex"] = "X"
    rows[3]["systolic"] = 400
    rows[4]["diastolic"] = None
    rows[5]["systolic"], rows[5]["diastolic"] = 90, 95
    rows[6]["heart_rate"] = 5
    rows[7]["context"] = "sleep"
    rows[8]["birth_date"] = rows[8]["measured_at"].date() + dt.timedelta(days=3)  # also conflicts with its siblings
    rows[9]["measured_at"] = None
    rows[10]["birth_date"] = None
    return pl.DataFrame(rows, schema=frame.schema)


def test_both_mappings_reject_the_same_rows_for_the_same_reasons(make_database, small_cohort, pseudonym_key):
    messy = _messy(small_cohort)
    url = make_database("messy")
    counts = prepare_database(url, messy, pseudonym_key)
    with psycopg.connect(url) as conn:
        from_sql = sql_mapping(conn, pseudonym_key)
        stored = dict(conn.execute("SELECT row_id, reason FROM fhir.source_reject").fetchall())
    from_python = python_mapping(messy, pseudonym_key)
    assert from_sql["rejects"] == from_python["rejects"]
    assert len(from_python["rejects"]) >= 10 and counts.rows_rejected == len(stored) == len(from_python["rejects"])
    assert from_sql["observations"] == from_python["observations"]
    assert from_sql["patients"] == from_python["patients"]
    assert any(";" in reason for _, reason in from_python["rejects"]), "a row with several reasons lists them all"


def test_refresh_keeps_the_key_out_of_the_database(make_database, small_cohort, pseudonym_key):
    url = make_database("no_key_stored")
    prepare_database(url, small_cohort, pseudonym_key)
    with psycopg.connect(url) as conn:
        dump = "".join(str(r) for r in conn.execute(
            "SELECT string_agg(prosrc, ' ') FROM pg_proc UNION ALL SELECT string_agg(setting, ' ') FROM pg_settings"))
        with pytest.raises(ValueError, match="32 bytes"):
            refresh_fhir(conn, b"short")
    assert pseudonym_key.decode() not in dump


def test_migration_files_are_plain_ordered_sql():
    folder = Path(__file__).resolve().parents[2] / "workbench" / "clinical" / "service" / "migrations"
    files = sorted(p.name for p in folder.glob("*.sql"))
    assert files == [m.name for m in list_migrations()]
