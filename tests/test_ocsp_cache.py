"""OCSP caching: memory and disk until nextUpdate, single flight, no network
on the event loop (background fetch), remembered failures."""

from __future__ import annotations

import datetime as _dt
import threading
import time
from pathlib import Path

import pytest

from _ocsp_support import AT, Pki, build_pki, context, days, ocsp_check, policy
from certpolicy.checks.base import RevocationStatus
from certpolicy.checks.ocsp import OcspCheck
from certpolicy.policy import Outcome
from certpolicy.revocation.cache import RevocationCache
from certpolicy.revocation.ocsp import CertId
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder


@pytest.fixture
def srv(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


@pytest.fixture
def pki(srv: LoopbackHTTPServer) -> Pki:
    return build_pki(srv.url("/ocsp"))


class Clock:
    def __init__(self, now: _dt.datetime) -> None:
        self.now = now

    def __call__(self) -> _dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(AT)


@pytest.fixture
def responder(srv: LoopbackHTTPServer, pki: Pki, clock: Clock) -> OcspResponder:
    return OcspResponder(pki.inter, server=srv, clock=clock)


def status(check: OcspCheck, pki: Pki, *, at: _dt.datetime = AT, allow_network: bool = True, **rev: object) -> RevocationStatus:
    return check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(**rev), at=at, allow_network=allow_network))


def test_cached_answer_needs_no_second_request(pki: Pki, responder: OcspResponder) -> None:
    check = ocsp_check()
    assert status(check, pki).outcome is Outcome.GOOD
    st = status(check, pki, at=AT + _dt.timedelta(hours=20))
    assert st.outcome is Outcome.GOOD and "(cached)" in st.detail
    assert responder.hits == 1


def test_cache_expires_at_next_update(pki: Pki, responder: OcspResponder, clock: Clock) -> None:
    check = ocsp_check()
    assert status(check, pki).outcome is Outcome.GOOD
    later = AT + days(2)  # past nextUpdate (thisUpdate + 1 day)
    clock.now = later
    assert status(check, pki, at=later).outcome is Outcome.GOOD
    assert responder.hits == 2


def test_cache_without_next_update_is_capped_by_max_age(pki: Pki, responder: OcspResponder, clock: Clock) -> None:
    responder.next_update = None
    check = ocsp_check()
    assert status(check, pki).outcome is Outcome.GOOD
    assert status(check, pki, at=AT + days(6)).outcome is Outcome.GOOD
    assert responder.hits == 1
    clock.now = AT + days(8)
    assert status(check, pki, at=AT + days(8)).outcome is Outcome.GOOD
    assert responder.hits == 2


def test_disk_cache_survives_a_restart(tmp_path: Path, pki: Pki, responder: OcspResponder) -> None:
    assert status(OcspCheck(cache=RevocationCache(tmp_path)), pki).outcome is Outcome.GOOD
    restarted = OcspCheck(cache=RevocationCache(tmp_path))
    st = status(restarted, pki)
    assert st.outcome is Outcome.GOOD and "(cached)" in st.detail
    assert responder.hits == 1


def test_policy_cache_dir_is_used_when_no_cache_is_given(tmp_path: Path, pki: Pki, responder: OcspResponder) -> None:
    assert status(OcspCheck(), pki, cache_dir=str(tmp_path)).outcome is Outcome.GOOD
    assert list(tmp_path.glob("*.rc"))
    assert status(OcspCheck(), pki, cache_dir=str(tmp_path)).outcome is Outcome.GOOD
    assert responder.hits == 1


def test_corrupt_disk_entry_is_discarded_and_fetched_again(tmp_path: Path, pki: Pki, responder: OcspResponder) -> None:
    assert status(OcspCheck(cache=RevocationCache(tmp_path)), pki).outcome is Outcome.GOOD
    [file] = tmp_path.glob("*.rc")
    file.write_bytes(file.read_bytes()[:-10] + b"\x00" * 10)
    assert status(OcspCheck(cache=RevocationCache(tmp_path)), pki).outcome is Outcome.GOOD
    assert responder.hits == 2


