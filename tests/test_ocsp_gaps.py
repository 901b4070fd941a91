"""OCSP behaviour pinned after the audit: the delegated-responder check as a
policy setting, chain scope against real responders, the cache-lifetime cap
(ocsp_max_age), the 15-minute default clock skew and what a wrong nonce does
to the connection. Real loopback responders, injected validation time."""

from __future__ import annotations

import datetime as _dt
import logging

import pytest

from _ocsp_support import AT, Pki, build_pki, context, days, ocsp_check, policy, responder_cert
from certpolicy.checks.base import RevocationStatus
from certpolicy.checks.ocsp import OcspCheck
from certpolicy.errors import CertificateRevoked, PolicyConfigError, RevocationError
from certpolicy.policy import Outcome, Policy, RevocationSettings
from certpolicy.table import PolicyTable
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder

MINUTE = _dt.timedelta(minutes=1)


class Clock:
    """The responder's "now", moved by the tests along with the validation time."""

    def __init__(self, now: _dt.datetime) -> None:
        self.now = now

    def __call__(self) -> _dt.datetime:
        return self.now


@pytest.fixture
def srv(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


@pytest.fixture
def clock() -> Clock:
    return Clock(AT)


@pytest.fixture
def pki(srv: LoopbackHTTPServer) -> Pki:
    return build_pki(srv.url("/ocsp"), inter_ocsp_url=srv.url("/root-ocsp"))


@pytest.fixture
def responder(srv: LoopbackHTTPServer, pki: Pki, clock: Clock) -> OcspResponder:
    """The issuing CA's responder (named in the leaf's AIA)."""
    return OcspResponder(pki.inter, server=srv, clock=clock)


def status(check: OcspCheck, pki: Pki, pol: Policy, *, at: _dt.datetime = AT) -> RevocationStatus:
    return check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol, at=at))


# -- 1. ocsp_responder_check: a policy setting ----------------------------------------


def test_table_row_sets_ocsp_responder_check() -> None:
    table = PolicyTable.from_dict(
        {
            "defaults": {"ocsp": "enforce"},
            "override": [
                {
                    "name": "strict-responders",
                    "targets": "*.example.test",
                    "revocation": {"ocsp_responder_check": "require-nocheck"},
                },
                {"name": "openssl-like", "targets": "*.legacy.test", "revocation": {"ocsp_responder_check": "ignore"}},
                {"name": "plain", "targets": "*.plain.test"},
            ],
        }
    )
    assert table.get("strict-responders").revocation.ocsp_responder_check == "require-nocheck"
    assert table.get("openssl-like").revocation.ocsp_responder_check == "ignore"
    assert table.get("plain").revocation.ocsp_responder_check == "check"  # the default
    a, b = RevocationSettings(), RevocationSettings(ocsp_responder_check="ignore")
    assert a != b and hash(a) != hash(b)


@pytest.mark.parametrize("bad", ["nocheck", "", True, None, ["check"]])
def test_invalid_ocsp_responder_check_names_the_field(bad: object) -> None:
    with pytest.raises(PolicyConfigError) as err:
        PolicyTable.from_dict(
            {"override": [{"name": "x", "targets": "a.example.test", "revocation": {"ocsp_responder_check": bad}}]}
        )
    assert "revocation.ocsp_responder_check" in str(err.value)
    assert "require-nocheck" in str(err.value)  # the message lists the valid values


