"""CRLs fetched from distribution points on a loopback server: DER and PEM
bodies (made by certpolicy.pki and by the ``openssl ca`` command), bad bodies,
bounded downloads, retries, single flight, the asyncio no-network path,
refresh before nextUpdate, and bug cases BR-13 (CRL side), BR-19 and BR-24."""

from __future__ import annotations

import base64
import datetime as _dt
import logging
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from _crl_support import (
    AT,
    FAST_LIMITS,
    UTC,
    bugcase,
    build_pki,
    context,
    crl_check,
    days,
    der,
    hours,
    pem,
    policy,
)
from certpolicy import PolicyResolver, PolicyTable
from certpolicy.errors import CertificateRevoked, RevocationError
from certpolicy.fetch import fetch
from certpolicy.policy import FetchLimits, Outcome, RetryPolicy
from certpolicy.revocation.cache import RevocationCache
from certpolicy.revocation.crl import ParsedCrl, load_crl
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.openssl_ca import OpenSSLCA, openssl_available

KC = x509.ReasonFlags.key_compromise


@pytest.fixture
def srv(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


def _refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


# -- the basic path -------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_a_revoked_leaf_is_found_on_the_downloaded_crl(srv: LoopbackHTTPServer, tmp_path: Path, encoding: str) -> None:
    pki = build_pki(srv.url("/inter.crl"))
    crl = pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))
    srv.route("/inter.crl", der(crl) if encoding == "der" else pem(crl), "application/pkix-crl")
    check = crl_check(tmp_path)
    ctx = context(pki.path, policy())
    st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.REVOKED and st.url == srv.url("/inter.crl")
    assert check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, policy())).outcome is Outcome.GOOD
    assert srv.hits("/inter.crl") == 1
    with pytest.raises(CertificateRevoked) as e:
        check.run(ctx)
    assert e.value.check == "crl" and e.value.details["reason"] == "keyCompromise"


