"""Behind a CONNECT proxy the socket's peer is the proxy: its address must
never classify the target (SPEC; DESIGN pitfall 6)."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import certpolicy
from certpolicy.testing.pytest_plugin import TestPKI
from certpolicy.testing.tls_server import LoopbackTLSServer


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that only tunnels to loopback."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.tunnels: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host not in ("localhost", "127.0.0.1"):
            client.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", int(port)))
        self.tunnels.append(target)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestPKI, LoopbackTLSServer]]:
    pki = TestPKI(tmp_path_factory.mktemp("proxy-pki"))
    with LoopbackTLSServer(pki.issue_server("localhost")) as srv:
        yield pki, srv


def _table(pki: TestPKI) -> certpolicy.PolicyTable:
    # The intranet policy would refuse everything (no trust anchors): if the
    # proxy's 127.0.0.1 classified the target, the connection would fail.
    return pki.table({"intranet": {"trust": {"system": False, "extra": []}}})


def test_http_client_tunnel_is_classified_by_name_only(server: Any, proxy: ConnectProxy) -> None:
    pki, srv = server
    verdicts: list[Any] = []
    ctx = certpolicy.create_ssl_context(_table(pki), on_verdict=verdicts.append)
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=10)
    conn.set_tunnel("localhost", srv.port)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    v = verdicts[-1]
    assert proxy.tunnels and v.peer_ip is None and v.policy.name == "internet"
    assert any("proxy" in w for w in v.resolution.warnings)


def test_requests_through_a_proxy_never_uses_the_proxy_address(server: Any, proxy: ConnectProxy) -> None:
    from certpolicy.integrations.requests import session

    pki, srv = server
    s = session(certpolicy.create_ssl_context(_table(pki)))
    r = s.get(srv.url("/", hostname="localhost"), proxies={"https": f"http://127.0.0.1:{proxy.port}"}, timeout=10)
    assert r.status_code == 200 and proxy.tunnels
    v = r.certpolicy_verdict  # type: ignore[attr-defined]
    assert v is not None and v.peer_ip is None and v.policy.name == "internet"
