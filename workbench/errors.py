"""The one error type every topic raises for a *user* error.

A ``UserError`` is a mistake the person at the keyboard can fix: a missing file, a value out of range, an
unknown name. Its message is one line that names what was wrong (which file, argument or parameter) and what
to do. The ``workbench`` command prints such errors as that one line and exits with status 2; anything else is
a bug and keeps its traceback. Topic errors that are user errors subclass it (or are re-raised as it).
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """A user error: a one-line message naming the problem and the fix (subclass of ``ValueError``)."""
