"""The one error type every topic raises for a *user* error, and how the command line words it.

A ``UserError`` is a mistake the person at the keyboard can fix: a missing file, a value out of range, an
unknown name. Its message is one line that names what was wrong (which file, argument or parameter) and what
to do. The ``workbench`` command prints such errors as that one line and exits with status 2; anything else is
a bug and keeps its traceback. Topic errors that are user errors subclass it (or are re-raised as it).
"""

from __future__ import annotations

import errno

__all__ = ["RunnerError", "UserError", "user_message"]


class UserError(ValueError):
    """A user error: a one-line message naming the problem and the fix (subclass of ``ValueError``)."""


# A path the user named that cannot be used is the user's to fix, whichever command met it; each gets the fix.
_PATH_FIXES = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EEXIST: "choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "give a file, not a folder",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "the disk is full; free space or choose another path",
}
_PATH_ERRORS = (FileNotFoundError, PermissionError, FileExistsError, NotADirectoryError, IsADirectoryError)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def user_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or ``None`` for a bug (which keeps its traceback).

    User errors are :class:`UserError` and the file-system errors about a path (missing, not permitted,
    exists, not a folder, a folder, read-only, disk full).
    """
    if isinstance(exc, UserError):
        return _one_line(str(exc)) or type(exc).__name__
    is_path_error = isinstance(exc, _PATH_ERRORS) or (
        isinstance(exc, OSError) and exc.filename is not None and exc.errno in _PATH_FIXES)
    if not is_path_error:
        return None
    if exc.filename is None:  # raised with a message of its own, e.g. FileNotFoundError("no checkpoint at ...")
        return _one_line(str(exc)) or type(exc).__name__
    fix = _PATH_FIXES.get(exc.errno)
    reason = exc.strerror or type(exc).__name__
    return f"{exc.filename}: {reason}" + (f"; {fix}" if fix else "")


class RunnerError(UserError):
    """A request the notebook runner refuses before starting any kernel (bad name, parameter, path...)."""
