"""pytest fixtures of certpolicy (registered through the ``pytest11`` entry point,
so they are available in any project that installs certpolicy; ``-p no:certpolicy``
turns them off, and importing this module starts nothing).

Fixtures (all on loopback, port 0, all torn down or reset after the test;
see docs/testing.md):

* ``certpolicy_pki`` (session): a private PKI (:class:`TestPKI`): root CA,
  issuing intermediate, the root written to a PEM file; ``issue_server`` /
  ``issue_client`` / ``issue`` make leaves with any names, validity, key type
  and extensions whose CRL and OCSP URLs point at ``crl_server`` and
  ``ocsp_responder``; ``table()`` builds a policy table trusting it;
* ``crl_server``: the PKI's :class:`~certpolicy.testing.crl_server.CrlServer`
  (revoke with ``certpolicy_pki.revoke(leaf)`` and the next download lists it);
* ``ocsp_responder``: the PKI's OCSP responder, and (called) a factory
  ``ocsp_responder(issuer_ca, **kw) -> OcspResponder`` for other CAs;
* ``tls_server``: a factory ``tls_server(identity=None, **kw) -> LoopbackTLSServer``
  (no identity: a leaf of the PKI for localhost, 127.0.0.1 and ::1);
* ``http_server``: a :class:`~certpolicy.testing.http_server.LoopbackHTTPServer`
  (``http_server.route(path, body)``);
* ``policy_table``: a factory ``policy_table(dict) -> PolicyTable`` trusting the PKI;
* ``openssl_server`` / ``openssl_ocsp_responder``: ``openssl s_server`` and
  ``openssl ocsp`` as independent peers.

Every server but the two openssl ones speaks one fault vocabulary
(:mod:`certpolicy.testing.faults`): ``server.fault("slow", seconds=3)`` as a
context manager or for the rest of the test, and records what it was asked
(``server.count``, ``.paths``, ``.timestamps``).

Example::

    def test_my_client_rejects_wrong_host(certpolicy_pki, tls_server):
        srv = tls_server(certpolicy_pki.issue_server("good.test"))
        ctx = certpolicy.create_ssl_context(certpolicy_pki.table())
        with pytest.raises(certpolicy.HostnameMismatch):
            ctx.wrap_socket(socket.create_connection(srv.address), server_hostname="evil.test")
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from cryptography import x509

from ..pki import CA, IssuedCert
from ..table import PolicyTable
from .crl_server import CrlServer
from .faults import Asked, Fault
from .http_server import LoopbackHTTPServer
from .ocsp_responder import OcspResponder, OpensslOcspResponder
from .tls_server import LoopbackTLSServer, OpenSSLServer

__all__ = ["OcspResponderFixture", "TestPKI"]


class TestPKI:
    """A private PKI for tests: ``root`` -> ``intermediate`` -> leaves.

    Args:
        directory: where files are written (the root as ``root.pem``).
        name: prefix of the CA names.
        crl_server: when given, the root's and the intermediate's CRLs are
            published on it and the intermediate and every leaf name them
            (the ``certpolicy_pki`` fixture passes the ``crl_server``'s).
        ocsp_server: when given, an :class:`OcspResponder` for the
            intermediate runs on it (answering from the intermediate's
            revocation record) and every leaf names it.

    Attributes:
        root / intermediate: :class:`~certpolicy.pki.CA`.
        root_pem: path of the root certificate (a trust anchor file).
        directory: where files are written.
        crl_server: the :class:`CrlServer` or ``None``.
        crl_url: the intermediate's CRL URL (in the leaves), or ``None``.
        ocsp: the intermediate's :class:`OcspResponder`, or ``None``.
        ocsp_url: its URL (in the leaves), or ``None``.
    """

    __test__ = False  # not a test class

    def __init__(
        self,
        directory: Path,
        name: str = "certpolicy test",
        *,
        crl_server: CrlServer | None = None,
        ocsp_server: LoopbackHTTPServer | None = None,
    ) -> None:
        self.directory = directory
        self.root = CA.create(f"{name} root CA")
        self.crl_server = crl_server
        root_crl = crl_server.publish(self.root, "/root.crl") if crl_server is not None else None
        self.intermediate = self.root.create_intermediate(f"{name} issuing CA", crl_url=root_crl)
        self.crl_url = crl_server.publish(self.intermediate, "/intermediate.crl") if crl_server is not None else None
        self.ocsp: OcspResponder | None = None
        self.ocsp_url: str | None = None
        if ocsp_server is not None:
            self.ocsp = OcspResponder(self.intermediate, server=ocsp_server, path="/ocsp", follow_revocations=True)
            self.ocsp_url = self.ocsp.url
        self.root_pem = directory / "root.pem"
        self.root_pem.write_bytes(self.root.cert_pem)

    def issue(self, *names: str | x509.GeneralName, kind: str = "server", revocation: bool = True, **kwargs: Any) -> IssuedCert:
        """A leaf from the intermediate.

        Args:
            names: subjectAltName entries (DNS names, IP literals, ``user@host``,
                URIs, or :class:`x509.GeneralName` objects).
            kind: ``"server"`` (EKU serverAuth), ``"client"`` (clientAuth) or
                ``"cert"`` (whatever ``eku=`` says).
            revocation: put the fixtures' CRL and OCSP URLs in it (default;
                ``crl_url=`` / ``ocsp_url=`` given explicitly win).
            kwargs: as :meth:`certpolicy.pki.CA.issue_cert`: ``not_before``,
                ``not_after``, ``days`` (validity), ``key_type`` (``"ec-p256"``,
                ``"rsa-2048"``, ``"ed25519"`` ...), ``eku``, ``extensions`` ...

        Raises:
            ValueError: an unknown ``kind``, or what :meth:`~certpolicy.pki.CA.issue_cert` raises.
        """
        if revocation:
            if self.crl_url is not None:
                kwargs.setdefault("crl_url", self.crl_url)
            if self.ocsp_url is not None:
                kwargs.setdefault("ocsp_url", self.ocsp_url)
        issue: dict[str, Callable[..., IssuedCert]] = {
            "server": self.intermediate.issue_server,
            "client": self.intermediate.issue_client,
            "cert": self.intermediate.issue_cert,
        }
        if kind not in issue:
            raise ValueError(f"kind must be one of {', '.join(issue)}")
        return issue[kind](*names, **kwargs)

    def issue_server(self, *names: str | x509.GeneralName, **kwargs: Any) -> IssuedCert:
        """A server leaf from the intermediate (``names``: DNS names or addresses); see :meth:`issue`."""
        return self.issue(*names, kind="server", **kwargs)

    def issue_client(self, *names: str | x509.GeneralName, **kwargs: Any) -> IssuedCert:
        """A client leaf (clientAuth EKU) from the intermediate; see :meth:`issue`."""
        return self.issue(*names, kind="client", **kwargs)

    def revoke(self, leaf: IssuedCert | x509.Certificate | int, reason: str | None = None,
               when: _dt.datetime | None = None) -> None:
        """Revoke a leaf of the intermediate: the next CRL download and OCSP answer say so.

        Raises:
            ValueError: an unknown reason name.
        """
        self.intermediate.revoke(leaf, reason, when)

    def trust(self) -> dict[str, Any]:
        """The ``trust`` table of a policy that trusts only this PKI's root."""
        return {"system": False, "extra": [str(self.root_pem)]}

    def table(self, data: dict[str, Any] | None = None, **kwargs: Any) -> PolicyTable:
        """A policy table whose ``[defaults]`` trust only this PKI (plus ``data``);
        ``kwargs`` go to :meth:`PolicyTable.from_dict`.

        Raises:
            certpolicy.PolicyConfigError: a bad table.
        """
        data = dict(data or {})
        defaults = dict(data.get("defaults", {}))
        defaults.setdefault("trust", self.trust())
        data["defaults"] = defaults
        return PolicyTable.from_dict(data, **kwargs)


