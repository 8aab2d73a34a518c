"""Run the service with uvicorn on a loopback port in a background thread, and stop it for sure.

A notebook or a benchmark needs the real HTTP server (sockets, uvicorn's protocol handling) without a
second terminal. The server runs in a daemon thread of the current process; ``stop()`` asks uvicorn
to exit and joins the thread, and an ``atexit`` hook does the same if the caller never gets there.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from workbench.clinical.service._postgres import free_loopback_port

__all__ = ["BackgroundServer", "serve_in_background"]


@dataclass
class BackgroundServer:
    """A uvicorn server running in a thread; ``url`` is its base address (``http://127.0.0.1:PORT``)."""

    host: str
    port: int
    _server: object = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to shut down (finishing in-flight requests) and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)


def start_server(app, host: str = "127.0.0.1", port: int | None = None, *, log_level: str = "warning",
                 access_log: bool = False, timeout: float = 30.0, http=None) -> BackgroundServer:  # fmt: skip
    """Start ``app`` under uvicorn in a daemon thread; return once it accepts connections.

    ``http``: ``"httptools"`` (default when installed), ``"h11"``, or a protocol class of :mod:`._protocol`.
    """
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"start_server(host): this helper binds loopback only, got {host!r}")
    port = free_loopback_port() if port is None else port
    from workbench.clinical.service._protocol import uvicorn_config

    settings = getattr(getattr(app, "state", None), "config", None)
    config = uvicorn_config(app, host=host, port=port, log_level=log_level, access_log=access_log,
                            header_timeout_s=getattr(settings, "header_timeout_s", 10.0),
                            keep_alive_s=getattr(settings, "keep_alive_s", 5), http=http)  # fmt: skip
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread; in a worker thread it must not try.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn exited during start-up on {host}:{port} (port taken, or the app's lifespan failed)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"uvicorn did not start on {host}:{port} within {timeout:.0f} s")
        time.sleep(0.02)
    handle = BackgroundServer(host=host, port=port, _server=server, _thread=thread)
    atexit.register(handle.stop)
    return handle


@contextmanager
def serve_in_background(app, host: str = "127.0.0.1", port: int | None = None, **kwargs) -> Iterator[BackgroundServer]:
    """Context manager around :func:`start_server`: the server is stopped when the block exits."""
    handle = start_server(app, host, port, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()
        atexit.unregister(handle.stop)
