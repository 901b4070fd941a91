"""certpolicy.fetch: every bound holds, including against a server that
drips its status line and headers (the total deadline is a hard limit)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from certpolicy.fetch import FetchError, FetchHTTPStatus, FetchTimeout, FetchTooLarge, fetch
from certpolicy.policy import FetchLimits
from certpolicy.testing.http_server import LoopbackHTTPServer

LIMITS = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=1.5, max_bytes=10_000)


@pytest.fixture
def dripping_server() -> Iterator[tuple[str, threading.Event]]:
    """Sends a status line, then one header line every 0.3 s, forever."""
    stop = threading.Event()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.is_set():
                    conn.sendall(b"X-Drip: a\r\n")
                    time.sleep(0.3)
            except OSError:
                pass
            finally:
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/ca.crl", stop
    stop.set()
    t.join(timeout=5)
    srv.close()


def test_dripped_headers_end_at_the_total_deadline(dripping_server: tuple[str, threading.Event]) -> None:
    url, _ = dripping_server
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch(url, limits=LIMITS)
    assert time.monotonic() - started < LIMITS.total_timeout + 1.0


def test_dripped_body_ends_at_the_total_deadline() -> None:
    with LoopbackHTTPServer() as srv:
        srv.route("/slow", b"x" * 200, drip=0.05)
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            fetch(srv.url("/slow"), limits=LIMITS)
        assert time.monotonic() - started < LIMITS.total_timeout + 1.0


def test_size_status_and_scheme_bounds() -> None:
    with LoopbackHTTPServer() as srv:
        srv.route("/big", b"x" * 20_000, omit_length=True)
        srv.route("/err", b"nope", status=500)
        srv.route("/redirect", b"", status=302, headers={"Location": "file:///etc/passwd"})
        with pytest.raises(FetchTooLarge):
            fetch(srv.url("/big"), limits=LIMITS)
        with pytest.raises(FetchHTTPStatus):
            fetch(srv.url("/err"), limits=LIMITS)
        with pytest.raises(FetchError, match="non-HTTP"):
            fetch(srv.url("/redirect"), limits=LIMITS)
    with pytest.raises(FetchError, match="unsupported URL scheme"):
        fetch("ldap://127.0.0.1/cn=x", limits=LIMITS)
