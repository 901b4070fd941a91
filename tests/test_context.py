"""The SSL context end to end: real TLS servers on loopback, real clients.

Every client connects through ``certpolicy.create_ssl_context``; the
servers are certpolicy's loopback TLS server and ``openssl s_server`` (an
independent peer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import logging
import socket
import ssl
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import certpolicy
from certpolicy import CertPolicyError, ChainError, CheckCrashed, HostnameMismatch
from certpolicy.checks import CheckContext, CheckResult
from certpolicy.context import PolicySSLContext, verdict_of
from certpolicy.pki import CA, IssuedCert
from certpolicy.testing.pytest_plugin import TestPKI
from certpolicy.testing.tls_server import LoopbackTLSServer

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("ctx-pki"))


@pytest.fixture(scope="module")
def good_leaf(pki: TestPKI) -> IssuedCert:
    return pki.issue_server("good.test", "localhost", "127.0.0.1", "::1", "acme.service-now.com")


@pytest.fixture(scope="module")
def good_server(good_leaf: IssuedCert) -> Any:
    with LoopbackTLSServer(good_leaf) as srv:
        yield srv


def _ctx(pki: TestPKI, data: dict[str, Any] | None = None, **kwargs: Any) -> PolicySSLContext:
    return certpolicy.create_ssl_context(pki.table(data), **kwargs)


def _connect(ctx: ssl.SSLContext, srv: Any, server_hostname: str) -> ssl.SSLSocket:
    sock = socket.create_connection((srv.host, srv.port), timeout=10)
    return ctx.wrap_socket(sock, server_hostname=server_hostname)


def _cause(exc: BaseException) -> CertPolicyError | None:
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 12:
        if isinstance(cur, CertPolicyError):
            return cur
        for attr in ("reason",):
            inner = getattr(cur, attr, None)
            if isinstance(inner, BaseException) and isinstance(inner, CertPolicyError):
                return inner
        args = [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
        cur = cur.__cause__ or cur.__context__ or (args[0] if args else None)
        seen += 1
    return None


# -- stdlib ------------------------------------------------------------------


def test_http_client_gets_200_and_a_verdict(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki)
    conn = http.client.HTTPSConnection("localhost", good_server.port, context=ctx, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    verdict = verdict_of(conn.sock)
    assert verdict is not None and verdict.passed
    assert verdict.policy.name == "intranet"  # loopback peer: intranet range
    assert [r.check for r in verdict.results][:2] == ["chain", "hostname"]
    conn.close()


def test_getpeercert_returns_the_verified_dict(pki: TestPKI, good_server: Any) -> None:
    tls = _connect(_ctx(pki), good_server, "good.test")
    cert = tls.getpeercert()
    assert cert["subject"] == ((("commonName", "good.test"),),)
    assert ("DNS", "good.test") in cert["subjectAltName"]
    assert tls.getpeercert(binary_form=True)
    tls.close()


def test_urllib_request_works(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki)
    url = good_server.url("/", hostname="localhost")
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:  # noqa: S310
        assert r.status == 200


def test_context_reports_verification_on_and_ignores_writes(pki: TestPKI, good_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    ctx = _ctx(pki)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    assert "ignored" in caplog.text
    with pytest.raises(HostnameMismatch):
        _connect(ctx, good_server, "evil.test")


def test_wrong_host_is_rejected_naming_policy_check_and_names(pki: TestPKI, good_server: Any) -> None:
    with pytest.raises(HostnameMismatch) as err:
        _connect(_ctx(pki), good_server, "evil.test")
    e = err.value
    assert isinstance(e, ssl.SSLCertVerificationError)
    assert e.errno == ssl.SSL_ERROR_SSL and e.verify_code == 62  # as OpenSSL's own hostname failures
    assert e.policy == "intranet" and e.check == "hostname"
    assert "good.test" in str(e)


def test_expired_leaf_is_rejected(pki: TestPKI, tls_server: Any) -> None:
    leaf = pki.issue_server("old.test", "127.0.0.1", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1))
    srv = tls_server(leaf)
    with pytest.raises(ChainError) as err:
        _connect(_ctx(pki), srv, "old.test")
    assert err.value.check == "chain"


def test_unknown_issuer_is_rejected(pki: TestPKI, tls_server: Any) -> None:
    other = CA.create("someone else's root").create_intermediate("someone else's CA")
    srv = tls_server(other.issue_server("good.test"))
    with pytest.raises(ChainError):
        _connect(_ctx(pki), srv, "good.test")


def test_missing_intermediate_is_rejected(pki: TestPKI, tls_server: Any, good_leaf: IssuedCert) -> None:
    srv = tls_server(good_leaf, send_chain=1)
    with pytest.raises(ChainError):
        _connect(_ctx(pki), srv, "good.test")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[IssuedCert, Path]:
    cert = IssuedCert.self_signed("appliance.corp.test", "127.0.0.1")
    path = tmp_path_factory.mktemp("selfsigned") / "appliance.pem"
    path.write_bytes(cert.cert_pem)
    return cert, path


def test_self_signed_on_an_intranet_address_is_rejected_without_an_override(pki: TestPKI, tls_server: Any, self_signed: Any) -> None:
    srv = tls_server(self_signed[0])
    with pytest.raises(ChainError) as err:
        _connect(_ctx(pki), srv, "appliance.corp.test")
    assert err.value.policy == "intranet"


def test_self_signed_on_an_intranet_address_is_accepted_with_an_override(pki: TestPKI, tls_server: Any, self_signed: Any) -> None:
    srv = tls_server(self_signed[0])
    table = {"override": [{"name": "appliance", "targets": "127.0.0.1", "trust": {"system": False, "extra": [str(self_signed[1])]}}]}
    tls = _connect(_ctx(pki, table), srv, "appliance.corp.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.policy.name == "appliance"
    tls.close()


def test_audit_mode_logs_and_passes(pki: TestPKI, good_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    ctx = _ctx(pki, {"intranet": {"hostname": "audit"}})
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        tls = _connect(ctx, good_server, "evil.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.passed and verdict.audited == ["hostname"]
    assert "would fail" in caplog.text and "hostname" in caplog.text
    tls.close()


def test_whole_context_audit_mode_lets_a_bad_chain_through(pki: TestPKI, tls_server: Any) -> None:
    other = CA.create("rogue root").create_intermediate("rogue CA")
    srv = tls_server(other.issue_server("good.test"))
    tls = _connect(_ctx(pki, audit=True), srv, "good.test")
    verdict = verdict_of(tls)
    assert verdict is not None and "chain" in verdict.audited
    tls.close()


def test_off_mode_passes(pki: TestPKI, good_server: Any) -> None:
    tls = _connect(_ctx(pki, {"intranet": {"hostname": "off"}}), good_server, "evil.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.result("hostname") is not None
    assert verdict.result("hostname").outcome == "off"  # type: ignore[union-attr]
    tls.close()


def test_instance_policy_wins_by_name_over_the_intranet_address(pki: TestPKI, good_server: Any) -> None:
    tls = _connect(_ctx(pki), good_server, "acme.service-now.com")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.policy.kind is certpolicy.PolicyKind.INSTANCE
    tls.close()


def test_hostname_is_skipped_when_the_chain_check_is_off(pki: TestPKI, good_server: Any) -> None:
    tls = _connect(_ctx(pki, {"intranet": {"chain": "off"}}), good_server, "evil.test")
    verdict = verdict_of(tls)
    assert verdict is not None
    hostname = verdict.result("hostname")
    assert hostname is not None and hostname.outcome == "skipped" and "chain" in hostname.detail
    tls.close()


class _Exploding:
    name = "exploding"
    requires_chain = False

    def run(self, ctx: CheckContext) -> CheckResult:
        raise ZeroDivisionError("bug in a check")


def test_a_check_that_crashes_rejects_the_connection(pki: TestPKI, good_server: Any) -> None:
    ctx = certpolicy.create_ssl_context(pki.table(), extra_checks=[_Exploding()])
    with pytest.raises(CheckCrashed) as err:
        _connect(ctx, good_server, "good.test")
    assert "ZeroDivisionError" in str(err.value) and isinstance(err.value.__cause__, ZeroDivisionError)


def test_no_application_data_before_verification(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki)
    sock = socket.create_connection((good_server.host, good_server.port), timeout=10)
    tls = ctx.wrap_socket(sock, server_hostname="evil.test", do_handshake_on_connect=False)
    with pytest.raises(HostnameMismatch):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def test_resumed_session_is_never_trusted_without_a_chain(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki, verdict_ttl=0)
    first = _connect(ctx, good_server, "good.test")
    first.sendall(b"GET / HTTP/1.1\r\nHost: good.test\r\n\r\n")
    first.recv(1024)
    session = first.session
    first.close()
    sock = socket.create_connection((good_server.host, good_server.port), timeout=10)
    second = ctx.wrap_socket(sock, server_hostname="good.test", session=session)
    assert not second.session_reused
    verdict = verdict_of(second)
    assert verdict is not None and verdict.result("chain").outcome == "ok"  # type: ignore[union-attr]
    second.close()


def test_invalid_server_name_is_rejected_before_connecting(pki: TestPKI, good_server: Any) -> None:
    with pytest.raises(HostnameMismatch, match="empty label"):
        _connect(_ctx(pki), good_server, "good.test..")


def test_trailing_dot_server_name_matches(pki: TestPKI, good_server: Any) -> None:
    tls = _connect(_ctx(pki), good_server, "good.test.")
    assert verdict_of(tls) is not None
    tls.close()


def test_concurrent_handshakes_on_one_context(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki, verdict_ttl=0)
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                _connect(ctx, good_server, "good.test").close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


def test_verdict_cache_serves_the_second_connection(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki)
    _connect(ctx, good_server, "good.test").close()
    tls = _connect(ctx, good_server, "good.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.cached
    tls.close()


def test_context_cannot_be_copied(pki: TestPKI) -> None:
    import copy
    import pickle

    ctx = _ctx(pki)
    with pytest.raises(TypeError):
        copy.copy(ctx)
    with pytest.raises(TypeError):
        pickle.dumps(ctx)


# -- openssl s_server: an independent peer ----------------------------------------


def test_openssl_s_server_peer(pki: TestPKI, good_leaf: IssuedCert, openssl_server: Any) -> None:
    srv = openssl_server(good_leaf)
    ctx = _ctx(pki)
    tls = _connect(ctx, srv, "good.test")
    tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert b"HTTP/1.0 200" in tls.recv(4096)
    tls.close()
    with pytest.raises(HostnameMismatch):
        _connect(ctx, srv, "evil.test")


# -- HTTP clients -------------------------------------------------------------------


def test_requests_adapter(pki: TestPKI, good_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:

    from certpolicy.integrations.requests import session

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(Path(__file__)))  # garbage bundle: must be ignored
    s = session(_ctx(pki))
    r = s.get(good_server.url("/", hostname="localhost"), timeout=10)
    assert r.status_code == 200
    assert r.certpolicy_verdict is not None and r.certpolicy_verdict.policy.name == "intranet"  # type: ignore[attr-defined]
    r = s.get(good_server.url("/", hostname="127.0.0.1"), timeout=10, verify=False)
    assert r.status_code == 200


def test_requests_verify_false_cannot_switch_checks_off(pki: TestPKI, tls_server: Any) -> None:
    import requests

    from certpolicy.integrations.requests import session

    other = CA.create("rogue root 2").create_intermediate("rogue CA 2")
    srv = tls_server(other.issue_server("localhost", "127.0.0.1"))
    s = session(_ctx(pki))
    with pytest.raises(requests.exceptions.SSLError) as err:
        s.get(srv.url("/", hostname="localhost"), timeout=10, verify=False)
    assert isinstance(_cause(err.value), ChainError)


def test_urllib3_pool_manager(pki: TestPKI, good_server: Any) -> None:
    from certpolicy.integrations.urllib3 import PolicyPoolManager

    http = PolicyPoolManager(_ctx(pki))
    r = http.request("GET", good_server.url("/", hostname="localhost"))
    assert r.status == 200
    import urllib3

    plain = urllib3.PoolManager(ssl_context=_ctx(pki))
    assert plain.request("GET", good_server.url("/", hostname="localhost")).status == 200
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        urllib3.PoolManager(ssl_context=_ctx(pki, {"intranet": {"trust": {"system": False, "extra": []}}}), retries=0).request(
            "GET", good_server.url("/", hostname="localhost")
        )


def test_httpx_client_and_transport(pki: TestPKI, good_server: Any) -> None:
    import httpx

    from certpolicy.integrations.httpx import client

    ctx = _ctx(pki)
    with httpx.Client(verify=ctx) as c:
        assert c.get(good_server.url("/", hostname="localhost")).status_code == 200
    with client(ctx) as c:
        r = c.get(good_server.url("/", hostname="localhost"))
        assert r.status_code == 200 and r.extensions["certpolicy_verdict"] is not None
    with httpx.Client(verify=_ctx(pki, {"intranet": {"trust": {"system": False, "extra": []}}})) as c:
        with pytest.raises(httpx.ConnectError) as err:
            c.get(good_server.url("/", hostname="localhost"))
    assert isinstance(_cause(err.value), ChainError)


def test_httpx_async_client(pki: TestPKI, good_server: Any) -> None:
    import httpx

    from certpolicy.integrations.httpx import async_client

    ctx = _ctx(pki)

    async def main() -> tuple[int, int]:
        async with httpx.AsyncClient(verify=ctx) as c:
            a = (await c.get(good_server.url("/", hostname="localhost"))).status_code
        async with async_client(ctx) as c:
            b = (await c.get(good_server.url("/", hostname="localhost"))).status_code
        return a, b

    assert asyncio.run(main()) == (200, 200)


def test_aiohttp_connector(pki: TestPKI, good_server: Any) -> None:
    import aiohttp

    from certpolicy.integrations.aiohttp import session

    verdicts: list[Any] = []
    ctx = _ctx(pki, on_verdict=verdicts.append)

    async def main() -> int:
        async with session(ctx) as s, s.get(good_server.url("/", hostname="localhost")) as r:
            return r.status

    assert asyncio.run(main()) == 200
    assert verdicts and verdicts[-1].policy.name == "intranet"  # peer address found through the transport
    assert str(verdicts[-1].peer_ip) == "127.0.0.1"

    async def bad() -> None:
        async with session(_ctx(pki)) as s, s.get(f"https://127.0.0.1:{good_server.port}/", server_hostname="evil.test"):
            pass

    with pytest.raises(aiohttp.ClientConnectorCertificateError) as err:
        asyncio.run(bad())
    assert isinstance(_cause(err.value), HostnameMismatch) or "hostname" in str(err.value)


def test_asyncio_open_connection(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki)

    async def main() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", good_server.port, ssl=ctx, server_hostname="good.test")
        v = verdict_of(writer.transport)
        assert v is not None and v.peer_ip is not None and str(v.peer_ip) == "127.0.0.1"
        writer.write(b"GET / HTTP/1.1\r\nHost: good.test\r\n\r\n")
        data = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return data

    assert asyncio.run(main()).startswith(b"HTTP/1.1 200")

    async def bad() -> None:
        await asyncio.open_connection("127.0.0.1", good_server.port, ssl=ctx, server_hostname="evil.test")

    with pytest.raises(ssl.SSLCertVerificationError) as err:
        asyncio.run(bad())
    assert isinstance(err.value, HostnameMismatch)


def test_asyncio_concurrent_handshakes(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki, verdict_ttl=0)

    async def one() -> None:
        _r, w = await asyncio.open_connection("127.0.0.1", good_server.port, ssl=ctx, server_hostname="good.test")
        w.close()

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(32)))

    asyncio.run(main())


# -- pools keyed by policy ----------------------------------------------------------


def test_requests_pools_never_cross_policies(pki: TestPKI, tls_server: Any, self_signed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One name, two addresses: 127.0.0.1 under a lax override, ::1 under the
    strict intranet policy, same port. A connection made under the lax policy
    is never reused for a request that resolves to the strict one."""
    import requests

    from certpolicy.integrations.requests import session

    lax_srv = tls_server(self_signed[0], host="127.0.0.1")
    strict_srv = tls_server(self_signed[0], host="::1", port=lax_srv.port)
    current = {"addr": "127.0.0.1"}
    real = socket.getaddrinfo

    def name_to_current_address(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(current["addr"] if host == "svc.corp.test" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", name_to_current_address)
    table = {"override": [{"name": "lax-appliance", "targets": "127.0.0.1", "chain": "off", "hostname": "off"}]}
    s = session(_ctx(pki, table))
    url = f"https://svc.corp.test:{lax_srv.port}/"
    r = s.get(url, timeout=10)
    assert r.status_code == 200 and r.certpolicy_verdict.policy.name == "lax-appliance"  # type: ignore[attr-defined]
    assert s.get(url, timeout=10).status_code == 200  # same policy: the pooled connection is reused
    assert lax_srv.connections == 1
    current["addr"] = "::1"  # the name now resolves to the strict address
    with pytest.raises(requests.exceptions.SSLError) as err:
        s.get(url, timeout=10)
    e = _cause(err.value)
    assert isinstance(e, ChainError) and e.policy == "intranet"
    assert lax_srv.connections == 1
    assert strict_srv.port == lax_srv.port


def test_url_path_rules_apply_through_the_integrations(pki: TestPKI, good_server: Any) -> None:
    from certpolicy.integrations.requests import session

    table = {"override": [{"name": "v2-audit", "targets": f"https://localhost:{good_server.port}/v2/", "hostname": "audit"}]}
    s = session(_ctx(pki, table))
    r1 = s.get(good_server.url("/v2/x", hostname="localhost"), timeout=10)
    r2 = s.get(good_server.url("/v1/x", hostname="localhost"), timeout=10)
    assert r1.certpolicy_verdict.policy.name == "v2-audit"  # type: ignore[attr-defined]
    assert r2.certpolicy_verdict is not None and r2.certpolicy_verdict.policy.name == "intranet"  # type: ignore[attr-defined]


def test_legacy_cn_fallback_cannot_escape_name_constraints(pki: TestPKI, tls_server: Any, tmp_path: Path) -> None:
    root = CA.create("constrained root")
    nc = root.create_intermediate("constrained CA", permitted_dns=["corp.example"])
    srv = tls_server(nc.issue_cert(cn="bank.example", include_san=False))
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    table = certpolicy.PolicyTable.from_dict(
        {"defaults": {"cn_fallback": "legacy", "trust": {"system": False, "extra": [str(tmp_path / "root.pem")]}}}
    )
    with pytest.raises(HostnameMismatch) as err:
        _connect(certpolicy.create_ssl_context(table), srv, "bank.example")
    assert err.value.outcome == "name-constraints"


def test_one_structured_log_record_per_connection(pki: TestPKI, good_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    ctx = _ctx(pki, verdict_ttl=0)
    with caplog.at_level(logging.INFO, logger="certpolicy"):
        for _ in range(3):
            _connect(ctx, good_server, "good.test").close()
    records = [r for r in caplog.records if hasattr(r, "certpolicy")]
    assert len(records) == 3
    data = records[0].certpolicy  # type: ignore[attr-defined]
    assert data["policy"] == "intranet" and data["passed"] is True
    assert [c["check"] for c in data["checks"]] == ["chain", "hostname", "revocation"]
    assert data["peer_ip"] == "127.0.0.1"


def test_on_verdict_callback_sees_failures_too(pki: TestPKI, good_server: Any) -> None:
    seen: list[Any] = []
    ctx = _ctx(pki, on_verdict=seen.append)
    with pytest.raises(HostnameMismatch) as err:
        _connect(ctx, good_server, "evil.test")
    assert seen and seen[-1].passed is False and err.value.verdict is seen[-1]  # type: ignore[attr-defined]


class _CountingHostname:
    """A user's replacement for the built-in hostname check."""

    name = "hostname"
    requires_chain = True

    def __init__(self) -> None:
        self.calls = 0

    def run(self, ctx: CheckContext) -> CheckResult:
        self.calls += 1
        if ctx.host != "good.test":
            raise HostnameMismatch(f"only good.test is allowed here, not {ctx.host!r}", check=self.name, outcome="mismatch")
        return CheckResult(self.name, "ok", "allowed by the replacement check")


def test_a_built_in_check_can_be_replaced(pki: TestPKI, good_server: Any) -> None:
    replacement = _CountingHostname()
    ctx = certpolicy.create_ssl_context(pki.table(), checks={"hostname": replacement}, verdict_ttl=0)
    tls = _connect(ctx, good_server, "good.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.result("hostname").detail == "allowed by the replacement check"  # type: ignore[union-attr]
    tls.close()
    with pytest.raises(HostnameMismatch, match=r"only good\.test"):
        _connect(ctx, good_server, "localhost")
    assert replacement.calls == 2


def test_hostname_is_skipped_when_the_chain_failed_in_audit_mode(pki: TestPKI, tls_server: Any) -> None:
    other = CA.create("audit rogue root").create_intermediate("audit rogue CA")
    srv = tls_server(other.issue_server("good.test"))
    tls = _connect(_ctx(pki, {"intranet": {"chain": "audit"}}), srv, "evil.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.audited == ["chain"]
    hostname = verdict.result("hostname")
    assert hostname is not None and hostname.outcome == "skipped" and "not validated" in hostname.detail
    tls.close()


def test_hostname_without_chain_runs_when_the_policy_says_so(pki: TestPKI, good_server: Any) -> None:
    ctx = _ctx(pki, {"intranet": {"chain": "off", "hostname_without_chain": True}})
    tls = _connect(ctx, good_server, "good.test")
    verdict = verdict_of(tls)
    assert verdict is not None and verdict.result("hostname").outcome == "ok"  # type: ignore[union-attr]
    tls.close()
    with pytest.raises(HostnameMismatch):
        _connect(ctx, good_server, "evil.test")


def test_peer_chain_comes_from_the_public_api_on_313_and_the_private_one_before(pki: TestPKI, good_server: Any, good_leaf: IssuedCert) -> None:
    import sys

    from cryptography.hazmat.primitives.serialization import Encoding

    from certpolicy import context as context_module

    assert context_module._PUBLIC_CHAIN_API is (sys.version_info >= (3, 13))
    tls = _connect(_ctx(pki), good_server, "good.test")
    chain = tls._cp_chain()  # type: ignore[attr-defined]
    assert chain[0] == good_leaf.cert.public_bytes(Encoding.DER) and len(chain) == 2
    tls.close()
