"""OCSP responders for tests: our own, with fault knobs, and a driver for
``openssl ocsp`` as an independent peer.

:class:`OcspResponder` answers OCSP requests (POST, and GET per RFC 6960
appendix A.1) on a :class:`~certpolicy.testing.http_server.LoopbackHTTPServer`
route and signs the answers with :mod:`cryptography`, as the issuing CA or as
a delegated responder. Its knobs produce what real responders get wrong::

    from certpolicy.pki import CA
    from certpolicy.testing.ocsp_responder import OcspResponder

    root = CA.create("Root")
    issuing = root.create_intermediate("Issuing")
    with OcspResponder(issuing) as responder:
        leaf = issuing.issue_server("a.example", ocsp_url=responder.url)
        responder.set_status(leaf.cert, "revoked")
        responder.next_update = None            # no nextUpdate
        responder.nonce = b"wrong"              # echo a wrong nonce
        responder.response_status = "tryLater"  # an unsuccessful responseStatus
        responder.garbage(5_000_000)            # 5 MB of garbage
        responder.stall = 10.0                  # never answer in time

:class:`OpensslOcspResponder` runs ``openssl ocsp`` with an index file of its
own (good, revoked and unknown certificates), signing as the issuer or as a
delegated responder. ``openssl ocsp -port`` binds every interface, so the
driver starts it inside a private network namespace (``unshare -rn``: only a
loopback interface exists there) and forwards a ``127.0.0.1`` port of ours to
it through a Unix socket; where namespaces are not available it runs
``openssl ocsp -reqin/-respout`` once per request behind a loopback HTTP
route instead (the same responder code, without openssl's HTTP layer).
Either way it listens on 127.0.0.1 only and is killed at teardown.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509 import ocsp

from .fault_certs import stranger_ca, undelegated
from .faults import FAULTS, FaultInjectable
from .http_server import LoopbackHTTPServer, Request

__all__ = ["OcspResponder", "OpensslOcspResponder", "Signer", "index_line"]

CertStatus = Literal["good", "revoked", "unknown"]

_RESPONSE_STATUSES: dict[str, ocsp.OCSPResponseStatus] = {
    "malformedRequest": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    "internalError": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
    "tryLater": ocsp.OCSPResponseStatus.TRY_LATER,
    "sigRequired": ocsp.OCSPResponseStatus.SIG_REQUIRED,
    "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
}


@dataclass(frozen=True)
class Signer:
    """A certificate and its private key (a CA or a delegated responder).

    ``certpolicy.pki.CA`` and ``IssuedCert`` objects have the same two
    attributes and can be passed wherever a Signer is expected."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _sign_hash(key: object) -> hashes.HashAlgorithm | None:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


