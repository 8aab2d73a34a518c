"""The FHIR R4 REST API: FastAPI routers over PostgreSQL, behind OAuth2 bearer tokens.

Routes (all FHIR answers ``application/fhir+json``; every FHIR error an ``OperationOutcome``):

==========================================  ============================  =========================
``GET  /fhir/metadata``                     CapabilityStatement           public
``GET  /fhir/Patient/{id}``                 read                          system/Patient.read
``GET  /fhir/Patient?gender=&birthdate=``   searchset Bundle              system/Patient.read
``GET  /fhir/Observation/{id}``             read                          system/Observation.read
``GET  /fhir/Observation?subject=&code=&date=&_count=&_sort=``            system/Observation.read
``POST /fhir/Observation``                  create, idempotent on         system/Observation.write
                                            ``identifier``
``POST /auth/token``                        OAuth2 token (RFC 6749)       client credentials
``POST /auth/revoke``                       revocation (RFC 7009)         client credentials
``GET  /users/me``                          the token's principal         any valid token
==========================================  ============================  =========================

Searches honour ``Prefer: handling=strict|lenient`` (default strict: an unknown parameter is a 400;
lenient: it is ignored and reported in an OperationOutcome entry), ``_count=0`` and ``_summary=count``.

Layout (FastAPI's "bigger applications"): one router per resource in :mod:`.routers`, the auth and scope
checks as dependencies (:mod:`.deps`), config, pool and the other shared pieces on ``app.state``, and
:class:`.guard.RequestGuard` around everything (request ids, Host check, privacy of URLs, security
headers, a 500 that is one log line, the audit trail).

The request path, fastest first: uvicorn with httptools and uvloop (:mod:`._protocol`: header and body
deadlines, one write per small response), then the guard, then :mod:`.fastlane` for the four hot GET
routes (no FastAPI routing or dependency solving; the same handlers and auth check), one pooled psycopg
connection per request with prepared statements (psycopg prepares a statement on its fifth use), and
resources served as the JSON text PostgreSQL stores (never parsed or re-encoded on a read).

Several processes: the ``jti`` denylist is checked in memory but shared through PostgreSQL
(:mod:`.revocations`: a revocation reaches every process within about a second). The login limiter
(:mod:`._limits`) is per process: with N workers a client gets up to N times the failed logins before
lockout. Removing or rotating a client is seen by every process (each re-reads the clients file when it
changes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from workbench.clinical.service import _search as search
from workbench.clinical.service import coding_router
from workbench.clinical.service._privacy import PrivacyGuard
from workbench.clinical.service.auth import AuthError, ClientRegistry, TokenGate
from workbench.clinical.service.config import SCOPES, ServiceConfig
from workbench.clinical.service.deps import TOKEN_PATH
from workbench.clinical.service.errors import (
    FHIR_JSON,
    STATUS_ISSUE,
    FhirError,
    install_log_redaction,
    outcome_response,
    redact,
)
from workbench.clinical.service.fastlane import FastLane
from workbench.clinical.service.guard import BodySizeLimit, RequestGuard

__all__ = ["FHIR_JSON", "FhirError", "capability_statement", "create_app", "error_response", "install_log_redaction",
           "redact"]

FHIR_VERSION = "4.0.1"
log = logging.getLogger("workbench.fhir")
SOURCE_NAMES_SQL = "SELECT DISTINCT name FROM hospital.vitals WHERE name IS NOT NULL"


def capability_statement(config: ServiceConfig) -> dict:
    """The CapabilityStatement of exactly what :func:`create_app` implements."""

    def param(name: str, kind: str, doc: str) -> dict:
        return {"name": name, "type": kind, "documentation": doc}

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "The research workbench",
        "kind": "instance",
        "software": {"name": "workbench FHIR service"},
        "implementation": {"description": "Teaching FHIR R4 facade over PostgreSQL (synthetic data only)"},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": f"Search handling is {config.default_handling} by default: an unknown search "
                                 "parameter is refused with 400. Send `Prefer: handling=lenient` to have unknown "
                                 "parameters ignored and reported in an OperationOutcome entry of the Bundle.",
                "security": {
                    "cors": bool(config.cors_origins),
                    "service": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "OAuth", "display": "OAuth"}]}],
                    "description": f"OAuth2 bearer tokens from {TOKEN_PATH} (client credentials or password "
                                   f"grant); SMART system scopes: {', '.join(SCOPES)}.",
                },
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            param("gender", "token", "male | female | other | unknown"),
                            param("birthdate", "date", "repeatable, prefixes eq ne lt le gt ge"),
                            param("_count", "number", f"page size 0..{config.max_count} (0: total only)"),
                            param("_summary", "token", "count: the total only"),
                        ],
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
                        "conditionalCreate": False,
                        "searchParam": [
                            param("subject", "reference", "Patient/<id> or <id>"),
                            param("code", "token", "LOINC code or http://loinc.org|code, comma = OR"),
                            param("date", "date", "repeatable, prefixes eq ne lt le gt ge"),
                            param("_count", "number", f"page size 0..{config.max_count}"),
                            param("_sort", "string", "date (default) or -date"),
                            param("_summary", "token", "count: the total only"),
                        ],
                    },
                ],
            }
        ],
    }  # fmt: skip


DOCS_PATH = "/docs"
_DOCS_ASSETS = "/docs/assets"


def _mount_offline_docs(app: FastAPI) -> str:
    """Serve the OpenAPI UI at /docs with Swagger UI's files from the swagger-ui-bundle package.

    The machines this runs on (a hospital network, CI) often reach no CDN, so the page must not depend on
    one. Returns the page's Content-Security-Policy: its one inline script is allowed by its hash only.
    """
    import base64
    import re

    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(_DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")
    redirect = f"{DOCS_PATH}/oauth2-redirect"

    def page() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - API docs", oauth2_redirect_url=redirect,
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon-32x32.png",
        )  # fmt: skip

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui():
        return page()

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    inline = [page().body.decode(), get_swagger_ui_oauth2_redirect_html().body.decode()]
    hashes = sorted({
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for html in inline for script in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    })  # fmt: skip
    return (f"default-src 'none'; script-src 'self' {' '.join(hashes)}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")  # fmt: skip


def cursor_key(config: ServiceConfig) -> bytes:
    """The paging-cursor HMAC key, derived from the token signing key (so replicas sharing it agree)."""
    material = config.jwt_key.signing
    if not isinstance(material, bytes):
        from cryptography.hazmat.primitives import serialization

        material = material.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())  # fmt: skip
    return hmac.new(material, b"workbench-fhir paging cursor v1", hashlib.sha256).digest()


async def _load_source_names(conn) -> list[str]:
    """Names of the source table, for the privacy check (none when the table is absent or empty)."""
    try:
        async with conn.transaction():
            return [row[0] for row in await (await conn.execute(SOURCE_NAMES_SQL)).fetchall()]
    except Exception as exc:  # an unmigrated database has no hospital schema: nothing to protect there yet
        log.warning("source names not loaded for the privacy check: %s", type(exc).__name__)
        return []


def error_response(exc: Exception) -> Response | None:
    """The OperationOutcome answer to an error a handler raised on purpose; None for anything else.

    One mapping for the FastAPI exception handlers and the fast lane (:mod:`.fastlane`).
    """
    if isinstance(exc, FhirError):
        return outcome_response(exc.status, exc.code, exc.diagnostics, exc.headers)
    if isinstance(exc, search.SearchError):
        return outcome_response(400, "invalid", f"search parameter {exc}")
    if isinstance(exc, AuthError):
        challenge = f'Bearer realm="workbench-fhir", error="{exc.error}"'
        if exc.status == 403:
            challenge += f', scope="{exc.description.rsplit(" ", 1)[-1]}"'
        return outcome_response(exc.status, STATUS_ISSUE[exc.status], exc.description, {"WWW-Authenticate": challenge})
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return outcome_response(exc.status_code, STATUS_ISSUE.get(exc.status_code, "processing"), detail,
                                getattr(exc, "headers", None))  # fmt: skip
    return None


def _install_error_handlers(app: FastAPI) -> None:
    async def _mapped(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    for kind in (FhirError, search.SearchError, AuthError, StarletteHTTPException):
        app.add_exception_handler(kind, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg")) for e in exc.errors()[:3])
        return outcome_response(400, "invalid", f"malformed request: {where}")


def _openapi(app: FastAPI) -> Callable[[], dict]:
    def openapi() -> dict:
        # FastAPI documents a 422 "HTTPValidationError" on every route with parameters; this service
        # answers malformed parameters with 400 OperationOutcome instead, so drop those entries.
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for path in spec["paths"].values():
                for operation in path.values():
                    auto = operation.get("responses", {}).get("422", {})
                    if "HTTPValidationError" in json.dumps(auto):
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                spec.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Open the pool and the worker pools; read the source names the privacy check refuses."""
    from psycopg_pool import AsyncConnectionPool

    from workbench.clinical.service._limits import HashPool
    from workbench.clinical.service.audit import AuditLog
    from workbench.clinical.service.revocations import SharedRevocations

    state, config = app.state, app.state.config
    pool = AsyncConnectionPool(
        config.pg_url, min_size=config.pool_size, max_size=config.pool_size, open=False,
        kwargs={"autocommit": True, "application_name": "workbench-fhir"},
    )  # fmt: skip
    await pool.open(wait=True, timeout=state.pool_open_timeout_s)
    state.pool = pool
    async with pool.connection() as conn:
        state.privacy = PrivacyGuard(await _load_source_names(conn))
    state.hash_pool = HashPool(config.hash_workers, config.hash_queue)
    state.validation_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fhir-validate")
    state.audit = AuditLog(config.audit_log)
    state.revocations, sync_task = None, None
    if await SharedRevocations.available(pool):
        state.revocations = SharedRevocations(state.tokens, pool, every_s=state.revocation_sync_s)
        await state.revocations.start()  # the list as it is now, before the first request
        sync_task = asyncio.create_task(state.revocations.run(), name="fhir-revocation-sync")
    else:
        log.warning("fhir.revoked_token is missing (run the migrations): revocations stay in this process")
    try:
        yield
    finally:
        if sync_task is not None:
            sync_task.cancel()
        await pool.close()
        state.hash_pool.close()
        state.validation_pool.shutdown(wait=False, cancel_futures=True)
        state.audit.close()


