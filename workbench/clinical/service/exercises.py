"""Check functions for the exercise of notebook 07 (the FHIR service): each runs the reader's function, asks
the live service, and says what is wrong in words (which rule of FHIR date search or of time zones it breaks).

Every check prints its verdict and returns True when all cases pass; under ``workbench grade`` the verdict is
also logged for the score table (the convention of :mod:`workbench.exercises`).
"""

from __future__ import annotations

import datetime as dt

from workbench.clinical.service._search import TAIPEI, SearchError, parse_date
from workbench.exercises import attempt, report

__all__ = ["check_taiwan_week", "week_interval"]

HEART_RATE = "8867-4"
# Mondays of the synthetic cohort's September (2026-09-01 .. 09-28): two, so a hard-coded answer fails.
MONDAYS = (dt.date(2026, 9, 7), dt.date(2026, 9, 21))


def week_interval(values: list[str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The half-open UTC interval ``[lower, upper)`` that ``ge/gt/le/lt`` date values select (None: unbounded).

    Uses the service's own parser, so precision counts as it does in the service: ``le2026-09-13T15:59:59Z``
    ends at 16:00:00, ``gt...`` starts after the end of its second. Raises :class:`SearchError` for a value
    the service would refuse, :class:`ValueError` for ``eq``/``ne`` (not a one-sided bound).
    """
    lower = upper = None
    for value in values:
        bound = parse_date("date", value)
        if bound.prefix in ("ge", "gt"):
            edge = bound.start if bound.prefix == "ge" else bound.end
            lower = edge if lower is None else max(lower, edge)
        elif bound.prefix in ("lt", "le"):
            edge = bound.start if bound.prefix == "lt" else bound.end
            upper = edge if upper is None else min(upper, edge)
        else:
            raise ValueError(f"{value}: use one ge (or gt) and one lt (or le) bound, not {bound.prefix!r}")
    utc = dt.timezone.utc
    return (lower.astimezone(utc) if lower else None, upper.astimezone(utc) if upper else None)


def _diagnose(values, monday: dt.date) -> str | None:
    """What is wrong with ``values`` as the Taiwan week from ``monday``, judged on the interval they denote."""
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) for v in values):
        return f"return a list of date strings such as ['ge...Z', 'lt...Z'], got {values!r:.80}"
    if not all(v.endswith("Z") for v in values):
        return ("write each value in UTC with an explicit Z (e.g. ge2026-09-06T16:00:00Z); without an offset the "
                "server reads the value in its own zone")
    try:
        lower, upper = week_interval(list(values))
    except SearchError as exc:
        return f"the service would refuse {values}: {exc}"
    except ValueError as exc:
        return str(exc)
    if lower is None or upper is None:
        return f"{values} leaves the week open on one side; give a lower (ge) and an upper (lt) bound"
    want_lower = dt.datetime.combine(monday, dt.time(), TAIPEI).astimezone(dt.timezone.utc)
    want_upper = want_lower + dt.timedelta(days=7)
    if (lower, upper) == (want_lower, want_upper):
        return None
    shift = lower - want_lower
    if shift == dt.timedelta(hours=8) and upper - want_upper == shift:
        return ("you wrote Taiwan midnight as UTC midnight: Taiwan is UTC+08:00, so its midnight is 16:00 UTC of "
                "the day before (subtract 8 hours)")
    if shift == dt.timedelta(hours=16) and upper - want_upper == shift:
        return "you shifted by 8 hours the wrong way: local = UTC + 8 h, so UTC = local - 8 h"
    if lower == want_lower and upper == want_upper + dt.timedelta(seconds=1):
        return ("the end is included: le...T16:00:00Z also takes a reading at exactly next Monday 00:00 in Taiwan; "
                "use lt for the end of a half-open week")
    if lower == want_lower + dt.timedelta(seconds=1) and upper == want_upper:
        return "gt on a whole second starts one second late: use ge for Monday 00:00:00 itself"
    if shift == upper - want_upper:
        return (f"your week starts {lower:%Y-%m-%d %H:%M} UTC but should start {want_lower:%Y-%m-%d %H:%M} UTC "
                f"(Monday {monday} 00:00 in Taiwan)")
    return (f"your bounds cover {upper - lower}, from {lower:%Y-%m-%d %H:%M:%S} to {upper:%Y-%m-%d %H:%M:%S} UTC; "
            "a week is 7 days, from Monday 00:00 to the next Monday 00:00 in Taiwan")


def _search(http, headers, params) -> tuple[list[dict], str | None]:
    """Every Observation a search matches (following ``next`` links), or the service's refusal."""
    found: list[dict] = []
    url, query = "/fhir/Observation", params
    while url:
        response = http.get(url, params=query, headers=headers)
        if response.status_code != 200:
            body = response.json()
            return found, (body.get("issue") or [{}])[0].get("diagnostics", response.text[:200])
        bundle = response.json()
        found += [e["resource"] for e in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
        query = None  # the next link carries every parameter plus the cursor
    return found, None


def _local_week(resources, monday: dt.date) -> set[str]:
    start = dt.datetime.combine(monday, dt.time(), TAIPEI)
    return {r["id"] for r in resources
            if start <= dt.datetime.fromisoformat(r["effectiveDateTime"]) < start + dt.timedelta(days=7)}


def check_taiwan_week(fn, http, headers, subject: str) -> bool:
    """Check ``fn(monday: datetime.date) -> list[str]``: FHIR ``date`` values written in UTC (with ``Z``) that
    select the Taiwan-local week (UTC+08:00) from ``monday`` 00:00 to the next Monday 00:00.

    ``http`` is a client of the running service (``httpx.Client`` or a FastAPI ``TestClient``), ``headers`` a
    bearer token with ``system/Observation.read``, ``subject`` the patient id whose heart-rate readings are
    searched. The bounds are judged on the interval they denote (so a result that happens to match on this
    data is not enough), then the service's answer is compared with the readings of that local week.
    """
    base = {"subject": subject, "code": HEART_RATE, "_count": 50}
    resources, error = _search(http, headers, base)
    if error:
        return report("taiwan_week", False, f"the check could not read the patient's readings: {error}")
    for monday in MONDAYS:
        values, error = attempt(fn, monday)
        if error:
            return report("taiwan_week", False, f"fn({monday!r}): {error}")
        hint = _diagnose(values, monday)
        if hint:
            return report("taiwan_week", False, f"for the week of Monday {monday}: {hint}")
        matched, error = _search(http, headers, {**base, "date": list(values)})
        got = {r["id"] for r in matched}
        if error:
            return report("taiwan_week", False, f"for the week of Monday {monday} the service refused {values}: {error}")
        want = _local_week(resources, monday)
        if got != want:  # the interval is right, so this would be a bug of the service, not of the answer
            return report("taiwan_week", False, f"for the week of Monday {monday} the service returned {len(got)} "
                                                f"readings, the local week holds {len(want)}")
    return report("taiwan_week", True, f"both weeks are right ({len(want)} readings in the last one): Taiwan midnight "
                                       "is 16:00 UTC of the day before, and lt keeps the week half-open")
