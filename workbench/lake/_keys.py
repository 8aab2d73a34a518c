"""Event keys: entity x context x attributes x window, with a canonical byte encoding and a SHA3 digest.

The encoding is what makes a key portable: two processes (or two languages) that agree on it compute
the same digest for the same key, so the digest can index storage while the readable components live
beside it.  Layout (version 1)::

    b"EK" | version:u8 | str(window) | map(entities) | map(context) | map(attributes)
    map   = varint(n) | n x (str(name) | value)            names sorted by their UTF-8 bytes
    value = b"s" str | b"i" int64 big-endian | b"f" float64 big-endian | b"b" 0/1 | b"n"
    str   = varint(len(utf8)) | utf8

Type tags make ``1`` and ``"1"`` different keys; sorting makes the encoding independent of the order
in which a caller listed the components.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Mapping

ENCODING_MAGIC = b"EK"
ENCODING_VERSION = 1
WINDOWS = ("hour", "day", "week", "month")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(buf):
            raise ValueError("EventKey bytes: truncated varint; the buffer is not a complete key encoding")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _enc_str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return _varint(len(raw)) + raw


def _read_str(buf: bytes, pos: int) -> tuple[str, int]:
    n, pos = _read_varint(buf, pos)
    if pos + n > len(buf):
        raise ValueError("EventKey bytes: truncated string; the buffer is not a complete key encoding")
    return buf[pos : pos + n].decode("utf-8"), pos + n


def _normalize_value(where: str, name: str, value: Any) -> Any:
    # numpy / polars scalars arrive from frames; fold them into the four Python types we encode.
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"EventKey {where}[{name!r}]={value} is outside int64; pass it as a string")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError(f"EventKey {where}[{name!r}] is NaN; a key component must have one identity")
        return 0.0 if value == 0.0 else value  # -0.0 and 0.0 must hash alike
    raise TypeError(
        f"EventKey {where}[{name!r}] has type {type(value).__name__}; expected str, int, float, bool or None"
    )


def _freeze(where: str, mapping: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    if mapping is None:
        return ()
    if not isinstance(mapping, Mapping):
        raise TypeError(f"EventKey {where} must be a mapping of name -> value, got {type(mapping).__name__}")
    items = []
    for name, value in mapping.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"EventKey {where} names must be non-empty strings, got {name!r}")
        items.append((name, _normalize_value(where, name, value)))
    return tuple(sorted(items, key=lambda kv: kv[0].encode("utf-8")))


def _enc_value(value: Any) -> bytes:
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"b" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"i" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"f" + struct.pack(">d", value)
    return b"s" + _enc_str(value)


def _read_value(buf: bytes, pos: int) -> tuple[Any, int]:
    tag = buf[pos : pos + 1]
    pos += 1
    if tag == b"n":
        return None, pos
    if tag == b"b":
        return buf[pos] == 1, pos + 1
    if tag == b"i":
        return struct.unpack(">q", buf[pos : pos + 8])[0], pos + 8
    if tag == b"f":
        return struct.unpack(">d", buf[pos : pos + 8])[0], pos + 8
    if tag == b"s":
        return _read_str(buf, pos)
    raise ValueError(f"EventKey bytes: unknown value tag {tag!r} at byte {pos - 1}")


def _enc_map(items: tuple[tuple[str, Any], ...]) -> bytes:
    return _varint(len(items)) + b"".join(_enc_str(k) + _enc_value(v) for k, v in items)


def _read_map(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
    n, pos = _read_varint(buf, pos)
    out = {}
    for _ in range(n):
        name, pos = _read_str(buf, pos)
        out[name], pos = _read_value(buf, pos)
    return out, pos


@dataclass(frozen=True, init=False)
class EventKey:
    """The identity of a feature value: who (entities), where (context), which variant (attributes), how
    aggregated in time (window).

    >>> k = EventKey({"customer": "c-001"}, context={"cell": 17})
    >>> EventKey.from_bytes(k.to_bytes()) == k
    True
    >>> len(k.digest)
    64
    """

    entities: tuple[tuple[str, Any], ...]
    context: tuple[tuple[str, Any], ...]
    attributes: tuple[tuple[str, Any], ...]
    window: str

    def __init__(self, entities, context=None, attributes=None, window: str = "day"):
        frozen = _freeze("entities", entities)
        if not frozen:
            raise ValueError("EventKey entities must name at least one entity, e.g. {'customer': 'c-001'}")
        for name, value in frozen:
            if value is None:
                raise ValueError(f"EventKey entities[{name!r}] is None; an entity id must be present")
        if window not in WINDOWS:
            raise ValueError(f"EventKey window={window!r}; expected one of {WINDOWS}")
        object.__setattr__(self, "entities", frozen)
        object.__setattr__(self, "context", _freeze("context", context))
        object.__setattr__(self, "attributes", _freeze("attributes", attributes))
        object.__setattr__(self, "window", window)

    def to_bytes(self) -> bytes:
        """The canonical, versioned, typed encoding (see the module docstring)."""
        return (
            ENCODING_MAGIC
            + bytes([ENCODING_VERSION])
            + _enc_str(self.window)
            + _enc_map(self.entities)
            + _enc_map(self.context)
            + _enc_map(self.attributes)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> "EventKey":
        """Decode :meth:`to_bytes` output; refuses unknown versions instead of guessing."""
        if not isinstance(data, (bytes, bytearray)) or data[:2] != ENCODING_MAGIC:
            raise ValueError("EventKey.from_bytes: data does not start with b'EK'; not an event key encoding")
        if data[2] != ENCODING_VERSION:
            raise ValueError(f"EventKey.from_bytes: encoding version {data[2]} unknown; this code reads 1")
        pos = 3
        window, pos = _read_str(data, pos)
        entities, pos = _read_map(data, pos)
        context, pos = _read_map(data, pos)
        attributes, pos = _read_map(data, pos)
        if pos != len(data):
            raise ValueError(f"EventKey.from_bytes: {len(data) - pos} trailing bytes after the key")
        return cls(entities, context, attributes, window)

    @property
    def digest(self) -> str:
        """SHA3-256 of the canonical encoding, as 64 hex characters."""
        return hashlib.sha3_256(self.to_bytes()).hexdigest()

    def components(self) -> dict:
        """The human-readable components as a JSON-ready dict (what the lake stores beside the digest)."""
        return {
            "entities": dict(self.entities),
            "context": dict(self.context),
            "attributes": dict(self.attributes),
            "window": self.window,
        }

    @classmethod
    def from_components(cls, components: Mapping[str, Any]) -> "EventKey":
        """Inverse of :meth:`components` (also accepts its JSON text)."""
        if isinstance(components, str):
            components = json.loads(components)
        return cls(
            components["entities"],
            components.get("context"),
            components.get("attributes"),
            components.get("window", "day"),
        )

    def __repr__(self) -> str:
        parts = [f"entities={dict(self.entities)!r}"]
        if self.context:
            parts.append(f"context={dict(self.context)!r}")
        if self.attributes:
            parts.append(f"attributes={dict(self.attributes)!r}")
        parts.append(f"window={self.window!r}")
        return f"EventKey({', '.join(parts)})"
