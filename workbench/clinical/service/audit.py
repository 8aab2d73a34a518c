"""The audit trail: one JSON line per data or auth request - who, what route, which resource ids, outcome.

Fields: ``time`` (UTC ISO 8601), ``request_id`` (also sent as ``X-Request-ID``), ``principal`` (the token's
subject, or null), ``method``, ``route`` (the route template, e.g. ``/fhir/Patient/{patient_id}``, never
the raw path), ``ids`` (ids of the resources served or created: pseudonyms and UUIDs only, as stored),
``status``. Nothing the client typed is written, so nothing needs redacting.

Writing happens on a background thread fed by a bounded queue: a slow disk or a blocked pipe can delay
the trail, never a request (the service once stalled on a blocked stderr). If the queue is full a record
is dropped and counted in :attr:`AuditLog.dropped`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
from pathlib import Path

__all__ = ["AuditLog"]

log = logging.getLogger("workbench.fhir.audit")


class AuditLog:
    """Append-only JSONL audit records, to ``path`` or (when None) to the ``workbench.fhir.audit`` logger."""

    def __init__(self, path: str | Path | None = None, *, max_queue: int = 10_000) -> None:
        self.path = Path(path) if path else None
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._drain, name="fhir-audit", daemon=True)
        self._thread.start()

    def record(self, **fields) -> None:
        fields = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"), **fields}
        try:
            self._queue.put_nowait(json.dumps(fields, separators=(",", ":"), ensure_ascii=True))
        except queue.Full:
            self.dropped += 1

    def _drain(self) -> None:
        handle = None
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = self.path.open("a", encoding="utf-8")
            while True:
                line = self._queue.get()
                if line is None:
                    break
                if handle is not None:
                    handle.write(line + "\n")
                    if self._queue.empty():
                        handle.flush()
                else:
                    log.info(line)
        finally:
            if handle is not None:
                handle.close()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