class OcspResponderFixture:
    """The ``ocsp_responder`` fixture: the PKI's responder, and a factory.

    Attribute reads and writes that are not the fixture's own go to
    :attr:`responder` (``ocsp_responder.next_update = None``,
    ``ocsp_responder.set_status(leaf.cert, "revoked")``); calling it starts
    another :class:`OcspResponder` (``ocsp_responder(issuer_ca, **kw)``),
    stopped after the test.
    """

    _own = frozenset({"responder", "_started"})

    def __init__(self, responder: OcspResponder) -> None:
        object.__setattr__(self, "responder", responder)
        object.__setattr__(self, "_started", [])

    responder: OcspResponder
    _started: list[OcspResponder]

    def __call__(self, issuer: Any, **kwargs: Any) -> OcspResponder:
        """Start an :class:`OcspResponder` for ``issuer`` on its own loopback port."""
        r = OcspResponder(issuer, **kwargs).start()
        self._started.append(r)
        return r

    @property
    def url(self) -> str:
        """The PKI responder's URL (the one in the PKI's leaves)."""
        return self.responder.url

    @property
    def count(self) -> int:
        """Requests the PKI responder received in this test."""
        return self.responder.count

    @property
    def paths(self) -> list[str]:
        """Paths of those requests."""
        return self.responder.paths

    @property
    def timestamps(self) -> list[float]:
        """Arrival times of those requests (``time.time()`` seconds)."""
        return self.responder.timestamps

    @property
    def log(self) -> list[Asked]:
        """Those requests (:class:`~certpolicy.testing.faults.Asked`)."""
        return self.responder.log

    def fault(self, name: str, **params: Any) -> Fault:
        """A fault of the PKI responder (see :meth:`OcspResponder.fault`)."""
        return self.responder.fault(name, **params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.responder, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self.responder, name, value)

    def _close(self) -> None:
        for r in self._started:
            r.stop()
        self.responder.reset_faults()
        self.responder.reset_record()
        self.responder.statuses.clear()
        self.responder.signer = None


