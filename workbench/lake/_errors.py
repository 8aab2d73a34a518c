"""The lake's own errors for damaged storage and refused times (both user errors: one line, with the fix)."""

from __future__ import annotations

from workbench.errors import UserError

REPAIR_HINT = "run `workbench lake check {url} --repair` (rolls back to the last good commit)"


class LakeIntegrityError(UserError):
    """Stored bytes failed a check (checksum, truncation, missing file, malformed commit or registry).

    ``where`` names what was being read: window, feature, chunk and file where they apply. The lake never
    returns a value read from bytes that failed a check.
    """

    def __init__(self, message: str, *, url: str | None = None, **where):
        self.where = where
        hint = f"; {REPAIR_HINT.format(url=url)}" if url else ""
        super().__init__(message + hint)


class LakeTimeRangeError(UserError):
    """A time outside what the lake stores (nanoseconds since 1970 in int64: 1677-09-21 .. 2262-04-11)."""
