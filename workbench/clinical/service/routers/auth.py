"""``/auth/token`` (RFC 6749), ``/auth/revoke`` (RFC 7009) and ``/users/me``.

Token requests are limited before any hashing (:class:`.._limits.LoginLimiter`: per principal name and per
address, lockout with exponential back-off, 429 + ``Retry-After``) and hashed in a small bounded pool
(:class:`.._limits.HashPool`), so bad logins cannot starve the FHIR routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import JSONResponse, Response

from workbench.clinical.service._limits import Throttled
from workbench.clinical.service.auth import AuthError, OAuthError, authenticate_client, issue_token, verify_token
from workbench.clinical.service.deps import TOKEN_PATH, Principal, current_principal
from workbench.clinical.service.errors import FHIR_JSON
from workbench.clinical.service.schemas import ERRORS, Me, OAuthErrorBody, TokenResponse

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TOO_LARGE = {"description": "request body too large (refused before the endpoint, as on every route)",
              "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}}  # fmt: skip


def _oauth_error(error: str, description: str, status: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status, {**NO_STORE, **(headers or {})})


async def _authenticate(request: Request, **form) -> tuple:
    """Limiter, then argon2 in the hashing pool; returns (record, scopes) or raises OAuthError/Throttled."""
    state = request.app.state
    clients = form.pop("clients", None) or state.clients
    name = form.get("client_id") or form.get("username")
    address = request.client.host if request.client else None
    state.limiter.check(name, address)
    try:
        record, granted = await state.hash_pool.run(
            authenticate_client, state.config, clients=clients, **form
        )
    except OAuthError as exc:
        if exc.error in ("invalid_client", "invalid_grant") and exc.description != "Inactive user":
            state.limiter.failed(name, address)
        raise
    state.limiter.succeeded(record.name)
    return record, granted


@router.post(
    TOKEN_PATH, tags=["auth"], summary="OAuth2 token endpoint (client_credentials; password for the demo)",
    response_model=TokenResponse,
    responses={400: {"model": OAuthErrorBody}, 401: {"model": OAuthErrorBody}, 413: _TOO_LARGE,
               429: {"model": OAuthErrorBody, "description": "too many failed logins; see Retry-After"}},
)  # fmt: skip
async def token(
    request: Request,
    grant_type: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    try:
        record, granted = await _authenticate(
            request, grant_type=grant_type, client_id=client_id, client_secret=client_secret, username=username,
            password=password, scope=scope, authorization=authorization,
        )  # fmt: skip
    except Throttled as exc:
        return _oauth_error("slow_down", exc.reason, 429, {"Retry-After": str(exc.retry_after)})
    except OAuthError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="workbench-fhir"'} if exc.status == 401 else None
        return _oauth_error(exc.error, exc.description, exc.status, headers)
    request.state.principal = record.name
    config = request.app.state.config
    return JSONResponse(issue_token(config, record.name, granted, version=record.version), headers=NO_STORE)


@router.post(
    "/auth/revoke", tags=["auth"], summary="Revoke an access token (RFC 7009)",
    responses={200: {"description": "revoked, or the token was not valid anyway (RFC 7009 §2.2)"},
               400: {"model": OAuthErrorBody}, 401: {"model": OAuthErrorBody}, 413: _TOO_LARGE,
               429: {"model": OAuthErrorBody}},
)  # fmt: skip
async def revoke(
    request: Request,
    token: Annotated[str | None, Form()] = None,
    token_type_hint: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The client authenticates as at the token endpoint (a password-grant user with its name and password
    as client_id and client_secret) and may revoke only its own tokens."""
    if not token:
        return _oauth_error("invalid_request", "the token to revoke is required", 400)
    state = request.app.state
    try:
        record, _ = await _authenticate(
            request, grant_type="client_credentials", client_id=client_id, client_secret=client_secret,
            authorization=authorization, clients=_as_confidential(state.clients),
        )  # fmt: skip
    except Throttled as exc:
        return _oauth_error("slow_down", exc.reason, 429, {"Retry-After": str(exc.retry_after)})
    except OAuthError as exc:
        return _oauth_error(exc.error, exc.description, exc.status, {"WWW-Authenticate": 'Basic realm="workbench-fhir"'}
                            if exc.status == 401 else None)  # fmt: skip
    request.state.principal = record.name
    try:
        claims = verify_token(state.config, token)
    except AuthError:
        return Response(status_code=200, headers=NO_STORE)  # invalid tokens: nothing to do (RFC 7009 §2.2)
    if claims.subject != record.name:
        return _oauth_error("unauthorized_client", "a client may revoke only its own tokens", 400)
    state.tokens.revoke(claims)
    if state.revocations is not None:  # and for the service's other processes (see .revocations)
        await state.revocations.record(claims)
    return Response(status_code=200, headers=NO_STORE)


class _as_confidential:
    """The clients seen by the revocation endpoint: every principal authenticates like a machine client."""

    def __init__(self, registry) -> None:
        self.registry = registry

    def get(self, name):
        from dataclasses import replace

        record = self.registry.get(name)
        return None if record is None else replace(record, grant="client_credentials")


_OUTCOME = {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}


@router.get("/users/me", tags=["auth"], summary="Who the bearer token belongs to", response_model=Me,
            responses={400: {"description": "Inactive user", "content": _OUTCOME},
                       401: {"description": ERRORS[401]["description"], "content": _OUTCOME}})  # fmt: skip
async def users_me(principal: Principal = Depends(current_principal)) -> Me:
    return Me(name=principal.name, grant=principal.record.grant, scopes=sorted(principal.claims.scopes),
              token_expires_at=principal.claims.expires_at)  # fmt: skip
