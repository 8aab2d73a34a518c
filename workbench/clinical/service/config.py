"""Configuration of the FHIR service: where the database is, how tokens are signed, who may ask for one.

Everything secret comes from the environment or from git-ignored files under ``secrets/``; nothing
secret has a default in code, and a missing piece stops the service with a message that says how to
provide it. Non-secret settings (token lifetime, page size limit, CORS origins) have documented defaults.

=============================  =================================================================
``WORKBENCH_PG_URL``           libpq URL of the database (``postgresql://user@host:port/db``)
``WORKBENCH_JWT_KEY``          token signing key: a random string of >= 32 bytes (HS256) or a
                               PEM RSA private key (RS256)
``WORKBENCH_JWT_KEY_FILE``     a file holding that key (else ``secrets/jwt.key`` if present)
``WORKBENCH_FHIR_CLIENTS``     JSON of the OAuth2 clients and demo users, secrets argon2-hashed
``WORKBENCH_FHIR_CLIENTS_FILE`` a file holding that JSON (else ``secrets/fhir_clients.json``)
``WORKBENCH_CORS_ORIGINS``     comma-separated origins allowed by CORS (default: none)
``WORKBENCH_JWT_TTL_S``        access-token lifetime in seconds (default 300)
``WORKBENCH_FHIR_MAX_COUNT``   largest ``_count`` accepted (default 100)
``WORKBENCH_FHIR_MAX_BODY``    largest request body in bytes (default 65536)
``WORKBENCH_FHIR_POOL_SIZE``   database connections the service keeps (default 8)
``WORKBENCH_FHIR_BASE_URL``    public base URL for every absolute link (``fullUrl``, ``next``,
                               ``Location``); default: the address the server listens on. The
                               ``Host`` header is never used to build a link.
``WORKBENCH_FHIR_ALLOWED_HOSTS`` comma-separated ``Host`` names accepted (default: loopback names
                               and the base URL's host); others get 400
``WORKBENCH_FHIR_AUDIT_LOG``   JSONL audit file (default: the ``workbench.fhir.audit`` logger)
=============================  =================================================================

A client entry may carry ``"disabled": true``: its tokens then get 400 "Inactive user".
``WORKBENCH_LAKE``             feature-lake path; when set, POSTed vitals flow into it (then the
                               pseudonymization key of ``workbench.clinical.load_key`` is needed too)
=============================  =================================================================

The clients JSON maps a principal name to its argon2 hash, its grant type and the SMART scopes it may
hold::

    {"analytics": {"grant": "client_credentials", "secret_hash": "$argon2id$...",
                   "scopes": ["system/Patient.read", "system/Observation.read"]},
     "nurse-demo": {"grant": "password", "secret_hash": "$argon2id$...",
                    "scopes": ["system/Observation.read", "system/Observation.write"]}}

``workbench clinical add-client`` writes such an entry and prints the secret once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SCOPES",
    "ClientRecord",
    "JwtKey",
    "ServiceConfig",
    "hash_secret",
    "load_clients",
    "load_jwt_key",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
SECRETS_DIR = REPO_ROOT / "secrets"
DEFAULT_JWT_KEY_FILE = SECRETS_DIR / "jwt.key"
DEFAULT_CLIENTS_FILE = SECRETS_DIR / "fhir_clients.json"

PG_URL_ENV = "WORKBENCH_PG_URL"
JWT_KEY_ENV = "WORKBENCH_JWT_KEY"
JWT_KEY_FILE_ENV = "WORKBENCH_JWT_KEY_FILE"
CLIENTS_ENV = "WORKBENCH_FHIR_CLIENTS"
CLIENTS_FILE_ENV = "WORKBENCH_FHIR_CLIENTS_FILE"

# SMART App Launch v1 system scopes, one per (resource type, access) this service implements.
SCOPES: dict[str, str] = {
    "system/Patient.read": "read and search Patient resources",
    "system/Observation.read": "read and search Observation resources",
    "system/Observation.write": "create Observation resources",
    # The coding router's scopes (workbench.clinical.service.coding_router.SCOPES, checked equal by a test).
    "system/Condition.suggest": "ask for ICD-10-CM code suggestions for a clinical text (nothing is stored)",
    "system/Condition.write": "create ICD-10-CM coded Condition resources",
}
GRANTS = ("client_credentials", "password")
MIN_HMAC_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.


@dataclass(frozen=True)
class JwtKey:
    """The token signing key and the one algorithm tokens must use (``HS256`` or ``RS256``).

    ``verifying`` is the same secret for HS256 and the public key for RS256. The algorithm is fixed by
    the key, never read from a token, which is what defeats ``alg: none`` and algorithm confusion.
    """

    algorithm: str
    signing: object = field(repr=False)
    verifying: object = field(repr=False)

    def __repr__(self) -> str:  # never print key material
        return f"JwtKey(algorithm={self.algorithm!r})"


def _jwt_key_from_bytes(raw: bytes, origin: str) -> JwtKey:
    text = raw.strip()
    if text.startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            private = load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{origin}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < 2048:
            raise ValueError(f"{origin}: expected an RSA private key of at least 2048 bits for RS256")
        return JwtKey("RS256", private, private.public_key())
    if len(text) < MIN_HMAC_KEY_BYTES:
        raise ValueError(
            f"{origin}: the HS256 key has {len(text)} bytes, at least {MIN_HMAC_KEY_BYTES} are needed "
            "(make one with: python -c \"import secrets; print(secrets.token_hex(32))\")"
        )
    return JwtKey("HS256", text, text)


def load_jwt_key(env: Mapping[str, str] | None = None) -> JwtKey:
    """The JWT signing key from ``WORKBENCH_JWT_KEY``, ``WORKBENCH_JWT_KEY_FILE`` or ``secrets/jwt.key``.

    Raises RuntimeError (with the commands that create one) when none is configured.
    """
    env = os.environ if env is None else env
    if env.get(JWT_KEY_ENV):
        return _jwt_key_from_bytes(env[JWT_KEY_ENV].encode("utf-8"), f"${JWT_KEY_ENV}")
    if env.get(JWT_KEY_FILE_ENV):
        path = Path(env[JWT_KEY_FILE_ENV]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"${JWT_KEY_FILE_ENV} names {path}, which is not a file")
        return _jwt_key_from_bytes(path.read_bytes(), f"JWT key file {path}")
    if DEFAULT_JWT_KEY_FILE.is_file():
        return _jwt_key_from_bytes(DEFAULT_JWT_KEY_FILE.read_bytes(), f"JWT key file {DEFAULT_JWT_KEY_FILE}")
    raise RuntimeError(
        f"No JWT signing key is configured: run `workbench clinical init-secrets` (writes secrets/jwt.key, git-ignored), "
        f"or export {JWT_KEY_ENV}=<64 hex digits>, or point ${JWT_KEY_FILE_ENV} at a key file (a PEM RSA key selects RS256)"
    )


@dataclass(frozen=True)
class ClientRecord:
    """One OAuth2 principal: a machine client (client_credentials) or a demo user (password grant)."""

    name: str
    grant: str
    secret_hash: str = field(repr=False)
    scopes: frozenset[str]
    disabled: bool = False

    @property
    def version(self) -> str:
        """Changes whenever the secret is rotated: tokens carry it, so rotation invalidates old tokens."""
        import hashlib

        return hashlib.sha256(self.secret_hash.encode("utf-8")).hexdigest()[:16]


def hash_secret(secret: str) -> str:
    """argon2id hash of a client secret or password, in the PHC string format ``$argon2id$...``."""
    from argon2 import PasswordHasher

    if not isinstance(secret, str) or len(secret) < 16:
        raise ValueError("hash_secret(secret): expected a string of at least 16 characters (use secrets.token_urlsafe)")
    return PasswordHasher().hash(secret)


def _parse_clients(data: object, origin: str) -> dict[str, ClientRecord]:
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{origin}: expected a JSON object mapping client names to their records")
    clients = {}
    for name, entry in data.items():
        where = f"{origin}: client {name!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with grant, secret_hash and scopes")
        grant = entry.get("grant", "client_credentials")
        if grant not in GRANTS:
            raise ValueError(f"{where}: grant must be one of {GRANTS}, got {grant!r}")
        secret_hash = entry.get("secret_hash")
        if not isinstance(secret_hash, str) or not secret_hash.startswith("$argon2"):
            raise ValueError(
                f"{where}: secret_hash must be an argon2 hash ($argon2id$...); never store the secret itself. "
                "Make one with workbench.clinical.service.hash_secret or `workbench clinical add-client`."
            )
        scopes = entry.get("scopes")
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
            raise ValueError(f"{where}: scopes must be a non-empty list drawn from {sorted(SCOPES)}, got {scopes!r}")
        disabled = entry.get("disabled", False)
        if not isinstance(disabled, bool):
            raise ValueError(f"{where}: disabled must be true or false, got {disabled!r}")
        clients[name] = ClientRecord(name=name, grant=grant, secret_hash=secret_hash, scopes=frozenset(scopes),
                                     disabled=disabled)  # fmt: skip
    return clients


def clients_file(env: Mapping[str, str] | None = None) -> Path | None:
    """The file the clients come from (so the service can reload it), or None when they come from the env."""
    env = os.environ if env is None else env
    if env.get(CLIENTS_ENV):
        return None
    if env.get(CLIENTS_FILE_ENV):
        return Path(env[CLIENTS_FILE_ENV]).expanduser()
    return DEFAULT_CLIENTS_FILE if DEFAULT_CLIENTS_FILE.is_file() else None


def load_clients_file(path: Path) -> dict[str, ClientRecord]:
    """Parse one clients file (used again by the service when the file changes)."""
    return _parse_clients_text(Path(path).read_text(encoding="utf-8"), str(path))


def _parse_clients_text(text: str, origin: str) -> dict[str, ClientRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{origin}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return _parse_clients(data, origin)


def load_clients(env: Mapping[str, str] | None = None) -> dict[str, ClientRecord]:
    """OAuth2 principals from ``WORKBENCH_FHIR_CLIENTS``, ``..._FILE`` or ``secrets/fhir_clients.json``."""
    env = os.environ if env is None else env
    if env.get(CLIENTS_ENV):
        text, origin = env[CLIENTS_ENV], f"${CLIENTS_ENV}"
    elif env.get(CLIENTS_FILE_ENV):
        path = Path(env[CLIENTS_FILE_ENV]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"${CLIENTS_FILE_ENV} names {path}, which is not a file")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    elif DEFAULT_CLIENTS_FILE.is_file():
        text, origin = DEFAULT_CLIENTS_FILE.read_text(encoding="utf-8"), str(DEFAULT_CLIENTS_FILE)
    else:
        raise RuntimeError(
            "No OAuth2 clients are configured, so nobody could obtain a token. Add one with\n"
            "  workbench clinical add-client NAME --scope system/Patient.read --scope system/Observation.read\n"
            f"(writes {DEFAULT_CLIENTS_FILE}, git-ignored), or set ${CLIENTS_ENV} / ${CLIENTS_FILE_ENV}."
        )
    return _parse_clients_text(text, origin)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"${name}: expected a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"${name}: expected a positive integer, got {value}")
    return value


def _cors_origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin == "*" or "*" in origin:
            raise ValueError(
                "$WORKBENCH_CORS_ORIGINS: wildcards are refused; list each allowed origin, e.g. "
                "https://notebook.example.org,http://127.0.0.1:8888"
            )
        if not origin.startswith(("http://", "https://")):
            raise ValueError(f"$WORKBENCH_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port])")
    return origins


def _base_url(raw: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"$WORKBENCH_FHIR_BASE_URL: expected scheme://host[:port][/path], got {raw!r}")
    return raw.strip().rstrip("/")


@dataclass(frozen=True)
class ServiceConfig:
    """Everything :func:`create_app` needs. Build it with :meth:`from_env` or directly in tests.

    ``pg_url`` never appears in ``repr`` (it may carry a password).
    """

    pg_url: str = field(repr=False)
    jwt_key: JwtKey
    clients: Mapping[str, ClientRecord] = field(repr=False)
    token_ttl_s: int = 300
    issuer: str = "urn:workbench:fhir"
    audience: str = "urn:workbench:fhir"
    cors_origins: tuple[str, ...] = ()
    max_count: int = 100
    default_count: int = 20
    max_body_bytes: int = 65536
    lake_path: str | None = None
    pseudonym_key: bytes | None = field(default=None, repr=False)
    pool_size: int = 8
    public_base_url: str | None = None
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    clients_file: str | None = None
    audit_log: str | None = None
    max_json_depth: int = 64
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0  # a request body must be complete this long after its headers (else 408)
    keep_alive_s: int = 5
    login_max_failures: int = 5  # per principal name, before lockout with exponential back-off
    address_max_failures: int = 20  # per client address
    lockout_base_s: float = 2.0
    hash_workers: int = 2  # threads that may run argon2 at once
    hash_queue: int = 16  # token requests that may wait for one; more get 429 at once
    default_handling: str = "strict"  # Prefer: handling=... when the client sends none

    def __post_init__(self) -> None:
        if not isinstance(self.pg_url, str) or not self.pg_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("ServiceConfig(pg_url): expected a libpq URL postgresql://user@host:port/dbname")
        if not isinstance(self.jwt_key, JwtKey):
            raise TypeError("ServiceConfig(jwt_key): expected a JwtKey (use load_jwt_key())")
        if not 1 <= self.default_count <= self.max_count:
            raise ValueError(f"ServiceConfig: default_count must lie in 1..max_count={self.max_count}")
        if not 10 <= self.token_ttl_s <= 3600:
            raise ValueError("ServiceConfig(token_ttl_s): keep access tokens short-lived, 10..3600 seconds")
        _cors_origins(",".join(self.cors_origins))
        if self.public_base_url is not None:
            object.__setattr__(self, "public_base_url", _base_url(self.public_base_url))
        if self.default_handling not in ("strict", "lenient"):
            raise ValueError("ServiceConfig(default_handling): expected 'strict' or 'lenient'")
        if not 8 <= self.max_json_depth <= 256:
            raise ValueError("ServiceConfig(max_json_depth): expected 8..256 (FHIR resources nest about 10 deep)")
        if self.lake_path and not self.pseudonym_key:
            raise ValueError("ServiceConfig: lake_path is set but pseudonym_key is not (the lake keys patients by pseudonym)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> ServiceConfig:
        """Read the configuration from the environment (see the module docstring for the variables)."""
        env = os.environ if env is None else env
        pg_url = overrides.pop("pg_url", None) or env.get(PG_URL_ENV)
        if not pg_url:
            raise RuntimeError(
                f"No database configured: set {PG_URL_ENV}=postgresql://user@host:port/dbname "
                "(then `workbench clinical load-db` creates the schema and loads the cohort)."
            )
        values = dict(
            pg_url=pg_url,
            jwt_key=load_jwt_key(env),
            clients=load_clients(env),
            token_ttl_s=_positive_int(env, "WORKBENCH_JWT_TTL_S", 300),
            cors_origins=_cors_origins(env.get("WORKBENCH_CORS_ORIGINS", "")),
            max_count=_positive_int(env, "WORKBENCH_FHIR_MAX_COUNT", 100),
            max_body_bytes=_positive_int(env, "WORKBENCH_FHIR_MAX_BODY", 65536),
            lake_path=env.get("WORKBENCH_LAKE") or None,
            pool_size=_positive_int(env, "WORKBENCH_FHIR_POOL_SIZE", 8),
            public_base_url=env.get("WORKBENCH_FHIR_BASE_URL") or None,
            clients_file=str(clients_file(env)) if clients_file(env) else None,
            audit_log=env.get("WORKBENCH_FHIR_AUDIT_LOG") or None,
        )
        hosts = env.get("WORKBENCH_FHIR_ALLOWED_HOSTS", "")
        if hosts.strip():
            values["allowed_hosts"] = tuple(h.strip().lower() for h in hosts.split(",") if h.strip())
        if values["lake_path"] and "pseudonym_key" not in overrides:
            # The lake flow writes under the patient's pseudonym, which needs the key the data were loaded with.
            from workbench.clinical.pseudonym import load_key

            values["pseudonym_key"] = load_key()
        values.update(overrides)
        return cls(**values)
