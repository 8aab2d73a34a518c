"""The FHIR R4 REST API: FastAPI routes over PostgreSQL, behind OAuth2 bearer tokens.

Routes (all answers ``application/fhir+json``; every error an ``OperationOutcome``):

==========================================  ============================  =========================
``GET  /fhir/metadata``                     CapabilityStatement           public
``GET  /fhir/Patient/{id}``                 read                          system/Patient.read
``GET  /fhir/Patient?gender=&birthdate=``   searchset Bundle              system/Patient.read
``GET  /fhir/Observation/{id}``             read                          system/Observation.read
``GET  /fhir/Observation?subject=&code=&date=&_count=&_sort=``            system/Observation.read
``POST /fhir/Observation``                  create, idempotent on         system/Observation.write
                                            ``identifier``
``POST /auth/token``                        OAuth2 token (RFC 6749)       client credentials
==========================================  ============================  =========================

Paging is keyset ("seek") paging: the next link carries the sort key of the last row served, and the
next page starts strictly after it. Unlike OFFSET paging, rows inserted meanwhile cannot shift a row
onto a second page or push one past the end, and every page costs one index range scan.
"""


import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.responses import JSONResponse, Response
from fastapi.security import OAuth2
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.clinical.service import _search as search
from workbench.clinical.service.auth import (
    AuthError,
    OAuthError,
    TokenClaims,
    authenticate_client,
    bearer_token,
    issue_token,
    require_scope,
    verify_token,
)
from workbench.clinical.service.config import SCOPES, ServiceConfig

__all__ = ["FHIR_JSON", "FhirError", "create_app", "install_log_redaction"]

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
TOKEN_PATH = "/auth/token"
# Identifiers of created Observations live under this namespace: id = uuid5(NS, system|value).
CREATED_OBSERVATION_NS = uuid.UUID("6f1b7f0e-3c0a-5b7e-9a53-1f2d8c4e9b21")
OBSERVATION_STATUS = ("registered", "preliminary", "final", "amended", "corrected", "cancelled",
                      "entered-in-error", "unknown")  # fmt: skip
_NATIONAL_ID = re.compile(r"(?<![A-Za-z0-9])[A-Z][12][0-9]{8}(?![0-9])")
log = logging.getLogger("workbench.fhir")


