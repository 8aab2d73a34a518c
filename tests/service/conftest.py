"""Fixtures for the FHIR service: one throwaway PostgreSQL cluster per test session, throwaway secrets.

The cluster (``initdb`` + ``pg_ctl`` on a free loopback port) is stopped and its directory deleted at
the end of the session. Tests are skipped, with the reason printed, only when the PostgreSQL binaries
are not installed at all; a cluster that fails to start is an error, not a skip.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from workbench.clinical.service import (
    ClientRecord,
    JwtKey,
    ServiceConfig,
    create_app,
    find_postgres_bindir,
    hash_secret,
    prepare_database,
    throwaway_postgres,
)

SMALL_COHORT = {"n_patients": 24, "seed": 7}
READ_SCOPES = ("system/Patient.read", "system/Observation.read")


@pytest.fixture(scope="session")
def pg_cluster():
    """A running PostgreSQL cluster for the whole session (skipped only when PostgreSQL is absent)."""
    if find_postgres_bindir() is None:
        pytest.skip("PostgreSQL binaries not found (install Debian's postgresql: `make setup-system`)")
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def make_database(pg_cluster):
    """Factory: ``make_database(name)`` creates an empty database in the cluster and returns its URL."""
    import psycopg

    made = []

    def make(name: str) -> str:
        with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return pg_cluster.url.rsplit("/", 1)[0] + "/" + name

    return make


@pytest.fixture(scope="session")
def pseudonym_key() -> bytes:
    return secrets.token_hex(32).encode("ascii")


@pytest.fixture(scope="session")
def small_cohort():
    from workbench.clinical.cohort import generate_cohort

    return generate_cohort(**SMALL_COHORT)


@pytest.fixture(scope="session")
def service_db(make_database, small_cohort, pseudonym_key) -> str:
    """URL of a database migrated and loaded with a small cohort, FHIR tables built."""
    url = make_database("fhir_service")
    prepare_database(url, small_cohort, pseudonym_key)
    return url


@pytest.fixture(scope="session")
def client_secrets() -> dict[str, str]:
    """Throwaway secrets of the test principals (made at run time, never stored)."""
    return {name: secrets.token_urlsafe(24) for name in ("reader", "writer", "patients-only", "nurse")}


@pytest.fixture(scope="session")
def clients(client_secrets) -> dict[str, ClientRecord]:
    scopes = {
        "reader": ("client_credentials", READ_SCOPES),
        "writer": ("client_credentials", (*READ_SCOPES, "system/Observation.write")),
        "patients-only": ("client_credentials", ("system/Patient.read",)),
        "nurse": ("password", ("system/Observation.read", "system/Observation.write")),
    }
    return {
        name: ClientRecord(name=name, grant=grant, secret_hash=hash_secret(client_secrets[name]), scopes=frozenset(s))
        for name, (grant, s) in scopes.items()
    }


@pytest.fixture(scope="session")
def jwt_key() -> JwtKey:
    secret = secrets.token_hex(32).encode("ascii")
    return JwtKey("HS256", secret, secret)


@pytest.fixture(scope="session")
def service_config(service_db, jwt_key, clients) -> ServiceConfig:
    return ServiceConfig(
        pg_url=service_db, jwt_key=jwt_key, clients=clients, max_count=50, default_count=10,
        max_body_bytes=16_384, cors_origins=("http://127.0.0.1:8888",),
        allowed_hosts=("127.0.0.1", "localhost", "testserver"),
    )  # fmt: skip


@pytest.fixture(scope="session")
def api(service_config) -> Iterator:
    """A TestClient on the app (lifespan run, so the connection pool is open)."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(service_config)) as client:
        yield client


@pytest.fixture(scope="session")
def token_for(api, client_secrets):
    """``token_for(name, scope=None)``: an access token from the real token endpoint (cached)."""
    cache: dict = {}

    def get(name: str, scope: str | None = None) -> str:
        import time

        # Tokens live token_ttl_s (300 s); a slow session outlives them, so fetch a new one near expiry.
        if (name, scope) in cache and cache[(name, scope)][1] < time.time() + 30:
            del cache[(name, scope)]
        if (name, scope) not in cache:
            form = {"scope": scope} if scope else {}
            if name == "nurse":
                form |= {"grant_type": "password", "username": name, "password": client_secrets[name]}
            else:
                form |= {"grant_type": "client_credentials", "client_id": name, "client_secret": client_secrets[name]}
            response = api.post("/auth/token", data=form)
            assert response.status_code == 200, response.text
            cache[(name, scope)] = (response.json()["access_token"], time.time() + response.json()["expires_in"])
        return cache[(name, scope)][0]

    return get


@pytest.fixture(scope="session")
def auth(token_for):
    """``auth(name)``: the Authorization header dict for that principal."""
    return lambda name, scope=None: {"Authorization": f"Bearer {token_for(name, scope)}"}


@pytest.fixture(scope="session")
def patient_ids(service_db) -> list[str]:
    import psycopg

    with psycopg.connect(service_db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM fhir.patient ORDER BY id")]