class TestDelegatedResponderWithoutNocheckPerPolicy:
    """The leaf's responder signs with a delegated certificate that lacks
    id-pkix-ocsp-nocheck; that certificate names a responder of its own
    (issuer-signed) at /responder-status, which says ``own_status``."""

    @pytest.fixture
    def own(self, srv: LoopbackHTTPServer, pki: Pki, responder: OcspResponder) -> OcspResponder:
        """The delegated responder's own responder; it answers about nothing else,
        so its default status is the delegated responder's status."""
        own = OcspResponder(pki.inter, server=srv, path="/responder-status", clock=lambda: AT)
        responder.signer = responder_cert(pki.inter, nocheck=False, ocsp_url=srv.url("/responder-status"))
        return own

    @pytest.mark.parametrize("own_status", ["good", "revoked"])
    def test_check_asks_the_responders_own_status(self, pki: Pki, own: OcspResponder, own_status: str) -> None:
        own.default_status = own_status  # type: ignore[assignment]
        st = status(ocsp_check(), pki, policy(ocsp_responder_check="check"))
        if own_status == "good":
            assert st.outcome is Outcome.GOOD
        else:
            assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "revoked" in st.detail
        assert own.hits == 1

    def test_require_nocheck_refuses_the_responder_without_asking_about_it(self, pki: Pki, own: OcspResponder) -> None:
        st = status(ocsp_check(), pki, policy(ocsp_responder_check="require-nocheck"))
        assert st.outcome is Outcome.UNAUTHORISED_SIGNER and "nocheck" in st.detail
        assert own.hits == 0

    def test_ignore_accepts_the_responder_unchecked(self, pki: Pki, own: OcspResponder) -> None:
        own.default_status = "revoked"  # would refuse it under "check"
        st = status(ocsp_check(), pki, policy(ocsp_responder_check="ignore"))
        assert st.outcome is Outcome.GOOD
        assert own.hits == 0

    def test_the_default_policy_value_is_check(self, pki: Pki, own: OcspResponder) -> None:
        own.default_status = "revoked"
        assert status(ocsp_check(), pki, policy()).outcome is Outcome.UNAUTHORISED_SIGNER
        assert own.hits == 1

    def test_constructor_argument_wins_over_the_policy(self, pki: Pki, own: OcspResponder) -> None:
        check = ocsp_check(responder_revocation="ignore")
        assert status(check, pki, policy(ocsp_responder_check="require-nocheck")).outcome is Outcome.GOOD
        check = ocsp_check(responder_revocation="require-nocheck")
        assert status(check, pki, policy(ocsp_responder_check="ignore")).outcome is Outcome.UNAUTHORISED_SIGNER

    def test_one_shared_check_applies_each_policys_value(self, pki: Pki, responder: OcspResponder, own: OcspResponder) -> None:
        """A response accepted (and cached) under "ignore" is not reused for a
        policy that requires nocheck, and the other way round."""
        check = ocsp_check()
        assert status(check, pki, policy(ocsp_responder_check="ignore")).outcome is Outcome.GOOD
        st = status(check, pki, policy(ocsp_responder_check="require-nocheck"))
        assert st.outcome is Outcome.UNAUTHORISED_SIGNER
        st = status(check, pki, policy(ocsp_responder_check="ignore"))
        assert st.outcome is Outcome.GOOD and "(cached)" in st.detail

    def test_policy_from_a_table_drives_the_check(self, pki: Pki, own: OcspResponder) -> None:
        table = PolicyTable.from_dict(
            {
                "override": [
                    {
                        "name": "strict",
                        "targets": "www.example.test",
                        "ocsp": "enforce",
                        "revocation": {"ocsp_responder_check": "require-nocheck"},
                    }
                ]
            }
        )
        with pytest.raises(RevocationError) as err:
            ocsp_check().run(context(pki.path, table.get("strict")))
        assert (err.value.policy, err.value.check, err.value.outcome) == ("strict", "ocsp", "unauthorised-signer")


# -- 2. scope = "chain" with real responders ------------------------------------------


@pytest.fixture
def root_responder(srv: LoopbackHTTPServer, pki: Pki) -> OcspResponder:
    """The root's responder, named in the intermediate's AIA."""
    return OcspResponder(pki.root, server=srv, path="/root-ocsp", clock=lambda: AT)