class OcspResponder(FaultInjectable):
    """An OCSP responder fixture with fault knobs (RFC 6960), on loopback.

    It speaks the fault vocabulary of :mod:`certpolicy.testing.faults`
    (``responder.fault("stale")``; every name) and records the requests on
    its route (``responder.count``, ``.paths``, ``.timestamps``).

    Args:
        issuer: the CA whose certificates it answers for (``.cert`` and ``.key``:
            a :class:`certpolicy.pki.CA` or a :class:`Signer`).
        server: a running :class:`LoopbackHTTPServer` to add the route to
            (default: its own, started on ``127.0.0.1`` port 0 and stopped on
            :meth:`stop`).
        path: the route (requests to ``path`` and ``path/<base64>`` are answered).
        signer: who signs (default: the issuer itself); a delegated responder
            certificate (``CA.issue_ocsp_responder``), or any other
            certificate + key for the unauthorised-signer faults.
        clock: returns "now" (aware UTC) for thisUpdate/nextUpdate; default the
            wall clock. Tests with an injected validation time pass the same time.
        follow_revocations: answer "revoked" for serials the issuer recorded with
            :meth:`certpolicy.pki.CA.revoke` (and not set in :attr:`statuses`).

    Knobs (plain attributes, change them at any time):
        statuses: ``{serial: "good" | "revoked" | "unknown"}``; serials not
            listed are ``default_status``.
        default_status: status of serials not in ``statuses`` (``"good"``).
        revocation_time / revocation_reason: for revoked answers.
        this_update: offset from ``clock()`` (``timedelta``; default -1 minute;
            positive values give responses "from the future").
        next_update: offset of nextUpdate from thisUpdate, or ``None`` for no
            nextUpdate (default 1 day).
        nonce: ``"echo"`` (default: echo the request's nonce), ``"omit"``, or
            bytes to send instead (a wrong nonce).
        answer_serial: answer about this serial instead of the one asked
            (a response for another certificate); ``None``: the asked one.
        response_status: ``None`` (successful) or ``"tryLater"``,
            ``"internalError"``, ``"malformedRequest"``, ``"sigRequired"``,
            ``"unauthorized"``: an unsigned status-only response.
        body: bytes sent instead of any response (garbage); see :meth:`garbage`.
        corrupt_signature: flip a bit of the signature.
        include_signer_cert: put a delegated signer's certificate in the response.
        responder_id_by_key: ResponderID byKey instead of byName.
        stall: seconds to wait before answering (a stalled responder).
        http_status: HTTP status code of the answer (default 200).

    Attributes:
        requests: the parsed :class:`cryptography.x509.ocsp.OCSPRequest` objects received.
        methods: the HTTP method of each request (``"GET"`` / ``"POST"``).
    """

    def __init__(
        self,
        issuer: Signer | object,
        *,
        server: LoopbackHTTPServer | None = None,
        path: str = "/ocsp",
        signer: Signer | object | None = None,
        clock: Callable[[], _dt.datetime] | None = None,
        follow_revocations: bool = False,
    ) -> None:
        self._init_faults()
        self._issuer_obj = issuer
        self.follow_revocations = follow_revocations
        self.issuer = _as_signer(issuer)
        self._signer = _as_signer(signer) if signer is not None else None
        self.clock = clock or _now
        self.path = "/" + path.strip("/")
        self._own_server = server is None
        self.server = server or LoopbackHTTPServer()
        self.statuses: dict[int, CertStatus] = {}
        self.default_status: CertStatus = "good"
        self.revocation_time: _dt.datetime | None = None
        self.revocation_reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise
        self.this_update = -_dt.timedelta(minutes=1)
        self.next_update: _dt.timedelta | None = _dt.timedelta(days=1)
        self.nonce: Literal["echo", "omit"] | bytes = "echo"
        self.answer_serial: int | None = None
        self.response_status: str | None = None
        self.body: bytes | None = None
        self.corrupt_signature = False
        self.include_signer_cert = True
        self.responder_id_by_key = False
        self.http_status = 200
        self.requests: list[ocsp.OCSPRequest] = []
        self.methods: list[str] = []
        self._hits = 0
        self._lock = threading.Lock()
        self._routes = [
            self.server.route(self.path, handler=self._handle, faults=self),
            self.server.route(self.path + "/*", handler=self._handle, faults=self),
        ]
        self._started = False

    # -- knobs -------------------------------------------------------------

    @property
    def signer(self) -> Signer | None:
        """Who signs: ``None`` for the issuer itself, else a delegated (or
        unauthorised) signer; accepts any object with ``.cert`` and ``.key``."""
        return self._signer

    @signer.setter
    def signer(self, value: Signer | object | None) -> None:
        self._signer = _as_signer(value) if value is not None else None

    @property
    def stall(self) -> float:
        """Seconds the responder waits before answering."""
        return self._routes[0].stall

    @stall.setter
    def stall(self, seconds: float) -> None:
        for r in self._routes:
            r.stall = seconds

    def set_status(
        self,
        cert_or_serial: x509.Certificate | object | int,
        status: CertStatus,
        *,
        when: _dt.datetime | None = None,
        reason: x509.ReasonFlags | None = None,
    ) -> None:
        """Set the status the responder gives for one certificate (or serial)."""
        serial = _serial(cert_or_serial)
        with self._lock:
            self.statuses[serial] = status
            if when is not None:
                self.revocation_time = when
            if reason is not None:
                self.revocation_reason = reason

    def garbage(self, size: int = 64, byte: bytes = b"\x5a") -> None:
        """Answer every request with ``size`` bytes that are not OCSP (HTTP 200)."""
        self.body = (byte * size)[:size]

    def reset_faults(self) -> None:
        """Back to a well-behaved responder: knobs and :meth:`fault` faults (statuses are kept)."""
        self.clear_faults()
        self.this_update = -_dt.timedelta(minutes=1)
        self.next_update = _dt.timedelta(days=1)
        self.nonce = "echo"
        self.answer_serial = None
        self.response_status = None
        self.body = None
        self.corrupt_signature = False
        self.include_signer_cert = True
        self.responder_id_by_key = False
        self.http_status = 200
        self.stall = 0.0

    supported_faults = frozenset(FAULTS)

    def _check_fault(self, name: str, params: object) -> None:
        if name == "unauthorised_delegate" and not callable(getattr(self._issuer_obj, "issue_cert", None)):
            raise ValueError("the 'unauthorised_delegate' fault needs an issuer that is a certpolicy.pki.CA")

    def _faults_changed(self) -> None:
        self.server._faults_changed()  # "refuse" closes the port of the server

    @property
    def url(self) -> str:
        """The responder URL to put in certificates' AIA (``http://127.0.0.1:<port>/ocsp``)."""
        return self.server.url(self.path)

    @property
    def hits(self) -> int:
        """Requests answered so far (GET and POST, garbage answers included)."""
        with self._lock:
            return self._hits

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> OcspResponder:
        if self._own_server and not self._started:
            self.server.start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._own_server and self._started:
            self.server.stop()
        self._started = False

    def __enter__(self) -> OcspResponder:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- answering -------------------------------------------------------------

    def _handle(self, req: Request) -> tuple[int, str, bytes]:
        ctype = "application/ocsp-response"
        with self._lock:
            self._hits += 1
        if self.body is not None:
            return self.http_status, ctype, self.body
        der = _request_der(req, self.path)
        try:
            parsed = ocsp.load_der_ocsp_request(der) if der else None
        except ValueError:
            parsed = None
        with self._lock:
            self.methods.append(req.method)
            if parsed is not None:
                self.requests.append(parsed)
        if parsed is None:
            return self.http_status, ctype, ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        if self.response_status is not None:
            return self.http_status, ctype, ocsp.OCSPResponseBuilder.build_unsuccessful(
                _RESPONSE_STATUSES[self.response_status]
            ).public_bytes(serialization.Encoding.DER)
        return self.http_status, ctype, self.respond(parsed)

    def respond(self, request: ocsp.OCSPRequest) -> bytes:
        """Build the signed DER response to ``request`` under the current knobs."""
        with self._lock:
            serial = self.answer_serial if self.answer_serial is not None else request.serial_number
            status = self.statuses.get(request.serial_number, self.default_status)
            rev_time = self.revocation_time
            rev_reason = self.revocation_reason
        recorded = getattr(self._issuer_obj, "revoked_serials", {}) if self.follow_revocations else {}
        if request.serial_number not in self.statuses and request.serial_number in recorded:
            status = "revoked"
            rev_reason, rev_time = recorded[request.serial_number]
        now = self.clock()
        this_update = now + self.this_update
        next_delta = self.next_update
        stale, future = self.active_fault("stale"), self.active_fault("future")
        if stale is not None:
            next_delta = next_delta or _dt.timedelta(days=1)
            this_update = now - stale.get("by", _dt.timedelta(hours=1)) - next_delta
        elif future is not None:
            this_update = now + future.get("by", _dt.timedelta(hours=1))
        next_update = this_update + next_delta if next_delta is not None else None
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status]
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=serial,
            algorithm=request.hash_algorithm,
            cert_status=cert_status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=(rev_time or this_update - _dt.timedelta(hours=1)) if status == "revoked" else None,
            revocation_reason=rev_reason if status == "revoked" else None,
        )
        delegate = self._signer
        if self.active_fault("wrong_signer") is not None:
            delegate = _as_signer(stranger_ca())
        elif self.active_fault("unauthorised_delegate") is not None:
            delegate = _as_signer(undelegated(self._issuer_obj))
        signer = delegate or self.issuer
        if delegate is not None and self.include_signer_cert:
            builder = builder.certificates([delegate.cert])
        builder = builder.responder_id(
            ocsp.OCSPResponderEncoding.HASH if self.responder_id_by_key else ocsp.OCSPResponderEncoding.NAME,
            signer.cert,
        )
        nonce: bytes | None = None
        bad_nonce = self.active_fault("bad_nonce")
        if bad_nonce is not None:
            nonce = bytes(bad_nonce.get("nonce", b"certpolicy: not the nonce you sent"))
        elif isinstance(self.nonce, bytes):
            nonce = self.nonce
        elif self.nonce == "echo":
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                nonce = None
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        der = builder.sign(signer.key, _sign_hash(signer.key)).public_bytes(serialization.Encoding.DER)
        if self.corrupt_signature:
            # the signature BIT STRING ends the BasicOCSPResponse when no certs follow;
            # flip a byte inside it (before the certs, if any)
            resp = ocsp.load_der_ocsp_response(der)
            sig = resp.signature
            pos = der.rfind(sig)
            mid = pos + len(sig) // 2
            der = der[:mid] + bytes([der[mid] ^ 0x01]) + der[mid + 1 :]
        return der


