"""MD5 over many short messages at once, in numpy: the attack on unkeyed hashes of national ids.

MD5 (RFC 1321) pads a message of fewer than 56 bytes into a single 64-byte block, so hashing ten
million 10-character ids is sixty-four rounds of element-wise uint32 arithmetic over arrays of ten
million lanes: no Python loop per candidate. :mod:`hashlib` is the reference the tests compare with.
"""

from __future__ import annotations

import numpy as np

# Per-round left-rotation amounts and the sine-derived constants K[i] = floor(2**32 * |sin(i + 1)|).
_SHIFTS = np.array([7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4)
_K = np.floor(np.abs(np.sin(np.arange(1, 65, dtype=np.float64))) * 2**32).astype(np.uint64).astype(np.uint32)
_INIT = (np.uint32(0x67452301), np.uint32(0xEFCDAB89), np.uint32(0x98BADCFE), np.uint32(0x10325476))


def _message_index(i: int) -> int:
    if i < 16:
        return i
    if i < 32:
        return (5 * i + 1) % 16
    if i < 48:
        return (3 * i + 5) % 16
    return (7 * i) % 16


def md5_words(messages: np.ndarray) -> np.ndarray:
    """MD5 of each row of ``messages`` (uint8, shape (n, L), L <= 55) as (n, 4) little-endian uint32 words."""
    if not isinstance(messages, np.ndarray) or messages.dtype != np.uint8 or messages.ndim != 2:
        raise TypeError("md5_words(messages): expected a 2-D uint8 numpy array (one message per row)")
    n, length = messages.shape
    if length > 55:
        raise ValueError(f"md5_words(messages): rows must be at most 55 bytes (one MD5 block), got {length}")
    block = np.zeros((n, 64), dtype=np.uint8)
    block[:, :length] = messages
    block[:, length] = 0x80
    block[:, 56:64] = np.frombuffer(np.uint64(8 * length).tobytes(), dtype=np.uint8)
    words = block.view("<u4")  # (n, 16) little-endian words
    a, b, c, d = (np.full(n, v, dtype=np.uint32) for v in _INIT)
    with np.errstate(over="ignore"):
        for i in range(64):
            if i < 16:
                f = (b & c) | (~b & d)
            elif i < 32:
                f = (d & b) | (~d & c)
            elif i < 48:
                f = b ^ c ^ d
            else:
                f = c ^ (b | ~d)
            f = f + a + _K[i] + words[:, _message_index(i)]
            s = np.uint32(_SHIFTS[i])
            a, d, c = d, c, b
            b = b + ((f << s) | (f >> (np.uint32(32) - s)))
    return np.stack([a + _INIT[0], b + _INIT[1], c + _INIT[2], d + _INIT[3]], axis=1).astype(np.uint32)


def md5_hex(messages: np.ndarray) -> list[str]:
    """Hex digests of each row of ``messages`` (for checking against :mod:`hashlib`)."""
    return [row.astype("<u4").tobytes().hex() for row in md5_words(messages)]


def hex_to_words(hex_digest: str) -> np.ndarray:
    """A 32-character MD5 hex digest as the four little-endian uint32 words :func:`md5_words` returns."""
    if not isinstance(hex_digest, str) or len(hex_digest) != 32:
        raise ValueError(f"hex_to_words(hex_digest): expected 32 hex characters, got {hex_digest!r}")
    try:
        raw = bytes.fromhex(hex_digest)
    except ValueError:
        raise ValueError(f"hex_to_words(hex_digest): not hexadecimal: {hex_digest!r}") from None
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)
