"""The database side of the FHIR service: migrations, loading the source table, refreshing resources.

Migrations are plain SQL files in ``migrations/`` named ``NNNN_what.sql`` and applied in that order,
each once, each in its own transaction, and recorded with its SHA-256 in ``public.schema_migrations``.
A recorded migration whose file has changed since is an error rather than silently skipped: once a
database has run a migration, fix things with a new file.

Loading uses ``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy``), the bulk path PostgreSQL offers,
instead of one INSERT per row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from workbench.errors import UserError

if TYPE_CHECKING:  # heavy or optional imports only for type checkers
    import polars as pl
    import psycopg

__all__ = [
    "Migration",
    "apply_migrations",
    "connect",
    "list_migrations",
    "load_vitals",
    "prepare_database",
    "python_mapping",
    "refresh_fhir",
    "sql_mapping",
]

SOURCE_COLUMNS = (
    "national_id", "name", "birth_date", "sex", "measured_at", "systolic", "diastolic", "heart_rate", "context",
)  # fmt: skip
_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
# Any constant works as long as every applier of migrations uses the same one.
_MIGRATION_LOCK = 7_311_004_217


@dataclass(frozen=True)
class Migration:
    """One migration file: its ordering ``version``, file ``name``, SQL text and its SHA-256."""

    version: str
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def list_migrations() -> list[Migration]:
    """The shipped migrations in the order they apply (by their four-digit prefix)."""
    found = []
    for entry in resources.files("workbench.clinical.service").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(match.group(1), entry.name, entry.read_text(encoding="utf-8")))
        elif entry.name.endswith(".sql"):
            raise RuntimeError(f"migration file {entry.name!r} must be named NNNN_lowercase_words.sql")
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A psycopg 3 connection to ``url`` (``application_name`` set so it shows in pg_stat_activity)."""
    import psycopg

    if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("connect(url): expected a libpq URL postgresql://user@host:port/dbname")
    kwargs.setdefault("application_name", "workbench-fhir")
    kwargs.setdefault("connect_timeout", 5)
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        # One line, without the password the URL may carry: the user fixes the URL or starts the server.
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to PostgreSQL at {where} ({reason}); check $WORKBENCH_PG_URL and that the "
                        "server is running (or try `workbench serve fhir --demo`)") from None