@pytest.fixture(scope="session")
def _certpolicy_revocation_servers() -> Iterator[tuple[CrlServer, LoopbackHTTPServer]]:
    """The session's CRL and OCSP HTTP servers (one pair per xdist worker)."""
    crl = CrlServer().start()
    ocsp_http = LoopbackHTTPServer().start()
    try:
        yield crl, ocsp_http
    finally:
        crl.stop()
        ocsp_http.stop()


@pytest.fixture(scope="session")
def certpolicy_pki(
    tmp_path_factory: pytest.TempPathFactory,
    _certpolicy_revocation_servers: tuple[CrlServer, LoopbackHTTPServer],
) -> TestPKI:
    """A session-wide private PKI (root and intermediate) whose leaves name
    the ``crl_server`` and ``ocsp_responder`` fixtures."""
    crl, ocsp_http = _certpolicy_revocation_servers
    return TestPKI(tmp_path_factory.mktemp("certpolicy-pki"), crl_server=crl, ocsp_server=ocsp_http)


@pytest.fixture
def crl_server(certpolicy_pki: TestPKI) -> Iterator[CrlServer]:
    """The PKI's :class:`CrlServer` (root and intermediate CRLs, at the URLs
    its certificates carry); faults, record and chosen times are reset after the test."""
    srv = certpolicy_pki.crl_server
    assert srv is not None
    srv.reset()
    try:
        yield srv
    finally:
        srv.reset()


