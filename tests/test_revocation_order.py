"""The revocation coordinator (SPEC "Checks"): sources consulted in the
policy's order, the first definite answer decides, otherwise the first
consulted source's outcome goes through the outcome map; revoked always fails;
order "both" needs every source to say good.

Most tests use FixedSource, a RevocationSource that returns fixed outcomes
(this is pure decision logic); the last ones use the real OcspCheck and
CrlCheck against loopback servers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from _ocsp_support import AT, build_pki, closed_port_url, context, days, ocsp_check, policy
from certpolicy.checks.base import CheckContext, RevocationSource, RevocationStatus
from certpolicy.checks.crl import CrlCheck
from certpolicy.checks.ocsp import OcspCheck
from certpolicy.checks.revocation import RevocationCheck, revocation_mode, source_order
from certpolicy.errors import CertificateRevoked, CheckCrashed, RevocationError
from certpolicy.policy import DEFAULT_OUTCOME_MAP, Action, CheckMode, Outcome, Policy
from certpolicy.revocation.cache import RevocationCache
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder

PKI = build_pki("http://ocsp.example.test/")
PATH = PKI.path
NEXT = AT + days(1)


class FixedSource:
    """A revocation source that answers fixed outcomes (per serial, else a default)."""

    def __init__(self, name: str, outcome: Outcome, per_serial: Mapping[int, Outcome] | None = None) -> None:
        self.name = name
        self.outcome = outcome
        self.per_serial = dict(per_serial or {})
        self.asked: list[tuple[int, int]] = []

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext) -> RevocationStatus:
        self.asked.append((cert.serial_number, issuer.serial_number))
        outcome = self.per_serial.get(cert.serial_number, self.outcome)
        return RevocationStatus(
            outcome,
            self.name,
            f"{self.name} says {outcome.value}",
            url=f"http://{self.name}.example.test/",
            revocation_time=AT - days(1) if outcome is Outcome.REVOKED else None,
            revocation_reason="keyCompromise" if outcome is Outcome.REVOKED else None,
            this_update=AT - days(1),
            next_update=NEXT if self.name == "ocsp" else NEXT + days(1),
        )


def both_on(order: str = "ocsp-first", **kw: object) -> Policy:
    return policy("internet", ocsp=CheckMode.ENFORCE, crl=CheckMode.ENFORCE, order=order, **kw)


def run(ocsp: Outcome, crl: Outcome, pol: Policy) -> tuple[object, FixedSource, FixedSource]:
    o, c = FixedSource("ocsp", ocsp), FixedSource("crl", crl)
    sources: dict[str, RevocationSource] = {"ocsp": o, "crl": c}
    try:
        result: object = RevocationCheck(sources).run(context(PATH, pol))
    except RevocationError as e:
        result = e
    return result, o, c


# -- order ---------------------------------------------------------------------------


def test_ocsp_first_good_decides_without_asking_the_crl() -> None:
    result, o, c = run(Outcome.GOOD, Outcome.REVOKED, both_on())
    assert not isinstance(result, Exception)
    assert result.data["certificates"][0]["source"] == "ocsp"  # type: ignore[attr-defined]
    assert len(o.asked) == 1 and c.asked == []


def test_crl_first_asks_the_crl_first() -> None:
    result, o, c = run(Outcome.GOOD, Outcome.GOOD, both_on("crl-first"))
    assert result.data["certificates"][0]["source"] == "crl"  # type: ignore[attr-defined]
    assert o.asked == [] and len(c.asked) == 1


@pytest.mark.parametrize(
    "no_answer",
    [o for o in Outcome if not o.definite],
    ids=lambda o: o.value,
)
def test_a_source_without_answer_hands_over_to_the_next(no_answer: Outcome) -> None:
    result, _o, _c = run(no_answer, Outcome.GOOD, both_on())
    assert not isinstance(result, Exception)
    entry = result.data["certificates"][0]  # type: ignore[attr-defined]
    assert (entry["source"], entry["outcome"]) == ("crl", "good")
    assert [s["outcome"] for s in entry["consulted"]] == [no_answer.value, "good"]


def test_revoked_from_the_second_source_fails() -> None:
    result, _, _ = run(Outcome.UNREACHABLE, Outcome.REVOKED, both_on())
    assert isinstance(result, CertificateRevoked)
    assert (result.check, result.outcome) == ("crl", "revoked")
    assert result.details["reason"] == "keyCompromise" and result.details["serial"] == format(PKI.leaf.serial, "x")
    assert result.details["source"] == "http://crl.example.test/"


def test_when_no_source_answers_the_first_consulted_outcome_decides() -> None:
    result, _, _ = run(Outcome.UNREACHABLE, Outcome.STALE, both_on())
    assert isinstance(result, RevocationError) and not isinstance(result, CertificateRevoked)
    assert (result.check, result.outcome, result.policy) == ("ocsp", "unreachable", "internet")
    result, _, _ = run(Outcome.UNREACHABLE, Outcome.STALE, both_on("crl-first"))
    assert (result.check, result.outcome) == ("crl", "stale")  # type: ignore[attr-defined]


def test_first_consulted_outcome_goes_through_the_outcome_map() -> None:
    pol = both_on(outcomes={**DEFAULT_OUTCOME_MAP, Outcome.UNREACHABLE: Action.WARN, Outcome.STALE: Action.FAIL})
    result, _, _ = run(Outcome.UNREACHABLE, Outcome.STALE, pol)  # unreachable -> warn, although stale -> fail
    assert not isinstance(result, Exception)
    assert result.outcome == "unreachable"  # type: ignore[attr-defined]


def test_order_both_requires_every_source_to_say_good() -> None:
    result, _o, _c = run(Outcome.GOOD, Outcome.GOOD, both_on("both"))
    assert not isinstance(result, Exception)
    assert result.data["certificates"][0]["source"] == "ocsp+crl"  # type: ignore[attr-defined]
    result, _, _ = run(Outcome.GOOD, Outcome.UNREACHABLE, both_on("both"))
    assert isinstance(result, RevocationError) and (result.check, result.outcome) == ("crl", "unreachable")
    result, _, _ = run(Outcome.REVOKED, Outcome.GOOD, both_on("both"))
    assert isinstance(result, CertificateRevoked) and result.check == "ocsp"


def test_order_both_next_update_is_the_earliest_of_all_sources() -> None:
    result, _, _ = run(Outcome.GOOD, Outcome.GOOD, both_on("both"))
    assert result.data["next_update"] == NEXT  # type: ignore[attr-defined]


# -- modes and scope -----------------------------------------------------------------


def test_off_source_is_not_consulted_and_audit_counts_as_active() -> None:
    pol = policy(ocsp=CheckMode.OFF, crl=CheckMode.AUDIT)
    _result, o, c = run(Outcome.GOOD, Outcome.GOOD, pol)
    assert o.asked == [] and len(c.asked) == 1
    assert source_order(pol) == ["crl"]


def test_no_active_source_is_skipped() -> None:
    result, o, c = run(Outcome.REVOKED, Outcome.REVOKED, policy(ocsp=CheckMode.OFF))
    assert result.outcome == "skipped" and o.asked == c.asked == []  # type: ignore[attr-defined]


def test_revocation_mode_helper() -> None:
    assert revocation_mode(policy(ocsp=CheckMode.AUDIT, crl=CheckMode.ENFORCE)) is CheckMode.ENFORCE
    assert revocation_mode(policy(ocsp=CheckMode.AUDIT, crl=CheckMode.OFF)) is CheckMode.AUDIT
    assert revocation_mode(policy(ocsp=CheckMode.OFF, crl=CheckMode.OFF)) is CheckMode.OFF


def test_scope_leaf_checks_only_the_leaf() -> None:
    _, o, _ = run(Outcome.GOOD, Outcome.GOOD, both_on())
    assert o.asked == [(PKI.leaf.serial, PKI.inter.serial)]


def test_scope_chain_checks_every_certificate_below_the_anchor() -> None:
    _, o, _ = run(Outcome.GOOD, Outcome.GOOD, both_on(scope="chain"))
    assert o.asked == [(PKI.leaf.serial, PKI.inter.serial), (PKI.inter.serial, PKI.root.serial)]


def test_scope_chain_revoked_intermediate_names_the_intermediate() -> None:
    o = FixedSource("ocsp", Outcome.GOOD, {PKI.inter.serial: Outcome.REVOKED})
    with pytest.raises(CertificateRevoked) as err:
        RevocationCheck({"ocsp": o}).run(context(PATH, policy(scope="chain")))
    assert err.value.certificate == PKI.inter.cert and err.value.details["position"] == 1


def test_revoked_wins_over_an_earlier_failure_in_the_chain() -> None:
    o = FixedSource("ocsp", Outcome.UNREACHABLE, {PKI.inter.serial: Outcome.REVOKED})
    with pytest.raises(CertificateRevoked):
        RevocationCheck({"ocsp": o}).run(context(PATH, policy(scope="chain")))


def test_trust_anchor_leaf_has_nothing_to_check() -> None:
    result = RevocationCheck({"ocsp": FixedSource("ocsp", Outcome.REVOKED)}).run(context([PKI.root.cert], policy()))
    assert result.outcome == "skipped"


# -- actions -------------------------------------------------------------------------


def test_warn_logs_policy_check_outcome_and_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        result, _, _ = run(Outcome.UNREACHABLE, Outcome.UNREACHABLE, both_on(soft=True))
    assert not isinstance(result, Exception) and result.passed  # type: ignore[attr-defined]
    [record] = [r for r in caplog.records if r.name == "certpolicy"]
    text = record.getMessage()
    assert "'internet'" in text and "'ocsp'" in text and "'unreachable'" in text and "http://ocsp.example.test/" in text
    assert record.certpolicy["check"] == "ocsp"  # type: ignore[attr-defined]


def test_pass_action_passes_silently(caplog: pytest.LogCaptureFixture) -> None:
    pol = both_on(outcomes={o: Action.FAIL if o is Outcome.REVOKED else Action.PASS for o in Outcome})
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        result, _, _ = run(Outcome.UNKNOWN, Outcome.UNKNOWN, pol)
    assert not isinstance(result, Exception)
    assert not [r for r in caplog.records if r.name == "certpolicy"]


def test_revoked_always_fails_even_under_soft_fail() -> None:
    result, _, _ = run(Outcome.REVOKED, Outcome.GOOD, both_on(soft=True))
    assert isinstance(result, CertificateRevoked)


def test_result_data_and_next_update_for_the_verdict_cache() -> None:
    result, _, _ = run(Outcome.GOOD, Outcome.GOOD, both_on())
    entry = result.data["certificates"][0]  # type: ignore[attr-defined]
    assert {"subject", "serial", "source", "outcome", "url", "next_update"} <= set(entry)
    assert result.data["next_update"] == NEXT  # type: ignore[attr-defined]
    warned, _, _ = run(Outcome.UNREACHABLE, Outcome.UNREACHABLE, both_on(soft=True))
    assert warned.data["next_update"] == AT  # type: ignore[attr-defined]  # not definite: do not keep the verdict


def test_error_carries_host_certificate_and_ocsp_verify_code() -> None:
    result, _, _ = run(Outcome.UNREACHABLE, Outcome.UNREACHABLE, both_on())
    assert isinstance(result, RevocationError)
    assert result.host == "www.example.test" and result.certificate == PKI.leaf.cert
    assert result.verify_code == 74  # X509_V_ERR_OCSP_VERIFY_FAILED
    assert "crl: unreachable" in str(result)  # the other source consulted is named too


def test_a_crashing_source_fails_closed() -> None:
    class Broken:
        name = "ocsp"

        def status(self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext) -> RevocationStatus:
            raise ZeroDivisionError("bug")

    with pytest.raises(CheckCrashed) as err:
        RevocationCheck({"ocsp": Broken()}).run(context(PATH, policy()))
    assert err.value.check == "ocsp"


def test_ocsp_check_run_uses_the_coordinator() -> None:
    check = OcspCheck(cache=RevocationCache(None))
    pki = build_pki(None)
    with pytest.raises(RevocationError) as err:
        check.run(context(pki.path, policy()))
    assert (err.value.check, err.value.outcome) == ("ocsp", "no-revocation-info")
    assert check.requires_chain and check.name == "ocsp"


# -- with the real OCSP and CRL checks ----------------------------------------------


def _crl_check() -> CrlCheck:
    return CrlCheck(cache=RevocationCache(None), clock=lambda: AT)


@pytest.mark.parametrize("order", ["ocsp-first", "crl-first"])
def test_real_sources_unreachable_ocsp_then_good_crl(order: str) -> None:
    with LoopbackHTTPServer() as srv:
        pki = build_pki(closed_port_url("/ocsp"), crl_url=srv.url("/inter.crl"))
        srv.route("/inter.crl", pki.inter.issue_crl([], this_update=AT - days(1), next_update=AT + days(6)).public_bytes(Encoding.DER))
        crl = _crl_check()
        result = RevocationCheck({"ocsp": ocsp_check(), "crl": crl}).run(context(pki.path, both_on(order)))
        crl.close()
    entry = result.data["certificates"][0]
    assert (entry["source"], entry["outcome"]) == ("crl", "good")
    assert [s["source"] for s in entry["consulted"]] == (["ocsp", "crl"] if order == "ocsp-first" else ["crl"])


def test_real_sources_crl_first_revoked_wins_over_good_ocsp() -> None:
    with LoopbackHTTPServer() as srv:
        pki = build_pki(srv.url("/ocsp"), crl_url=srv.url("/inter.crl"))
        OcspResponder(pki.inter, server=srv, clock=lambda: AT)  # says good
        crl_body = pki.inter.issue_crl(
            [(pki.leaf.cert, x509.ReasonFlags.key_compromise, AT - days(2))],
            this_update=AT - days(1),
            next_update=AT + days(6),
        ).public_bytes(Encoding.DER)
        srv.route("/inter.crl", crl_body)
        crl = _crl_check()
        check = RevocationCheck({"ocsp": ocsp_check(), "crl": crl})
        with pytest.raises(CertificateRevoked) as err:
            check.run(context(pki.path, both_on("crl-first")))
        assert check.run(context(pki.path, both_on("ocsp-first"))).data["certificates"][0]["source"] == "ocsp"
        with pytest.raises(CertificateRevoked):
            check.run(context(pki.path, both_on("both")))
        crl.close()
    assert err.value.check == "crl" and err.value.details["reason"] == "keyCompromise"

