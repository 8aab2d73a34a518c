"""FHIR search parameters parsed into typed values; anything malformed is a :class:`SearchError` (HTTP 400).

Every value reaching SQL has been parsed into a date, a datetime, an id of the FHIR id alphabet or
a known code first, and travels as a bound parameter; no request text is ever pasted into SQL.

Date search (FHIR R4 §3.1.1.5.7 "date"): a value has a precision (year, month, day, minute, second),
which makes it the interval ``[start, end)``. A resource time ``t`` matches

=======  ===================  =======  ==========================
prefix   condition            prefix   condition
=======  ===================  =======  ==========================
``eq``   start <= t < end     ``ne``   t < start or t >= end
``lt``   t < start            ``le``   t < end
``gt``   t >= end             ``ge``   t >= start
=======  ===================  =======  ==========================

A dateTime without an offset is read in the server's time zone, here Taiwan's (UTC+08:00, no
daylight saving), the same zone as the source data.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

TAIPEI = dt.timezone(dt.timedelta(hours=8), "Asia/Taipei")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge")
UNSUPPORTED_PREFIXES = ("sa", "eb", "ap")
GENDERS = ("male", "female", "other", "unknown")
LOINC = "http://loinc.org"
_DATE = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?P<fraction>\.[0-9]{1,6})?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_CODE = re.compile(r"[A-Za-z0-9\-.]{1,32}")


class SearchError(ValueError):
    """A search parameter the service cannot honour; ``parameter`` names it for the OperationOutcome."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class DateBound:
    """One date search value: prefix and the half-open interval ``[start, end)`` it denotes."""

    prefix: str
    start: dt.datetime
    end: dt.datetime


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    total = when.month - 1 + months
    return when.replace(year=when.year + total // 12, month=total % 12 + 1)


def parse_date(parameter: str, raw: str, *, allow_time: bool = True) -> DateBound:
    """Parse ``[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.f]][tz]]]]`` into a :class:`DateBound` (aware datetimes)."""
    prefix = raw[:2] if raw[:2].isalpha() else "eq"
    text = raw[2:] if raw[:2].isalpha() else raw
    if prefix in UNSUPPORTED_PREFIXES:
        raise SearchError(parameter, f"the prefix {prefix!r} is not supported; use one of {', '.join(PREFIXES)}")
    if prefix not in PREFIXES:
        raise SearchError(parameter, f"unknown prefix; expected one of {', '.join(PREFIXES)} before the date")
    match = _DATE.fullmatch(text)
    if match is None:
        raise SearchError(parameter, "expected a FHIR date such as 2026-09-01 or 2026-09-01T07:00:00+08:00")
    g = match.groupdict()
    if g["hour"] is not None and not allow_time:
        raise SearchError(parameter, "expected a date without a time, such as 1960-05-01")
    tz = TAIPEI
    if g["tz"] == "Z":
        tz = dt.timezone.utc
    elif g["tz"]:
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        if hours > 14 or minutes > 59:
            raise SearchError(parameter, "the time-zone offset must lie within -14:00..+14:00")
        tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        start = dt.datetime(
            int(g["year"]), int(g["month"] or 1), int(g["day"] or 1), int(g["hour"] or 0), int(g["minute"] or 0),
            int(g["second"] or 0), int((g["fraction"] or ".0")[1:].ljust(6, "0")), tzinfo=tz,
        )  # fmt: skip
        if g["fraction"]:
            end = start + dt.timedelta(microseconds=1)
        elif g["second"]:
            end = start + dt.timedelta(seconds=1)
        elif g["minute"]:
            end = start + dt.timedelta(minutes=1)
        elif g["day"]:
            end = start + dt.timedelta(days=1)
        elif g["month"]:
            end = _add_months(start, 1)
        else:
            end = start.replace(year=start.year + 1)
    except (ValueError, OverflowError):
        raise SearchError(parameter, "not a real calendar date/time (check month, day, hour ranges)") from None
    return DateBound(prefix, start, end)


def parse_id(parameter: str, raw: str) -> str:
    """A FHIR logical id (``[A-Za-z0-9-.]{1,64}``)."""
    if not FHIR_ID.fullmatch(raw):
        raise SearchError(parameter, "expected a FHIR id: 1-64 characters from A-Z a-z 0-9 - .")
    return raw


def parse_reference(parameter: str, raw: str, resource_type: str) -> str:
    """``Type/id`` or a bare ``id``; returns the id."""
    if "/" in raw:
        kind, _, ident = raw.partition("/")
        if kind != resource_type:
            raise SearchError(parameter, f"expected a reference {resource_type}/<id>")
        raw = ident
    return parse_id(parameter, raw)


def parse_token_codes(parameter: str, raw: str, system: str = LOINC) -> list[str]:
    """``code`` or ``system|code``, comma-separated (OR). Codes of another system match nothing."""
    codes = []
    for part in raw.split(","):
        sys_part, bar, code = part.rpartition("|")
        if not bar:
            code, sys_part = part, None
        if not _CODE.fullmatch(code or ""):
            raise SearchError(parameter, "expected a code (letters, digits, - and .) optionally as system|code")
        if sys_part not in (None, "", system):
            continue  # a valid token of another code system: a search that matches nothing
        codes.append(code)
    return codes


def parse_count(raw: str | None, default: int, maximum: int) -> int:
    """``_count`` in ``0..maximum`` (0 asks for the total only); larger values are refused, not clamped."""
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # str.isdigit alone accepts e.g. Arabic-Indic digits
        raise SearchError("_count", f"expected a whole number 0..{maximum}")
    value = int(raw)
    if value > maximum:
        raise SearchError("_count", f"{value} exceeds the largest page this server returns ({maximum}); page with the next link")
    return value


MAX_CURSOR_CHARS = 2048  # ours are ~150; the tag is checked before anything is parsed


def encode_cursor(key: bytes, kind: str, *values: str) -> str:
    """An opaque paging cursor for the last row of a page (its sort key): base64url JSON plus an HMAC.

    The HMAC-SHA256 tag (first 16 bytes) under the server's cursor ``key`` covers the search kind and
    the values, so a client cannot forge one: nothing a client writes into ``_cursor`` is ever parsed.
    """
    payload = base64.urlsafe_b64encode(json.dumps([kind, *values], separators=(",", ":")).encode()).rstrip(b"=")
    tag = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return payload.decode() + "." + base64.urlsafe_b64encode(tag).decode().rstrip("=")


def decode_cursor(key: bytes, raw: str, kind: str, arity: int) -> list[str]:
    """Inverse of :func:`encode_cursor`; a forged, damaged or foreign cursor is a :class:`SearchError`."""
    refused = SearchError("_cursor", "not a cursor issued by this server (use the Bundle's next link)")
    if not isinstance(raw, str) or len(raw) > MAX_CURSOR_CHARS or not raw.isascii() or raw.count(".") != 1:
        raise refused
    payload, _, tag = raw.partition(".")
    try:
        given = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4))
    except (ValueError, binascii.Error):
        raise refused from None
    expected = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(given, expected):
        raise refused
    # Authentic: we wrote this JSON ourselves, so it parses and has the shape we gave it.
    value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if value[0] != kind or len(value) != arity + 1:
        raise SearchError("_cursor", "not a cursor of this search (use the Bundle's next link)")
    return value[1:]


