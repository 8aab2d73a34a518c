"""Keyed pseudonyms for national ids: HMAC-SHA256 under a secret key, shown as a UUID-like token.

Why keyed: the valid id space has only 520 million members (see :func:`valid_id_space_size`), so any
unkeyed hash (MD5, SHA-256, ...) of an id is reversed by hashing every candidate. An HMAC cannot be
recomputed without the key, so whoever holds pseudonymized data but not the key cannot enumerate.
The same key always gives the same pseudonym, which keeps records of one patient linkable.

The exact recipe, reproduced in PostgreSQL by the FHIR service with pgcrypto::

    h = hex(HMAC-SHA256(key, identifier encoded as UTF-8))        -- 64 lowercase hex characters
    pseudonym = h[0:8] - h[8:12] - h[12:16] - h[16:20] - h[20:32]  -- first 32 hex characters, 8-4-4-4-12

    -- SQL: encode(hmac(convert_to(identifier, 'UTF8'), key, 'sha256'), 'hex'), then the same cuts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_ENV = "WORKBENCH_PSEUDONYM_KEY"
KEY_FILE_ENV = "WORKBENCH_PSEUDONYM_KEY_FILE"
MIN_KEY_BYTES = 32
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KEY_FILE = REPO_ROOT / "secrets" / "pseudonym.key"


def uuid_like(hex_digest: str) -> str:
    """Format the first 32 hex characters of ``hex_digest`` as 8-4-4-4-12 (lowercase).

    Used for pseudonyms and for the deterministic FHIR resource ids; it is not an RFC 4122 UUID
    (no version or variant bits are set) but has the same shape.
    """
    h = hex_digest.lower()
    if len(h) < 32 or any(ch not in "0123456789abcdef" for ch in h[:32]):
        raise ValueError(f"uuid_like(hex_digest): expected at least 32 hex characters, got {hex_digest!r}")
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _check_key(key: object, origin: str) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"{origin}: the key must be bytes, got {type(key).__name__}; use load_key() or key.encode()")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"{origin}: the key has {len(key)} bytes, at least {MIN_KEY_BYTES} are needed "
            f"(make one with: python -c \"import secrets; print(secrets.token_hex(32))\")"
        )
    return bytes(key)


def pseudonymize(identifier: str, key: bytes) -> str:
    """Pseudonym of ``identifier`` under ``key``: HMAC-SHA256, first 128 bits as 8-4-4-4-12 hex.

    >>> pseudonymize("A123456789", b"k" * 32)
    '092c13a6-a725-71b7-3bd6-415dbc6d2321'
    """
    if not isinstance(identifier, str) or not identifier:
        raise ValueError(f"pseudonymize(identifier): expected a non-empty string, got {identifier!r}")
    key = _check_key(key, "pseudonymize(key)")
    return uuid_like(hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).hexdigest())


def load_key() -> bytes:
    """The pseudonymization key, from the first of these that is set.

    1. ``WORKBENCH_PSEUDONYM_KEY``: the key as text (its UTF-8 bytes are the key);
    2. ``WORKBENCH_PSEUDONYM_KEY_FILE``: the path of a file holding the key;
    3. ``secrets/pseudonym.key`` at the repository root (git-ignored), if present.

    A key file's trailing whitespace (the newline an editor or ``echo`` adds) is not part of the key.
    Keys shorter than 32 bytes are refused. With none configured a ``RuntimeError`` says how to make
    one; there is deliberately no built-in default key.
    """
    text = os.environ.get(KEY_ENV)
    if text:
        return _check_key(text.encode("utf-8"), f"load_key: ${KEY_ENV}")
    path_text = os.environ.get(KEY_FILE_ENV)
    if path_text:
        path = Path(path_text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"load_key: ${KEY_FILE_ENV} names {path}, which is not a file")
        return _check_key(path.read_bytes().rstrip(), f"load_key: key file {path}")
    if DEFAULT_KEY_FILE.is_file():
        return _check_key(DEFAULT_KEY_FILE.read_bytes().rstrip(), f"load_key: key file {DEFAULT_KEY_FILE}")
    raise RuntimeError(
        f"No pseudonymization key is configured: run `workbench clinical init-secrets` (writes secrets/pseudonym.key, "
        f"git-ignored), or export {KEY_ENV}=<at least 32 random bytes, e.g. 64 hex digits>, or point ${KEY_FILE_ENV} "
        "at a key file"
    )


def session_key() -> bytes:
    """A fresh random key (64 hex characters as bytes) for a demo session when none is configured.

    Pseudonyms made with it differ from run to run and cannot be linked to any other run's.
    """
    return secrets.token_hex(32).encode("ascii")
