"""CRL behaviour an audit found untested, each with real components: a
LoopbackHTTPServer as the distribution point, PKIs from certpolicy.pki, the
revocation cache on disk, and an injectable validation time (``ctx.at``) and
wall clock instead of sleeping.

Covered: static CRLs answer before any download; a not-yet-valid, a
wrong-issuer and a badly signed CRL at a distribution point (never cached);
the default fetch limits; where the cache lives; a non-default
refresh_margin; distribution points with schemes other than http(s); the
structured revoked-certificate event of a downloaded CRL."""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from _crl_support import AT, build_pki, context, crl_check, days, der, hours, pem, policy
from certpolicy.checks.crl import CrlCheck
from certpolicy.errors import CertificateRevoked, RevocationError
from certpolicy.fetch import FetchResponse, fetch
from certpolicy.pki import CA
from certpolicy.policy import (
    CRL_FETCH_DEFAULTS,
    CheckMode,
    FetchLimits,
    Outcome,
    Policy,
    PolicyKind,
    RevocationSettings,
)
from certpolicy.revocation.cache import RevocationCache, default_cache_dir
from certpolicy.testing.http_server import LoopbackHTTPServer, Request

KC = x509.ReasonFlags.key_compromise


@pytest.fixture
def srv(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


class RecordingFetcher:
    """The real :func:`certpolicy.fetch.fetch`, remembering each call's URL and limits."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, FetchLimits]] = []
        self._lock = threading.Lock()

    def __call__(self, url: str, **kw: Any) -> FetchResponse:
        with self._lock:
            self.calls.append((url, kw["limits"]))
        return fetch(url, **kw)


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.rc")) if folder.exists() else []


# -- 1. static CRLs are consulted before any download -----------------------------


@pytest.mark.parametrize("listed", [False, True], ids=["good", "revoked"])
def test_a_static_crl_answers_before_the_distribution_point_is_asked(
    srv: LoopbackHTTPServer, tmp_path: Path, listed: bool
) -> None:
    pki = build_pki(srv.url("/inter.crl"))
    # The distribution point would say the opposite: it must never be asked.
    srv.route("/inter.crl", der(pki.inter.issue_crl([] if listed else [(pki.leaf.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))))
    folder = tmp_path / "static"
    folder.mkdir()
    static = pki.inter.issue_crl([(pki.leaf.cert, KC)] if listed else [], this_update=AT - hours(1), next_update=AT + days(1), crl_number=9)
    (folder / "inter.crl").write_bytes(pem(static))
    pol = policy(static_crls=(str(folder),))
    assert pol.revocation.fetch_crls is True  # the default: fetching is on
    check = crl_check(tmp_path)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol))
    assert st.outcome is (Outcome.REVOKED if listed else Outcome.GOOD)
    assert st.crl_number == 9 and st.url is None
    assert str(folder / "inter.crl") in st.detail
    assert srv.hits("/inter.crl") == 0
    assert check.source.downloads == 0


def test_a_static_crl_without_a_definite_answer_falls_back_to_the_distribution_point(
    srv: LoopbackHTTPServer, tmp_path: Path
) -> None:
    pki = build_pki(srv.url("/inter.crl"))
    srv.route("/inter.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1), crl_number=2)))
    stale = tmp_path / "stale.crl"
    stale.write_bytes(der(pki.inter.issue_crl([], this_update=AT - days(9), next_update=AT - days(2), crl_number=1)))
    check = crl_check(tmp_path)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(static_crls=(str(stale),))))
    assert st.outcome is Outcome.GOOD and st.crl_number == 2 and st.url == srv.url("/inter.crl")
    assert srv.hits("/inter.crl") == 1


# -- 2. bad CRLs served over loopback ------------------------------------------------


def test_a_downloaded_crl_from_the_future_is_stale_but_proves_revocation(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/future.crl"))
    future = pki.inter.issue_crl([(pki.other.cert, KC)], this_update=AT + hours(2), next_update=AT + days(2), crl_number=3)
    srv.route("/future.crl", der(future))
    check = crl_check(tmp_path)
    pol = policy()  # clock_skew 900 s < 2 h
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol))
    assert st.outcome is Outcome.STALE
    assert "not yet valid" in st.detail and "900 s of clock skew" in st.detail
    assert st.url == srv.url("/future.crl") and st.crl_number == 3
    # A listed serial is revoked even on a not-yet-valid CRL; no second download.
    assert check.status(pki.other.cert, pki.inter.cert, context(pki.other_path, pol)).outcome is Outcome.REVOKED
    assert srv.hits("/future.crl") == 1
    with pytest.raises(RevocationError) as e:
        check.run(context(pki.path, pol))
    assert e.value.outcome == "stale" and e.value.check == "crl"
    assert not isinstance(e.value, CertificateRevoked)
    # Within the clock skew the same download proves good standing.
    soon = context(pki.path, pol, at=AT + hours(2) - _dt.timedelta(minutes=10))
    assert check.status(pki.leaf.cert, pki.inter.cert, soon).outcome is Outcome.GOOD


def test_a_crl_of_another_issuer_at_the_distribution_point_is_unauthorised_and_not_cached(
    srv: LoopbackHTTPServer, tmp_path: Path
) -> None:
    pki = build_pki(srv.url("/wrong.crl"))
    stranger = CA.create("Stranger CA", not_before=AT - days(10), not_after=AT + days(100))
    srv.route("/wrong.crl", der(stranger.issue_crl([(pki.leaf.cert.serial_number, KC)], this_update=AT - hours(1), next_update=AT + days(1))))
    cache = RevocationCache(tmp_path / "cache")
    check = crl_check(tmp_path, cache=cache)
    ctx = context(pki.path, policy())
    st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER
    assert "Stranger CA" in st.detail and "CRL Test Intermediate" in st.detail
    assert srv.hits("/wrong.crl") == 1  # not retried: it would not change
    assert cache.get("crl:" + srv.url("/wrong.crl")) is None
    assert _cache_files(tmp_path / "cache") == []
    with pytest.raises(RevocationError) as e:
        check.run(ctx)
    assert e.value.outcome == "unauthorised-signer"
    assert not isinstance(e.value, CertificateRevoked)  # it listed the serial, but proves nothing
    assert srv.hits("/wrong.crl") == 1  # the failure is remembered for failure_ttl


def test_a_cold_download_with_a_bad_signature_is_refused_and_not_cached(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/forged.crl"))
    forged = pki.inter.issue_crl(
        [(pki.leaf.cert, KC)], signer=ec.generate_private_key(ec.SECP256R1()), this_update=AT - hours(1), next_update=AT + days(1)
    )
    srv.route("/forged.crl", der(forged))
    cache = RevocationCache(tmp_path / "cache")
    check = crl_check(tmp_path, cache=cache, failure_ttl=0)
    ctx = context(pki.path, policy())
    st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.BAD_SIGNATURE
    assert "signature does not verify" in st.detail and st.url == srv.url("/forged.crl")
    assert srv.hits("/forged.crl") == 1  # a bad signature is not retried
    assert cache.get("crl:" + srv.url("/forged.crl")) is None
    assert _cache_files(tmp_path / "cache") == []
    # With no failure memory each connection downloads again, and still caches nothing.
    with pytest.raises(RevocationError) as e:
        check.run(ctx)
    assert e.value.outcome == "bad-signature" and not isinstance(e.value, CertificateRevoked)
    assert srv.hits("/forged.crl") == 2
    assert cache.get("crl:" + srv.url("/forged.crl")) is None
    # Once the CA serves a good CRL, it is used and cached.
    srv.route("/forged.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    assert check.status(pki.leaf.cert, pki.inter.cert, ctx).outcome is Outcome.GOOD
    assert len(_cache_files(tmp_path / "cache")) == 1


# -- 3. default fetch limits --------------------------------------------------------------


def test_default_crl_fetch_limits_are_5_s_connect_15_s_read_20_s_total_20_mb() -> None:
    assert RevocationSettings().crl_limits == CRL_FETCH_DEFAULTS
    limits = CRL_FETCH_DEFAULTS
    assert limits.connect_timeout == 5.0
    assert limits.read_timeout == 15.0
    assert limits.total_timeout == 20.0
    assert limits.max_bytes == 20_000_000
    assert Policy(name="internet", kind=PolicyKind.INTERNET).revocation.crl_limits == CRL_FETCH_DEFAULTS


def test_a_download_under_the_default_policy_uses_the_default_limits(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/d.crl"))
    srv.route("/d.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    fetcher = RecordingFetcher()
    check = crl_check(tmp_path, fetcher=fetcher)
    pol = Policy(name="internet", kind=PolicyKind.INTERNET, crl=CheckMode.ENFORCE)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol)).outcome is Outcome.GOOD
    assert fetcher.calls == [(srv.url("/d.crl"), CRL_FETCH_DEFAULTS)]


# -- 4. the cache folder --------------------------------------------------------------


def test_a_check_without_a_cache_uses_the_policys_cache_dir(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/c.crl"))
    srv.route("/c.crl", der(pki.inter.issue_crl([(pki.other.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))))
    folder = tmp_path / "policy-cache"
    pol = policy(cache_dir=str(folder))
    check = CrlCheck(clock=lambda: AT)
    try:
        assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol)).outcome is Outcome.GOOD
        assert check.source.cache_for(pol.revocation).directory == folder
    finally:
        check.close()
    assert len(_cache_files(folder)) == 1
    # Another check object (a restarted process) answers from that folder without a download.
    again = CrlCheck(clock=lambda: AT)
    try:
        st = again.status(pki.other.cert, pki.inter.cert, context(pki.other_path, pol, allow_network=False))
    finally:
        again.close()
    assert st.outcome is Outcome.REVOKED
    assert srv.hits("/c.crl") == 1


def test_a_check_without_a_cache_or_cache_dir_uses_the_platform_default(
    srv: LoopbackHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    pki = build_pki(srv.url("/p.crl"))
    srv.route("/p.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    check = CrlCheck(clock=lambda: AT)
    try:
        assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy())).outcome is Outcome.GOOD
    finally:
        check.close()
    assert len(_cache_files(tmp_path / "xdg" / "certpolicy" / "revocation")) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="XDG applies to POSIX platforms")
def test_the_default_cache_dir_is_a_per_user_folder_honouring_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "certpolicy" / "revocation"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "certpolicy" / "revocation"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "certpolicy" / "revocation"
    # XDG Base Directory spec: a relative path is invalid and must be ignored
    # (it would put the cache under whatever the current folder is).
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "certpolicy" / "revocation"
    assert default_cache_dir().is_absolute()
    assert not (tmp_path / "home").exists()  # the folder is not created by asking


def test_the_default_cache_dir_on_windows_is_under_localappdata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "Local" / "certpolicy" / "revocation"


# -- 5. a configurable refresh margin -------------------------------------------------


def test_a_connection_within_a_custom_refresh_margin_starts_a_background_refresh(
    srv: LoopbackHTTPServer, tmp_path: Path
) -> None:
    pki = build_pki(srv.url("/m.crl"))
    next_update = AT + hours(3)
    srv.route("/m.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=next_update, crl_number=1)))
    check = crl_check(tmp_path, timed_refresh=False)
    pol = policy(refresh_margin=7200.0)  # two hours, not the default 300 s
    at = next_update - hours(3)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=at)).outcome is Outcome.GOOD
    # nextUpdate - 2.5 h: outside the margin, no refresh
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=next_update - hours(2.5)))
    assert st.outcome is Outcome.GOOD
    assert check.source.refresher.wait_idle(5)
    assert srv.hits("/m.crl") == 1
    srv.route("/m.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT + hours(1), next_update=AT + days(1), crl_number=2)))
    # nextUpdate - 1.5 h: inside the 2 h margin (the default 300 s would not refresh yet);
    # the cached CRL answers now and a background download starts.
    inside = next_update - hours(1.5)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=inside)).outcome is Outcome.GOOD
    assert check.source.refresher.wait_idle(5)
    assert srv.hits("/m.crl") == 2
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=inside, allow_network=False))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 2
    # The same times under the default margin (300 s) do not refresh.
    srv.reset_hits()
    srv.route("/m.crl", der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=next_update, crl_number=1)))
    default = crl_check(tmp_path / "d", timed_refresh=False)
    assert default.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(), at=at)).outcome is Outcome.GOOD
    assert default.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(), at=inside)).outcome is Outcome.GOOD
    assert default.source.refresher.wait_idle(5)
    assert srv.hits("/m.crl") == 1
    check.close()
    default.close()


def test_the_timed_refresh_starts_at_next_update_minus_a_custom_margin(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(srv.url("/t.crl"))
    margin = 3600.0
    next_update = AT + hours(6)
    due = next_update - _dt.timedelta(seconds=margin)
    # A wall clock that reaches nextUpdate - margin 0.4 s after the first check;
    # under the default margin (300 s) the refresh would be 55 minutes away.
    t0 = time.monotonic()
    start = due - _dt.timedelta(seconds=0.4)

    def clock() -> _dt.datetime:
        return start + _dt.timedelta(seconds=time.monotonic() - t0)

    crls = [
        der(pki.inter.issue_crl([], this_update=AT - hours(1), next_update=next_update, crl_number=1)),
        der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT, next_update=AT + days(1), crl_number=2)),
    ]
    seen: list[_dt.datetime] = []

    def handler(req: Request) -> tuple[int, str, bytes]:
        seen.append(clock())
        return 200, "application/pkix-crl", crls[min(len(seen), 2) - 1]

    srv.route("/t.crl", handler=handler)
    check = crl_check(tmp_path, clock=clock)
    pol = policy(refresh_margin=margin)
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol)).outcome is Outcome.GOOD
    end = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert check.source.refresher.wait_idle(10)
    assert len(seen) == 2
    assert seen[0] < due
    tolerance = _dt.timedelta(milliseconds=10)
    assert due - tolerance <= seen[1] < due + _dt.timedelta(seconds=10)
    st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, allow_network=False))
    assert st.outcome is Outcome.REVOKED and st.crl_number == 2
    check.close()


# -- 6. distribution points with schemes other than http(s) ---------------------------


@pytest.mark.parametrize("url", ["ftp://ftp.example.test/pub/inter.crl", "file:///etc/pki/inter.crl"])
def test_a_distribution_point_with_another_scheme_is_no_revocation_info(tmp_path: Path, url: str) -> None:
    pki = build_pki(url)
    fetcher = RecordingFetcher()
    check = crl_check(tmp_path, fetcher=fetcher)
    ctx = context(pki.path, policy())
    st = check.status(pki.leaf.cert, pki.inter.cert, ctx)
    assert st.outcome is Outcome.NO_REVOCATION_INFO
    assert url in st.detail
    assert "schemes certpolicy does not fetch" in st.detail and "only http and https" in st.detail
    assert "CRL Test Intermediate" in st.detail  # and no static CRL of that issuer
    assert fetcher.calls == []
    with pytest.raises(RevocationError) as e:
        check.run(ctx)
    assert e.value.outcome == "no-revocation-info" and url in str(e.value)


def test_an_http_distribution_point_after_an_ftp_one_is_used(srv: LoopbackHTTPServer, tmp_path: Path) -> None:
    pki = build_pki(["ftp://ftp.example.test/inter.crl", srv.url("/h.crl")])  # type: ignore[arg-type]  # a list is accepted by CA.issue_server
    srv.route("/h.crl", der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))))
    fetcher = RecordingFetcher()
    st = crl_check(tmp_path, fetcher=fetcher).status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.REVOKED and st.url == srv.url("/h.crl")
    assert [u for u, _ in fetcher.calls] == [srv.url("/h.crl")]


# -- 7. the structured revoked-certificate event ----------------------------------------


def test_a_revoked_certificate_on_a_downloaded_crl_is_logged_with_its_facts(
    srv: LoopbackHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = build_pki(srv.url("/ev.crl"))
    revoked_at = AT - days(3)
    crl = pki.inter.issue_crl(
        [(pki.leaf.cert, KC, revoked_at)], this_update=AT - hours(1), next_update=AT + days(1), crl_number=42
    )
    srv.route("/ev.crl", der(crl), "application/pkix-crl")
    check = crl_check(tmp_path)
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        st = check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.REVOKED
    events = [r for r in caplog.records if getattr(r, "event", None) == "certificate-revoked"]
    assert len(events) == 1
    rec = events[0]
    fields = rec.__dict__
    assert rec.name == "certpolicy" and rec.levelno == logging.WARNING
    assert fields["check"] == "crl"
    assert fields["serial"] == f"{pki.leaf.cert.serial_number:#x}"
    assert fields["issuer"] == "CN=CRL Test Intermediate"
    assert fields["reason"] == "keyCompromise"
    assert fields["revocation_date"] == revoked_at.isoformat()
    assert fields["crl_number"] == 42
    assert fields["source_url"] == srv.url("/ev.crl")
    assert fields["source_url"].startswith("http://127.0.0.1:")
    message = rec.getMessage()
    assert srv.url("/ev.crl") in message and "keyCompromise" in message and "42" in message
