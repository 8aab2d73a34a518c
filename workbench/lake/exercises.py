"""Check functions for the exercise of notebook 04: one point-in-time lookup, checked rule by rule.

Each case isolates one rule of the as-of join (latest value at or before the event, absent cells skipped,
the ttl bound inclusive) and a wrong answer is told which rule it breaks. Verdicts follow the convention
of :mod:`workbench.exercises`.
"""

from __future__ import annotations

import datetime as dt

from workbench.exercises import attempt as _call
from workbench.exercises import report


def reference_as_of(times, values, event, ttl):
    """The latest present value with ``t <= event`` and ``event - t <= ttl`` (``ttl=None``: no bound), else None."""
    for t, v in zip(reversed(times), reversed(values)):
        if t > event or v is None:
            continue
        return v if ttl is None or event - t <= ttl else None
    return None


_T = [dt.datetime(2026, 1, d) for d in (1, 3, 5, 8)]
_V = [10, None, 30, 40]
# (event, ttl, the rule the case isolates)
_CASES = [
    (dt.datetime(2026, 1, 6), None, "the latest value at or before the event"),
    (dt.datetime(2026, 1, 5), None, "a value stamped exactly at the event time is known (t <= e, not t < e)"),
    (dt.datetime(2026, 1, 4), None, "absent cells (None) are skipped: take the latest PRESENT value before them"),
    (dt.datetime(2025, 12, 31), None, "nothing is known before the first value: the answer is None"),
    (dt.datetime(2026, 1, 7), dt.timedelta(days=1), "ttl: a value older than e - ttl is unknown (None)"),
    (dt.datetime(2026, 1, 7), dt.timedelta(days=2), "ttl is inclusive: a value exactly ttl old still counts"),
]


def _hint(got, event, ttl, rule):
    present = [v for v in _V if v is not None]
    strictly_before = reference_as_of(_T, _V, event - dt.timedelta(microseconds=1), ttl)
    if got == present[-1] and got != reference_as_of(_T, _V, event, ttl):
        return ("you returned the newest value whatever the event time, a value from the event's future: "
                "that is the naive join's leak; only times t <= e are known at e")
    if got is None and rule.startswith("absent"):
        return "you returned the absent cell (None) instead of stepping back to the latest present value"
    if rule.startswith("a value stamped exactly") and got == strictly_before:
        return "you compared t < e; a value stamped at the event time was known then (t <= e)"
    if rule.startswith("ttl is inclusive") and got is None:
        return "you compared e - t < ttl; the bound is inclusive (e - t <= ttl)"
    if rule.startswith("ttl:") and got is not None:
        return "you ignored ttl; a value older than e - ttl counts as unknown"
    return f"rule: {rule}"


def check_as_of(fn) -> bool:
    """Check ``fn(times, values, event, ttl)``, the point-in-time lookup for one key, on one case per rule."""
    for event, ttl, rule in _CASES:
        want = reference_as_of(_T, _V, event, ttl)
        got, error = _call(fn, list(_T), list(_V), event, ttl)
        if error:
            return report("as_of", False, f"as_of(event={event:%Y-%m-%d}, ttl={ttl}): {error}")
        if got == want and (got is None) == (want is None):
            continue
        return report("as_of", False, f"for event {event:%Y-%m-%d} (ttl={ttl}) with times "
                                      f"{[f'{t:%m-%d}' for t in _T]} and values {_V} the answer is {want!r}, "
                                      f"got {got!r}: {_hint(got, event, ttl, rule)}")
    return report("as_of", True, f"the lookup is right on all {len(_CASES)} cases: at-or-before, absent cells, "
                                 "no history, and the inclusive ttl")


# -- notebook 04b: where a media payload lives ------------------------------------------------------------
_PAYLOADS = [b"\x89PNG pretend scan", b"", "Blutdruck 128/82 \u00e9".encode("utf-8"), bytes(range(256)) * 4]


def check_content_address(fn) -> bool:
    """Check ``fn(payload: bytes) -> str``: the payload's path in the lake, ``media/sha256/<2 hex>/<64 hex>``,
    against the lake's own rule (:func:`workbench.lake.media.blob_rel`)."""
    from workbench.lake.media import blob_ref, blob_rel

    for payload in _PAYLOADS:
        want = blob_rel(blob_ref(payload))
        got, error = _call(fn, payload)
        if error:
            return report("content_address", False, f"content_address({payload[:16]!r}...): {error}")
        if got == want:
            continue
        if isinstance(got, str) and got.endswith(want.rsplit("/", 1)[-1]):
            hint = "the digest is right; the folder is media/sha256/ and then the digest's first two hex digits"
        elif isinstance(got, str) and "sha256" not in got and len(got.rsplit("/", 1)[-1]) == 128:
            hint = "that digest has 128 hex digits: SHA-512 or SHA3-512; the lake names payloads by SHA-256"
        else:
            hint = "name the payload by hashlib.sha256(payload).hexdigest(), under media/sha256/<first 2 hex>/"
        return report("content_address", False, f"for a payload of {len(payload)} bytes the path is {want!r}, "
                                                f"got {got!r}: {hint}")
    return report("content_address", True, f"all {len(_PAYLOADS)} payloads land where the lake stores them: "
                                           "the same bytes always get the same name, whoever writes them")