def _as_signer(obj: object) -> Signer:
    if isinstance(obj, Signer):
        return obj
    cert = getattr(obj, "cert", None)
    key = getattr(obj, "key", None)
    if not isinstance(cert, x509.Certificate) or key is None:
        raise TypeError("expected an object with .cert (x509.Certificate) and .key")
    return Signer(cert, key)


def _serial(obj: object) -> int:
    if isinstance(obj, int):
        return obj
    if isinstance(obj, x509.Certificate):
        return obj.serial_number
    cert = getattr(obj, "cert", None)
    if isinstance(cert, x509.Certificate):
        return cert.serial_number
    raise TypeError("expected a certificate, an object with .cert, or a serial number")


def _request_der(req: Request, base: str) -> bytes:
    if req.method == "POST":
        return req.body
    path = urllib.parse.urlsplit(req.path).path
    tail = path[len(base) :].lstrip("/") if path.startswith(base) else path.lstrip("/")
    try:
        return base64.b64decode(urllib.parse.unquote(tail), validate=True)
    except ValueError:
        return b""


# ---------------------------------------------------------------------------
# openssl ocsp
# ---------------------------------------------------------------------------


def index_line(
    cert: x509.Certificate,
    status: CertStatus = "good",
    *,
    revoked_at: _dt.datetime | None = None,
    reason: str | None = None,
) -> str:
    """One line of an ``openssl ca`` / ``openssl ocsp`` index file (``index.txt``).

    ``unknown`` certificates are simply left out of the index (openssl then
    answers unknown)."""
    flag = {"good": "V", "revoked": "R"}[status]
    expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    rev = ""
    if status == "revoked":
        rev = (revoked_at or _now() - _dt.timedelta(hours=1)).strftime("%y%m%d%H%M%SZ")
        if reason:
            rev += "," + reason
    serial = format(cert.serial_number, "X")
    if len(serial) % 2:
        serial = "0" + serial
    subject = "/" + "/".join(
        f"{a.rfc4514_attribute_name}={a.value!s}" for rdn in cert.subject.rdns for a in rdn
    )
    return "\t".join([flag, expiry, rev, serial, "unknown", subject]) + "\n"


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# Runs inside the private network namespace: bring up lo, start openssl,
# relay a Unix socket to its TCP port. argv: sock_path port openssl-args...
_RELAY = r"""
import ctypes, os, signal, socket, subprocess, sys, threading, time
sock_path, port, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
subprocess.run(["ip", "link", "set", "lo", "up"], check=False, stderr=subprocess.DEVNULL)
def _pdeath():
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:
        pass
child = subprocess.Popen(cmd, preexec_fn=_pdeath, stdout=subprocess.DEVNULL)
def stop(*_):
    child.kill()
    child.wait()
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
# Wait for the LISTEN socket without connecting: openssl 3.0's responder
# hangs on a connection that closes without sending a request.
def listening():
    want = ":%04X" % port
    for table in ("/proc/net/tcp6", "/proc/net/tcp"):
        try:
            with open(table) as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split()
                    if fields[1].endswith(want) and fields[3] == "0A":
                        return True
        except OSError:
            pass
    return False
end = time.monotonic() + 10
while not listening():
    if time.monotonic() > end or child.poll() is not None:
        stop()
    time.sleep(0.01)
srv = socket.socket(socket.AF_UNIX)
srv.bind(sock_path + ".tmp")
srv.listen(64)
os.rename(sock_path + ".tmp", sock_path)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s, how in ((b, socket.SHUT_WR), (a, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass
while True:
    c, _ = srv.accept()
    try:
        u = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        c.close()
        continue
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
"""