def check_known(params: list[tuple[str, str]], known: set[str], repeatable: set[str], *,
                lenient: bool = False) -> list[str]:  # fmt: skip
    """Refuse unknown or wrongly repeated parameters, or under ``lenient`` handling return the unknown names.

    FHIR search (R4 §3.1.1.4, "Handling errors"): with ``Prefer: handling=strict`` an unknown parameter
    is an error; with ``handling=lenient`` the server ignores it and says so in the Bundle.
    """
    seen: set[str] = set()
    ignored: list[str] = []
    for name, _ in params:
        if name not in known:
            if lenient:
                ignored.append(name)
                continue
            raise SearchError(name, f"unknown search parameter; supported: {', '.join(sorted(known))}")
        if name in seen and name not in repeatable:
            raise SearchError(name, "given more than once")
        seen.add(name)
    return ignored


def date_condition(column: str, bound: DateBound) -> tuple:
    """The SQL condition (``%s`` placeholders) and its values for one date bound on ``column``."""
    conditions = {
        "eq": (f"({column} >= %s AND {column} < %s)", bound.start, bound.end),
        "ne": (f"({column} < %s OR {column} >= %s)", bound.start, bound.end),
        "lt": (f"{column} < %s", bound.start),
        "le": (f"{column} < %s", bound.end),
        "gt": (f"{column} >= %s", bound.end),
        "ge": (f"{column} >= %s", bound.start),
    }
    return conditions[bound.prefix]
