"""Bug cases BR-13, BR-14, BR-16 and BR-17 (tests/data/ocsp/), each with the
case's own DER data and, for the whole kind of fault, the same situation
rebuilt with certpolicy.pki and served by a loopback responder."""

from __future__ import annotations

import datetime as _dt
import logging
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from _ocsp_support import (
    AT,
    FAST_LIMITS,
    bugcase,
    build_pki,
    case_cert,
    case_der,
    closed_port_url,
    context,
    days,
    ocsp_check,
    policy,
    responder_cert,
)
from certpolicy.checks.crl import CrlCheck
from certpolicy.checks.revocation import RevocationCheck
from certpolicy.errors import CertPolicyError, RevocationError
from certpolicy.policy import CheckMode, FetchLimits, Outcome, PolicyKind, parse_policy_row
from certpolicy.revocation.cache import RevocationCache
from certpolicy.revocation.ocsp import evaluate_response
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder


def _at(case: dict) -> _dt.datetime:  # type: ignore[type-arg]
    return _dt.datetime.fromisoformat(case["input"]["at_time"].replace("Z", "+00:00"))


# -- BR-14: a response signed by a delegated responder is valid ---------------


def test_br14_delegated_responder_response_is_accepted() -> None:
    case = bugcase("BR-14")
    pki = case["input"]["pki"]
    st = evaluate_response(
        case_der(case["input"]["ocsp_response_der_b64"]),
        case_cert(pki["leaf"]),
        case_cert(pki["issuing_ca"]),
        at=_at(case),
    )
    assert st.outcome is Outcome.GOOD
    assert "delegated responder 'CN=BR CA 1 OCSP Responder'" in st.detail


def test_br14_same_responder_is_unauthorised_for_a_sibling_ca() -> None:
    case = bugcase("BR-14")
    pki = case["input"]["pki"]
    st = evaluate_response(
        case_der(case["input"]["ocsp_response_der_b64"]),
        case_cert(pki["leaf"]),
        case_cert(pki["sibling_ca"]),
        at=_at(case),
    )
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER


@pytest.mark.parametrize("by_key", [True, False], ids=["responder-id-by-key", "responder-id-by-name"])
def test_br14_delegated_responder_with_nocheck_is_accepted_over_http(by_key: bool) -> None:
    with LoopbackHTTPServer() as srv:
        pki = build_pki(srv.url("/ocsp"))
        responder = OcspResponder(pki.inter, server=srv, signer=responder_cert(pki.inter), clock=lambda: AT)
        responder.responder_id_by_key = by_key
        st = ocsp_check().status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.GOOD, st.detail


# -- BR-16: OCSP time window ----------------------------------------------------

BR16 = bugcase("BR-16")


@pytest.mark.parametrize("variant", BR16["input"]["variants"], ids=lambda v: v["name"])
def test_br16_time_window(variant: dict) -> None:  # type: ignore[type-arg]
    pki = BR16["input"]["pki"]
    st = evaluate_response(
        case_der(variant["ocsp_response_der_b64"]),
        case_cert(pki["leaf"]),
        case_cert(pki["issuing_ca"]),
        at=_at(BR16),
        clock_skew=15 * 60,
        max_age=7 * 86400,
    )
    accepted = variant["expected"]["response_accepted"]
    assert (st.outcome is Outcome.GOOD) is accepted, st.detail
    if not accepted:
        assert st.outcome is Outcome.STALE


@pytest.mark.parametrize(
    ("this_update", "next_update", "expected"),
    [
        (-days(8), days(-1), Outcome.STALE),  # nextUpdate passed
        (-_dt.timedelta(hours=1), None, Outcome.GOOD),  # no nextUpdate, recent
        (-days(30), None, Outcome.STALE),  # no nextUpdate, older than 7 days
        (_dt.timedelta(minutes=5), days(4), Outcome.GOOD),  # 5 min ahead: within the skew
        (_dt.timedelta(hours=2), days(4), Outcome.STALE),  # 2 h ahead: beyond the skew
    ],
    ids=["nextupdate-passed", "no-nextupdate-recent", "no-nextupdate-old", "5min-future", "2h-future"],
)
def test_br16_time_window_over_http(
    this_update: _dt.timedelta, next_update: _dt.timedelta | None, expected: Outcome
) -> None:
    with LoopbackHTTPServer() as srv:
        pki = build_pki(srv.url("/ocsp"))
        responder = OcspResponder(pki.inter, server=srv, clock=lambda: AT)
        responder.this_update = this_update
        responder.next_update = None if next_update is None else next_update - this_update
        st = ocsp_check().status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is expected, st.detail