def create_app(config: ServiceConfig, *, on_created: Callable[[dict], None] | None = None,
               pool_open_timeout_s: float = 30.0, fast_lane: bool = True) -> FastAPI:  # fmt: skip
    """Build the FastAPI application for ``config``.

    The connection pool opens in the app's lifespan (so use ``with TestClient(app)`` or uvicorn).
    ``on_created(row)`` is called in a worker thread after a new Observation committed and before the
    201 is sent (not for replays); a failure there is logged and leaves the row in the lake outbox.
    The default sends complete readings to the feature lake when ``config.lake_path`` is set
    (see :mod:`.lake_flow`). ``fast_lane=False`` sends the hot GET routes through FastAPI's router too
    (the same answers, slower; tests compare the two).
    """
    from workbench.clinical.service._limits import LoginLimiter
    from workbench.clinical.service.routers import ROUTERS

    if not isinstance(config, ServiceConfig):
        raise TypeError(f"create_app(config): expected a ServiceConfig (ServiceConfig.from_env()), got {type(config).__name__}")
    install_log_redaction()
    if on_created is None and config.lake_path:
        from workbench.clinical.service.lake_flow import LakeFlow

        on_created = LakeFlow(config.pg_url, config.lake_path, config.pseudonym_key)

    app = FastAPI(
        title="workbench FHIR R4 service",
        version="0.2.0",
        description="Patients and vital-sign Observations from PostgreSQL as FHIR R4, behind OAuth2 "
                    "(SMART system scopes). Synthetic data only. Get a token at /auth/token, then "
                    "`Authorization: Bearer <token>`.",
        lifespan=_lifespan,
        docs_url=None,  # served below from local assets: FastAPI's default page loads Swagger UI from a CDN
        redoc_url=None,
    )  # fmt: skip
    state = app.state
    state.config = config
    state.on_created = on_created
    state.pool_open_timeout_s = pool_open_timeout_s
    state.revocation_sync_s = 1.0
    state.clients = ClientRegistry(config.clients, config.clients_file)
    state.tokens = TokenGate(config, state.clients)
    state.limiter = LoginLimiter(max_failures=config.login_max_failures,
                                 address_max_failures=config.address_max_failures, base_s=config.lockout_base_s)  # fmt: skip
    state.cursor_key = cursor_key(config)
    state.base_url = config.public_base_url
    state.capability_json = json.dumps(capability_statement(config), separators=(",", ":")).encode()
    hosts = set(config.allowed_hosts)
    if config.public_base_url:
        from urllib.parse import urlsplit

        hosts.add(urlsplit(config.public_base_url).hostname.lower())
    state.allowed_hosts = frozenset(h.strip("[]").lower() for h in hosts)
    state.privacy = PrivacyGuard()  # replaced in the lifespan by one that knows the source names
    state.docs_csp = _mount_offline_docs(app)

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(coding_router.router)  # ICD-10-CM suggestions, coded Conditions and the HIS page

    _install_error_handlers(app)
    # Added first = innermost of the middlewares: it answers the hot FHIR reads and searches after the
    # guard, CORS and body limit, without FastAPI's routing and dependency solving (see .fastlane).
    state.fast_lane = fast_lane
    app.add_middleware(FastLane, fastapi_app=app, on_error=error_response)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    if config.cors_origins:
        # Bearer tokens travel in a header, not a cookie: credentials mode is never needed.
        app.add_middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type", "Prefer"],
        )  # fmt: skip
    app.add_middleware(RequestGuard, state=state)  # added last = outermost: sees every request first
    app.openapi = _openapi(app)
    return app
