"""Every OCSP failure kind of the SPEC taxonomy, produced by our loopback
responder fixture (what `openssl ocsp` cannot be made to do), through
OcspCheck.status() at an injected validation time."""

from __future__ import annotations

import datetime as _dt
import time

import pytest

from _ocsp_support import (
    AT,
    FAST_LIMITS,
    Pki,
    build_pki,
    context,
    days,
    issue_leaf,
    ocsp_check,
    policy,
    responder_cert,
)
from certpolicy.checks.base import RevocationStatus
from certpolicy.pki import CA
from certpolicy.policy import Outcome
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder


@pytest.fixture
def srv(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


@pytest.fixture
def pki(srv: LoopbackHTTPServer) -> Pki:
    return build_pki(srv.url("/ocsp"))


@pytest.fixture
def responder(srv: LoopbackHTTPServer, pki: Pki) -> OcspResponder:
    return OcspResponder(pki.inter, server=srv, clock=lambda: AT)


def ask(pki: Pki, **kw: object) -> RevocationStatus:
    check_kw = {k: kw.pop(k) for k in ("responder_revocation",) if k in kw}
    return ocsp_check(**check_kw).status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(**kw)))


# -- the definite answers -----------------------------------------------------------


def test_good_answer_signed_by_the_issuer(pki: Pki, responder: OcspResponder) -> None:
    st = ask(pki)
    assert st.outcome is Outcome.GOOD
    assert st.url == responder.url and st.next_update == AT - _dt.timedelta(minutes=1) + days(1)


def test_revoked_answer_carries_time_and_reason(pki: Pki, responder: OcspResponder) -> None:
    when = AT - days(2)
    responder.set_status(pki.leaf.cert, "revoked", when=when)
    st = ask(pki)
    assert st.outcome is Outcome.REVOKED
    assert (st.revocation_time, st.revocation_reason) == (when, "keyCompromise")


def test_unknown_answer(pki: Pki, responder: OcspResponder) -> None:
    responder.set_status(pki.leaf.cert, "unknown")
    assert ask(pki).outcome is Outcome.UNKNOWN


def test_small_request_goes_as_get_and_nonce_request_as_post(pki: Pki, responder: OcspResponder) -> None:
    assert ask(pki).outcome is Outcome.GOOD
    assert ask(pki, nonce=True).outcome is Outcome.GOOD
    assert responder.methods == ["GET", "POST"]


def test_get_refused_by_the_responder_is_retried_as_post(srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder) -> None:
    srv.route("/ocsp/*", status=405, body=b"GET not allowed")
    assert ask(pki).outcome is Outcome.GOOD
    assert responder.methods == ["POST"]


def test_policy_responder_url_overrides_the_aia(srv: LoopbackHTTPServer) -> None:
    pki = build_pki(None)  # no AIA at all
    OcspResponder(pki.inter, server=srv, path="/override", clock=lambda: AT)
    st = ask(pki, ocsp_responder=srv.url("/override"))
    assert st.outcome is Outcome.GOOD and st.url == srv.url("/override")


def test_no_aia_ocsp_url_is_no_revocation_info() -> None:
    st = ask(build_pki(None))
    assert st.outcome is Outcome.NO_REVOCATION_INFO
    assert "Let's Encrypt" in st.detail and "CRL" in st.detail


# -- signer faults (RFC 6960 §4.2.2.2) ------------------------------------------------


def test_delegated_responder_with_nocheck_is_authorised(pki: Pki, responder: OcspResponder) -> None:
    responder.signer = responder_cert(pki.inter)
    assert ask(pki).outcome is Outcome.GOOD


def test_signer_without_ocsp_signing_eku_is_unauthorised(pki: Pki, responder: OcspResponder) -> None:
    responder.signer = responder_cert(pki.inter, eku=("serverAuth",))
    st = ask(pki)
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "OCSPSigning" in st.detail


def test_delegated_responder_issued_by_another_ca_is_unauthorised(pki: Pki, responder: OcspResponder) -> None:
    other = pki.root.create_intermediate("Another Issuing CA", not_before=AT - days(30), not_after=AT + days(300))
    responder.signer = responder_cert(other)
    st = ask(pki)
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "did not issue" in st.detail


def test_expired_delegated_responder_is_unauthorised(pki: Pki, responder: OcspResponder) -> None:
    responder.signer = responder_cert(pki.inter, not_before=AT - days(60), not_after=AT - days(1))
    assert ask(pki).outcome is Outcome.UNAUTHORISED_SIGNER


def test_signer_not_included_in_the_response_is_unauthorised(pki: Pki, responder: OcspResponder) -> None:
    responder.signer = responder_cert(pki.inter)
    responder.include_signer_cert = False
    st = ask(pki)
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "neither the issuer" in st.detail


def test_corrupted_signature_is_bad_signature(pki: Pki, responder: OcspResponder) -> None:
    responder.corrupt_signature = True
    assert ask(pki).outcome is Outcome.BAD_SIGNATURE


def test_response_signed_with_another_key_under_the_issuers_name_is_bad_signature(
    pki: Pki, responder: OcspResponder
) -> None:
    impostor = CA.create("OCSP Test Issuing CA")  # same name, other key
    responder.signer = impostor
    responder.include_signer_cert = False
    assert ask(pki).outcome is Outcome.BAD_SIGNATURE


