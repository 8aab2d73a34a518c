"""OAuth2 for the FHIR service: a token endpoint and bearer-token checks with SMART-style scopes.

Flow (RFC 6749): a client posts its credentials to ``/auth/token`` (``client_credentials`` for
machines, ``password`` for the teaching demo's users) and receives a short-lived JWT (RFC 7519) whose
``scope`` claim lists what it may do. Each FHIR route names the scope it needs; the bearer token must
carry it. What a token check refuses, and why:

* no ``Authorization: Bearer`` header, or not a JWT -> 401;
* a signature that does not verify with *our* key and *our* algorithm -> 401. The algorithm list
  passed to the decoder has exactly one entry fixed by the key, so ``alg: none`` tokens and tokens
  HMAC-signed with an RSA public key (algorithm confusion) cannot pass;
* ``exp`` in the past, wrong ``iss``/``aud``, missing required claims -> 401;
* a valid token without the route's scope -> 403 (``insufficient_scope``).

Client secrets are stored as argon2id hashes only; an unknown client costs the same hash check as a
known one so response times do not reveal which names exist.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

import jwt

from workbench.clinical.service.config import GRANTS, SCOPES, ClientRecord, ServiceConfig

__all__ = ["AuthError", "OAuthError", "TokenClaims", "authenticate_client", "issue_token", "verify_token"]


class AuthError(Exception):
    """A refused bearer token: ``status`` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class OAuthError(Exception):
    """An RFC 6749 §5.2 error of the token endpoint (``invalid_client``, ``invalid_grant`` ...)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: who (``subject``) and which scopes it grants."""

    subject: str
    scopes: frozenset[str]
    expires_at: int
    token_id: str


_DUMMY_HASH: str | None = None


def _verify_secret(record: ClientRecord | None, secret: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    global _DUMMY_HASH
    hasher = PasswordHasher()
    if record is None:
        # Spend the same argon2 time on unknown names so timing does not reveal valid client ids.
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hasher.hash(secrets.token_urlsafe(24))
        try:
            hasher.verify(_DUMMY_HASH, secret or "x")
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(record.secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", status=401) from None
    name, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", status=401)
    from urllib.parse import unquote

    # RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
    return unquote(name), unquote(secret)


def authenticate_client(
    config: ServiceConfig,
    *,
    grant_type: str | None,
    client_id: str | None = None,
    client_secret: str | None = None,
    username: str | None = None,
    password: str | None = None,
    scope: str | None = None,
    authorization: str | None = None,
) -> tuple[ClientRecord, frozenset[str]]:
    """Check a token request (form fields or HTTP Basic); return the principal and the granted scopes.

    The granted scopes are the requested ones (all allowed ones when ``scope`` is empty); asking for a
    scope the principal does not hold is ``invalid_scope`` rather than a silent narrowing.
    """
    if grant_type not in GRANTS:
        raise OAuthError("unsupported_grant_type", f"grant_type must be one of {', '.join(GRANTS)}")
    basic = _basic_credentials(authorization)
    if grant_type == "client_credentials":
        if basic is not None:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise OAuthError("invalid_client", "client_id and client_secret are required", status=401)
        record = config.clients.get(client_id)
        if not _verify_secret(record, client_secret) or record.grant != "client_credentials":
            raise OAuthError("invalid_client", "unknown client or wrong secret", status=401)
    else:
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required for the password grant")
        record = config.clients.get(username)
        if not _verify_secret(record, password) or record.grant != "password":
            raise OAuthError("invalid_grant", "unknown user or wrong password")
    requested = frozenset((scope or "").split())
    unknown = requested - set(SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"unknown scope(s): {' '.join(sorted(unknown))}")
    if not requested:
        return record, record.scopes
    if not requested <= record.scopes:
        raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
    return record, requested


def issue_token(config: ServiceConfig, subject: str, scopes: frozenset[str], *, now: float | None = None) -> dict:
    """Sign an access token; return the RFC 6749 §5.1 response body."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + config.token_ttl_s,
        "jti": secrets.token_hex(12),
        "scope": " ".join(sorted(scopes)),
    }
    token = jwt.encode(claims, config.jwt_key.signing, algorithm=config.jwt_key.algorithm)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": config.token_ttl_s,
        "scope": claims["scope"],
    }


def verify_token(config: ServiceConfig, token: str) -> TokenClaims:
    """Verify signature, algorithm, issuer, audience and expiry; raise :class:`AuthError` (401) if any fails."""
    try:
        claims = jwt.decode(
            token,
            config.jwt_key.verifying,
            algorithms=[config.jwt_key.algorithm],
            audience=config.audience,
            issuer=config.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "scope"]},
            leeway=5,  # tolerate small clock drift between token issuer and this service only
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "invalid_token", "the access token has expired") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(401, "invalid_token", "the token is not signed with the algorithm this service uses") from None
    except jwt.InvalidSignatureError:
        raise AuthError(401, "invalid_token", "the token signature does not verify") from None
    except jwt.DecodeError:
        raise AuthError(401, "invalid_token", "the bearer token is not a well-formed JWT") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(401, "invalid_token", f"the token was refused: {type(exc).__name__}") from None
    scope = claims.get("scope")
    if not isinstance(scope, str) or not isinstance(claims.get("sub"), str):
        raise AuthError(401, "invalid_token", "the token's scope/sub claims are malformed")
    return TokenClaims(
        subject=claims["sub"],
        scopes=frozenset(scope.split()),
        expires_at=int(claims["exp"]),
        token_id=str(claims.get("jti", "")),
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or :class:`AuthError` 401."""
    if not authorization:
        raise AuthError(401, "invalid_request", "an Authorization: Bearer <token> header is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "invalid_request", "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def require_scope(claims: TokenClaims, scope: str) -> None:
    """Raise :class:`AuthError` 403 unless the token grants ``scope``."""
    if scope not in claims.scopes:
        raise AuthError(403, "insufficient_scope", f"this request needs the scope {scope}")
