"""uvicorn, configured against slow clients: header and body deadlines, keep-alive, no server banner.

uvicorn bounds idle keep-alive connections but not a request whose headers or body trickle in
(slowloris, and its slow-body variant "R-U-Dead-Yet"): its protocols wait for the rest of a request as
long as the client keeps the socket open. The protocols below add two deadlines per request:

* **headers**: armed when a connection opens and again after every response; if the next request's
  headers are not complete by then, the connection is closed;
* **body**: armed when a request's headers are complete and its body is still to come; if the body is
  not complete by then, the client gets ``408`` (an OperationOutcome) and the connection is closed. The
  app's pending ``receive()`` sees ``http.disconnect``.

Both HTTP implementations of uvicorn get them: ``httptools`` (a C parser; the default when installed,
the service's hot path) and ``h11`` (pure Python, the fallback). With httptools, a response's status
line and headers are also held back until its first body bytes, so a small response leaves in one
``write`` (one segment, one wake-up of the client) instead of two.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeaderTimeoutH11Protocol", "default_http", "protocol_class", "uvicorn_config"]

_OUTCOME = json.dumps({"resourceType": "OperationOutcome", "issue": [{
    "severity": "error", "code": "timeout",
    "diagnostics": "the request body did not arrive in time; send it at once after the headers"}]},
    separators=(",", ":")).encode()  # fmt: skip
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/fhir+json\r\n"
    b"content-length: " + str(len(_OUTCOME)).encode() + b"\r\nconnection: close\r\n"
    b"cache-control: no-store\r\nx-content-type-options: nosniff\r\n\r\n" + _OUTCOME
)


class _Deadlines:
    """Header and body deadlines, shared by the h11 and httptools protocols (a mixin before either)."""

    header_timeout = 10.0
    body_timeout = 10.0
    _header_deadline = None
    _body_deadline = None

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _after_input(self) -> None:
        """After parsing received bytes: which deadline, if any, now applies."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return  # still waiting for the next request's headers
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        if cycle.more_body and not cycle.disconnected:
            if self._body_deadline is None:
                self._body_deadline = self.loop.call_later(self.body_timeout, self._body_overdue)
        elif self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _cancel_deadlines(self) -> None:
        for name in ("_header_deadline", "_body_deadline"):
            handle = getattr(self, name)
            if handle is not None:
                handle.cancel()
                setattr(self, name, None)

    def _headers_overdue(self) -> None:
        self._header_deadline = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def _body_overdue(self) -> None:
        self._body_deadline = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.response_complete or self.transport.is_closing():
            return
        if not cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        # The app's receive() now answers http.disconnect and its send() is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()


class HeaderTimeoutH11Protocol(_Deadlines, H11Protocol):
    """uvicorn's h11 protocol with the header and body deadlines."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        self._after_input()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc) -> None:
        self._cancel_deadlines()
        super().connection_lost(exc)


try:  # httptools is optional (uvicorn[standard]); without it the service runs on h11
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle as _HttpToolsCycle
except ImportError:  # pragma: no cover - depends on the environment
    HttpToolsProtocol = None


class _HeldWrites:
    """Stands in for the transport while a response's head is rendered: keeps the bytes."""

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)


class _PrefixedWrites:
    """Stands in for the transport during the first body message: the held head goes out with it."""

    __slots__ = ("head", "real")

    def __init__(self, real, head: bytes) -> None:
        self.real = real
        self.head = head

    def write(self, data: bytes) -> None:
        if self.head:
            data, self.head = self.head + data, b""
        self.real.write(data)

    def __getattr__(self, name):  # close(), is_closing() ... of the real transport
        return getattr(self.real, name)


if HttpToolsProtocol is not None:

    class _OneWriteCycle(_HttpToolsCycle):
        """httptools request cycle that sends the head of a response together with its first body bytes."""

        _held: bytes | None = None

        async def send(self, message) -> None:
            if message["type"] == "http.response.start" and not self.response_started:
                real, hold = self.transport, _HeldWrites()
                self.transport = hold
                try:
                    await super().send(message)
                finally:
                    self.transport = real
                self._held = b"".join(hold.chunks)
                return
            if self._held is None:
                await super().send(message)
                return
            real = self.transport
            self.transport = prefixed = _PrefixedWrites(real, self._held)
            self._held = None
            try:
                await super().send(message)
            finally:
                self.transport = real
                if prefixed.head and not real.is_closing():  # no body bytes written (HEAD, empty body)
                    real.write(prefixed.head)

    class HeaderTimeoutHttpToolsProtocol(_Deadlines, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header and body deadlines and one write per small response."""

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._after_input()

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and type(cycle) is _HttpToolsCycle:
                # The ASGI task was created but has not run yet: it looks ``send`` up on the instance
                # when it starts, so the subclass's send is the one used.
                cycle.__class__ = _OneWriteCycle

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()

        def connection_lost(self, exc) -> None:
            self._cancel_deadlines()
            super().connection_lost(exc)

else:  # pragma: no cover
    HeaderTimeoutHttpToolsProtocol = None


def default_http() -> str:
    """``httptools`` when it is installed, else ``h11``."""
    return "httptools" if HeaderTimeoutHttpToolsProtocol is not None else "h11"


def protocol_class(http: str | None = None, *, header_timeout_s: float = 10.0, body_timeout_s: float = 10.0):
    """The protocol class for uvicorn's ``http=`` setting, with the deadlines bound in."""
    http = http or default_http()
    if http == "httptools":
        if HeaderTimeoutHttpToolsProtocol is None:
            raise ValueError("http='httptools' needs the httptools package (pip install httptools), or use http='h11'")
        base = HeaderTimeoutHttpToolsProtocol
    elif http == "h11":
        base = HeaderTimeoutH11Protocol
    else:
        raise ValueError(f"http must be 'httptools' or 'h11', got {http!r}")
    return type(base.__name__, (base,), {"header_timeout": float(header_timeout_s), "body_timeout": float(body_timeout_s)})


def uvicorn_config(app, *, host: str, port: int, header_timeout_s: float | None = None, keep_alive_s: int | None = None,
                   body_timeout_s: float | None = None, http: str | None = None, **kwargs):  # fmt: skip
    """A ``uvicorn.Config`` for the service: deadlines, keep-alive timeout, no ``server`` header.

    Timeouts not given come from the app's :class:`ServiceConfig` (``app.state.config``), else 10 s
    for headers and body and 5 s keep-alive. ``http``: ``httptools`` (default when installed) or ``h11``.
    """
    import uvicorn

    settings = getattr(getattr(app, "state", None), "config", None)
    header_timeout_s = getattr(settings, "header_timeout_s", 10.0) if header_timeout_s is None else header_timeout_s
    body_timeout_s = getattr(settings, "body_timeout_s", 10.0) if body_timeout_s is None else body_timeout_s
    keep_alive_s = getattr(settings, "keep_alive_s", 5) if keep_alive_s is None else keep_alive_s
    if isinstance(http, type):  # a protocol class made by protocol_class() (tests wrap one)
        protocol = http
    else:
        protocol = protocol_class(http, header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s)
    kwargs.setdefault("timeout_graceful_shutdown", 5)
    return uvicorn.Config(app, host=host, port=port, http=protocol, timeout_keep_alive=keep_alive_s,
                          server_header=False, lifespan="on", **kwargs)  # fmt: skip