def test_a_revoked_intermediate_fails_with_chain_scope(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/inter.crl"), inter_crl_url=srv.url("/root.crl"))
    srv.route("/inter.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    srv.route("/root.crl", der(pki.root.issue_crl([(pki.inter.cert, x509.ReasonFlags.ca_compromise)], this_update=AT - hours(1), next_update=AT + days(1))))
    check = crl_check(tmp_path)
    assert check.run(context(pki.path, policy(scope="leaf"))).outcome == "good"
    with pytest.raises(CertificateRevoked) as e:
        check.run(context(pki.path, policy(scope="chain")))
    assert e.value.certificate == pki.inter.cert
    assert e.value.details["reason"] == "cACompromise"


# -- bad bodies (BR-19) -----------------------------------------------------------


def _br19_fetcher(srv: LoopbackHTTPServer) -> Any:
    """The case's certificates name http://crl.example.test/...; resolve that
    host to the loopback server (as a hosts-file entry would)."""

    def fetcher(url: str, **kw: Any) -> Any:
        return fetch(url.replace("http://crl.example.test", srv.url("").rstrip("/")), **kw)

    return fetcher


def _br19_certs() -> tuple[dict[str, Any], list[x509.Certificate], _dt.datetime]:
    case = bugcase("BR-19")
    p = case["input"]["pki"]
    leaf, ca, root = (x509.load_pem_x509_certificate(p[k].encode()) for k in ("leaf", "crl_ca", "root"))
    at = _dt.datetime.fromisoformat(case["input"]["at_time"].replace("Z", "+00:00"))
    return case, [leaf, ca, root], at


@pytest.mark.parametrize("variant", ["der_body", "pem_body", "pem_body_wrong_content_type"])
def test_der_and_pem_crl_bodies_both_work_whatever_the_content_type(srv: LoopbackHTTPServer, tmp_path: Path, variant: str) -> None:
    case, path, at = _br19_certs()
    v = next(x for x in case["input"]["variants"] if x["name"] == variant)
    body = base64.b64decode(v["body_b64"]) if "body_b64" in v else v["body_text"].encode()
    srv.route("/brcrlca.crl", body, v["content_type"])
    check = crl_check(tmp_path, fetcher=_br19_fetcher(srv))
    st = check.status(path[0], path[1], context(path, policy(), at=at))
    assert st.outcome is Outcome.REVOKED
    assert st.crl_number == case["expected"][variant]["crl_number"]


@pytest.mark.parametrize(
    ("body", "ctype"),
    [(b"<html><body><h1>Service unavailable</h1></body></html>", "text/html"), (b"", "application/pkix-crl")],
    ids=["html-error-page", "empty-body"],
)
def test_a_body_that_is_not_a_crl_is_malformed_retried_and_never_cached(
    srv: LoopbackHTTPServer, tmp_path: Path, body: bytes, ctype: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, path, at = _br19_certs()
    srv.route("/brcrlca.crl", body, ctype)
    cache = RevocationCache(tmp_path / "cache")
    check = crl_check(tmp_path, cache=cache, fetcher=_br19_fetcher(srv))
    with caplog.at_level(logging.WARNING):
        st = check.status(path[0], path[1], context(path, policy(), at=at))
    assert st.outcome is Outcome.MALFORMED
    assert "neither a DER nor a PEM CRL" in st.detail or "empty" in st.detail
    assert srv.hits("/brcrlca.crl") == 3  # the retry policy's attempts
    assert cache.get("crl:http://crl.example.test/brcrlca.crl") is None
    assert any("crl.example.test/brcrlca.crl" in r.getMessage() for r in caplog.records)


# -- bounded downloads ----------------------------------------------------------


@pytest.mark.parametrize("omit_length", [False, True], ids=["content-length", "counted"])
def test_a_50_mb_body_is_cut_off_at_the_limit_quickly(srv: LoopbackHTTPServer, tmp_path: Path, omit_length: bool) -> None:
    pki = build_pki(srv.url("/big.crl"))
    srv.route("/big.crl", b"\x30" * 50_000_000, "application/pkix-crl", omit_length=omit_length)
    check = crl_check(tmp_path)
    start = time.monotonic()
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.OVERSIZED
    assert time.monotonic() - start < 5
    assert srv.hits("/big.crl") == 1  # an oversized body is not retried


@pytest.mark.parametrize("knob", [{"stall": 10.0}, {"drip": 0.2}], ids=["stall", "drip"])
def test_a_stalling_server_is_bounded_by_the_timeouts(srv: LoopbackHTTPServer, tmp_path: Path, knob: dict[str, float]) -> None:
    pki = build_pki(srv.url("/slow.crl"))
    srv.route("/slow.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))), **knob)
    limits = FetchLimits(connect_timeout=0.5, read_timeout=0.4, total_timeout=0.8, max_bytes=1_000_000)
    retry = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01, jitter=0.0, deadline=1.5)
    check = crl_check(tmp_path)
    start = time.monotonic()
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(crl_limits=limits, retry=retry)))
    elapsed = time.monotonic() - start
    assert st.outcome is Outcome.UNREACHABLE
    assert elapsed < 2.5, elapsed


def test_failed_downloads_are_retried_under_the_retry_policy(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/flaky.crl"))
    srv.route("/flaky.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))), fail_first=2)
    st = crl_check(tmp_path).status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.GOOD
    assert srv.hits("/flaky.crl") == 3


def test_when_retries_run_out_the_outcome_is_unreachable(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/down.crl"))
    srv.route("/down.crl", b"", fail_first=100)
    retry = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01, jitter=0.0, deadline=5.0)
    check = crl_check(tmp_path)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(retry=retry)))
    assert st.outcome is Outcome.UNREACHABLE and "503" in st.detail
    assert srv.hits("/down.crl") == 2
    # the failure is remembered for a while: no new download per connection
    st2 = check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, policy(retry=retry)))
    assert st2.outcome is Outcome.UNREACHABLE
    assert srv.hits("/down.crl") == 2


# -- BR-13: unreachable distribution point, hard by default, soft where configured --


def test_refused_crl_download_fails_hard_by_default_and_warns_under_soft_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case = bugcase("BR-13")
    table = PolicyTable.from_dict({"policies": case["input"]["policy_table"]})
    resolver = PolicyResolver(table)
    url = f"http://127.0.0.1:{_refused_port()}/ca.crl"
    pki = build_pki(url)
    check = crl_check(tmp_path)
    outcomes = []
    for query, expected in zip(case["input"]["queries"], case["expected"]["results"], strict=True):
        pol = resolver.resolve(url=query["url"], peer_ip=query["peer_ip"]).policy
        assert pol.name == expected["policy"]
        fast = RetryPolicy(attempts=2, backoff=0.01, deadline=2.0)
        pol = replace(pol, revocation=replace(pol.revocation, crl_limits=FAST_LIMITS, retry=fast))
        ctx = context(pki.path, pol)
        start = time.monotonic()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="certpolicy"):
            if expected["connection"] == "refused":
                with pytest.raises(RevocationError) as e:
                    check.run(ctx)
                assert e.value.policy == "instance" and e.value.check == "crl"
                assert e.value.outcome == "unreachable"
                assert isinstance(e.value, ssl.SSLCertVerificationError)
                outcomes.append("refused")
            else:
                result = check.run(ctx)
                assert result.outcome == "unreachable"
                warning = next(r for r in caplog.records if r.levelno == logging.WARNING and "partner-softfail" in r.getMessage())
                assert "'crl'" in warning.getMessage() and url in warning.getMessage()
                outcomes.append("allowed")
        assert time.monotonic() - start < FAST_LIMITS.total_timeout * 2 + 1
    assert outcomes == ["refused", "allowed"]


