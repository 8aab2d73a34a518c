"""The one convention every exercise check follows, in every topic's ``exercises.py``.

A check function takes the learner's answer (usually a function), runs it on small cases that each isolate
one rule, and ends with :func:`report`: it prints ``OK: ...`` or ``Not yet: ...`` with what is wrong in words,
and returns ``True`` or ``False``. :func:`attempt` runs the learner's code so that a crash, or the stub of a
student copy (``NotImplementedError``), becomes a verdict instead of a traceback.

``workbench grade`` executes a submission with ``WORKBENCH_GRADE_LOG`` pointing at a file; :func:`report` then
also appends one JSON line per verdict, which is how the grader learns each exercise's result without
parsing printed text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

__all__ = ["GRADE_LOG_ENV", "attempt", "report"]

GRADE_LOG_ENV = "WORKBENCH_GRADE_LOG"


def report(exercise: str, ok: bool, message: str) -> bool:
    """Print the verdict for ``exercise`` and return ``ok``; under ``workbench grade`` also log it."""
    ok = bool(ok)
    print(("OK: " if ok else "Not yet: ") + message)
    log = os.environ.get(GRADE_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"exercise": exercise, "passed": ok, "message": message}) + "\n")
    return ok


def attempt(fn: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """Call the learner's ``fn(*args)``: ``(result, None)``, or ``(None, what went wrong)`` in one line."""
    if not callable(fn):
        return None, f"expected a function, got {type(fn).__name__} {fn!r:.60}"
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "it is not written yet (the stub raises NotImplementedError): replace the stub with your code"
    except Exception as exc:  # the learner's code may fail in any way; the verdict says how
        return None, f"it raised {type(exc).__name__}: {exc}"
