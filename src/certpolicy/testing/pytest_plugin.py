"""pytest fixtures of certpolicy (registered through the ``pytest11`` entry point,
so they are available in any project that installs certpolicy).

Fixtures (all on loopback, all torn down after the test):

* ``certpolicy_pki`` (session): a private PKI (:class:`TestPKI`): root CA,
  issuing intermediate, the root written to a PEM file, and helpers to issue
  server and client certificates and to build a policy table trusting it;
* ``tls_server``: a factory ``tls_server(identity, **kw) -> LoopbackTLSServer``;
* ``openssl_server``: a factory running ``openssl s_server`` (independent peer);
* ``http_server``: a :class:`~certpolicy.testing.http_server.LoopbackHTTPServer`
  for CRL distribution points and caIssuers URLs (``http_server.route(path, crl_der)``);
* ``ocsp_responder``: a factory ``ocsp_responder(issuer_ca, **kw) -> OcspResponder``
  (signs with ``cryptography``; fault knobs: stale, no nextUpdate, wrong nonce,
  tryLater, garbage, stall, delegated or unauthorised signer ...);
* ``openssl_ocsp_responder``: a factory running the ``openssl ocsp`` responder
  (an independent peer) for a CA, with its own index file.

Example::

    def test_my_client_rejects_wrong_host(certpolicy_pki, tls_server):
        srv = tls_server(certpolicy_pki.issue_server("good.test"))
        ctx = certpolicy.create_ssl_context(certpolicy_pki.table())
        with pytest.raises(certpolicy.HostnameMismatch):
            ctx.wrap_socket(socket.create_connection(srv.address), server_hostname="evil.test")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from ..pki import CA, IssuedCert
from ..table import PolicyTable
from .http_server import LoopbackHTTPServer
from .ocsp_responder import OcspResponder, OpensslOcspResponder
from .tls_server import LoopbackTLSServer, OpenSSLServer

__all__ = ["TestPKI"]


class TestPKI:
    """A private PKI for tests: ``root`` -> ``intermediate`` -> leaves.

    Attributes:
        root / intermediate: :class:`~certpolicy.pki.CA`.
        root_pem: path of the root certificate (a trust anchor file).
        directory: where files are written.
    """

    __test__ = False  # not a test class

    def __init__(self, directory: Path, name: str = "certpolicy test") -> None:
        self.directory = directory
        self.root = CA.create(f"{name} root CA")
        self.intermediate = self.root.create_intermediate(f"{name} issuing CA")
        self.root_pem = directory / "root.pem"
        self.root_pem.write_bytes(self.root.cert_pem)

    def issue_server(self, *names: str, **kwargs: Any) -> IssuedCert:
        """A server leaf from the intermediate (``names``: DNS names or addresses)."""
        return self.intermediate.issue_server(*names, **kwargs)

    def issue_client(self, *names: str, **kwargs: Any) -> IssuedCert:
        """A client leaf (clientAuth EKU) from the intermediate."""
        return self.intermediate.issue_client(*names, **kwargs)

    def trust(self) -> dict[str, Any]:
        """The ``trust`` table of a policy that trusts only this PKI's root."""
        return {"system": False, "extra": [str(self.root_pem)]}

    def table(self, data: dict[str, Any] | None = None) -> PolicyTable:
        """A policy table whose ``[defaults]`` trust only this PKI (plus ``data``)."""
        data = dict(data or {})
        defaults = dict(data.get("defaults", {}))
        defaults.setdefault("trust", self.trust())
        data["defaults"] = defaults
        return PolicyTable.from_dict(data)


@pytest.fixture(scope="session")
def certpolicy_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A session-wide private PKI (root and intermediate)."""
    return TestPKI(tmp_path_factory.mktemp("certpolicy-pki"))


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
def tls_server() -> Iterator[Callable[..., LoopbackTLSServer]]:
    """Factory: ``tls_server(identity, host="127.0.0.1", **kw)`` starts a
    :class:`LoopbackTLSServer`, stopped after the test."""
    yield from _factory(LoopbackTLSServer)


@pytest.fixture
def openssl_server() -> Iterator[Callable[..., OpenSSLServer]]:
    """Factory: ``openssl_server(identity)`` runs ``openssl s_server -www``
    on a free loopback port, killed after the test."""
    yield from _factory(OpenSSLServer)


@pytest.fixture
def http_server() -> Iterator[LoopbackHTTPServer]:
    """A started :class:`LoopbackHTTPServer` on 127.0.0.1."""
    with LoopbackHTTPServer() as srv:
        yield srv


@pytest.fixture
def ocsp_responder() -> Iterator[Callable[..., OcspResponder]]:
    """Factory: ``ocsp_responder(issuer_ca, signer=None, **kw)`` starts an
    :class:`~certpolicy.testing.ocsp_responder.OcspResponder` on loopback
    (``.url`` is the responder URL for ``ocsp_url=``), stopped after the test."""
    yield from _factory(OcspResponder)


@pytest.fixture
def openssl_ocsp_responder() -> Iterator[Callable[..., OpensslOcspResponder]]:
    """Factory: ``openssl_ocsp_responder(ca, ...)`` runs ``openssl ocsp`` as a
    responder on loopback (see :class:`~certpolicy.testing.ocsp_responder.OpensslOcspResponder`)."""
    yield from _factory(OpensslOcspResponder)
