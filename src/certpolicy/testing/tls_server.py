"""Loopback TLS servers for tests: a threaded HTTPS server, and the
``openssl s_server`` command as an independent peer.

:class:`LoopbackTLSServer` serves a fixed HTTP answer over TLS with the
certificate chain and key you give it (e.g. a :class:`certpolicy.pki.IssuedCert`),
on 127.0.0.1 or ::1 and a free port, optionally requiring client
certificates. It counts TLS connections (so tests can see pool reuse).

:class:`OpenSSLServer` runs ``openssl s_server -www`` on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["LoopbackTLSServer", "OpenSSLServer", "free_port"]


class _HasChain(Protocol):
    @property
    def chain(self) -> list[x509.Certificate]: ...

    @property
    def key(self) -> Any: ...


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on loopback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _write_identity(directory: Path, chain: Sequence[x509.Certificate], key: Any) -> tuple[Path, Path]:
    cert_path = directory / "chain.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


class LoopbackTLSServer:
    """A threaded HTTPS server on loopback.

    Args:
        identity: an object with ``.chain`` (leaf first) and ``.key`` (an
            :class:`~certpolicy.pki.IssuedCert`), or pass ``chain=`` and ``key=``.
        host: ``"127.0.0.1"`` (default) or ``"::1"``.
        body: the HTTP body answered to every request.
        client_ca: certificates that client certificates must chain to; when
            set, a client certificate is required.
        send_chain: how many certificates of ``chain`` to send (e.g. 1 = leaf
            only, to test missing intermediates); default all.
        alpn: ALPN protocols to offer.
        port: port to bind (default 0: a free one).
    """

    def __init__(
        self,
        identity: _HasChain | None = None,
        *,
        chain: Sequence[x509.Certificate] | None = None,
        key: Any = None,
        host: str = "127.0.0.1",
        body: bytes = b"hello from certpolicy test server\n",
        client_ca: Sequence[x509.Certificate] | None = None,
        send_chain: int | None = None,
        alpn: Sequence[str] | None = None,
        port: int = 0,
    ) -> None:
        if host != "::1" and not host.startswith("127."):
            raise ValueError("LoopbackTLSServer binds to loopback only (127.0.0.0/8 or ::1)")
        if identity is not None:
            chain, key = identity.chain, identity.key
        if not chain or key is None:
            raise ValueError("a certificate chain and key are needed")
        self.host = host
        self.body = body
        self._tmp = tempfile.TemporaryDirectory(prefix="certpolicy-tls-")
        chain = list(chain)[: send_chain or None]
        cert_path, key_path = _write_identity(Path(self._tmp.name), chain, key)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        if alpn:
            self.context.set_alpn_protocols(list(alpn))
        if client_ca:
            ca_path = Path(self._tmp.name) / "client-ca.pem"
            ca_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in client_ca))
            self.context.load_verify_locations(ca_path)
            self.context.verify_mode = ssl.CERT_REQUIRED
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.connections = 0
        self.handshake_errors: list[str] = []
        self.client_certs: list[bytes | None] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def url(self, path: str = "/", hostname: str | None = None) -> str:
        """``https://HOST:PORT/path``; ``hostname`` replaces the address (the
        caller must then make the name resolve to loopback or pass the address)."""
        h = hostname or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"https://{h}:{self.port}{path}"

    def start(self) -> LoopbackTLSServer:
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"tls-server-{self.port}")
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self._lock:
                self.handshake_errors.append(str(e))
            conn.close()
            return
        with self._lock:
            self.connections += 1
            self.client_certs.append(tls.getpeercert(True))
        try:
            while not self._stop.is_set():
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                    + str(len(self.body)).encode()
                    + b"\r\nConnection: keep-alive\r\n\r\n"
                )
                tls.sendall(head + self.body)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        finally:
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._tmp.cleanup()

    def __enter__(self) -> LoopbackTLSServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class OpenSSLServer:
    """``openssl s_server -www`` on a free loopback port: an independent TLS peer.

    Args:
        identity / chain / key: as :class:`LoopbackTLSServer`.
        extra_args: more ``s_server`` arguments.
    """

    def __init__(
        self,
        identity: _HasChain | None = None,
        *,
        chain: Sequence[x509.Certificate] | None = None,
        key: Any = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        exe = shutil.which("openssl")
        if exe is None:
            raise RuntimeError("the openssl command is not installed")
        if identity is not None:
            chain, key = identity.chain, identity.key
        if not chain or key is None:
            raise ValueError("a certificate chain and key are needed")
        self._tmp = tempfile.TemporaryDirectory(prefix="certpolicy-s_server-")
        d = Path(self._tmp.name)
        leaf_path, key_path = _write_identity(d, list(chain)[:1], key)
        extra = list(chain)[1:]
        args = [exe, "s_server", "-accept", "0", "-naccept", "100000", "-www", "-cert", str(leaf_path), "-key", str(key_path)]
        if extra:
            (d / "extra.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in extra))
            args += ["-cert_chain", str(d / "extra.pem")]
        self.port = free_port()
        args[args.index("-accept") + 1] = f"127.0.0.1:{self.port}"
        self._args = args + list(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self.host = "127.0.0.1"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def url(self, path: str = "/", hostname: str | None = None) -> str:
        return f"https://{hostname or self.host}:{self.port}{path}"

    def start(self) -> OpenSSLServer:
        self._proc = subprocess.Popen(self._args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"openssl s_server exited: {err}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("openssl s_server did not start listening")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> OpenSSLServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m certpolicy.testing.tls_server CHAIN.pem KEY.pem [--host H]``:
    serve in the foreground (benchmarks run the server in another process);
    prints the port on the first line of stdout."""
    import argparse

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    ap = argparse.ArgumentParser(prog="python -m certpolicy.testing.tls_server")
    ap.add_argument("chain")
    ap.add_argument("key")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    chain = x509.load_pem_x509_certificates(Path(args.chain).read_bytes())
    key = load_pem_private_key(Path(args.key).read_bytes(), None)
    srv = LoopbackTLSServer(chain=chain, key=key, host=args.host).start()
    print(srv.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
