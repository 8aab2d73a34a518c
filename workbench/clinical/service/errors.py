"""Errors of the FHIR service, answered as OperationOutcomes, and the redaction every text passes through.

Nothing the client sent is ever logged: a log line names the exception type, the route template and the
request id. Diagnostics that must quote a value go through :func:`redact` first.
"""

from __future__ import annotations

import json
import logging
import re

from starlette.responses import Response

__all__ = ["FHIR_JSON", "FhirError", "install_log_redaction", "operation_outcome", "outcome_response", "redact"]

FHIR_JSON = "application/fhir+json"
# Shaped like a Taiwanese national id, also when glued to letters (``xA182213715``) or lower-cased:
# redaction errs on the side of hiding. Only a digit run longer than the id stops a match.
_NATIONAL_ID = re.compile(r"(?<![0-9])[A-Za-z][12][0-9]{8}(?![0-9])")
# A bearer token in a query string or a log line (``access_token=...``) is never written out.
_ACCESS_TOKEN = re.compile(r"(access_token(?:=|%3D))[^&\s\"']*", re.IGNORECASE)
log = logging.getLogger("workbench.fhir")

STATUS_ISSUE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                406: "not-supported", 409: "duplicate", 413: "too-costly", 415: "not-supported",
                422: "processable", 429: "throttled", 500: "exception", 503: "transient"}  # fmt: skip


class FhirError(Exception):
    """An error answered as an OperationOutcome: HTTP ``status``, FHIR issue ``code``, ``diagnostics``."""

    def __init__(self, status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers or {}


def redact(text: str) -> str:
    """Replace anything shaped like a national id, and any ``access_token=`` value, with a marker."""
    return _ACCESS_TOKEN.sub(r"\1[redacted]", _NATIONAL_ID.sub("[redacted-id]", text))


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict:
    """A one-issue OperationOutcome (``code`` from the FHIR IssueType value set)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": redact(diagnostics)}],
    }


def outcome_response(status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(operation_outcome(code, diagnostics), separators=(",", ":"))
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


class _RedactFilter(logging.Filter):
    """Redact ids and tokens in a record's message and arguments, keeping the argument structure
    (uvicorn's access formatter unpacks ``record.args``). Tracebacks are dropped: their frames can quote
    request values, and a deep one is large enough to stall a process whose stderr is a slow pipe."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "exception"
            record.msg = f"{record.msg} [{kind}; traceback withheld]"
            record.exc_info = None
            record.exc_text = None
        return True


def install_log_redaction() -> None:
    """Attach the redaction filter to the service's and uvicorn's loggers (idempotent)."""
    for name in ("workbench.fhir", "workbench.fhir.audit", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in logger.filters):
            logger.addFilter(_RedactFilter())