class TestDelegatedResponderWithoutNocheck:
    """RFC 6960 §4.2.2.2.1: without id-pkix-ocsp-nocheck the responder's own
    revocation status must be checked (or the responder refused)."""

    def _setup(self, srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder, status: str) -> None:
        # the responder certificate names an issuer-signed responder of its own
        own = OcspResponder(pki.inter, server=srv, path="/responder-status", clock=lambda: AT)
        signer = responder_cert(pki.inter, nocheck=False, ocsp_url=srv.url("/responder-status"))
        own.set_status(signer.cert, status)  # type: ignore[arg-type]
        responder.signer = signer

    def test_accepted_when_its_own_status_is_good(self, srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder) -> None:
        self._setup(srv, pki, responder, "good")
        assert ask(pki).outcome is Outcome.GOOD

    def test_unauthorised_when_it_is_revoked(self, srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder) -> None:
        self._setup(srv, pki, responder, "revoked")
        st = ask(pki)
        assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "revoked" in st.detail

    def test_unauthorised_under_require_nocheck(self, srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder) -> None:
        self._setup(srv, pki, responder, "good")
        st = ask(pki, responder_revocation="require-nocheck")
        assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "nocheck" in st.detail

    def test_self_vouching_responder_is_unauthorised(self, srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder) -> None:
        # its own status is answered by itself: worthless, and no endless recursion
        responder.signer = responder_cert(pki.inter, nocheck=False, ocsp_url=responder.url)
        assert ask(pki).outcome is Outcome.UNAUTHORISED_SIGNER


# -- content faults ------------------------------------------------------------------


def test_response_for_another_certificate_is_malformed(pki: Pki, responder: OcspResponder) -> None:
    responder.answer_serial = issue_leaf(pki.inter, None).serial
    st = ask(pki)
    assert st.outcome is Outcome.MALFORMED and "another certificate" in st.detail


def test_wrong_nonce_is_malformed_even_if_good(pki: Pki, responder: OcspResponder) -> None:
    responder.nonce = b"\x00" * 16
    st = ask(pki, nonce=True)
    assert st.outcome is Outcome.MALFORMED and "nonce" in st.detail


def test_nonce_off_by_default_and_ignored_when_echoed(pki: Pki, responder: OcspResponder) -> None:
    responder.nonce = b"\x00" * 16  # a nonce we did not ask for
    assert ask(pki).outcome is Outcome.GOOD


def test_stale_response(pki: Pki, responder: OcspResponder) -> None:
    responder.this_update, responder.next_update = -days(3), days(1)
    st = ask(pki)
    assert st.outcome is Outcome.STALE and "nextUpdate" in st.detail


def test_future_response(pki: Pki, responder: OcspResponder) -> None:
    responder.this_update = _dt.timedelta(hours=1)
    assert ask(pki).outcome is Outcome.STALE


def test_no_next_update_within_max_age_is_good(pki: Pki, responder: OcspResponder) -> None:
    responder.next_update = None
    st = ask(pki)
    assert st.outcome is Outcome.GOOD and st.next_update is None


def test_stale_revoked_response_still_proves_revocation(pki: Pki, responder: OcspResponder) -> None:
    responder.set_status(pki.leaf.cert, "revoked")
    responder.this_update, responder.next_update = -days(3), days(1)
    assert ask(pki).outcome is Outcome.REVOKED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("tryLater", Outcome.UNREACHABLE),
        ("internalError", Outcome.UNREACHABLE),
        ("sigRequired", Outcome.UNREACHABLE),
        ("unauthorized", Outcome.UNKNOWN),
        ("malformedRequest", Outcome.MALFORMED),
    ],
)
def test_unsuccessful_response_status(pki: Pki, responder: OcspResponder, status: str, expected: Outcome) -> None:
    responder.response_status = status
    st = ask(pki)
    assert st.outcome is expected and status in st.detail


def test_garbage_is_malformed(pki: Pki, responder: OcspResponder) -> None:
    responder.garbage(300)
    assert ask(pki).outcome is Outcome.MALFORMED


def test_empty_body_is_malformed(pki: Pki, responder: OcspResponder) -> None:
    responder.body = b""
    assert ask(pki).outcome is Outcome.MALFORMED


def test_5mb_of_garbage_is_oversized(pki: Pki, responder: OcspResponder) -> None:
    responder.garbage(5_000_000)
    st = ask(pki)
    assert st.outcome is Outcome.OVERSIZED and "1000000" in st.detail


def test_http_error_is_unreachable(pki: Pki, responder: OcspResponder) -> None:
    responder.http_status = 503
    st = ask(pki)
    assert st.outcome is Outcome.UNREACHABLE and "503" in st.detail


def test_stalled_responder_is_unreachable_within_the_total_timeout(pki: Pki, responder: OcspResponder) -> None:
    responder.stall = 5.0
    start = time.monotonic()
    st = ask(pki)
    elapsed = time.monotonic() - start
    assert st.outcome is Outcome.UNREACHABLE
    assert elapsed < FAST_LIMITS.total_timeout + 0.5, elapsed


def test_a_failing_first_url_hands_over_to_the_next(srv: LoopbackHTTPServer) -> None:
    import certpolicy.revocation.ocsp as core

    pki = build_pki(None)
    OcspResponder(pki.inter, server=srv, clock=lambda: AT)
    broken = srv.url("/broken")
    srv.route("/broken", status=500)
    srv.route("/broken/*", status=500)
    # a certificate with two OCSP URLs in its AIA
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID as AIA

    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(AIA.OCSP, x509.UniformResourceIdentifier(broken)),
            x509.AccessDescription(AIA.OCSP, x509.UniformResourceIdentifier(srv.url("/ocsp"))),
        ]
    )
    leaf = pki.inter.issue_server(
        "two.example.test", extensions=[(aia, False)], not_before=AT - days(1), not_after=AT + days(30)
    )
    assert core.responder_urls(leaf.cert) == [broken, srv.url("/ocsp")]
    st = ocsp_check().status(leaf.cert, pki.inter.cert, context([leaf.cert, pki.inter.cert, pki.root.cert], policy()))
    assert st.outcome is Outcome.GOOD and st.url == srv.url("/ocsp")

