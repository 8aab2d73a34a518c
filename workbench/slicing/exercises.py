"""Check functions for the exercises of notebook 03 (the convention of :mod:`workbench.exercises`).

The exercise: the owner thread sees ``("request", id)`` and ``("done", id)`` events in some order (ids grow
with every request); write the rule that decides which finished slices are displayed. The check replays
orderings that each isolate one way a viewer goes wrong and says which rule the answer breaks.
"""

from __future__ import annotations

from workbench.exercises import attempt, report
from workbench.slicing.demo import _SCENARIOS, reference_display_order

__all__ = ["check_display_rule"]


def _what_is_wrong(name: str, events, got: list, expected: list) -> str:
    for earlier, later in zip(got, got[1:]):
        if later < earlier:
            return (f"{name}: you displayed {later} after {earlier}; an older response must never replace a "
                    "newer one")
    stale = [rid for rid in got if rid not in expected]
    if stale:
        return (f"{name}: you displayed {stale}, which were already stale when they finished; show a response "
                f"only if its request is still the newest (events: {events})")
    if len(got) != len(set(got)):
        return f"{name}: you displayed a slice twice ({got}); show each finished request at most once"
    missing = [rid for rid in expected if rid not in got]
    return (f"{name}: expected {expected}, got {got}; you never showed {missing}, but the newest request's "
            "slice must be shown when it finishes")


def check_display_rule(rule) -> bool:
    """Check ``rule(events) -> list of displayed ids`` against the viewer's rule on tricky orderings."""
    for name, events in _SCENARIOS:
        expected = reference_display_order(events)
        got, error = attempt(rule, list(events))
        if error:
            return report("display_rule", False, f"{name}: {error}")
        try:
            got = [int(rid) for rid in got]
        except (TypeError, ValueError):
            return report("display_rule", False, f"{name}: return a list of request ids, got {got!r:.60}")
        if got != expected:
            return report("display_rule", False, _what_is_wrong(name, events, got, expected))
    return report("display_rule", True, f"all {len(_SCENARIOS)} orderings pass: no stale frame, never back in time")