def test_br16_max_age_and_skew_are_configurable() -> None:
    pki = BR16["input"]["pki"]
    old = next(v for v in BR16["input"]["variants"] if v["name"] == "no_nextupdate_old")
    future = next(v for v in BR16["input"]["variants"] if v["name"] == "thisupdate_2h_future")
    leaf, issuer = case_cert(pki["leaf"]), case_cert(pki["issuing_ca"])
    st = evaluate_response(case_der(old["ocsp_response_der_b64"]), leaf, issuer, at=_at(BR16), max_age=40 * 86400)
    assert st.outcome is Outcome.GOOD
    st = evaluate_response(case_der(future["ocsp_response_der_b64"]), leaf, issuer, at=_at(BR16), clock_skew=3 * 3600)
    assert st.outcome is Outcome.GOOD


# -- BR-17: nonce echoed wrong vs. nonce omitted ----------------------------------

BR17 = bugcase("BR-17")


@pytest.mark.parametrize("variant", BR17["input"]["variants"], ids=lambda v: v["name"])
def test_br17_nonce(variant: dict) -> None:  # type: ignore[type-arg]
    pki = BR17["input"]["pki"]
    st = evaluate_response(
        case_der(variant["ocsp_response_der_b64"]),
        case_cert(pki["leaf"]),
        case_cert(pki["issuing_ca"]),
        at=_at(BR17),
        nonce=bytes.fromhex(BR17["input"]["request_nonce_hex"]),
    )
    accepted = variant["expected"]["response_accepted"]
    assert (st.outcome is Outcome.GOOD) is accepted, st.detail
    if not accepted:
        assert st.outcome is Outcome.MALFORMED
        assert "nonce" in st.detail


def test_br17_wrong_nonce_falls_back_to_the_crl(tmp_path: Path) -> None:
    """A responder that replays a cached nonce is unusable; with CRL on, the
    CRL decides (good) - never an uncaught exception."""
    with LoopbackHTTPServer() as srv:
        pki = build_pki(srv.url("/ocsp"), crl_url=srv.url("/inter.crl"))
        srv.route("/inter.crl", pki.inter.issue_crl([], this_update=AT - days(1), next_update=AT + days(6)).public_bytes(Encoding.DER))
        responder = OcspResponder(pki.inter, server=srv, clock=lambda: AT)
        responder.nonce = bytes.fromhex("00112233445566778899aabbccddeeff")
        pol = policy(crl=CheckMode.ENFORCE, nonce=True)
        ocsp = ocsp_check()
        crl = CrlCheck(cache=RevocationCache(None), clock=lambda: AT)
        result = RevocationCheck({"ocsp": ocsp, "crl": crl}).run(context(pki.path, pol))
        crl.close()
    assert result.passed
    [entry] = result.data["certificates"]
    assert entry["source"] == "crl" and entry["outcome"] == "good"
    assert entry["consulted"][0]["outcome"] == "malformed" and "nonce" in entry["consulted"][0]["detail"]
    assert responder.methods == ["POST"]  # a request with a nonce is never sent as GET


def test_br17_nonce_omitted_by_the_responder_is_accepted() -> None:
    with LoopbackHTTPServer() as srv:
        pki = build_pki(srv.url("/ocsp"))
        responder = OcspResponder(pki.inter, server=srv, clock=lambda: AT)
        responder.nonce = "omit"
        st = ocsp_check().status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(nonce=True)))
    assert st.outcome is Outcome.GOOD
    assert responder.requests[0].extensions.get_extension_for_class(x509.OCSPNonce).value.nonce  # one was sent


# -- BR-13: unreachable responder: hard-fail by default, soft-fail where configured ----


