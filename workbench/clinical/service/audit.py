"""The audit trail: one JSON line per data or auth request - who, what route, which resource ids, outcome.

Fields: ``time`` (UTC ISO 8601), ``request_id`` (also sent as ``X-Request-ID``), ``principal`` (the token's
subject, or null), ``method``, ``route`` (the route template, e.g. ``/fhir/Patient/{patient_id}``, never
the raw path), ``ids`` (ids of the resources served or created: pseudonyms and UUIDs only, as stored),
``status``. Nothing the client typed is written, so nothing needs redacting.

Writing happens on a background thread that drains a bounded buffer every ``flush_s`` seconds: a slow disk
or a blocked pipe can delay the trail, never a request (the service once stalled on a blocked stderr).
Recording is a ``deque.append`` - no lock handed to another thread per request, which profiling showed
cost more than the database read itself. If the buffer is full a record is dropped and counted in
:attr:`AuditLog.dropped`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from pathlib import Path

__all__ = ["AuditLog"]

log = logging.getLogger("workbench.fhir.audit")


class AuditLog:
    """Append-only JSONL audit records, to ``path`` or (when None) to the ``workbench.fhir.audit`` logger."""

    def __init__(self, path: str | Path | None = None, *, max_buffer: int = 100_000, flush_s: float = 0.2) -> None:
        self.path = Path(path) if path else None
        self.dropped = 0
        self.flush_s = flush_s
        self._max = max_buffer
        self._buffer: deque = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="fhir-audit", daemon=True)
        self._thread.start()

    def record(self, **fields) -> None:
        if len(self._buffer) >= self._max:
            self.dropped += 1
            return
        # The clock is read here, the timestamp formatted by the writer thread (off the request's path).
        fields["time"] = time.time()
        self._buffer.append(fields)

    def _write_pending(self, handle) -> None:
        lines = []
        while self._buffer:
            fields = self._buffer.popleft()
            when = dt.datetime.fromtimestamp(fields.pop("time"), dt.timezone.utc).isoformat(timespec="milliseconds")
            lines.append(json.dumps({"time": when, **fields}, separators=(",", ":"), ensure_ascii=True))
        if not lines:
            return
        if handle is not None:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
        else:
            for line in lines:
                log.info(line)

    def _drain(self) -> None:
        handle = None
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = self.path.open("a", encoding="utf-8")
            while not self._stop.wait(self.flush_s):
                self._write_pending(handle)
            self._write_pending(handle)
        finally:
            if handle is not None:
                handle.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until what was recorded so far is written (tests; shutdown uses :meth:`close`)."""
        deadline = dt.datetime.now().timestamp() + timeout
        while self._buffer and dt.datetime.now().timestamp() < deadline:
            self._stop.wait(self.flush_s / 4)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is buffered, then stop the writer thread."""
        self._stop.set()
        self._thread.join(timeout)