@pytest.fixture
def ocsp_responder(certpolicy_pki: TestPKI) -> Iterator[OcspResponderFixture]:
    """The PKI's OCSP responder (:class:`OcspResponderFixture`); called,
    ``ocsp_responder(issuer_ca, signer=None, **kw)`` starts another
    :class:`~certpolicy.testing.ocsp_responder.OcspResponder` on loopback
    (``.url`` for ``ocsp_url=``). Everything is reset or stopped after the test."""
    assert certpolicy_pki.ocsp is not None
    certpolicy_pki.ocsp.reset_record()
    fx = OcspResponderFixture(certpolicy_pki.ocsp)
    try:
        yield fx
    finally:
        fx._close()


class _Startable(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Startable)


def _factory(cls: Callable[..., _S]) -> Iterator[Callable[..., _S]]:
    """Yield ``make(*args, **kw)`` that builds and starts ``cls`` servers, and
    stop every one of them afterwards."""
    started: list[_S] = []

    def make(*args: Any, **kwargs: Any) -> _S:
        server = cls(*args, **kwargs)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def tls_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., LoopbackTLSServer]]:
    """Factory: ``tls_server(identity=None, host="127.0.0.1", **kw)`` starts a
    :class:`LoopbackTLSServer`, stopped after the test; without an identity
    it serves a ``certpolicy_pki`` leaf for localhost, 127.0.0.1 and ::1."""

    def build(identity: Any = None, **kwargs: Any) -> LoopbackTLSServer:
        if identity is None and "chain" not in kwargs:
            pki: TestPKI = request.getfixturevalue("certpolicy_pki")
            identity = pki.issue_server("localhost", "127.0.0.1", "::1")
        return LoopbackTLSServer(identity, **kwargs)

    yield from _factory(build)


@pytest.fixture
def openssl_server() -> Iterator[Callable[..., OpenSSLServer]]:
    """Factory: ``openssl_server(identity)`` runs ``openssl s_server -www``
    on a free loopback port, killed after the test."""
    yield from _factory(OpenSSLServer)


@pytest.fixture
def http_server() -> Iterator[LoopbackHTTPServer]:
    """A started :class:`LoopbackHTTPServer` on 127.0.0.1, stopped after the test."""
    with LoopbackHTTPServer() as srv:
        yield srv


@pytest.fixture
def policy_table(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., PolicyTable]:
    """Factory: ``policy_table(data=None, *, trust_pki=True, **kw) -> PolicyTable``
    from a dict of the policy file's shape (``kw`` go to
    :meth:`PolicyTable.from_dict`). With ``trust_pki`` the defaults trust
    ``certpolicy_pki`` (unless ``data`` sets ``defaults.trust``); the
    revocation cache is a fresh folder of the test's ``tmp_path`` per table
    unless ``defaults.revocation.cache_dir`` is set (no CRL or OCSP answer
    outlives the table). Raises :class:`certpolicy.PolicyConfigError` for a bad table."""
    made = [0]

    def build(data: dict[str, Any] | None = None, *, trust_pki: bool = True, **kwargs: Any) -> PolicyTable:
        data = dict(data or {})
        defaults = dict(data.get("defaults", {}))
        revocation = dict(defaults.get("revocation", {}))
        made[0] += 1
        revocation.setdefault("cache_dir", str(tmp_path / f"certpolicy-revocation-cache-{made[0]}"))
        defaults["revocation"] = revocation
        data["defaults"] = defaults
        if trust_pki:
            pki: TestPKI = request.getfixturevalue("certpolicy_pki")
            return pki.table(data, **kwargs)
        return PolicyTable.from_dict(data, **kwargs)

    return build


@pytest.fixture
def openssl_ocsp_responder() -> Iterator[Callable[..., OpensslOcspResponder]]:
    """Factory: ``openssl_ocsp_responder(ca, ...)`` runs ``openssl ocsp`` as a
    responder on loopback (see :class:`~certpolicy.testing.ocsp_responder.OpensslOcspResponder`)."""
    yield from _factory(OpensslOcspResponder)