def test_br13_unreachable_responder_hard_fail_default_and_soft_fail_override(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    case = bugcase("BR-13")
    rows = {r["name"]: r for r in case["input"]["policy_table"]}
    limits = {"connect_timeout": 0.5, "read_timeout": 0.8, "total_timeout": 0.8}
    policies = {}
    for name in ("instance", "partner-softfail"):
        row = {k: v for k, v in rows[name].items() if k not in ("name", "kind")}
        row["revocation"] = {"ocsp_limits": limits, "crl_limits": limits, "retry": {"attempts": 1}}
        policies[name] = parse_policy_row(row, kind=PolicyKind(rows[name]["kind"]), name=name)
    assert policies["instance"].revocation.action_for(Outcome.UNREACHABLE).value == "fail"
    assert policies["partner-softfail"].revocation.action_for(Outcome.UNREACHABLE).value == "warn"

    refused_crl = closed_port_url("/ca.crl")  # every CRL download: connection refused
    with LoopbackHTTPServer() as srv:
        srv.route("/ocsp", stall=5.0)  # every OCSP request times out
        srv.route("/ocsp/*", stall=5.0)
        pki = build_pki(srv.url("/ocsp"), crl_url=refused_crl, name="acme.service-now.com")
        partner = pki.inter.issue_server(
            "api.partner.example", ocsp_url=srv.url("/ocsp"), crl_url=refused_crl,
            not_before=AT - days(30), not_after=AT + days(300),
        )
        crl = CrlCheck(cache=RevocationCache(None), clock=lambda: AT)
        check = RevocationCheck({"ocsp": ocsp_check(), "crl": crl})  # one check shared by both policies

        start = time.monotonic()
        with pytest.raises(RevocationError) as err:
            check.run(context(pki.path, policies["instance"], host="acme.service-now.com"))
        hard_elapsed = time.monotonic() - start

        partner_path = [partner.cert, pki.inter.cert, pki.root.cert]
        caplog.clear()
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="certpolicy"):
            result = check.run(context(partner_path, policies["partner-softfail"], host="api.partner.example"))
        soft_elapsed = time.monotonic() - start
        crl.close()

    e = err.value
    assert isinstance(e, ssl.SSLCertVerificationError) and isinstance(e, CertPolicyError)
    assert (e.policy, e.check, e.outcome) == ("instance", "ocsp", "unreachable")
    assert "'instance'" in str(e) and "'ocsp'" in str(e)
    assert e.details["url"] == srv.url("/ocsp")

    assert result.passed and result.outcome == "unreachable"
    warnings = [r for r in caplog.records if r.name == "certpolicy" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "'partner-softfail'" in text and "'ocsp'" in text and srv.url("/ocsp") in text

    # each fetch ends within the configured timeout (OCSP 0.8 s; the refused CRL at once)
    budget = FetchLimits(**limits).total_timeout + 1.0
    assert hard_elapsed < budget and soft_elapsed < budget, (hard_elapsed, soft_elapsed)


def test_br13_default_ocsp_limits_are_3s_connect_5s_total_1mb() -> None:
    limits = policy().revocation.__class__().ocsp_limits
    assert (limits.connect_timeout, limits.total_timeout, limits.max_bytes) == (3.0, 5.0, 1_000_000)
    assert FAST_LIMITS.total_timeout < limits.total_timeout



def test_br13_end_to_end_through_the_policy_table_and_verifier(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The case's own policy table and queries, resolved and verified by the engine."""
    from certpolicy.engine import Verifier
    from certpolicy.resolver import PolicyResolver
    from certpolicy.table import PolicyTable

    case = bugcase("BR-13")
    limits = {"connect_timeout": 0.5, "read_timeout": 0.8, "total_timeout": 0.8}
    refused_crl = closed_port_url("/ca.crl")
    with LoopbackHTTPServer() as srv:
        srv.route("/ocsp", stall=5.0)
        srv.route("/ocsp/*", stall=5.0)
        pki = build_pki(srv.url("/ocsp"), crl_url=refused_crl, name="acme.service-now.com")
        partner = pki.inter.issue_server(
            "api.partner.example", ocsp_url=srv.url("/ocsp"), crl_url=refused_crl,
            not_before=AT - days(30), not_after=AT + days(300),
        )
        root_pem = tmp_path / "root.pem"
        root_pem.write_bytes(pki.root.cert_pem)
        rows = [
            {
                **row,
                "trust": {"system": False, "extra": [str(root_pem)]},
                "revocation": {"ocsp_limits": limits, "crl_limits": limits, "retry": {"attempts": 1}},
            }
            for row in case["input"]["policy_table"]
        ]
        crl = CrlCheck(cache=RevocationCache(None), clock=lambda: AT)
        verifier = Verifier(
            PolicyResolver(PolicyTable.from_dict(rows)),
            checks={"revocation": RevocationCheck({"ocsp": ocsp_check(), "crl": crl})},
            clock=lambda: AT,
        )
        instance_q, partner_q = case["input"]["queries"]
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            verifier.verify([pki.leaf.cert, pki.inter.cert], None, url=instance_q["url"], peer_ip=instance_q["peer_ip"])
        with caplog.at_level(logging.WARNING, logger="certpolicy"):
            verdict = verifier.verify(
                [partner.cert, pki.inter.cert], None, url=partner_q["url"], peer_ip=partner_q["peer_ip"]
            )
        crl.close()
    assert isinstance(err.value, RevocationError)
    assert (err.value.policy, err.value.check, err.value.outcome) == ("instance", "ocsp", "unreachable")
    assert verdict.passed and verdict.policy.name == "partner-softfail"
    assert any(
        "'partner-softfail'" in r.getMessage() and "'ocsp'" in r.getMessage() and srv.url("/ocsp") in r.getMessage()
        for r in caplog.records
        if r.name == "certpolicy" and r.levelno == logging.WARNING
    )
