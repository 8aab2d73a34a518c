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
* a valid token without the route's scope -> 403 (``insufficient_scope``);
* a token whose ``jti`` was revoked (``POST /auth/revoke``, RFC 7009), whose subject is no longer a
  configured client, or whose ``ver`` claim names a secret since rotated -> 401 (:class:`TokenGate`,
  checked on every request, after the signature);
* a token of a client marked ``disabled`` -> 400 "Inactive user".

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

__all__ = ["AuthError", "ClientRegistry", "OAuthError", "TokenClaims", "TokenGate", "authenticate_client",
           "issue_token", "verify_token"]


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
    version: str = ""


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
    clients=None,
) -> tuple[ClientRecord, frozenset[str]]:
    """Check a token request (form fields or HTTP Basic); return the principal and the granted scopes.

    The granted scopes are the requested ones (all allowed ones when ``scope`` is empty); asking for a
    scope the principal does not hold is ``invalid_scope`` rather than a silent narrowing.
    """
    clients = config.clients if clients is None else clients
    if grant_type not in GRANTS:
        raise OAuthError("unsupported_grant_type", f"grant_type must be one of {', '.join(GRANTS)}")
    basic = _basic_credentials(authorization)
    if grant_type == "client_credentials":
        if basic is not None:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise OAuthError("invalid_client", "client_id and client_secret are required", status=401)
        record = clients.get(client_id)
        if not _verify_secret(record, client_secret) or record.grant != "client_credentials":
            raise OAuthError("invalid_client", "unknown client or wrong secret", status=401)
    else:
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required for the password grant")
        record = clients.get(username)
        if not _verify_secret(record, password) or record.grant != "password":
            raise OAuthError("invalid_grant", "unknown user or wrong password")
    if record.disabled:
        raise OAuthError("invalid_grant", "Inactive user")
    requested = frozenset((scope or "").split())
    unknown = requested - set(SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"unknown scope(s): {' '.join(sorted(unknown))}")
    if not requested:
        return record, record.scopes
    if not requested <= record.scopes:
        raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
    return record, requested


def issue_token(config: ServiceConfig, subject: str, scopes: frozenset[str], *, now: float | None = None,
                version: str | None = None) -> dict:  # fmt: skip
    """Sign an access token; return the RFC 6749 §5.1 response body.

    ``version`` (default: the configured client's :attr:`ClientRecord.version`) is the ``ver`` claim that
    ties the token to the client's current secret.
    """
    if version is None:
        record = config.clients.get(subject)
        version = record.version if record is not None else ""
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
        "ver": version,
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
        version=str(claims.get("ver", "")),
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


class ClientRegistry:
    """The configured clients, re-read from their file when it changes (checked at most once a second).

    Removing a client from the file, or rotating its secret, takes effect for tokens already issued:
    :class:`TokenGate` looks every token's subject up here.
    """

    def __init__(self, clients, path: str | None = None, *, check_every_s: float = 1.0) -> None:
        self._clients = dict(clients)
        self._path = path
        self._check_every_s = check_every_s
        self._checked = 0.0
        self._mtime = self._stat()

    def _stat(self):
        import os

        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self._path is None or now - self._checked < self._check_every_s:
            return
        self._checked = now
        mtime = self._stat()
        if mtime == self._mtime:
            return
        from workbench.clinical.service.config import load_clients_file

        try:
            fresh = load_clients_file(self._path) if mtime is not None else {}
        except (OSError, ValueError):
            return  # a half-written or broken file: keep the last good set rather than lock everyone out
        self._clients, self._mtime = fresh, mtime

    def replace(self, clients) -> None:
        """Swap in a new set of clients (what a reload does; also for tests and admin tools)."""
        self._clients = dict(clients)

    def get(self, name: str) -> ClientRecord | None:
        self._maybe_reload()
        return self._clients.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


class TokenGate:
    """Every check a bearer token passes on each request: signature and claims, then revocation.

    Verified signatures are remembered (bounded, until the token expires) so a client's repeated token
    costs one dictionary lookup; the revocation checks run every time regardless.
    """

    def __init__(self, config: ServiceConfig, registry: ClientRegistry, *, cache_size: int = 4096) -> None:
        from collections import OrderedDict

        self.config = config
        self.registry = registry
        self._cache: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size
        self._revoked: dict[str, int] = {}

    def verify(self, token: str) -> tuple[TokenClaims, ClientRecord]:
        now = time.time()
        claims = self._cache.get(token)
        if claims is None or claims.expires_at + 5 < now:
            claims = verify_token(self.config, token)
            self._cache[token] = claims
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if claims.token_id in self._revoked:
            raise AuthError(401, "invalid_token", "the access token has been revoked")
        record = self.registry.get(claims.subject)
        if record is None:
            raise AuthError(401, "invalid_token", "the token's client is no longer configured")
        if claims.version != record.version:
            raise AuthError(401, "invalid_token", "the client's secret was rotated; get a new token")
        return claims, record

    def revoke(self, claims: TokenClaims) -> None:
        """Deny ``claims.token_id`` until the token would have expired anyway (then forget it)."""
        now = int(time.time())
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp + 5 >= now}
        self._revoked[claims.token_id] = claims.expires_at
        for token, cached in list(self._cache.items()):
            if cached.token_id == claims.token_id:
                del self._cache[token]

    def deny_all(self, rows) -> None:
        """Add ``(jti, expires_at)`` pairs revoked elsewhere (another process, via the database)."""
        for jti, expires_at in rows:
            self._revoked.setdefault(jti, int(expires_at))
        if len(self._revoked) > 2 * self._cache_size:  # forget the ones that expired by now
            now = int(time.time())
            self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp + 5 >= now}

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked
