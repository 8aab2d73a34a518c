"""FastAPI dependencies: the bearer token, its scopes, the active principal (everything from ``app.state``).

``Depends(requires("system/Patient.read"))`` on a route: the token verifies (:class:`TokenGate`: signature,
claims, revocation, a configured and current client), the principal is active (else 400 "Inactive
user", as in FastAPI's OAuth2 tutorial), and the token holds the scope (else 403). The principal's name
is left on ``request.state`` for the audit log.
"""


from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import OAuth2

from workbench.clinical.service.auth import AuthError, TokenClaims, bearer_token
from workbench.clinical.service.config import SCOPES
from workbench.clinical.service.errors import FhirError

__all__ = ["TOKEN_PATH", "Principal", "authorize", "current_principal", "oauth2", "requires"]

TOKEN_PATH = "/auth/token"

oauth2 = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=SCOPES),
        password=OAuthFlowPassword(tokenUrl=TOKEN_PATH, scopes=SCOPES),
    ),
    scheme_name="smart",
    auto_error=False,
)


class Principal:
    """The verified caller of one request: token claims and the client's current record."""

    __slots__ = ("claims", "record")

    def __init__(self, claims: TokenClaims, record) -> None:
        self.claims = claims
        self.record = record

    @property
    def name(self) -> str:
        return self.claims.subject


def _principal(request: Request, authorization: str | None) -> Principal:
    claims, record = request.app.state.tokens.verify(bearer_token(authorization))
    request.state.principal = claims.subject
    if record.disabled:
        raise FhirError(400, "security", "Inactive user")
    return Principal(claims, record)


async def current_principal(request: Request, authorization: Annotated[str | None, Security(oauth2)]) -> Principal:
    """Any valid token of an active principal (no particular scope)."""
    return _principal(request, authorization)


def authorize(request: Request, authorization: str | None, scope: str) -> Principal:
    """The principal of a token holding ``scope`` (what :func:`requires` checks; the fast lane calls it too)."""
    principal = _principal(request, authorization)
    if scope not in principal.claims.scopes:
        raise AuthError(403, "insufficient_scope", f"this request needs the scope {scope}")
    return principal


def requires(scope: str):
    """A dependency that admits tokens holding ``scope`` and returns the :class:`Principal`."""

    async def dependency(request: Request, authorization: Annotated[str | None, Security(oauth2, scopes=[scope])]) -> Principal:
        return authorize(request, authorization, scope)

    return Depends(dependency)
