"""A FHIR R4 micro-service over PostgreSQL, protected by OAuth2: the hospital table served as FHIR.

Pieces, each usable on its own:

* :func:`throwaway_postgres` - a private PostgreSQL cluster on loopback for tests, notebooks, benchmarks;
* :mod:`.db` - ordered SQL migrations, ``COPY`` loading of vitals, the SQL mapping to FHIR
  (``json_build_object`` + pgcrypto ``hmac``) and its comparison with the Python mapper;
* :class:`ServiceConfig` - database URL, JWT key, OAuth2 clients (argon2 hashes), limits, from the env;
* :func:`create_app` - the FastAPI application; :func:`serve_in_background` runs it under uvicorn.

>>> with throwaway_postgres() as pg:                                   # doctest: +SKIP
...     prepare_database(pg.url, generate_cohort(50), key)
...     app = create_app(ServiceConfig.from_env(pg_url=pg.url))
...     with serve_in_background(app) as server:
...         httpx.get(server.url + "/fhir/metadata")
"""

from workbench.clinical.service._postgres import (
    PostgresCluster,
    find_postgres_bindir,
    free_loopback_port,
    throwaway_postgres,
)
from workbench.clinical.service._server import BackgroundServer, serve_in_background, start_server
from workbench.clinical.service.app import FHIR_JSON, FhirError, capability_statement, create_app
from workbench.clinical.service.auth import ClientRegistry, TokenGate, issue_token, verify_token
from workbench.clinical.service.config import (
    SCOPES,
    ClientRecord,
    JwtKey,
    ServiceConfig,
    hash_secret,
    load_clients,
    load_jwt_key,
)
from workbench.clinical.service.db import (
    apply_migrations,
    connect,
    list_migrations,
    load_vitals,
    prepare_database,
    python_mapping,
    refresh_fhir,
    sql_mapping,
)

__all__ = [
    "FHIR_JSON",
    "SCOPES",
    "BackgroundServer",
    "ClientRecord",
    "ClientRegistry",
    "FhirError",
    "JwtKey",
    "PostgresCluster",
    "ServiceConfig",
    "apply_migrations",
    "capability_statement",
    "connect",
    "create_app",
    "find_postgres_bindir",
    "free_loopback_port",
    "hash_secret",
    "issue_token",
    "list_migrations",
    "load_clients",
    "load_jwt_key",
    "load_vitals",
    "prepare_database",
    "python_mapping",
    "refresh_fhir",
    "serve_in_background",
    "sql_mapping",
    "start_server",
    "throwaway_postgres",
    "TokenGate",
    "verify_token",
]