# -- single flight, no network on the event loop --------------------------------


def test_sixteen_threads_on_a_cold_crl_cause_exactly_one_download(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/cold.crl"))
    srv.route("/cold.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))), stall=0.3)
    check = crl_check(tmp_path)
    barrier = threading.Barrier(16)
    results: list[Outcome] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        path = pki.path if i % 2 else pki.other_path
        barrier.wait()
        st = check.status(path[0], path[1], context(path, policy()))
        with lock:
            results.append(st.outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert srv.hits("/cold.crl") == 1
    assert sorted(results) == sorted([Outcome.REVOKED] * 8 + [Outcome.GOOD] * 8)


def test_without_network_a_cold_crl_is_unreachable_and_fetched_in_the_background(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/async.crl"))
    srv.route("/async.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    check = crl_check(tmp_path)
    ctx = context(pki.path, policy(), allow_network=False)
    st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.UNREACHABLE
    assert "not cached yet" in st.detail
    assert check.source.refresher.wait_idle(10)
    assert srv.hits("/async.crl") == 1
    assert check.status(pki.leaf.cert, pki.inter.cert, ctx).outcome is Outcome.GOOD
    assert srv.hits("/async.crl") == 1


# -- the openssl ca command as an independent CRL issuer --------------------------


@pytest.mark.skipif(not openssl_available(), reason="openssl command not available")
@pytest.mark.parametrize("as_der", [True, False], ids=["der", "pem"])
def test_crls_made_by_openssl_ca_are_understood(srv: LoopbackHTTPServer, tmp_path: Path, as_der: bool) -> None:
    ca = OpenSSLCA.create(tmp_path / "ca", "OpenSSL Peer CA")
    url = srv.url("/openssl.crl")
    revoked_file = ca.issue("revoked.example.test", crl_url=url)
    revoked = x509.load_pem_x509_certificate(revoked_file.read_bytes())
    good = x509.load_pem_x509_certificate(ca.issue("good.example.test", crl_url=url).read_bytes())
    ca.revoke(revoked_file, "superseded")
    srv.route("/openssl.crl", ca.gencrl(der=as_der), "application/pkix-crl")
    now = _dt.datetime.now(UTC)
    check = crl_check(tmp_path, clock=lambda: now)
    anchor = ca.cert
    st = check.status(revoked, anchor, context([revoked, anchor], policy(), at=now))
    assert st.outcome is Outcome.REVOKED and st.revocation_reason == "superseded"
    assert check.status(good, anchor, context([good, anchor], policy(), at=now)).outcome is Outcome.GOOD
    assert srv.hits("/openssl.crl") == 1


# -- refresh, CRL numbers, signatures ------------------------------------------------


def test_a_crl_with_a_lower_number_never_replaces_the_cached_one(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/n.crl"))
    srv.route("/n.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - days(2), next_update=AT - hours(1), crl_number=5)))
    check = crl_check(tmp_path)  # failure_ttl 30 s
    pol = policy(clock_skew=0)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol)).crl_number == 5
    srv.route("/n.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1), crl_number=4)))
    later = AT + _dt.timedelta(seconds=60)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=later))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 5
    assert srv.hits("/n.crl") == 2
    # the CRL in use is still out of date, but it was downloaded moments ago: no new download
    st = check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, pol, at=later + _dt.timedelta(seconds=1)))
    assert st.outcome is Outcome.STALE
    assert srv.hits("/n.crl") == 2


def test_a_badly_signed_download_does_not_displace_a_good_cached_crl(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/s.crl"))
    srv.route("/s.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - days(2), next_update=AT - hours(1), crl_number=5)))
    cache = RevocationCache(tmp_path / "cache")
    check = crl_check(tmp_path, cache=cache, failure_ttl=0)
    ctx = context(pki.path, policy(clock_skew=0))
    check.status(pki.leaf.cert, pki.inter.cert, ctx)
    forged = pki.inter.issue_crl([], signer=ec.generate_private_key(ec.SECP256R1()), this_update=AT - hours(1), next_update=AT + days(1), crl_number=6)
    srv.route("/s.crl", der(forged))
    st = check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, policy(clock_skew=0)))
    assert st.outcome is Outcome.STALE and "signature" in st.detail
    entry = cache.get("crl:" + srv.url("/s.crl"))
    assert entry is not None and ParsedCrl(load_crl(entry.data)).number == 5
    assert check.status(pki.leaf.cert, pki.inter.cert, ctx).outcome is Outcome.REVOKED


def test_a_cached_crl_is_refreshed_in_the_background_before_next_update(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/timed.crl"))
    next_update = AT + hours(6)
    srv.route("/timed.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=next_update, crl_number=1)))
    # a wall clock that reaches nextUpdate - refresh_margin 0.3 s after the first check
    t0 = time.monotonic()
    base = next_update - _dt.timedelta(seconds=300) - _dt.timedelta(seconds=0.3)
    check = crl_check(tmp_path, clock=lambda: base + _dt.timedelta(seconds=time.monotonic() - t0))
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy())).outcome is Outcome.GOOD
    srv.route("/timed.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT, next_update=AT + days(1), crl_number=2)))
    deadline = time.monotonic() + 10
    while srv.hits("/timed.crl") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check.source.refresher.wait_idle(10)
    assert srv.hits("/timed.crl") == 2
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(), allow_network=False))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 2


# -- BR-24: once per nextUpdate, retried, bounded, kept across restarts ---------------


def test_crl_download_once_per_next_update_retried_bounded_and_kept_across_restarts(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    case = bugcase("BR-24")
    served = case["input"]["crl_served"]
    # The case's CRL 12 comes with certificates of a CA whose key we do not
    # have; the timeline is replayed with a CA of our own, same dates and numbers.
    t_this = _dt.datetime.fromisoformat(served["thisUpdate"].replace("Z", "+00:00"))
    t_next = _dt.datetime.fromisoformat(served["nextUpdate"].replace("Z", "+00:00"))
    pki = build_pki(srv.url("/brcrlca.crl"))
    srv.route("/brcrlca.crl", der(pki.inter.issue_crl([], this_update=t_this, next_update=t_next, crl_number=served["number"])))
    cache_dir = tmp_path / "cache"
    check = crl_check(tmp_path, cache=RevocationCache(cache_dir), clock=lambda: AT)
    pol = policy(cache_dir=str(cache_dir))

    # 500 connections within 5 hours: one download
    for i in range(500):
        at = AT + _dt.timedelta(seconds=i * 36)
        assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=at)).outcome is Outcome.GOOD
    assert srv.hits("/brcrlca.crl") == 1

    # after nextUpdate: 503 twice, then CRL 13; one refresh sequence
    crl13 = pki.inter.issue_crl([(pki.other.cert, KC)], this_update=t_next, next_update=t_next + days(1), crl_number=13)
    srv.route("/brcrlca.crl", der(crl13), fail_first=srv.hits("/brcrlca.crl") + 2)
    after = t_next + _dt.timedelta(seconds=1)
    for i in range(5):
        st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=after + _dt.timedelta(seconds=i)))
        assert st.outcome is Outcome.GOOD
    assert check.source.refresher.wait_idle(10)
    assert srv.hits("/brcrlca.crl") == 1 + 3
    st = check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, pol, at=after + hours(1)))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 13

    # restart (a new process) with the cache folder kept: no download
    restart_at = _dt.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    srv.route("/brcrlca.crl", b"\x30" * 3_000_000, "application/pkix-crl", omit_length=True)
    out = _run_in_subprocess(tmp_path, cache_dir, pki.other_path, restart_at)
    assert out == "revoked 13"
    assert srv.hits("/brcrlca.crl") == 4

    # past CRL 13's nextUpdate the CDP serves a huge body: cut off, CRL 13 kept
    later = t_next + days(1) + hours(1)
    fresh_check = crl_check(tmp_path, cache=RevocationCache(cache_dir))
    st = fresh_check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, pol, at=later))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 13
    st = fresh_check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=later))
    assert st.outcome is Outcome.STALE and "exceeds the limit" in st.detail


