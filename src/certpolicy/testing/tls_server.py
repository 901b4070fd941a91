"""Loopback TLS servers for tests: a threaded HTTPS server, and the
``openssl s_server`` command as an independent peer.

:class:`LoopbackTLSServer` serves a fixed HTTP answer over TLS with the
certificate chain and key you give it (e.g. a :class:`certpolicy.pki.IssuedCert`),
on 127.0.0.1 or ::1 and a free port, optionally requiring client
certificates. It counts TLS connections (so tests can see pool reuse).

:class:`LoopbackTLSServer` speaks the fault vocabulary of
:mod:`certpolicy.testing.faults` (``srv.fault("stale")`` serves an expired
copy of its certificate, ``srv.fault("reset")`` resets every connection ...)
and records each connection (method ``"TLS"``) and HTTP request it gets.

:class:`OpenSSLServer` runs ``openssl s_server -www`` on a free loopback port.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import socket
import ssl
import struct
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

from .fault_certs import faulty_chain
from .faults import FAULTS, FaultInjectable, garbage_bytes, wait_while

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


class LoopbackTLSServer(FaultInjectable):
    """A threaded HTTPS server on loopback.

    Faults (:meth:`fault`): every name but ``bad_nonce``. ``slow`` delays
    the handshake, ``stall`` accepts and never shakes hands, ``garbage`` sends
    bytes that are not TLS, ``reset`` resets the connection at once,
    ``refuse`` closes the port; ``drip``, ``http_500`` and ``oversized``
    change the HTTP answer; ``stale``, ``future``, ``wrong_signer`` and
    ``unauthorised_delegate`` serve a re-signed certificate (they need an
    ``identity`` issued by a :class:`certpolicy.pki.CA`).

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

    Raises:
        ValueError: a host that is not loopback, or no chain and key.
    """

    supported_faults = frozenset(FAULTS) - {"bad_nonce"}

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
        self._init_faults()
        self._identity = identity
        self._key = key
        self._tmp = tempfile.TemporaryDirectory(prefix="certpolicy-tls-")
        self._alpn = list(alpn) if alpn else None
        self._client_ca_path: Path | None = None
        if client_ca:
            self._client_ca_path = Path(self._tmp.name) / "client-ca.pem"
            self._client_ca_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in client_ca))
        chain = list(chain)[: send_chain or None]
        self.context = self._make_context(chain, "identity")
        self._fault_contexts: dict[tuple[str, float], ssl.SSLContext] = {}
        self._sock = self._listen(port)
        self.port = int(self._sock.getsockname()[1])
        self.connections = 0
        self.handshake_errors: list[str] = []
        self.client_certs: list[bytes | None] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._listening = True

    def _make_context(self, chain: Sequence[x509.Certificate], stem: str) -> ssl.SSLContext:
        directory = Path(self._tmp.name) / stem
        directory.mkdir(exist_ok=True)
        cert_path, key_path = _write_identity(directory, chain, self._key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        if self._alpn:
            context.set_alpn_protocols(self._alpn)
        if self._client_ca_path is not None:
            context.load_verify_locations(self._client_ca_path)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def _listen(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((self.host, port))
        sock.listen(128)
        sock.settimeout(0.2)
        return sock

    # -- faults ----------------------------------------------------------------

    @property
    def count(self) -> int:
        """TCP connections accepted so far (handshakes that failed included)."""
        return sum(1 for a in self.log if a.method == "TLS")

    def _check_fault(self, name: str, params: Any) -> None:
        if name in ("stale", "future", "wrong_signer", "unauthorised_delegate"):
            self._fault_context(name, params.get("by"))

    def _fault_context(self, name: str, by: Any) -> ssl.SSLContext:
        delta = by if isinstance(by, _dt.timedelta) else _dt.timedelta(days=1)
        key = (name, delta.total_seconds())
        with self._lock:
            ctx = self._fault_contexts.get(key)
        if ctx is None:
            ctx = self._make_context(faulty_chain(self._identity, name, delta), f"{name}-{len(self._fault_contexts)}")
            with self._lock:
                self._fault_contexts[key] = ctx
        return ctx

    def _faults_changed(self) -> None:
        refuse = self.active_fault("refuse") is not None
        with self._lock:
            if refuse and self._listening:
                self._sock.close()
                self._listening = False
                thread = self._thread
            elif not refuse and not self._listening and not self._stop.is_set():
                self._sock = self._listen(self.port)
                self._listening = True
                thread = None
                if self._running:
                    self._start_thread()
            else:
                return
        if thread is not None:
            thread.join(timeout=5)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def url(self, path: str = "/", hostname: str | None = None) -> str:
        """``https://HOST:PORT/path``; ``hostname`` replaces the address (the
        caller must then make the name resolve to loopback or pass the address)."""
        h = hostname or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"https://{h}:{self.port}{path}"

    def start(self) -> LoopbackTLSServer:
        """Start accepting in a daemon thread; returns ``self``."""
        with self._lock:
            self._running = True
            if self._listening:
                self._start_thread()
        return self

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._serve, args=(self._sock,), daemon=True, name=f"tls-server-{self.port}")
        self._thread.start()

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._handle, args=(conn, peer), daemon=True).start()

    def _handle(self, conn: socket.socket, peer: Any = "") -> None:
        conn.settimeout(5)
        self._record("TLS", "", peer)
        if self.active_fault("reset") is not None:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        stall = self.active_fault("stall")
        if stall is not None:
            wait_while(lambda: self.active_fault("stall") is not None, float(stall.get("seconds", 60.0)), self._stop)
            conn.close()
            return
        garbage = self.active_fault("garbage")
        if garbage is not None:
            try:
                conn.sendall(garbage_bytes(int(garbage.get("size", 256))))
            except OSError:
                pass
            conn.close()
            return
        slow = self.active_fault("slow")
        if slow is not None:
            wait_while(lambda: True, float(slow.get("seconds", 1.0)), self._stop)
        context = self.context
        content = self.active_fault("stale", "future", "wrong_signer", "unauthorised_delegate")
        if content is not None:
            context = self._fault_context(content.name, content.get("by"))
        try:
            tls = context.wrap_socket(conn, server_side=True)
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
                self._answer(tls, data, peer)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def _answer(self, tls: ssl.SSLSocket, request: bytes, peer: Any) -> None:
        """Answer one HTTP request (under the HTTP faults)."""
        line = request.split(b"\r\n", 1)[0].decode("latin-1").split()
        method, path = (line[0], line[1]) if len(line) >= 2 else ("", "")
        self._record(method, path, peer)
        if self.active_fault("reset") is not None:
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()
            return
        status, reason, body = 200, "OK", self.body
        err = self.active_fault("http_500")
        if err is not None:
            status, reason, body = int(err.get("status", 500)), "Internal Server Error", b"internal server error\n"
        big = self.active_fault("oversized")
        if big is not None:
            size = int(big.get("size", 21_000_000))
            body = (body + b"\x00" * size)[:size]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
            "\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        drip = self.active_fault("drip")
        if drip is None:
            tls.sendall(head + body)
            return
        tls.sendall(head)
        interval = float(drip.get("interval", 0.05))
        for i in range(len(body)):
            if self._stop.is_set():
                return
            tls.sendall(body[i : i + 1])
            time.sleep(interval)

    def stop(self) -> None:
        """Stop accepting, close the port and remove the key files."""
        self._stop.set()
        try:
            with self._lock:
                self._sock.close()
                self._listening = False
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
