"""A loopback CRL distribution point for tests: serves the current CRL of each published CA.

:class:`CrlServer` signs each CA's CRL from the CA's own revocation record
(:meth:`certpolicy.pki.CA.revoke`), so a revocation made inside a test shows
in the next download; the CRL is re-signed only when the record, the chosen
times or the active faults change (a client that downloads twice gets the
same cRLNumber). It speaks the fault vocabulary of
:mod:`certpolicy.testing.faults` and records every download::

    from certpolicy.pki import CA
    from certpolicy.testing.crl_server import CrlServer

    root = CA.create("Root")
    with CrlServer() as crls:
        issuing = root.create_intermediate("Issuing", crl_url=crls.publish(root))
        leaf = issuing.issue_server("a.test", crl_url=crls.publish(issuing))
        root.revoke(issuing)                         # the next download lists it
        crls.set_times(issuing, next_update=timedelta(hours=1))
        with crls.fault("stale"):                    # nextUpdate an hour ago
            ...
        assert crls.count == 1
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..pki import CA
from .fault_certs import stranger_ca, undelegated
from .faults import FAULTS, FaultInjectable
from .http_server import LoopbackHTTPServer, Request

__all__ = ["CrlServer"]

_Time = _dt.datetime | _dt.timedelta


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class _Published:
    ca: CA
    path: str
    encoding: Encoding
    this_update: _Time | None = None
    next_update: _Time | None = None
    key: tuple[Any, ...] | None = None
    body: bytes = b""


class CrlServer(FaultInjectable):
    """CRL distribution points on loopback (HTTP, port 0).

    Args:
        host: ``"127.0.0.1"`` (default) or ``"::1"``.
        server: a running :class:`LoopbackHTTPServer` to add the routes to
            (default: its own, started by :meth:`start`, stopped by :meth:`stop`).
        clock: "now" (aware UTC) for the default thisUpdate; default the wall clock.

    Faults (:meth:`fault`): every name but ``bad_nonce``; ``stale`` (nextUpdate
    ``by`` ago), ``future`` (thisUpdate ``by`` ahead), ``wrong_signer`` (the
    CA's name, another key: a bad signature), ``unauthorised_delegate``
    (signed by an end-entity certificate of the CA, which has no cRLSign).

    Raises:
        ValueError: a host that is not loopback.
    """

    supported_faults = frozenset(FAULTS) - {"bad_nonce"}

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        server: LoopbackHTTPServer | None = None,
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        self._init_faults()
        self._own_server = server is None
        self.server = server or LoopbackHTTPServer(host)
        self.clock = clock or _now
        self._published: dict[str, _Published] = {}
        self._by_ca: dict[int, str] = {}
        self._lock = threading.Lock()

    # -- publishing ---------------------------------------------------------------

    def publish(
        self,
        ca: CA,
        path: str | None = None,
        *,
        this_update: _Time | None = None,
        next_update: _Time | None = None,
        encoding: str = "der",
    ) -> str:
        """Serve ``ca``'s CRL; returns its URL (for ``crl_url=`` of the certificates it issues).

        Args:
            ca: the issuing :class:`~certpolicy.pki.CA` (its key signs the CRL).
            path: the URL path (default ``/<ca name>.crl``).
            this_update, next_update: see :meth:`set_times`.
            encoding: ``"der"`` (default) or ``"pem"``.

        Raises:
            ValueError: an unknown encoding.
        """
        if encoding not in ("der", "pem"):
            raise ValueError("encoding must be 'der' or 'pem'")
        if path is None:
            slug = re.sub(r"[^a-z0-9]+", "-", ca.name.lower()).strip("-") or "ca"
            path = f"/{slug}.crl"
        path = "/" + path.lstrip("/")
        entry = _Published(ca, path, Encoding.DER if encoding == "der" else Encoding.PEM, this_update, next_update)
        with self._lock:
            self._published[path] = entry
            self._by_ca[id(ca)] = path
        self.server.route(path, handler=self._handle, faults=self)
        return self.server.url(path)

    def url(self, ca: CA | None = None) -> str:
        """The URL of ``ca``'s CRL (default: the only or first published CA).

        Raises:
            KeyError: ``ca`` was not published.
        """
        return self.server.url(self._entry(ca).path)

    def set_times(
        self,
        ca: CA | None = None,
        *,
        this_update: _Time | None = None,
        next_update: _Time | None = None,
    ) -> None:
        """Choose thisUpdate / nextUpdate of the CRLs to come (``None``: the default).

        Args:
            ca: the published CA (default: the first published).
            this_update: an aware datetime, or a timedelta from "now" at signing
                (default ``-1 minute``).
            next_update: an aware datetime, or a timedelta from thisUpdate
                (default 1 day).

        Raises:
            KeyError: ``ca`` was not published.
        """
        entry = self._entry(ca)
        with self._lock:
            entry.this_update, entry.next_update = this_update, next_update
            entry.key = None

    def crl(self, ca: CA | None = None) -> x509.CertificateRevocationList:
        """The CRL a download would get now (the faults applied).

        Raises:
            KeyError: ``ca`` was not published.
        """
        body = self._body(self._entry(ca))
        entry = self._entry(ca)
        if entry.encoding is Encoding.PEM:
            return x509.load_pem_x509_crl(body)
        return x509.load_der_x509_crl(body)

    def _entry(self, ca: CA | None) -> _Published:
        with self._lock:
            if ca is None:
                if not self._published:
                    raise KeyError("no CA is published")
                return next(iter(self._published.values()))
            return self._published[self._by_ca[id(ca)]]

    def reset(self) -> None:
        """End the faults, forget the record and the chosen times (the fixture
        does this after each test; published CAs stay)."""
        self.clear_faults()
        self.reset_record()
        with self._lock:
            for entry in self._published.values():
                entry.this_update = entry.next_update = None
                entry.key = None

    # -- signing ---------------------------------------------------------------------

    def _handle(self, req: Request) -> tuple[int, str, bytes]:
        path = req.path.split("?", 1)[0]
        with self._lock:
            entry = self._published.get(path)
        if entry is None:
            return 404, "text/plain", b"not found"
        return 200, "application/pkix-crl", self._body(entry)

    def _body(self, entry: _Published) -> bytes:
        fault = self.active_fault("stale", "future", "wrong_signer", "unauthorised_delegate", path=entry.path)
        fault_key = (fault.name, repr(sorted(fault.params.items()))) if fault is not None else None
        key = (tuple(sorted(entry.ca.revoked_serials.items())), fault_key)
        with self._lock:
            if entry.key == key:
                return entry.body
        now = self.clock()
        tu = entry.this_update
        this_update = tu if isinstance(tu, _dt.datetime) else now + (tu if tu is not None else -_dt.timedelta(minutes=1))
        nu = entry.next_update
        next_update = nu if isinstance(nu, _dt.datetime) else this_update + (nu if nu is not None else _dt.timedelta(days=1))
        signer: Any = None
        if fault is not None and fault.name == "stale":
            length = max(next_update - this_update, _dt.timedelta(minutes=1))
            next_update = now - fault.get("by", _dt.timedelta(hours=1))
            this_update = next_update - length
        elif fault is not None and fault.name == "future":
            length = max(next_update - this_update, _dt.timedelta(minutes=1))
            this_update = now + fault.get("by", _dt.timedelta(hours=1))
            next_update = this_update + length
        elif fault is not None and fault.name == "wrong_signer":
            signer = stranger_ca().key
        elif fault is not None and fault.name == "unauthorised_delegate":
            signer = undelegated(entry.ca)
        crl = entry.ca.issue_crl(this_update=this_update, next_update=next_update, signer=signer)
        body = crl.public_bytes(entry.encoding)
        with self._lock:
            entry.key, entry.body = key, body
        return body

    # -- lifecycle ---------------------------------------------------------------------

    def _faults_changed(self) -> None:
        self.server._faults_changed()  # "refuse" closes the port of the server

    def start(self) -> CrlServer:
        """Start the HTTP server (when it is this server's own); returns ``self``."""
        if self._own_server:
            self.server.start()
        return self

    def stop(self) -> None:
        """Stop the HTTP server (when it is this server's own)."""
        if self._own_server:
            self.server.stop()

    def __enter__(self) -> CrlServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