# --------------------------------------------------------------------------------------------- errors
class FhirError(Exception):
    """An error answered as an OperationOutcome: HTTP ``status``, FHIR issue ``code``, ``diagnostics``."""

    def __init__(self, status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers or {}


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict:
    """A one-issue OperationOutcome (``code`` from the FHIR IssueType value set)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": redact(diagnostics)}],
    }


def _outcome_response(status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(operation_outcome(code, diagnostics), separators=(",", ":"))
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


_STATUS_ISSUE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                 406: "not-supported", 409: "duplicate", 413: "too-costly", 415: "not-supported",
                 422: "processable", 500: "exception"}  # fmt: skip


def redact(text: str) -> str:
    """Replace anything shaped like a Taiwanese national id with a marker (responses and log lines)."""
    return _NATIONAL_ID.sub("[redacted-id]", text)


class _RedactFilter(logging.Filter):
    """Redact national ids in a record's message and arguments, keeping the argument structure
    (uvicorn's access formatter unpacks ``record.args``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Attach the national-id redaction filter to the service's and uvicorn's loggers (idempotent)."""
    for name in ("workbench.fhir", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in logger.filters):
            logger.addFilter(_RedactFilter())


class BodySizeLimit:
    """Pure ASGI middleware: refuse request bodies over ``max_bytes`` with 413 before the app reads them.

    A declared ``Content-Length`` is checked up front; a chunked body is counted as it streams in, so
    a client cannot get round the limit by not declaring a length.
    """

    class _TooLarge(Exception):
        pass

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                await _outcome_response(400, "invalid", "Content-Length must be a number")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodySizeLimit._TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodySizeLimit._TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _outcome_response(413, "too-costly", f"the request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)


# ------------------------------------------------------------------------------- OpenAPI documentation
class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class Issue(_Loose):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str | None = None


class OperationOutcome(_Loose):
    """Every error of the FHIR routes."""

    resourceType: Literal["OperationOutcome"]
    issue: list[Issue]


class Resource(_Loose):
    resourceType: str
    id: str


class BundleLink(_Loose):
    relation: str
    url: str


class BundleEntry(_Loose):
    fullUrl: str
    resource: Resource
    search: dict[str, str] | None = None


class Bundle(_Loose):
    """A searchset page: ``total`` matches in all, this page's entries, a ``next`` link if more."""

    resourceType: Literal["Bundle"]
    type: Literal["searchset"]
    total: int
    link: list[BundleLink]
    entry: list[BundleEntry] | None = None


class CapabilityStatement(_Loose):
    resourceType: Literal["CapabilityStatement"]
    status: str
    fhirVersion: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str | None = None


class FhirResponse(JSONResponse):
    """JSON of media type ``application/fhir+json``; text or bytes pass through as already rendered.

    A JSONResponse subclass so that FastAPI documents the route's model as a JSON body.
    """

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode("utf-8")
        return super().render(content)


def _fhir(model: type[BaseModel], description: str) -> dict:
    return {"model": model, "description": description}


_ERRORS = {
    400: _fhir(OperationOutcome, "bad search parameter or malformed request"),
    401: _fhir(OperationOutcome, "missing, malformed, expired or wrongly signed bearer token"),
    403: _fhir(OperationOutcome, "the token lacks the scope this route needs"),
    404: _fhir(OperationOutcome, "no such resource"),
    405: _fhir(OperationOutcome, "method not allowed"),
    413: _fhir(OperationOutcome, "request body too large"),
    500: _fhir(OperationOutcome, "internal error"),
}

_OBSERVATION_BODY_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "status", "code", "subject", "effectiveDateTime", "identifier"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Observation"]},
        "identifier": {
            "type": "array",
            "items": {"type": "object", "properties": {"system": {"type": "string"}, "value": {"type": "string"}}},
        },
        "status": {"type": "string", "enum": list(OBSERVATION_STATUS)},
        "code": {"type": "object"},
        "subject": {"type": "object", "properties": {"reference": {"type": "string"}}},
        "effectiveDateTime": {"type": "string"},
        "valueQuantity": {"type": "object"},
        "component": {"type": "array", "items": {"type": "object"}},
    },
    "example": {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:device-readings", "value": "reading-0001"}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/<pseudonym>"},
        "effectiveDateTime": "2026-10-01T07:30:00+08:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    },
}  # fmt: skip


# ------------------------------------------------------------------------------------------- helpers
def _fhir_response(body: str | bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return FhirResponse(body, status_code=status, headers=headers)


def _bundle(total: int, entries: list[tuple[str, str]], self_url: str, next_url: str | None) -> str:
    """Compose a searchset Bundle around resources that are already JSON text (no re-parsing)."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    head = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": total, "link": links},
                      separators=(",", ":"))  # fmt: skip
    if not entries:
        return head
    parts = [
        '{"fullUrl":' + json.dumps(full_url) + ',"resource":' + text + ',"search":{"mode":"match"}}'
        for full_url, text in entries
    ]
    return head[:-1] + ',"entry":[' + ",".join(parts) + "]}"


def _next_url(request: Request, cursor: str) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
    kept.append(("_cursor", cursor))
    from urllib.parse import urlencode

    return redact(str(request.url.replace(query=urlencode(kept))))


def _date_sql(column: str, bound: search.DateBound, params: list) -> str:
    ops = {
        "eq": f"({column} >= %s AND {column} < %s)",
        "ne": f"({column} < %s OR {column} >= %s)",
        "lt": f"{column} < %s",
        "le": f"{column} < %s",
        "gt": f"{column} >= %s",
        "ge": f"{column} >= %s",
    }
    values = {
        "eq": (bound.start, bound.end), "ne": (bound.start, bound.end), "lt": (bound.start,),
        "le": (bound.end,), "gt": (bound.end,), "ge": (bound.start,),
    }[bound.prefix]  # fmt: skip
    params.extend(values)
    return ops[bound.prefix]


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
                            param("_count", "number", f"page size 0..{config.max_count}"),
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
                        ],
                    },
                ],
            }
        ],
    }  # fmt: skip


def _validate_observation(body: Any) -> tuple[dict, str, str, str, dt.datetime, str]:
    """Check a posted Observation; return (resource, identifier system, value, patient id, effective, LOINC code)."""
    from pydantic import ValidationError

    from workbench.clinical.fhir import validation_error

    if not isinstance(body, dict):
        raise FhirError(422, "structure", "the body must be a JSON object (an Observation resource)")
    if body.get("resourceType") != "Observation":
        raise FhirError(422, "structure", "resourceType must be 'Observation' on this endpoint")
    try:
        problem = validation_error(body)
    except (ValidationError, TypeError, ValueError, KeyError, AttributeError):
        problem = "the resource does not validate as a FHIR R4 Observation"
    if problem:
        raise FhirError(422, "structure", f"invalid Observation: {problem}")
    if body.get("status") not in OBSERVATION_STATUS:
        # A required binding in FHIR R4 that the pydantic models do not enforce.
        raise FhirError(422, "code-invalid", f"Observation.status must be one of {', '.join(OBSERVATION_STATUS)}")
    identifiers = [i for i in body.get("identifier") or [] if isinstance(i, dict) and i.get("system") and i.get("value")]
    if not identifiers:
        raise FhirError(422, "required", "Observation.identifier with system and value is required: it is what "
                                         "makes a repeated POST idempotent")
    ident = identifiers[0]
    if not isinstance(ident["system"], str) or not isinstance(ident["value"], str):
        raise FhirError(422, "structure", "identifier.system and identifier.value must be strings")
    reference = (body.get("subject") or {}).get("reference")
    if not isinstance(reference, str) or not reference.startswith("Patient/"):
        raise FhirError(422, "required", "Observation.subject.reference must be 'Patient/<id>'")
    patient_id = reference.removeprefix("Patient/")
    if not search.FHIR_ID.fullmatch(patient_id):
        raise FhirError(422, "value", "Observation.subject.reference must be 'Patient/<id>' with a FHIR id")
    effective_text = body.get("effectiveDateTime")
    if not isinstance(effective_text, str) or "T" not in effective_text:
        raise FhirError(422, "required", "effectiveDateTime with a time and an offset is required")
    try:
        effective = dt.datetime.fromisoformat(effective_text.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(422, "value", "effectiveDateTime is not a valid dateTime") from None
    if effective.tzinfo is None:
        raise FhirError(422, "value", "effectiveDateTime needs a time-zone offset such as +08:00")
    codings = ((body.get("code") or {}).get("coding")) or []
    loinc = [c.get("code") for c in codings if isinstance(c, dict) and c.get("system") == search.LOINC and c.get("code")]
    if not loinc:
        raise FhirError(422, "required", "Observation.code needs a LOINC coding (system http://loinc.org)")
    return body, ident["system"], ident["value"], patient_id, effective, loinc[0]


def _looks_like_national_id(raw: bytes) -> bool:
    from workbench.clinical._national_id import is_valid_national_id

    text = raw.decode("utf-8", errors="replace")
    return any(is_valid_national_id(m.group(0)) for m in _NATIONAL_ID.finditer(text))


# ----------------------------------------------------------------------------------------------- app
_READ_SQL = {
    "Patient": "SELECT resource::text FROM fhir.patient WHERE id = %s",
    "Observation": "SELECT resource::text FROM fhir.observation WHERE id = %s",
}


async def _read_resource(request: Request, resource_type: str, raw_id: str) -> Response:
    """The FHIR read interaction: one stored resource by id, or a 404 OperationOutcome."""
    ident = search.parse_id("id", raw_id)
    async with request.app.state.pool.connection() as conn:
        row = await (await conn.execute(_READ_SQL[resource_type], (ident,))).fetchone()
    if row is None:
        raise FhirError(404, "not-found", f"no {resource_type} with this id")
    return _fhir_response(row[0])


DOCS_PATH = "/docs"
_DOCS_ASSETS = "/docs/assets"


def _mount_offline_docs(app) -> None:
    """Serve the OpenAPI UI at /docs with Swagger UI's files from the swagger-ui-bundle package.

    The machines this runs on (a hospital network, CI) often reach no CDN, so the page must not depend on one.
    """
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(_DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")
    redirect = f"{DOCS_PATH}/oauth2-redirect"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - API docs", oauth2_redirect_url=redirect,
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon-32x32.png",
        )  # fmt: skip

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect():
        return get_swagger_ui_oauth2_redirect_html()


def create_app(config: ServiceConfig, *, on_created: Callable[[dict], None] | None = None) -> FastAPI:
    """Build the FastAPI application for ``config``.

    The connection pool opens in the app's lifespan (so use ``with TestClient(app)`` or uvicorn).
    ``on_created(row)`` is called in a worker thread after a new Observation committed and before the
    201 is sent (not for replays); a failure there is logged and leaves the row in the lake outbox.
    The default sends complete readings to the feature lake when ``config.lake_path`` is set
    (see :mod:`.lake_flow`).
    """
    if not isinstance(config, ServiceConfig):
        raise TypeError(f"create_app(config): expected a ServiceConfig (ServiceConfig.from_env()), got {type(config).__name__}")
    install_log_redaction()
    if on_created is None and config.lake_path:
        from workbench.clinical.service.lake_flow import LakeFlow

        on_created = LakeFlow(config.pg_url, config.lake_path, config.pseudonym_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            config.pg_url, min_size=1, max_size=config.pool_size, open=False,
            kwargs={"autocommit": True, "application_name": "workbench-fhir"},
        )  # fmt: skip
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="workbench FHIR R4 service",
        version="0.1.0",
        description="Patients and vital-sign Observations from PostgreSQL as FHIR R4, behind OAuth2 "
                    "(SMART system scopes). Synthetic data only. Get a token at /auth/token, then "
                    "`Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: FastAPI's default page loads Swagger UI from a CDN
    )  # fmt: skip
    app.state.config = config
    _mount_offline_docs(app)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    if config.cors_origins:
        # Bearer tokens travel in a header, not a cookie: credentials mode is never needed.
        app.add_middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
        )  # fmt: skip

    oauth2 = OAuth2(
        flows=OAuthFlows(
            clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=SCOPES),
            password=OAuthFlowPassword(tokenUrl=TOKEN_PATH, scopes=SCOPES),
        ),
        scheme_name="smart",
        auto_error=False,
    )

    def scoped(scope: str):
        async def dependency(authorization: Annotated[str | None, Security(oauth2, scopes=[scope])]) -> TokenClaims:
            claims = verify_token(config, bearer_token(authorization))
            require_scope(claims, scope)
            return claims

        return Depends(dependency)

    # ----------------------------------------------------------------------------- error handlers
    @app.exception_handler(FhirError)
    async def _fhir_error(request: Request, exc: FhirError) -> Response:
        return _outcome_response(exc.status, exc.code, exc.diagnostics, exc.headers)

    @app.exception_handler(search.SearchError)
    async def _search_error(request: Request, exc: search.SearchError) -> Response:
        return _outcome_response(400, "invalid", f"search parameter {exc}")

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        challenge = f'Bearer realm="workbench-fhir", error="{exc.error}"'
        if exc.status == 403:
            challenge += f', scope="{exc.description.rsplit(" ", 1)[-1]}"'
        return _outcome_response(exc.status, _STATUS_ISSUE[exc.status], exc.description,
                                 {"WWW-Authenticate": challenge})  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return _outcome_response(exc.status_code, _STATUS_ISSUE.get(exc.status_code, "processing"), detail,
                                 getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg")) for e in exc.errors()[:3])
        return _outcome_response(400, "invalid", f"malformed request: {where}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Log the type and route only: messages of database errors can quote row values.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return _outcome_response(500, "exception", "internal error")

    # --------------------------------------------------------------------------------------- auth
    @app.post(
        TOKEN_PATH,
        tags=["auth"],
        summary="OAuth2 token endpoint (client_credentials; password for the demo)",
        response_model=TokenResponse,
        responses={400: {"model": OAuthErrorBody}, 401: {"model": OAuthErrorBody}, 413: {
            "description": "request body too large (refused before the endpoint, as on every route)",
            "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}}},
    )
    def token(
        grant_type: Annotated[str | None, Form()] = None,
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
        username: Annotated[str | None, Form()] = None,
        password: Annotated[str | None, Form()] = None,
        scope: Annotated[str | None, Form()] = None,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        # A plain def: FastAPI runs it in a worker thread, so argon2's deliberate slowness does not
        # stall the event loop serving other requests.
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            record, granted = authenticate_client(
                config, grant_type=grant_type, client_id=client_id, client_secret=client_secret,
                username=username, password=password, scope=scope, authorization=authorization,
            )  # fmt: skip
        except OAuthError as exc:
            headers = dict(no_store)
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="workbench-fhir"'
            return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers)
        return JSONResponse(issue_token(config, record.name, granted), headers=no_store)

    # --------------------------------------------------------------------------------------- FHIR
    @app.get(
        "/fhir/metadata", tags=["fhir"], summary="CapabilityStatement", response_class=FhirResponse,
        responses={200: _fhir(CapabilityStatement, "what this server implements"), 500: _ERRORS[500]},
    )  # fmt: skip
    async def metadata() -> Response:
        return _fhir_response(json.dumps(capability_statement(config)))

    read_errors = {k: _ERRORS[k] for k in (400, 401, 403, 404, 500)}
    search_errors = {k: _ERRORS[k] for k in (400, 401, 403, 500)}

    @app.get(
        "/fhir/Patient/{patient_id}", tags=["fhir"], summary="Read a Patient", response_class=FhirResponse,
        responses={200: _fhir(Resource, "the Patient"), **read_errors},
    )  # fmt: skip
    async def read_patient(
        request: Request, patient_id: str, claims: TokenClaims = scoped("system/Patient.read")
    ) -> Response:
        return await _read_resource(request, "Patient", patient_id)

    @app.get(
        "/fhir/Patient", tags=["fhir"], summary="Search Patients", response_class=FhirResponse,
        responses={200: _fhir(Bundle, "searchset Bundle"), **search_errors},
    )  # fmt: skip
    async def search_patients(
        request: Request,
        gender: Annotated[str | None, Query(description="male | female | other | unknown")] = None,
        birthdate: Annotated[list[str] | None, Query(description="e.g. ge1960-01-01 (repeatable)")] = None,
        count: Annotated[str | None, Query(alias="_count", description=f"page size 0..{config.max_count}")] = None,
        cursor: Annotated[str | None, Query(alias="_cursor", description="from the Bundle's next link")] = None,
        claims: TokenClaims = scoped("system/Patient.read"),
    ) -> Response:
        search.check_known(request.query_params.multi_items(), {"gender", "birthdate", "_count", "_cursor"},
                           {"birthdate"})  # fmt: skip
        # FHIR: a parameter given with an empty value is ignored (``?gender=&birthdate=`` lists everyone).
        gender, count, cursor = gender or None, count or None, cursor or None
        birthdate = [v for v in birthdate or [] if v]
        where, params = ["TRUE"], []
        if gender is not None:
            if gender not in search.GENDERS:
                raise search.SearchError("gender", f"expected one of {', '.join(search.GENDERS)}")
            where.append("gender = %s")
            params.append(gender)
        for raw in birthdate:
            bound = search.parse_date("birthdate", raw, allow_time=False)
            where.append(_date_sql("birth_date", search.DateBound(bound.prefix, bound.start.date(), bound.end.date()), params))
        limit = search.parse_count(count, config.default_count, config.max_count)
        page_where, page_params = list(where), list(params)
        if cursor is not None:
            (last_id,) = search.decode_cursor(cursor, "Patient", 1)
            page_where.append("id > %s")
            page_params.append(last_id)
        async with request.app.state.pool.connection() as conn:
            total = (await (await conn.execute(f"SELECT count(*) FROM fhir.patient WHERE {' AND '.join(where)}", params)).fetchone())[0]
            rows = []
            if limit:
                rows = await (await conn.execute(
                    f"SELECT id, resource::text FROM fhir.patient WHERE {' AND '.join(page_where)} ORDER BY id LIMIT %s",
                    [*page_params, limit + 1],
                )).fetchall()  # fmt: skip
        more = len(rows) > limit
        rows = rows[:limit]
        base = str(request.base_url) + "fhir/Patient/"
        next_url = _next_url(request, search.encode_cursor("Patient", rows[-1][0])) if more else None
        return _fhir_response(_bundle(total, [(base + i, text) for i, text in rows], redact(str(request.url)), next_url))

    @app.get(
        "/fhir/Observation/{observation_id}", tags=["fhir"], summary="Read an Observation", response_class=FhirResponse,
        responses={200: _fhir(Resource, "the Observation"), **read_errors},
    )  # fmt: skip
    async def read_observation(
        request: Request, observation_id: str, claims: TokenClaims = scoped("system/Observation.read")
    ) -> Response:
        return await _read_resource(request, "Observation", observation_id)

    @app.get(
        "/fhir/Observation", tags=["fhir"], summary="Search Observations", response_class=FhirResponse,
        responses={200: _fhir(Bundle, "searchset Bundle"), **search_errors},
    )  # fmt: skip
    async def search_observations(
        request: Request,
        subject: Annotated[str | None, Query(description="Patient/<id> or <id>")] = None,
        code: Annotated[str | None, Query(description="LOINC code, e.g. 85354-9 or http://loinc.org|8867-4")] = None,
        date: Annotated[list[str] | None, Query(description="e.g. ge2026-09-01 (repeatable)")] = None,
        count: Annotated[str | None, Query(alias="_count", description=f"page size 0..{config.max_count}")] = None,
        sort: Annotated[str | None, Query(alias="_sort", json_schema_extra={"enum": ["date", "-date"]},
                                          description="date (default, oldest first) or -date")] = None,
        cursor: Annotated[str | None, Query(alias="_cursor", description="from the Bundle's next link")] = None,
        claims: TokenClaims = scoped("system/Observation.read"),
    ) -> Response:
        search.check_known(request.query_params.multi_items(),
                           {"subject", "code", "date", "_count", "_sort", "_cursor"}, {"date"})  # fmt: skip
        subject, code, count, sort, cursor = subject or None, code or None, count or None, sort or None, cursor or None
        date = [v for v in date or [] if v]
        if sort not in (None, "date", "-date"):
            raise search.SearchError("_sort", "supported: date (oldest first) or -date (newest first)")
        where, params = ["TRUE"], []
        if subject is not None:
            where.append("patient_id = %s")
            params.append(search.parse_reference("subject", subject, "Patient"))
        if code is not None:
            where.append("code = ANY(%s)")
            params.append(search.parse_token_codes("code", code))
        for raw in date:
            where.append(_date_sql("effective", search.parse_date("date", raw), params))
        limit = search.parse_count(count, config.default_count, config.max_count)
        descending = sort == "-date"
        page_where, page_params = list(where), list(params)
        if cursor is not None:
            last_effective, last_id = search.decode_cursor(cursor, "Observation" + ("-" if descending else "+"), 2)
            try:
                last = dt.datetime.fromisoformat(last_effective)
            except ValueError:
                raise search.SearchError("_cursor", "not a cursor issued by this server") from None
            page_where.append("(effective, id) < (%s, %s)" if descending else "(effective, id) > (%s, %s)")
            page_params.extend([last, last_id])
        order = "effective DESC, id DESC" if descending else "effective, id"
        async with request.app.state.pool.connection() as conn:
            total = (await (await conn.execute(f"SELECT count(*) FROM fhir.observation WHERE {' AND '.join(where)}", params)).fetchone())[0]
            rows = []
            if limit:
                rows = await (await conn.execute(
                    f"SELECT id, effective, resource::text FROM fhir.observation WHERE {' AND '.join(page_where)} "
                    f"ORDER BY {order} LIMIT %s",
                    [*page_params, limit + 1],
                )).fetchall()  # fmt: skip
        more = len(rows) > limit
        rows = rows[:limit]
        base = str(request.base_url) + "fhir/Observation/"
        next_url = None
        if more:
            last_id, last_effective, _ = rows[-1]
            token = search.encode_cursor("Observation" + ("-" if descending else "+"), last_effective.isoformat(), last_id)
            next_url = _next_url(request, token)
        return _fhir_response(_bundle(total, [(base + i, text) for i, _, text in rows], redact(str(request.url)), next_url))

    @app.post(
        "/fhir/Observation", tags=["fhir"], summary="Create an Observation (idempotent on identifier)",
        response_class=FhirResponse, status_code=201,
        responses={
            201: _fhir(Resource, "created; Location names it"),
            200: _fhir(Resource, "the same identifier and content were posted before: the existing resource"),
            409: _fhir(OperationOutcome, "the identifier is already used by a different Observation"),
            415: _fhir(OperationOutcome, "the body is not application/fhir+json or application/json"),
            422: _fhir(OperationOutcome, "not a valid Observation, or subject unknown"),
            **{k: _ERRORS[k] for k in (400, 401, 403, 413, 500)},
        },
        openapi_extra={"requestBody": {"required": True, "content": {
            FHIR_JSON: {"schema": _OBSERVATION_BODY_SCHEMA},
            "application/json": {"schema": _OBSERVATION_BODY_SCHEMA},
        }}},
    )  # fmt: skip
    async def create_observation(
        request: Request, claims: TokenClaims = scoped("system/Observation.write")
    ) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in (FHIR_JSON, "application/json"):
            raise FhirError(415, "not-supported", f"Content-Type must be {FHIR_JSON} (or application/json)")
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise FhirError(400, "structure", "the body is not valid JSON") from None
        if _looks_like_national_id(raw):
            # Refuse rather than store: this service holds pseudonyms only, and we must not echo it.
            raise FhirError(422, "security", "the resource carries what looks like a clear-text national id; "
                                             "refer to patients by their pseudonymous Patient id only")
        resource, system, value, patient_id, effective, loinc = _validate_observation(body)
        content = {k: v for k, v in resource.items() if k not in ("id", "meta")}
        content_sha = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        new_id = str(uuid.uuid5(CREATED_OBSERVATION_NS, f"{system}|{value}"))
        now = dt.datetime.now(dt.timezone.utc)
        stored = {"resourceType": "Observation", "id": new_id,
                  "meta": {"versionId": "1", "lastUpdated": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
                  **{k: v for k, v in content.items() if k != "resourceType"}}  # fmt: skip
        stored_text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
        async with request.app.state.pool.connection() as conn:
            async with conn.transaction():
                exists = await (await conn.execute("SELECT 1 FROM fhir.patient WHERE id = %s", (patient_id,))).fetchone()
                if exists is None:
                    raise FhirError(422, "not-found", "Observation.subject refers to no known Patient")
                # ON CONFLICT DO NOTHING against the unique identifier: of any number of concurrent
                # identical POSTs exactly one inserts; the others see its row below.
                inserted = await (await conn.execute(
                    "INSERT INTO fhir.observation (id, patient_id, code, effective, resource, origin,"
                    " identifier_system, identifier_value, content_sha256)"
                    " VALUES (%s, %s, %s, %s, %s, 'api', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING seq",
                    (new_id, patient_id, loinc, effective, stored_text, system, value, content_sha),
                )).fetchone()  # fmt: skip
            if inserted is None:
                row = await (await conn.execute(
                    "SELECT id, resource::text, content_sha256 FROM fhir.observation"
                    " WHERE identifier_system = %s AND identifier_value = %s",
                    (system, value),
                )).fetchone()  # fmt: skip
                if row is None or row[2] != content_sha:
                    raise FhirError(409, "duplicate", "this identifier already names a different Observation")
                return _fhir_response(row[1], 200, {"Location": f"{request.base_url}fhir/Observation/{row[0]}/_history/1"})
        if on_created is not None:
            try:
                from starlette.concurrency import run_in_threadpool

                await run_in_threadpool(on_created, {"seq": inserted[0], "id": new_id, "resource": stored})
            except Exception as exc:  # the Observation is committed; the outbox column lets a later sync retry
                log.warning("feature-lake hand-off failed for a created Observation: %s", type(exc).__name__)
        return _fhir_response(stored_text, 201, {"Location": f"{request.base_url}fhir/Observation/{new_id}/_history/1"})

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

    app.openapi = openapi
    return app
