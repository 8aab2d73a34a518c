"""The opt-in latency log: one JSON line per request, kept in memory too, never fatal to the viewer.

A full disk (``ENOSPC``), a vanished network drive or a read-only file system must not break slicing:
the log is a diagnostic. On the first failed write the file is closed, logging to disk stops, the reason is
kept in ``error`` (the viewer shows it once in its status line) and records keep accumulating in memory.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import Any

from workbench.errors import UserError


def read_latency_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a viewer's latency log (JSON lines) back into a list of records (a torn last line is skipped)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # the line a full disk cut short
    return records


class LatencyLog:
    """Appends records to ``path`` (if given) and to ``records`` (the newest ``keep`` of them)."""

    def __init__(self, path: str | os.PathLike | None, *, keep: int = 100_000, opener: Any = open) -> None:
        self.path = Path(path) if path is not None else None
        self.records: deque[dict[str, Any]] = deque(maxlen=keep)
        self.error: str | None = None
        self._file = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = opener(self.path, "w", encoding="utf-8")
            except OSError as exc:
                raise UserError(f"latency_log: cannot write {self.path} ({exc.strerror or exc}); pick another path") from None

    @property
    def enabled(self) -> bool:
        """Whether records are written to the file."""
        return self._file is not None

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as exc:
            self.error = f"latency log stopped writing {self.path}: {exc.strerror or exc}; records stay in memory"
            self._close_quietly()

    def _close_quietly(self) -> None:
        handle, self._file = self._file, None
        try:
            handle.close()
        except OSError:
            pass  # closing flushes again, and the disk is still full

    def close(self) -> None:
        if self._file is not None:
            self._close_quietly()
