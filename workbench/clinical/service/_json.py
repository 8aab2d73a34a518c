"""Strict JSON for FHIR bodies: UTF-8 only, bounded nesting, no duplicate keys, no NUL, no lone surrogates.

FHIR R4 (§2.6.2 JSON) requires UTF-8 and an object whose keys appear once. Python's ``json.loads`` is
lenient on each point: given bytes it guesses UTF-16/32, a repeated key silently keeps the last value,
``\\u0000`` and unpaired ``\\ud800`` escapes decode into strings PostgreSQL or a later encoder refuses,
and deep nesting ends in a ``RecursionError`` (in the decoder, or later in a validator). Each of these is
refused here, before anything else looks at the document, as :class:`JsonRefused` (a 400).

Depth is measured on the text with strings removed, in two regular-expression passes (linear, in C), so a
2 kB body of 1,000 brackets is refused without recursing at all.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

__all__ = ["MAX_DEPTH", "JsonRefused", "bad_string", "parse_strict_json"]

MAX_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STEP = str.maketrans({"[": "1", "{": "1", "]": "0", "}": "0"})


class JsonRefused(ValueError):
    """A body that is not strict UTF-8 JSON; the message says what is wrong (never quotes the body)."""


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of JSON ``text`` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(1 if c == "1" else -1 for c in brackets.translate(_STEP)))


def bad_string(value: str) -> str | None:
    """What makes ``value`` unstorable (``"a NUL character"``, ``"a lone surrogate"``), else None."""
    if "\x00" in value:
        return "a NUL character"
    if _SURROGATE.search(value):
        return "a lone surrogate (an unpaired \\ud800-\\udfff escape)"
    return None


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonRefused(f"the key {key[:40]!r} appears twice in one object (FHIR JSON keys are unique)")
            seen.add(key)
    return result


def _refuse_constant(name: str) -> object:
    raise JsonRefused(f"{name} is not a JSON number")


def parse_strict_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> object:
    """Decode ``raw`` as strict FHIR JSON; raise :class:`JsonRefused` naming the first problem."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise JsonRefused("the body starts with a byte-order mark; send plain UTF-8")
    try:
        text = raw.decode("utf-8")  # decoding first stops json.loads from guessing UTF-16/32 from bytes
    except UnicodeDecodeError:
        raise JsonRefused("the body is not UTF-8 (FHIR JSON must be UTF-8)") from None
    if "\x00" in text:
        raise JsonRefused("the body contains a NUL byte (UTF-16 is not accepted; FHIR JSON must be UTF-8)")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonRefused(f"the JSON nests {depth} levels deep; at most {max_depth} are accepted")
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except JsonRefused:
        raise
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise JsonRefused(f"the body is not valid JSON{where}") from None