def test_tampered_cached_response_is_verified_again_and_refused(tmp_path: Path, pki: Pki, responder: OcspResponder) -> None:
    """A cache file with a valid envelope but a response for another key is
    never trusted: disk data is re-verified like network data."""
    cache = RevocationCache(tmp_path)
    key = CertId.for_certificate(pki.leaf.cert, pki.inter.cert).cache_key()
    responder.corrupt_signature = True
    bad = responder.respond(_request_for(pki))
    cache.put(key, bad, expires=AT + days(1), metadata={"url": responder.url})
    responder.corrupt_signature = False
    assert status(OcspCheck(cache=RevocationCache(tmp_path)), pki).outcome is Outcome.GOOD
    assert responder.hits == 1


def test_64_concurrent_questions_cause_one_request(pki: Pki, responder: OcspResponder) -> None:
    responder.stall = 0.3  # keep the first request in flight while the others arrive
    check = ocsp_check()
    barrier = threading.Barrier(64)
    results: list[Outcome] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        st = status(check, pki)
        with lock:
            results.append(st.outcome)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [Outcome.GOOD] * 64
    assert responder.hits == 1 and check.stats["requests"] == 1


def test_event_loop_handshake_never_blocks_and_fetches_in_the_background(pki: Pki, responder: OcspResponder) -> None:
    check = ocsp_check()
    start = time.monotonic()
    st = status(check, pki, allow_network=False)
    assert time.monotonic() - start < 0.5
    assert st.outcome is Outcome.UNREACHABLE and "not cached yet" in st.detail
    assert check.wait_background(5)
    st = status(check, pki, allow_network=False)
    assert st.outcome is Outcome.GOOD
    assert responder.hits == 1


def test_background_fetch_is_started_once_per_certificate(pki: Pki, responder: OcspResponder) -> None:
    responder.stall = 0.3
    check = ocsp_check()
    for _ in range(10):
        assert status(check, pki, allow_network=False).outcome is Outcome.UNREACHABLE
    assert check.wait_background(5)
    assert responder.hits == 1 and check.stats["background"] == 1


def test_recent_failure_is_remembered_for_negative_ttl(pki: Pki, responder: OcspResponder) -> None:
    responder.response_status = "tryLater"
    check = ocsp_check(negative_ttl=30)
    assert status(check, pki).outcome is Outcome.UNREACHABLE
    responder.response_status = None
    st = status(check, pki)
    assert st.outcome is Outcome.UNREACHABLE and "recent attempt" in st.detail
    assert responder.hits == 1
    check.forget_failures()
    assert status(check, pki).outcome is Outcome.GOOD


def test_negative_ttl_zero_asks_every_time(pki: Pki, responder: OcspResponder) -> None:
    responder.response_status = "tryLater"
    check = ocsp_check(negative_ttl=0)
    assert status(check, pki).outcome is Outcome.UNREACHABLE
    responder.response_status = None
    assert status(check, pki).outcome is Outcome.GOOD


def test_stale_cached_answer_is_replaced_by_a_fresh_one(pki: Pki, responder: OcspResponder, clock: Clock) -> None:
    check = ocsp_check()
    assert status(check, pki).outcome is Outcome.GOOD
    clock.now = AT + days(3)
    responder.set_status(pki.leaf.cert, "revoked")
    assert status(check, pki, at=AT + days(3)).outcome is Outcome.REVOKED


def test_in_memory_bounds(srv: LoopbackHTTPServer, responder: OcspResponder, pki: Pki) -> None:
    check = ocsp_check(memory_entries=4)
    from _ocsp_support import issue_leaf

    for i in range(10):
        leaf = issue_leaf(pki.inter, srv.url("/ocsp"), name=f"n{i}.example.test")
        assert check.status(leaf.cert, pki.inter.cert, context([leaf.cert, pki.inter.cert], policy())).outcome is Outcome.GOOD
    assert len(check._verified) <= 4


def _request_for(pki: Pki):  # type: ignore[no-untyped-def]
    from cryptography.x509 import ocsp

    from certpolicy.revocation.ocsp import build_request

    return ocsp.load_der_ocsp_request(build_request(pki.leaf.cert, pki.inter.cert).der)


def test_exhausted_connection_deadline_does_not_poison_the_cache(pki: Pki, responder: OcspResponder) -> None:
    check = ocsp_check()
    ctx = context(pki.path, policy())
    ctx.deadline = time.monotonic() - 1
    st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.UNREACHABLE and "deadline" in st.detail
    assert responder.hits == 0
    assert status(check, pki).outcome is Outcome.GOOD