def test_chain_scope_revoked_intermediate_from_the_roots_responder(
    pki: Pki, responder: OcspResponder, root_responder: OcspResponder
) -> None:
    root_responder.set_status(pki.inter.cert, "revoked")
    with pytest.raises(CertificateRevoked) as err:
        ocsp_check().run(context(pki.path, policy(scope="chain")))
    e = err.value
    assert e.certificate == pki.inter.cert and e.check == "ocsp"
    assert "path certificate #1" in str(e) and e.details["position"] == 1
    assert e.details["url"] == root_responder.url
    assert e.details["serial"] == format(pki.inter.cert.serial_number, "x")
    # the root's responder was asked about the intermediate, the issuing CA's about the leaf
    assert [r.serial_number for r in root_responder.requests] == [pki.inter.cert.serial_number]
    assert [r.serial_number for r in responder.requests] == [pki.leaf.cert.serial_number]


def test_chain_scope_good_passes_with_one_request_per_responder(
    pki: Pki, responder: OcspResponder, root_responder: OcspResponder
) -> None:
    result = ocsp_check().run(context(pki.path, policy(scope="chain")))
    assert result.passed and result.outcome == "good"
    entries = result.data["certificates"]
    assert [(e["position"], e["outcome"], e["url"]) for e in entries] == [
        (0, "good", responder.url),
        (1, "good", root_responder.url),
    ]
    assert (responder.hits, root_responder.hits) == (1, 1)


def test_leaf_scope_never_asks_the_roots_responder(
    pki: Pki, responder: OcspResponder, root_responder: OcspResponder
) -> None:
    root_responder.set_status(pki.inter.cert, "revoked")
    assert ocsp_check().run(context(pki.path, policy())).passed
    assert (responder.hits, root_responder.hits) == (1, 0)


# -- 3. cache lifetime: nextUpdate, capped at thisUpdate + ocsp_max_age ----------------


def test_cache_lifetime_is_capped_at_max_age_although_next_update_is_later(
    pki: Pki, responder: OcspResponder, clock: Clock
) -> None:
    responder.next_update = days(30)  # thisUpdate = AT - 1 min, nextUpdate a month later
    pol = policy(ocsp_max_age=86400.0)
    check = ocsp_check()
    assert status(check, pki, pol).outcome is Outcome.GOOD
    st = status(check, pki, pol, at=AT + _dt.timedelta(hours=23))
    assert st.outcome is Outcome.GOOD and "(cached)" in st.detail
    assert responder.hits == 1
    clock.now = later = AT + days(1) + _dt.timedelta(hours=1)
    st = status(check, pki, pol, at=later)
    assert st.outcome is Outcome.GOOD and "(cached)" not in st.detail
    assert responder.hits == 2
    # the new response is cached in its turn
    assert "(cached)" in status(check, pki, pol, at=later + _dt.timedelta(hours=1)).detail
    assert responder.hits == 2


def test_cache_cap_allows_the_clock_skew(pki: Pki, responder: OcspResponder) -> None:
    responder.next_update = days(30)
    pol = policy(ocsp_max_age=86400.0)
    this_update = AT - MINUTE
    check = ocsp_check()
    assert status(check, pki, pol).outcome is Outcome.GOOD
    assert "(cached)" in status(check, pki, pol, at=this_update + days(1) + 14 * MINUTE).detail
    assert responder.hits == 1
    assert "(cached)" not in status(check, pki, pol, at=this_update + days(1) + 16 * MINUTE).detail
    assert responder.hits == 2


def test_default_cap_is_seven_days(pki: Pki, responder: OcspResponder, clock: Clock) -> None:
    responder.next_update = days(10)  # the CA/B Forum maximum validity
    check = ocsp_check()
    assert status(check, pki, policy()).outcome is Outcome.GOOD
    assert "(cached)" in status(check, pki, policy(), at=AT + days(6)).detail
    clock.now = AT + days(8)
    assert "(cached)" not in status(check, pki, policy(), at=AT + days(8)).detail
    assert responder.hits == 2


