"""The outermost layer of the service: pure ASGI middleware that every request passes first and last.

In order, per request:

1. a request id (``X-Request-ID`` on the response, in the audit record and in any error log line);
2. the ``Host`` header must name a configured host (400 otherwise: links are never built from it anyway);
3. ``access_token`` in the query string is refused (RFC 6750 §2.3 allows it, but URLs end up in logs),
   and the token is blanked in the ASGI scope *before* uvicorn's access log reads it;
4. the decoded path and query must carry no NUL, no lone surrogate, no clear national id and no
   source-table name (the offending text is blanked in the scope too, so the access log never holds it);
5. security headers on every answer: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
   ``Cache-Control: no-store`` on data and auth routes, a Content-Security-Policy on ``/docs``;
6. any exception escaping the app becomes a 500 OperationOutcome and *one* log line (type, route
   template, request id); it is not re-raised. Re-raising is what let uvicorn print a 130 kB
   RecursionError traceback from the event-loop thread: with stderr on a pipe nobody drained, that
   write blocked the loop and with it every route;
7. an audit record for data and auth routes (:mod:`.audit`).
"""

from __future__ import annotations

import itertools
import logging
import os
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.clinical.service._json import bad_string
from workbench.clinical.service.errors import outcome_response

__all__ = ["BodySizeLimit", "RequestGuard"]

log = logging.getLogger("workbench.fhir")
_NOT_AUDITED = ("/fhir/metadata", "/docs", "/openapi.json")
# Request ids need to be unique, not secret: a random per-process prefix and a counter (no
# ``getrandom`` system call per request, as ``secrets.token_hex`` made). Shaped so that redaction can
# never mistake one for a national id (a letter, 1 or 2, eight digits): 8 hex characters are too short
# for one, and the decimal counter after "-" has no letter before it. Random hex could (about once in
# 10,000 ids), and then the id in a 500's diagnostics was redacted.
_ID_PREFIX = os.urandom(4).hex()
_ID_COUNTER = itertools.count(1)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestGuard:
    """See the module docstring. ``state`` is the app's state (config, privacy guard, audit log)."""

    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"{_ID_PREFIX}-{next(_ID_COUNTER)}"
        scope.setdefault("state", {})["request_id"] = request_id
        path = scope["path"]
        status_seen = [0]
        extra = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff"),
                 (b"x-frame-options", b"DENY")]  # fmt: skip
        if path.startswith(("/fhir/", "/auth/", "/users/", "/coding/")) and path != "/fhir/metadata":
            extra.append((b"cache-control", b"no-store"))
        if path.startswith("/docs"):
            extra.append((b"content-security-policy", self.state.docs_csp.encode()))
        else:
            extra.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        refusal = self._refusal(scope)
        try:
            if refusal is not None:
                await outcome_response(*refusal)(scope, receive, guarded_send)
            else:
                await self.app(scope, receive, guarded_send)
        except ClientDisconnect:
            pass  # the client went away, or its body missed the body deadline (already answered 408)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback, no text
            log.error("unhandled %s on %s %s request_id=%s", type(exc).__name__, scope["method"],
                      _route(scope), request_id)  # fmt: skip
            if not status_seen[0]:
                await outcome_response(500, "exception", f"internal error (request id {request_id})")(
                    scope, receive, guarded_send
                )
        finally:
            if path.startswith(("/fhir/", "/auth/", "/users/", "/coding/")) and path not in _NOT_AUDITED:
                st = scope.get("state", {})
                self.state.audit.record(
                    request_id=request_id, principal=st.get("principal"), method=scope["method"],
                    route=_route(scope), ids=st.get("audit_ids", []), status=status_seen[0],
                )  # fmt: skip

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = scope["headers"]
        host = next((v for k, v in headers if k == b"host"), None)
        if host is None or _host_name(host.decode("latin-1")) not in self.state.allowed_hosts:
            return 400, "security", "the Host header names no host this service answers for"
        raw_query = scope.get("query_string", b"")
        if raw_query:
            pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                              errors="surrogateescape")  # fmt: skip
            if any(k == "access_token" for k, _ in pairs):
                scope["query_string"] = b"[redacted]"
                return 400, "security", "send the token in an Authorization: Bearer header, never in the URL"
            for key, value in pairs:
                problem = bad_string(key) or bad_string(value)
                if problem:
                    return 400, "invalid", f"a query parameter contains {problem} (send UTF-8 text)"
            found = self.state.privacy.problem_in(s for pair in pairs for s in pair)
            if found:
                scope["query_string"] = b"[redacted]"
                return 400, "security", f"the query carries {found}; search by pseudonymous ids only"
            # Checked: valid UTF-8 (else a surrogate escape was refused above), so these are exactly the pairs
            # Starlette's parser would produce. The searches reuse them instead of parsing the query again.
            scope["state"]["query_items"] = pairs
        path = scope["path"]
        problem = bad_string(path)
        if problem:
            return 400, "invalid", f"the path contains {problem}"
        found = self.state.privacy.problem(path)
        if found:
            scope["path"], scope["raw_path"] = "/[redacted]", b"/[redacted]"
            return 400, "security", f"the path carries {found}; refer to resources by their pseudonymous ids"
        return None


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "(no route)"


class BodySizeLimit:
    """Pure ASGI middleware: refuse request bodies over ``max_bytes`` with 413 before the app reads them.

    A declared ``Content-Length`` is checked up front; a chunked body is counted as it streams in, so
    a client cannot get round the limit by not declaring a length.
    """

    class _TooLarge(Exception):
        pass

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                await outcome_response(400, "invalid", "Content-Length must be a number")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodySizeLimit._TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodySizeLimit._TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = outcome_response(413, "too-costly", f"the request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)