def apply_migrations(conn: psycopg.Connection, migrations: Iterable[Migration] | None = None) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now (empty when up to date).

    Concurrent callers serialize on an advisory lock, so two services starting at once do not both
    run a migration. Raises RuntimeError when an applied migration's file has changed.
    """
    migrations = list_migrations() if migrations is None else list(migrations)
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
            " version text PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        recorded = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT version, name, sha256 FROM public.schema_migrations")}
        for migration in migrations:
            if migration.version in recorded:
                name, digest = recorded[migration.version]
                if digest != migration.sha256:
                    raise RuntimeError(
                        f"migration {migration.name} was applied as {name} with different content; applied "
                        "migrations must not change. Revert the file and add a new migration instead."
                    )
                continue
            # A savepoint per file so the error can name the file; the outer transaction keeps the
            # whole call all-or-nothing (no half-migrated schema).
            with conn.transaction():
                try:
                    conn.execute(migration.sql)
                except Exception as exc:
                    raise RuntimeError(f"migration {migration.name} failed: {exc}") from exc
                conn.execute(
                    "INSERT INTO public.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.sha256),
                )
            applied_now.append(migration.name)
    return applied_now


def load_vitals(conn: psycopg.Connection, frame: pl.DataFrame, *, replace: bool = False) -> int:
    """COPY a vital-sign frame (columns of ``workbench.clinical.VITALS_SCHEMA``) into ``hospital.vitals``.

    ``replace=True`` empties the table first (and the resources derived from it). Returns rows copied.
    """
    import polars as pl

    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"load_vitals(frame): expected a polars DataFrame (see read_vitals), got {type(frame).__name__}")
    missing = [c for c in SOURCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"load_vitals(frame): missing columns {missing}; expected {list(SOURCE_COLUMNS)}")
    with conn.transaction():
        if replace:
            conn.execute("DELETE FROM fhir.observation WHERE origin = 'source'")
            conn.execute("TRUNCATE hospital.vitals CASCADE")
        with conn.cursor() as cur:
            with cur.copy(f"COPY hospital.vitals ({', '.join(SOURCE_COLUMNS)}) FROM STDIN") as copy:
                for row in frame.select(SOURCE_COLUMNS).iter_rows():
                    copy.write_row(row)
    return frame.height


@dataclass(frozen=True)
class RefreshCounts:
    """Counts from :func:`refresh_fhir`; they reconcile as rows_in = rows_exported + rows_rejected."""

    rows_in: int
    rows_exported: int
    rows_rejected: int
    patients: int
    observations: int


def refresh_fhir(conn: psycopg.Connection, key: bytes) -> RefreshCounts:
    """Rebuild ``fhir.patient``/``fhir.observation`` (origin 'source') from ``hospital.vitals`` in SQL.

    The pseudonymization ``key`` travels as a bound parameter; it is never stored in the database.
    """
    if not isinstance(key, (bytes, bytearray)) or len(key) < 32:
        raise ValueError("refresh_fhir(key): expected the pseudonymization key as >= 32 bytes (see load_key())")
    with conn.transaction():
        row = conn.execute("SELECT * FROM fhir.refresh_from_source(%s)", (bytes(key),)).fetchone()
    counts = RefreshCounts(*map(int, row))
    if counts.rows_in != counts.rows_exported + counts.rows_rejected:
        raise AssertionError(f"refresh_fhir: rows do not reconcile: {counts}")
    return counts


def sql_mapping(conn: psycopg.Connection, key: bytes) -> dict:
    """Map every source row with the SQL functions (no table written).

    Returns ``{"patients": [...], "observations": [...], "rejects": [(row_index, reason), ...]}`` in the
    order :func:`workbench.clinical.to_fhir` produces them, ``row_index`` counting source rows from 0 in
    ``row_id`` order, so the two mappings can be compared one to one.
    """
    import json

    key = bytes(key)
    rows = conn.execute(
        "SELECT row_number() OVER (ORDER BY row_id) - 1, national_id, reason,"
        " CASE WHEN reason IS NULL THEN fhir.observation_resources(national_id, measured_at, systolic,"
        "      diastolic, heart_rate, %(key)s)::text END,"
        " CASE WHEN reason IS NULL THEN fhir.patient_resource(national_id, birth_date, sex, %(key)s)::text END"
        " FROM fhir.vitals_checked ORDER BY row_id",
        {"key": key},
    ).fetchall()
    patients: dict[str, dict] = {}
    observations: list[dict] = []
    rejects: list[tuple[int, str]] = []
    for index, national_id, reason, obs_text, patient_text in rows:
        if reason is not None:
            rejects.append((int(index), reason))
            continue
        if national_id not in patients:
            patients[national_id] = json.loads(patient_text)
        observations.extend(json.loads(obs_text))
    return {"patients": list(patients.values()), "observations": observations, "rejects": rejects}


def python_mapping(frame: pl.DataFrame, key: bytes) -> dict:
    """The same shape as :func:`sql_mapping`, from ``workbench.clinical.to_fhir`` (the Python mapper)."""
    from workbench.clinical.fhir import to_fhir

    export = to_fhir(frame, key)
    rejects = [(int(i), r) for i, r in export.rejects.select("row_index", "reason").iter_rows()]
    return {"patients": export.patients, "observations": export.observations, "rejects": rejects}


def prepare_database(url: str, frame: pl.DataFrame, key: bytes, *, replace: bool = True) -> RefreshCounts:
    """Migrate the database at ``url``, COPY ``frame`` into ``hospital.vitals`` and build the FHIR tables.

    What ``workbench clinical load-db`` does; ``replace=True`` swaps out previously loaded vitals.
    """
    with connect(url) as conn:
        apply_migrations(conn)
        load_vitals(conn, frame, replace=replace)
        return refresh_fhir(conn, key)