def test_cached_revocation_outlives_the_cap(pki: Pki, responder: OcspResponder) -> None:
    responder.set_status(pki.leaf.cert, "revoked")
    responder.next_update = days(30)
    pol = policy(ocsp_max_age=86400.0)
    check = ocsp_check()
    assert status(check, pki, pol).outcome is Outcome.REVOKED
    st = status(check, pki, pol, at=AT + days(3))
    assert st.outcome is Outcome.REVOKED and "(cached)" in st.detail
    assert responder.hits == 1


def test_result_next_update_is_capped_too(pki: Pki, responder: OcspResponder) -> None:
    """The verdict cache keeps a verdict no longer than the OCSP cache keeps the answer."""
    responder.next_update = days(30)
    result = ocsp_check().run(context(pki.path, policy(ocsp_max_age=86400.0)))
    assert result.data["next_update"] == AT - MINUTE + days(1)
    assert result.data["certificates"][0]["next_update"] == AT - MINUTE + days(30)  # the response's own


# -- 4. the 15-minute default clock skew ---------------------------------------------


def test_default_clock_skew_is_15_minutes() -> None:
    assert RevocationSettings().clock_skew == 900.0
    assert policy().revocation.clock_skew == 900.0  # the tests below use the default


@pytest.mark.parametrize(("minutes", "expected"), [(14, Outcome.GOOD), (16, Outcome.STALE)])
def test_this_update_in_the_future_within_the_skew(
    pki: Pki, responder: OcspResponder, minutes: int, expected: Outcome
) -> None:
    responder.this_update = minutes * MINUTE
    st = status(ocsp_check(), pki, policy())
    assert st.outcome is expected
    if expected is Outcome.STALE:
        assert "in the future" in st.detail and "900 s" in st.detail


@pytest.mark.parametrize(("minutes", "expected"), [(14, Outcome.GOOD), (16, Outcome.STALE)])
def test_next_update_in_the_past_within_the_skew(
    pki: Pki, responder: OcspResponder, minutes: int, expected: Outcome
) -> None:
    responder.this_update = -days(1)
    responder.next_update = days(1) - minutes * MINUTE  # nextUpdate = AT - minutes
    st = status(ocsp_check(), pki, policy())
    assert st.outcome is expected
    if expected is Outcome.STALE:
        assert "has passed" in st.detail


# -- 5. a wrong nonce: never used, then the outcome map ------------------------------


def test_wrong_nonce_under_soft_fail_warns_and_passes(
    pki: Pki, responder: OcspResponder, caplog: pytest.LogCaptureFixture
) -> None:
    responder.nonce = b"\x01" * 16
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        result = ocsp_check().run(context(pki.path, policy(nonce=True, soft=True)))
    assert result.passed and result.outcome == "malformed"
    assert "nonce" in result.data["certificates"][0]["detail"]
    assert any("malformed" in r.getMessage() for r in caplog.records if r.name == "certpolicy")


def test_wrong_nonce_under_the_default_map_fails(pki: Pki, responder: OcspResponder) -> None:
    responder.nonce = b"\x01" * 16
    with pytest.raises(RevocationError) as err:
        ocsp_check().run(context(pki.path, policy(nonce=True)))
    assert (err.value.outcome, err.value.check) == ("malformed", "ocsp")
    assert not isinstance(err.value, CertificateRevoked)


def test_wrong_nonce_on_a_revoked_answer_is_not_used_either(pki: Pki, responder: OcspResponder) -> None:
    """The response is never used, whatever it says: not even a revocation."""
    responder.set_status(pki.leaf.cert, "revoked")
    responder.nonce = b"\x01" * 16
    result = ocsp_check().run(context(pki.path, policy(nonce=True, soft=True)))
    assert result.outcome == "malformed"