def _namespaces_work() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    try:
        r = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


class _UnixForwarder:
    """127.0.0.1:<free port> -> a Unix socket (the relay in the namespace)."""

    def __init__(self, sock_path: str) -> None:
        self.sock_path = sock_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="certpolicy-ocsp-forwarder", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                u.connect(self.sock_path)
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self._thread.join(timeout=2)


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((b, socket.SHUT_WR), (a, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                s.shutdown(how)


class OpensslOcspResponder:
    """``openssl ocsp`` as an independent OCSP responder on a free loopback port.

    Args:
        issuer: the CA (``.cert``, ``.key``) whose certificates it answers for.
        good: certificates listed as valid (``V``) in the index.
        revoked: certificates listed as revoked (``R``), or
            ``(cert, reason)`` pairs (reason as openssl writes it, e.g.
            ``"keyCompromise"``). Certificates in neither list are unknown.
        signer: who signs (default: the issuer): a delegated responder
            (``.cert``, ``.key``), passed as ``-rsigner``/``-rkey``.
        next_update_minutes: ``-nmin`` (nextUpdate = now + minutes);
            ``None``: no nextUpdate.
        key_id: ResponderID byKey (``-resp_key_id``).
        mode: ``"auto"`` (namespace when available, else per request),
            ``"daemon"`` (the ``openssl ocsp -port`` server in a private network
            namespace; raises RuntimeError when namespaces are unavailable) or
            ``"per-request"``.

    Attributes:
        url: ``http://127.0.0.1:<port>/`` (valid between :meth:`start` and :meth:`stop`).
        mode: the mode actually used.

    Use as a context manager; :meth:`stop` kills the process.
    """

    def __init__(
        self,
        issuer: object,
        *,
        good: Iterable[x509.Certificate] = (),
        revoked: Iterable[x509.Certificate | tuple[x509.Certificate, str]] = (),
        signer: object | None = None,
        next_update_minutes: int | None = 60,
        key_id: bool = False,
        mode: Literal["auto", "daemon", "per-request"] = "auto",
    ) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("the openssl command is not on PATH")
        self.issuer = _as_signer(issuer)
        self.signer = _as_signer(signer) if signer is not None else self.issuer
        self.next_update_minutes = next_update_minutes
        self.key_id = key_id
        self._dir = Path(tempfile.mkdtemp(prefix="certpolicy-openssl-ocsp-"))
        lines = [index_line(c, "good") for c in good]
        for item in revoked:
            cert, reason = item if isinstance(item, tuple) else (item, None)
            lines.append(index_line(cert, "revoked", reason=reason))
        (self._dir / "index.txt").write_text("".join(lines))
        (self._dir / "index.txt.attr").write_text("unique_subject = no\n")
        (self._dir / "ca.pem").write_bytes(_pem(self.issuer.cert))
        (self._dir / "rsigner.pem").write_bytes(_pem(self.signer.cert))
        key_path = self._dir / "rkey.pem"
        key_path.write_bytes(_key_pem(self.signer.key))
        os.chmod(key_path, 0o600)
        self.requested_mode = mode
        self.mode: str = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._forwarder: _UnixForwarder | None = None
        self._http: LoopbackHTTPServer | None = None
        self.url = ""

    def _common_args(self) -> list[str]:
        args = [
            "openssl", "ocsp",
            "-index", str(self._dir / "index.txt"),
            "-CA", str(self._dir / "ca.pem"),
            "-rsigner", str(self._dir / "rsigner.pem"),
            "-rkey", str(self._dir / "rkey.pem"),
        ]
        if self.next_update_minutes is not None:
            args += ["-nmin", str(self.next_update_minutes)]
        if self.key_id:
            args.append("-resp_key_id")
        return args

    def start(self) -> OpensslOcspResponder:
        """Start the responder; returns ``self``.

        Raises:
            RuntimeError: openssl did not come up within 10 s (its stderr is in
                the message), or ``mode="daemon"`` without namespaces.
        """
        mode = self.requested_mode
        if mode in ("auto", "daemon"):
            if _namespaces_work():
                self._start_daemon()
                return self
            if mode == "daemon":
                raise RuntimeError("network namespaces (unshare -rn) are not available")
        self._start_per_request()
        return self

    def _start_daemon(self) -> None:
        sock_path = str(self._dir / "relay.sock")
        inner_port = 8080
        cmd = ["unshare", "-rn", sys.executable, "-c", _RELAY, sock_path, str(inner_port)]
        cmd += [*self._common_args(), "-port", str(inner_port)]
        stderr_path = self._dir / "stderr.txt"
        with open(stderr_path, "wb") as err:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        end = time.monotonic() + 10
        while not os.path.exists(sock_path):
            if self._proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"openssl ocsp did not start: {stderr_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.01)
        self._forwarder = _UnixForwarder(sock_path)
        self.url = f"http://127.0.0.1:{self._forwarder.port}/"
        self.mode = "daemon"

    def _start_per_request(self) -> None:
        self._http = LoopbackHTTPServer()
        self._http.route("/", handler=self._cgi)
        self._http.route("/*", handler=self._cgi)
        self._http.start()
        self.url = self._http.url("/")
        self.mode = "per-request"

    def _cgi(self, req: Request) -> tuple[int, str, bytes]:
        der = _request_der(req, "/")
        with tempfile.TemporaryDirectory(dir=self._dir) as tmp:
            reqin = Path(tmp) / "req.der"
            respout = Path(tmp) / "resp.der"
            reqin.write_bytes(der)
            r = subprocess.run(
                [*self._common_args(), "-reqin", str(reqin), "-respout", str(respout)],
                capture_output=True,
                timeout=10,
            )
            if r.returncode != 0 or not respout.exists():
                return 500, "text/plain", r.stderr[-2000:]
            return 200, "application/ocsp-response", respout.read_bytes()

    def stop(self) -> None:
        """Kill openssl (and the relay), close the forwarder, remove the files."""
        if self._forwarder is not None:
            self._forwarder.close()
            self._forwarder = None
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=3)
            self._proc = None
        if self._http is not None:
            self._http.stop()
            self._http = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> OpensslOcspResponder:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
