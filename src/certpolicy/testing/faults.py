"""The one fault vocabulary of certpolicy's test servers, and the record of what each server was asked.

Every server fixture (:class:`~certpolicy.testing.http_server.LoopbackHTTPServer`,
:class:`~certpolicy.testing.tls_server.LoopbackTLSServer`,
:class:`~certpolicy.testing.ocsp_responder.OcspResponder`,
:class:`~certpolicy.testing.crl_server.CrlServer`) mixes in
:class:`FaultInjectable`::

    with crl_server.fault("slow", seconds=3):    # only inside the block
        ...
    crl_server.fault("http_500")                  # for the rest of the test
    assert crl_server.count == 1                  # one download

The names (:data:`FAULTS`), what they do and their parameters:

=========================  ================================================================
``slow``                   wait ``seconds`` (default 1.0) before answering, then answer
``stall``                  accept, never answer: hold the connection until the fault ends,
                           the server stops, or ``seconds`` (default 60) pass
``drip``                   send the answer one byte every ``interval`` seconds (default 0.05)
``http_500``               answer HTTP ``status`` (default 500) with an HTML error page
``oversized``              a body of ``size`` bytes (default 21,000,000: over every
                           default fetch limit); ``length=False`` omits Content-Length
``garbage``                ``size`` bytes (default 256) that are not DER (TLS: not TLS)
``stale``                  CRL / OCSP: nextUpdate ``by`` in the past (default 1 hour);
                           TLS: an expired certificate
``future``                 CRL / OCSP: thisUpdate ``by`` in the future (default 1 hour);
                           TLS: a certificate not valid yet
``wrong_signer``           signed by a key the issuer never vouched for (CRL: bad
                           signature; OCSP: a responder of an unrelated CA; TLS: a leaf
                           from an unrelated CA)
``unauthorised_delegate``  signed by a certificate the issuer did sign but did not
                           authorise (OCSP: no OCSPSigning EKU; CRL: no cRLSign; TLS: a
                           leaf issued by an end-entity certificate)
``bad_nonce``              OCSP: a nonce other than the request's (``nonce=`` bytes)
``refuse``                 nothing listens on the port (connection refused) until the
                           fault ends; the port is the same afterwards
``reset``                  read the request, then close with a TCP RST
=========================  ================================================================

HTTP-based servers also take ``path=``: the fault applies only to requests
on that path (a trailing ``*`` matches a prefix). A server that cannot
produce a fault raises :class:`ValueError` from :meth:`FaultInjectable.fault`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

__all__ = [
    "CONTENT_FAULTS", "FAULTS", "TRANSPORT_FAULTS", "Asked", "Fault", "FaultInjectable", "Recorder",
    "garbage_bytes", "wait_while",
]

#: faults of the connection and the HTTP exchange (every server)
TRANSPORT_FAULTS = frozenset(
    {"slow", "stall", "drip", "http_500", "oversized", "garbage", "refuse", "reset"}
)
#: faults of the signed content (CRL, OCSP, the TLS certificate)
CONTENT_FAULTS = frozenset({"stale", "future", "wrong_signer", "unauthorised_delegate", "bad_nonce"})
#: every fault name, in the order of the vocabulary table
FAULTS: tuple[str, ...] = (
    "slow", "stall", "drip", "http_500", "oversized", "garbage", "stale", "future",
    "wrong_signer", "unauthorised_delegate", "bad_nonce", "refuse", "reset",
)

_PARAMS: dict[str, frozenset[str]] = {
    "slow": frozenset({"seconds"}),
    "stall": frozenset({"seconds"}),
    "drip": frozenset({"interval"}),
    "http_500": frozenset({"status"}),
    "oversized": frozenset({"size", "length"}),
    "garbage": frozenset({"size"}),
    "stale": frozenset({"by"}),
    "future": frozenset({"by"}),
    "wrong_signer": frozenset(),
    "unauthorised_delegate": frozenset(),
    "bad_nonce": frozenset({"nonce"}),
    "refuse": frozenset(),
    "reset": frozenset(),
}


@dataclass(frozen=True)
class Asked:
    """One thing a server was asked.

    Attributes:
        at: wall-clock time it arrived (``time.time()``, seconds since the epoch).
        method: the HTTP method (``"GET"``, ``"POST"``), or ``"TLS"`` for a
            connection accepted by a TLS server.
        path: the request path without the query (``""`` for a connection).
        peer: the client's address as ``"host:port"``.
    """

    at: float
    method: str
    path: str
    peer: str = ""


class Recorder:
    """What a server was asked: :attr:`log`, :attr:`count`, :attr:`paths`, :attr:`timestamps`."""

    _record_lock: threading.Lock
    _log: list[Asked]

    def _init_record(self) -> None:
        self._record_lock = threading.Lock()
        self._log = []

    def _record(self, method: str, path: str, peer: object = "") -> Asked:
        if isinstance(peer, tuple) and len(peer) >= 2:
            peer = f"{peer[0]}:{peer[1]}"
        asked = Asked(time.time(), method, path.split("?", 1)[0], str(peer))
        with self._record_lock:
            self._log.append(asked)
        return asked

    @property
    def log(self) -> list[Asked]:
        """Everything asked so far, oldest first (a copy)."""
        with self._record_lock:
            return list(self._log)

    @property
    def count(self) -> int:
        """How many requests (TLS server: connections) arrived so far."""
        return len(self.log)

    @property
    def paths(self) -> list[str]:
        """The request paths, oldest first (one entry per request)."""
        return [a.path for a in self.log if a.method != "TLS"]

    @property
    def timestamps(self) -> list[float]:
        """Arrival times (``time.time()`` seconds), oldest first."""
        return [a.at for a in self.log]

    def reset_record(self) -> None:
        """Forget what was asked (the counters start again at zero)."""
        with self._record_lock:
            self._log.clear()


@dataclass(eq=False)
class Fault:
    """An active fault: returned by :meth:`FaultInjectable.fault`.

    Use it as a context manager to end the fault at the end of the block, or
    call :meth:`clear`; left alone it lasts until the server's faults are
    cleared (the fixtures do that after each test) or the server stops.

    Attributes:
        name: one of :data:`FAULTS`.
        params: the keyword arguments given to :meth:`FaultInjectable.fault`.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    owner: FaultInjectable | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter ``key``, or ``default`` when it was not given."""
        return self.params.get(key, default)

    def applies_to(self, path: str) -> bool:
        """Whether this fault covers a request for ``path`` (its ``path=`` parameter)."""
        want = self.params.get("path")
        if want is None:
            return True
        want = str(want)
        return path.startswith(want[:-1]) if want.endswith("*") else path == want

    def clear(self) -> None:
        """End this fault (no error when it already ended)."""
        if self.owner is not None:
            self.owner._remove_fault(self)

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.clear()


class FaultInjectable(Recorder):
    """The ``fault()`` API of every test server.

    Subclasses set :attr:`supported_faults` and read :meth:`active_fault`
    where they answer; :meth:`_faults_changed` is called after every change
    (the servers use it for ``refuse``).
    """

    supported_faults: ClassVar[frozenset[str]] = frozenset(FAULTS)
    _fault_lock: threading.Lock
    _faults: list[Fault]

    def _init_faults(self) -> None:
        self._fault_lock = threading.Lock()
        self._faults = []
        self._init_record()

    def fault(self, name: str, **params: Any) -> Fault:
        """Start the fault ``name`` (see the module docstring for names and parameters).

        Args:
            name: one of :data:`FAULTS`.
            params: the fault's parameters (``seconds``, ``interval``,
                ``status``, ``size``, ``length``, ``by``, ``nonce``), and
                ``path`` on HTTP-based servers.

        Returns:
            the :class:`Fault`: a context manager, or leave it on for the rest of the test.

        Raises:
            ValueError: an unknown name or parameter, or a fault this server
                cannot produce (the message says which it can).
        """
        if name not in _PARAMS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if name not in self.supported_faults:
            known = ", ".join(f for f in FAULTS if f in self.supported_faults)
            raise ValueError(f"{type(self).__name__} cannot produce the fault {name!r}; it can: {known}")
        unknown = set(params) - _PARAMS[name] - {"path"}
        if unknown:
            raise ValueError(f"fault {name!r} takes no parameter {', '.join(sorted(unknown))}")
        self._check_fault(name, params)
        f = Fault(name, dict(params), self)
        with self._fault_lock:
            self._faults.append(f)
        self._faults_changed()
        return f

    def active_fault(self, *names: str, path: str | None = None) -> Fault | None:
        """The most recently started active fault among ``names`` (all names when
        none are given) that covers ``path`` (``None``: any), or ``None``."""
        with self._fault_lock:
            faults = list(self._faults)
        for f in reversed(faults):
            if (not names or f.name in names) and (path is None or f.applies_to(path)):
                return f
        return None

    @property
    def faults(self) -> list[Fault]:
        """The active faults, oldest first (a copy)."""
        with self._fault_lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        """End every fault of this server."""
        with self._fault_lock:
            self._faults.clear()
        self._faults_changed()

    def _remove_fault(self, f: Fault) -> None:
        with self._fault_lock:
            if f in self._faults:
                self._faults.remove(f)
        self._faults_changed()

    def _check_fault(self, name: str, params: Mapping[str, Any]) -> None:
        """Refuse a fault the server cannot produce in its current set-up (hook)."""

    def _faults_changed(self) -> None:
        """Called after every change of the active faults (hook)."""


def garbage_bytes(size: int) -> bytes:
    """``size`` deterministic bytes that parse as neither DER nor TLS (no
    leading SEQUENCE tag 0x30, no TLS record type 0x14-0x18)."""
    pattern = b"certpolicy garbage \x00\xff\x7f"
    return (pattern * (size // len(pattern) + 1))[:size]


def wait_while(cond: Any, seconds: float, stopping: threading.Event) -> None:
    """Sleep until ``cond()`` is false, ``stopping`` is set or ``seconds`` pass
    (polled every 20 ms)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stopping.is_set() and cond():
        time.sleep(0.02)
