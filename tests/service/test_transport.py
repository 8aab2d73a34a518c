"""The HTTP layer under the service (issue 22): deadlines for slow request bodies, one write per small response.

The header deadline (slowloris) is tested in ``test_hostile.py``; here the body deadline, over a real
socket for both of uvicorn's HTTP implementations, and what httptools is used for.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import httpx
import pytest

from workbench.clinical.service import create_app, serve_in_background
from workbench.clinical.service._protocol import default_http, protocol_class

pytestmark = pytest.mark.postgres


def _read_all(sock: socket.socket, limit_s: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or ``limit_s`` passes (False)."""
    sock.settimeout(0.2)
    data, deadline = b"", time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except (ConnectionResetError, OSError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_body_that_trickles_in_gets_408_and_the_connection_closes(service_config, http, caplog):
    """Issue 22 (limits noted): a request body was never time-limited, so a client could hold a request open
    for ever by sending it a byte at a time. Now it must be complete within body_timeout_s of the headers."""
    config = replace(service_config, body_timeout_s=1.0, header_timeout_s=5.0)
    with serve_in_background(create_app(config), http=http) as server:
        socks = []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
                         b"\r\nContent-Length: 200\r\n\r\ngrant_type=client_")  # fmt: skip
            socks.append(sock)
        started = time.monotonic()
        answers = [_read_all(sock, 4.0) for sock in socks]
        for sock in socks:
            sock.close()
        for data, closed in answers:
            assert closed, "the connection of a trickling body is still open after the 1 s body deadline"
            assert data.startswith(b"HTTP/1.1 408 "), data[:80]
            assert b'"resourceType":"OperationOutcome"' in data
        assert time.monotonic() - started < 4.0
        # The service is unaffected, and a body sent at once is not cut off.
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/fhir/metadata").status_code == 200
            slow_ok = client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "nobody",
                                                       "client_secret": "x" * 20})  # fmt: skip
            assert slow_ok.status_code == 401  # a full body reached the endpoint
    assert not [r for r in caplog.records if "unhandled" in r.getMessage()], "a timed-out body is not a server error"


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_body_within_the_deadline_is_served_even_when_sent_in_pieces(service_config, http):
    config = replace(service_config, body_timeout_s=2.0)
    with serve_in_background(create_app(config), http=http) as server:
        body = b"grant_type=client_credentials&client_id=nobody&client_secret=xxxxxxxxxxxxxxxxxxxx"
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
                     b"\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
        for i in range(0, len(body), 20):
            sock.sendall(body[i:i + 20])
            time.sleep(0.1)
        data, closed = _read_all(sock, 5.0)
        sock.close()
        assert data.startswith(b"HTTP/1.1 401 "), data[:80]


def test_httptools_is_the_default_and_sends_a_small_response_in_one_write(service_config):
    """The head of a response is held until its body, so it leaves in one write (one segment, one wake-up)."""
    assert default_http() == "httptools"
    writes: list[bytes] = []

    class CountingTransport:
        def __init__(self, real):
            self.real = real

        def write(self, data):
            writes.append(bytes(data))
            self.real.write(data)

        def __getattr__(self, name):
            return getattr(self.real, name)

    base = protocol_class("httptools", header_timeout_s=5, body_timeout_s=5)

    class Counting(base):
        def connection_made(self, transport):
            super().connection_made(CountingTransport(transport))

    with serve_in_background(create_app(service_config), http=Counting) as server:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(3):
                response = client.get("/fhir/metadata")
                assert response.status_code == 200 and response.json()["resourceType"] == "CapabilityStatement"
            not_found = client.get("/fhir/Patient/x", headers={"Authorization": "Bearer nope"})
            assert not_found.status_code == 401
    assert len(writes) == 4, f"expected one write per response, got {len(writes)}"
    assert all(w.startswith(b"HTTP/1.1 ") and b"\r\n\r\n{" in w for w in writes)


def test_protocol_choice_is_checked():
    with pytest.raises(ValueError, match="httptools.*h11"):
        protocol_class("h2")
