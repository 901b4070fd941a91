"""Revocation through the SSL context: CRL and OCSP on real loopback servers,
sync clients fetching inline, async clients never blocking the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

import certpolicy
from certpolicy import CertificateRevoked, RevocationError
from certpolicy.context import verdict_of
from certpolicy.pki import CA
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.tls_server import LoopbackTLSServer


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    with LoopbackHTTPServer() as cdp:
        root = CA.create("revocation root")
        inter = root.create_intermediate("revocation issuing CA")
        crl_url = cdp.url("/issuing.crl")
        good = inter.issue_server("localhost", "127.0.0.1", crl_url=crl_url)
        revoked = inter.issue_server("localhost", "127.0.0.1", crl_url=crl_url)
        inter.revoke(revoked.cert, reason=None)
        from cryptography.hazmat.primitives.serialization import Encoding

        cdp.route("/issuing.crl", inter.issue_crl().public_bytes(Encoding.DER), "application/pkix-crl")
        (tmp_path / "root.pem").write_bytes(root.cert_pem)
        table = certpolicy.PolicyTable.from_dict(
            {
                "defaults": {
                    "trust": {"system": False, "extra": [str(tmp_path / "root.pem")]},
                    "crl": "enforce",
                    "revocation": {"cache_dir": str(tmp_path / "cache")},
                }
            }
        )
        with LoopbackTLSServer(good) as s_good, LoopbackTLSServer(revoked) as s_revoked:
            yield {"table": table, "cdp": cdp, "good": s_good, "revoked": s_revoked}


def test_sync_client_fetches_the_crl_inline(setup: Any) -> None:
    from certpolicy.integrations.requests import session

    s = session(certpolicy.create_ssl_context(setup["table"]))
    r = s.get(setup["good"].url("/", hostname="localhost"), timeout=10)
    assert r.status_code == 200
    verdict = r.certpolicy_verdict  # type: ignore[attr-defined]
    assert verdict.result("revocation").passed and setup["cdp"].hits("/issuing.crl") == 1


def test_sync_client_rejects_a_revoked_leaf(setup: Any) -> None:
    import socket

    ctx = certpolicy.create_ssl_context(setup["table"])
    srv = setup["revoked"]
    with pytest.raises(CertificateRevoked) as err:
        ctx.wrap_socket(socket.create_connection((srv.host, srv.port)), server_hostname="localhost")
    assert err.value.check == "crl" and err.value.policy == "intranet"


def test_asyncio_handshake_does_not_fetch_on_the_event_loop(setup: Any) -> None:
    ctx = certpolicy.create_ssl_context(setup["table"])
    srv = setup["good"]

    async def connect() -> None:
        _r, w = await asyncio.open_connection(srv.host, srv.port, ssl=ctx, server_hostname="localhost")
        w.close()

    with pytest.raises(RevocationError) as err:
        asyncio.run(connect())
    assert err.value.outcome == "unreachable" and "not cached" in str(err.value)
    assert err.value.verdict.can_complete_off_loop  # type: ignore[attr-defined]


def test_httpx_async_client_completes_revocation_off_the_loop(setup: Any) -> None:
    from certpolicy.integrations.httpx import async_client

    ctx = certpolicy.create_ssl_context(setup["table"])

    async def main() -> tuple[int, Any]:
        async with async_client(ctx, timeout=10) as c:
            r = await c.get(setup["good"].url("/", hostname="localhost"))
            return r.status_code, r.extensions.get("certpolicy_verdict")

    status, verdict = asyncio.run(main())
    assert status == 200 and setup["cdp"].hits("/issuing.crl") == 1
    assert verdict is not None and verdict.policy.name == "intranet"  # peer address found through anyio

    async def revoked() -> None:
        async with async_client(ctx, timeout=10) as c:
            await c.get(setup["revoked"].url("/", hostname="localhost"))

    with pytest.raises(httpx.ConnectError) as err:
        asyncio.run(revoked())
    from certpolicy.integrations._deferred import deferred_verdict

    assert deferred_verdict(err.value) is None  # decided: revoked, nothing deferred
    assert "revoked" in str(err.value)


def test_aiohttp_connector_completes_revocation_off_the_loop(setup: Any) -> None:
    import aiohttp

    from certpolicy.integrations.aiohttp import session

    ctx = certpolicy.create_ssl_context(setup["table"])

    async def main() -> int:
        async with session(ctx) as s, s.get(setup["good"].url("/", hostname="localhost")) as r:
            return r.status

    assert asyncio.run(main()) == 200

    async def revoked() -> None:
        async with session(ctx) as s, s.get(setup["revoked"].url("/", hostname="localhost")):
            pass

    with pytest.raises((CertificateRevoked, aiohttp.ClientError)):
        asyncio.run(revoked())


def test_soft_fail_policy_lets_an_unreachable_crl_through_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import socket

    root = CA.create("soft root")
    inter = root.create_intermediate("soft CA")
    leaf = inter.issue_server("localhost", crl_url="http://127.0.0.1:9/nothing-listens-here.crl")
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    base = {"trust": {"system": False, "extra": [str(tmp_path / "root.pem")]}, "crl": "enforce",
            "revocation": {"cache_dir": str(tmp_path / "cache"), "crl_limits": {"connect_timeout": 1, "total_timeout": 2}, "retry": {"attempts": 1}}}
    hard = certpolicy.create_ssl_context(certpolicy.PolicyTable.from_dict({"defaults": base}))
    soft = certpolicy.create_ssl_context(certpolicy.PolicyTable.from_dict({"defaults": {**base, "revocation_failure": "soft"}}))
    with LoopbackTLSServer(leaf) as srv:
        with pytest.raises(RevocationError):
            hard.wrap_socket(socket.create_connection((srv.host, srv.port)), server_hostname="localhost")
        with caplog.at_level(logging.WARNING, logger="certpolicy"):
            tls = soft.wrap_socket(socket.create_connection((srv.host, srv.port)), server_hostname="localhost")
        assert verdict_of(tls) is not None and "nothing-listens-here" in caplog.text
        tls.close()


_ = dt


def test_64_concurrent_connections_cause_one_ocsp_request(tmp_path: Path) -> None:
    import socket
    import threading

    from certpolicy.testing.ocsp_responder import OcspResponder

    with LoopbackHTTPServer() as http:
        root = CA.create("ocsp root")
        inter = root.create_intermediate("ocsp issuing CA")
        responder = OcspResponder(inter, server=http, path="/ocsp")
        responder.stall = 0.3  # every connection arrives while the first request is in flight
        leaf = inter.issue_server("localhost", ocsp_url=http.url("/ocsp"))
        (tmp_path / "root.pem").write_bytes(root.cert_pem)
        table = certpolicy.PolicyTable.from_dict({"defaults": {
            "trust": {"system": False, "extra": [str(tmp_path / "root.pem")]}, "ocsp": "enforce",
            "revocation": {"cache_dir": str(tmp_path / "cache")}}})
        ctx = certpolicy.create_ssl_context(table)
        errors: list[BaseException] = []
        barrier = threading.Barrier(64)
        with LoopbackTLSServer(leaf) as srv:
            def connect() -> None:
                try:
                    barrier.wait(timeout=20)
                    tls = ctx.wrap_socket(socket.create_connection((srv.host, srv.port), timeout=20), server_hostname="localhost")
                    tls.close()
                except BaseException as e:
                    errors.append(e)

            threads = [threading.Thread(target=connect) for _ in range(64)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        assert errors == []
        assert len(responder.requests) == 1