def _run_in_subprocess(tmp_path: Path, cache_dir: Path, path: list[x509.Certificate], at: _dt.datetime) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in path))
    script = textwrap.dedent(
        f"""
        import datetime, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from cryptography import x509
        from _crl_support import context, policy
        from certpolicy.checks.crl import CrlCheck
        from certpolicy.revocation.cache import RevocationCache
        path = x509.load_pem_x509_certificates(open({str(chain_file)!r}, 'rb').read())
        at = datetime.datetime.fromisoformat({at.isoformat()!r})
        check = CrlCheck(cache=RevocationCache({str(cache_dir)!r}), clock=lambda: at)
        st = check.status(path[0], path[1], context(path, policy(cache_dir={str(cache_dir)!r}), at=at))
        print(st.outcome.value, st.crl_number)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_while_refresh_fails_the_cached_crl_proves_revocation_and_good_standing_only_within_grace(
    srv: LoopbackHTTPServer, tmp_path: Path
) -> None:
    pki = build_pki(srv.url("/g.crl"))
    srv.route("/g.crl", der(pki.inter.issue_crl([(pki.other.cert, KC)], this_update=AT - days(1), next_update=AT + hours(1))))
    check = crl_check(tmp_path, failure_ttl=0)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy())).outcome is Outcome.GOOD
    srv.route("/g.crl", b"", fail_first=10**6)  # the distribution point is down from now on
    later = AT + hours(3)
    pol = policy(clock_skew=0)
    st = check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, pol, at=later))
    assert st.outcome is Outcome.REVOKED
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=later))
    assert st.outcome is Outcome.STALE and "503" in st.detail
    graced = policy(clock_skew=0, crl_grace=4 * 3600)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, graced, at=later)).outcome is Outcome.GOOD


def test_without_network_a_stale_cached_crl_is_refreshed_in_the_background(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/bg.crl"))
    srv.route("/bg.crl", der(pki.inter.issue_crl([], this_update=AT - days(1), next_update=AT + hours(1), crl_number=1)))
    check = crl_check(tmp_path)
    check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    srv.route("/bg.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT + hours(2), next_update=AT + days(1), crl_number=2)))
    later = AT + hours(3)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(), at=later, allow_network=False))
    assert st.outcome is Outcome.STALE and "background" in st.detail
    assert check.source.refresher.wait_idle(10)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(), at=later, allow_network=False))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 2


def test_a_delta_crl_named_by_the_base_crl_is_fetched_and_applied(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes

    pki = build_pki(srv.url("/base.crl"))

    def crl(number: int, extra: list[tuple[x509.ExtensionType, bool]], revoked: list[int]) -> bytes:
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(pki.inter.cert.subject)
            .last_update(AT - hours(1))
            .next_update(AT + days(1))
            .add_extension(x509.CRLNumber(number), critical=False)
        )
        for ext, critical in extra:
            b = b.add_extension(ext, critical=critical)
        for serial in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(AT - hours(1)).build()
            )
        return der(b.sign(pki.inter.key, hashes.SHA256()))  # type: ignore[arg-type]

    freshest = x509.FreshestCRL(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(srv.url("/delta.crl"))], None, None, None)]
    )
    srv.route("/base.crl", crl(20, [(freshest, False)], []))
    srv.route("/delta.crl", crl(21, [(x509.DeltaCRLIndicator(20), True)], [pki.leaf.cert.serial_number]))
    check = crl_check(tmp_path)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.REVOKED and "delta CRL number 21" in st.detail
    assert check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, policy())).outcome is Outcome.GOOD
    assert srv.hits("/base.crl") == 1 and srv.hits("/delta.crl") == 1


def test_the_connections_deadline_bounds_downloads_retries_and_waiting(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/stuck.crl"))
    srv.route("/stuck.crl", b"", stall=10.0)
    slow = FetchLimits(connect_timeout=5.0, read_timeout=15.0, total_timeout=20.0, max_bytes=1_000_000)
    pol = policy(crl_limits=slow, retry=RetryPolicy())  # the defaults: up to 60 s of retries
    check = crl_check(tmp_path)
    results: list[tuple[Outcome, float]] = []

    def connect() -> None:
        ctx = context(pki.path, pol)
        ctx.deadline = time.monotonic() + 0.6
        start = time.monotonic()
        st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
        results.append((st.outcome, time.monotonic() - start))

    threads = [threading.Thread(target=connect) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [o for o, _ in results] == [Outcome.UNREACHABLE] * 3
    assert max(s for _, s in results) < 2.0, results
