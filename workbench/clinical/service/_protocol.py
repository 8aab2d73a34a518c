"""uvicorn, configured against slow clients: a header-read deadline, keep-alive and no server banner.

uvicorn bounds idle keep-alive connections but not a request whose headers trickle in (slowloris): its
h11 protocol waits for the end of the headers as long as the client keeps the socket open. The protocol
below arms a deadline when a connection opens and again after every response; if the next request's
headers are not complete by then, the connection is closed.
"""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeaderTimeoutH11Protocol", "uvicorn_config"]


class HeaderTimeoutH11Protocol(H11Protocol):
    """h11 protocol with a deadline for a request's headers (``header_timeout`` seconds)."""

    header_timeout = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def handle_events(self) -> None:
        super().handle_events()
        # A cycle whose response is pending means the headers of the current request are complete.
        if self.cycle is not None and not self.cycle.response_complete and self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            if self._header_deadline is not None:
                self._header_deadline.cancel()
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def connection_lost(self, exc) -> None:
        if getattr(self, "_header_deadline", None) is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)

    def _headers_overdue(self) -> None:
        self._header_deadline = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app, *, host: str, port: int, header_timeout_s: float = 10.0, keep_alive_s: int = 5, **kwargs):
    """A ``uvicorn.Config`` for the service: header deadline, keep-alive timeout, no ``server`` header."""
    import uvicorn

    protocol = type("HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": float(header_timeout_s)})
    kwargs.setdefault("timeout_graceful_shutdown", 5)
    return uvicorn.Config(app, host=host, port=port, http=protocol, timeout_keep_alive=keep_alive_s,
                          server_header=False, lifespan="on", **kwargs)  # fmt: skip
