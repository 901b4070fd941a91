"""CRL parsing and evaluation without a network: static CRLs, the outcome
taxonomy, RFC 5280 §6.3.3 rules, bug cases BR-18 / BR-19 (parsing side) and
the x509-limbo ``crl::`` cases."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from _crl_support import AT, DATA, bugcase, build_pki, context, days, der, hours, pem, policy
from certpolicy.checks.base import RevocationStatus
from certpolicy.checks.crl import CrlCheck
from certpolicy.errors import CertificateRevoked, RevocationError
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import Outcome
from certpolicy.revocation.crl import CrlProblem, ParsedCrl, load_crl, load_crl_files

KC = x509.ReasonFlags.key_compromise


def _status(check: CrlCheck, pki_path: list[x509.Certificate], **pol: Any) -> RevocationStatus:
    ctx = context(pki_path, policy(fetch_crls=False, **pol))
    return check.status(pki_path[0], pki_path[1], ctx)


# -- parsing (BR-19) ---------------------------------------------------------


def test_der_and_pem_bodies_parse_to_the_same_crl() -> None:
    case = bugcase("BR-19")
    variants = {v["name"]: v for v in case["input"]["variants"]}
    from_der = load_crl(base64.b64decode(variants["der_body"]["body_b64"]))
    from_pem = load_crl(variants["pem_body"]["body_text"].encode())
    from_mislabelled = load_crl(variants["pem_body_wrong_content_type"]["body_text"].encode())
    assert from_der == from_pem == from_mislabelled
    assert ParsedCrl(from_der).number == case["expected"]["der_body"]["crl_number"]


@pytest.mark.parametrize(
    "body",
    [b"", b"   \r\n", b"<html><body><h1>Service unavailable</h1></body></html>", b"\x30\x03\x02\x01", b"garbage!"],
    ids=["empty", "blank", "html", "truncated-der", "garbage"],
)
def test_a_body_that_is_not_a_crl_is_malformed_never_an_empty_crl(body: bytes) -> None:
    with pytest.raises(CrlProblem) as e:
        load_crl(body)
    assert e.value.outcome is Outcome.MALFORMED


# -- the basic outcomes --------------------------------------------------------


def test_a_listed_serial_is_revoked_with_its_reason_and_date() -> None:
    pki = build_pki()
    when = AT - days(3)
    crl = pki.inter.issue_crl([(pki.leaf.cert, KC, when)], this_update=AT - hours(1), next_update=AT + days(1))
    st = _status(CrlCheck(crls=[crl]), pki.path)
    assert st.outcome is Outcome.REVOKED
    assert st.revocation_reason == "keyCompromise"
    assert st.revocation_time == when


def test_an_unlisted_serial_is_good() -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl([(pki.other.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))
    st = _status(CrlCheck(crls=[crl]), pki.path)
    assert st.outcome is Outcome.GOOD
    assert st.crl_number == 1


def test_a_revoked_certificate_is_logged_as_a_structured_event(caplog: pytest.LogCaptureFixture) -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1), crl_number=42)
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        _status(CrlCheck(crls=[crl]), pki.path)
    rec = next(r for r in caplog.records if getattr(r, "event", None) == "certificate-revoked")
    assert rec.serial == f"{pki.leaf.cert.serial_number:#x}"
    assert rec.reason == "keyCompromise"
    assert rec.crl_number == 42
    assert rec.issuer == "CN=CRL Test Intermediate"
    assert hasattr(rec, "source_url")


def test_a_crl_signed_with_another_key_is_bad_signature() -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl([], signer=ec.generate_private_key(ec.SECP256R1()), next_update=AT + days(1), this_update=AT - hours(1))
    assert _status(CrlCheck(crls=[crl]), pki.path).outcome is Outcome.BAD_SIGNATURE


def test_a_bad_signature_never_proves_revocation() -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl(
        [(pki.leaf.cert, KC)], signer=ec.generate_private_key(ec.SECP256R1()), next_update=AT + days(1), this_update=AT - hours(1)
    )
    assert _status(CrlCheck(crls=[crl]), pki.path).outcome is Outcome.BAD_SIGNATURE


def test_a_crl_of_another_issuer_at_the_distribution_point_is_unauthorised() -> None:
    pki = build_pki()
    stranger = CA.create("Stranger CA", not_before=AT - days(10))
    crl = pki.inter.issue_crl([(pki.leaf.cert, KC)], signer=stranger, this_update=AT - hours(1), next_update=AT + days(1))
    parsed = ParsedCrl(crl)
    from certpolicy.revocation.crl import evaluate_crl

    st = evaluate_crl(parsed, pki.leaf.cert, pki.inter.cert, at=AT, settings=policy().revocation)
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER
    assert "Stranger CA" in st.detail


def test_a_static_crl_of_another_issuer_does_not_apply() -> None:
    pki = build_pki(leaf_crl_url=None)
    stranger = CA.create("Stranger CA", not_before=AT - days(10))
    crl = stranger.issue_crl([(pki.leaf.cert.serial_number, KC)], this_update=AT - hours(1), next_update=AT + days(1))
    st = _status(CrlCheck(crls=[crl]), pki.path)
    assert st.outcome is Outcome.NO_REVOCATION_INFO


def test_an_issuer_whose_key_usage_lacks_crl_sign_is_unauthorised() -> None:
    root = CA.create("Root", not_before=AT - days(10))
    no_crl_sign = x509.KeyUsage(False, False, False, False, False, True, False, False, False)
    inter = root.create_intermediate("No cRLSign", extensions=[(no_crl_sign, True)], not_before=AT - days(10))
    leaf = inter.issue_server("www.example.test", not_before=AT - days(1))
    crl = inter.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))
    st = _status(CrlCheck(crls=[crl]), [leaf.cert, inter.cert, root.cert])
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER
    assert "cRLSign" in st.detail


def _raw_crl(
    issuer: CA,
    *,
    number: int | None = 1,
    revoked: Sequence[tuple[int, x509.ReasonFlags]] = (),
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.CertificateRevocationList:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(AT - hours(1))
        .next_update(AT + days(1))
    )
    if number is not None:
        b = b.add_extension(x509.CRLNumber(number), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    for serial, reason in revoked:
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(AT - days(2))
        rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]


def test_a_crl_without_crl_number_is_malformed() -> None:
    pki = build_pki()
    st = _status(CrlCheck(crls=[_raw_crl(pki.inter, number=None)]), pki.path)
    assert st.outcome is Outcome.MALFORMED
    assert "5.2.3" in st.detail


def test_a_crl_with_an_unknown_critical_extension_is_not_used() -> None:
    pki = build_pki()
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    st = _status(CrlCheck(crls=[_raw_crl(pki.inter, extra=[(odd, True)])]), pki.path)
    assert st.outcome is Outcome.UNKNOWN


# -- freshness (BR-18) --------------------------------------------------------


def _br18() -> tuple[dict[str, object], list[x509.Certificate], list[x509.Certificate], x509.CertificateRevocationList]:
    case = bugcase("BR-18")
    p = case["input"]["pki"]
    root, ca, leaf, other = (x509.load_pem_x509_certificate(p[k].encode()) for k in ("root", "crl_ca", "leaf", "other_leaf"))
    crl = x509.load_der_x509_crl(base64.b64decode(case["input"]["cached_crl_der_b64"]))
    return case, [leaf, ca, root], [other, ca, root], crl


@pytest.mark.parametrize("soft", [False, True], ids=["hard-fail", "soft-fail"])
def test_a_stale_crl_still_proves_revocation(soft: bool) -> None:
    case, leaf_path, _, crl = _br18()
    at = _dt.datetime.fromisoformat(case["input"]["at_time"].replace("Z", "+00:00"))  # type: ignore[index]
    check = CrlCheck(crls=[crl])
    ctx = context(leaf_path, policy(soft=soft, fetch_crls=False), at=at)
    st = check.status(leaf_path[0], leaf_path[1], ctx)
    assert st.outcome is Outcome.REVOKED
    assert st.revocation_reason == case["expected"]["leaf"]["reason"]  # type: ignore[index]
    with pytest.raises(CertificateRevoked):
        check.run(ctx)


def test_a_stale_crl_never_proves_good_standing() -> None:
    case, _, other_path, crl = _br18()
    at = _dt.datetime.fromisoformat(case["input"]["at_time"].replace("Z", "+00:00"))  # type: ignore[index]
    check = CrlCheck(crls=[crl])
    st = check.status(other_path[0], other_path[1], context(other_path, policy(fetch_crls=False), at=at))
    assert st.outcome is Outcome.STALE
    assert "nextUpdate" in st.detail


def test_a_stale_crl_fails_a_hard_policy_and_warns_under_a_soft_one(caplog: pytest.LogCaptureFixture) -> None:
    case, _, other_path, crl = _br18()
    at = _dt.datetime.fromisoformat(case["input"]["at_time"].replace("Z", "+00:00"))  # type: ignore[index]
    check = CrlCheck(crls=[crl])
    with pytest.raises(RevocationError) as e:
        check.run(context(other_path, policy("hard", fetch_crls=False), at=at))
    assert e.value.outcome == "stale" and e.value.check == "crl" and e.value.policy == "hard"
    with caplog.at_level(logging.WARNING, logger="certpolicy"):
        result = check.run(context(other_path, policy("soft", soft=True, fetch_crls=False), at=at))
    assert result.outcome == "stale"
    assert any("soft" in r.getMessage() and "stale" in r.getMessage() for r in caplog.records)


def test_crl_grace_extends_good_standing_past_next_update() -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl([], this_update=AT - days(2), next_update=AT - hours(2))
    check = CrlCheck(crls=[crl])
    assert _status(check, pki.path, clock_skew=0).outcome is Outcome.STALE
    assert _status(check, pki.path, clock_skew=0, crl_grace=3 * 3600).outcome is Outcome.GOOD


def test_next_update_is_tolerated_by_the_clock_skew() -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl([], this_update=AT - days(2), next_update=AT - _dt.timedelta(minutes=10))
    assert _status(CrlCheck(crls=[crl]), pki.path).outcome is Outcome.GOOD
    assert _status(CrlCheck(crls=[crl]), pki.path, clock_skew=60).outcome is Outcome.STALE


def test_a_crl_from_the_future_is_stale_but_still_proves_revocation() -> None:
    pki = build_pki()
    crl = pki.inter.issue_crl([(pki.other.cert, KC)], this_update=AT + hours(2), next_update=AT + days(2))
    st = _status(CrlCheck(crls=[crl]), pki.path)
    assert st.outcome is Outcome.STALE
    assert "not yet valid" in st.detail
    assert _status(CrlCheck(crls=[crl]), pki.other_path).outcome is Outcome.REVOKED
    # within the clock skew it is usable
    soon = pki.inter.issue_crl([], this_update=AT + _dt.timedelta(minutes=5), next_update=AT + days(2))
    assert _status(CrlCheck(crls=[soon]), pki.path).outcome is Outcome.GOOD


# -- scope, deltas, indirect CRLs ---------------------------------------------


def _idp(**kw: object) -> x509.IssuingDistributionPoint:
    args: dict[str, object] = dict(
        full_name=None, relative_name=None, only_contains_user_certs=False, only_contains_ca_certs=False,
        only_some_reasons=None, indirect_crl=False, only_contains_attribute_certs=False,
    )
    args.update(kw)
    return x509.IssuingDistributionPoint(**args)  # type: ignore[arg-type]


def test_a_crl_of_ca_certificates_only_does_not_cover_a_leaf() -> None:
    pki = build_pki()
    crl = _raw_crl(pki.inter, extra=[(_idp(only_contains_ca_certs=True), True)])
    st = _status(CrlCheck(crls=[crl]), pki.path)
    assert st.outcome is Outcome.NO_REVOCATION_INFO
    assert "only CA certificates" in st.detail


def test_the_issuing_distribution_point_must_name_the_certificates_point() -> None:
    pki = build_pki("http://crl.example.test/inter.crl")
    right = _raw_crl(pki.inter, extra=[(_idp(full_name=[x509.UniformResourceIdentifier("http://crl.example.test/inter.crl")]), True)])
    wrong = _raw_crl(pki.inter, extra=[(_idp(full_name=[x509.UniformResourceIdentifier("http://crl.example.test/part2.crl")]), True)])
    assert _status(CrlCheck(crls=[right]), pki.path).outcome is Outcome.GOOD
    assert _status(CrlCheck(crls=[wrong]), pki.path).outcome is Outcome.NO_REVOCATION_INFO


def test_a_partial_crl_for_some_reasons_does_not_prove_good_standing() -> None:
    pki = build_pki()
    crl = _raw_crl(pki.inter, revoked=[(pki.other.cert.serial_number, KC)], extra=[(_idp(only_some_reasons=frozenset({KC})), True)])
    assert _status(CrlCheck(crls=[crl]), pki.path).outcome is Outcome.UNKNOWN
    assert _status(CrlCheck(crls=[crl]), pki.other_path).outcome is Outcome.REVOKED


def test_a_delta_crl_adds_revocations_and_lifts_holds() -> None:
    pki = build_pki()
    hold = x509.ReasonFlags.certificate_hold
    base = _raw_crl(pki.inter, number=10, revoked=[(pki.other.cert.serial_number, hold)])
    delta = _raw_crl(
        pki.inter,
        number=11,
        revoked=[(pki.leaf.cert.serial_number, KC), (pki.other.cert.serial_number, x509.ReasonFlags.remove_from_crl)],
        extra=[(x509.DeltaCRLIndicator(10), True)],
    )
    assert _status(CrlCheck(crls=[base]), pki.path).outcome is Outcome.GOOD
    assert _status(CrlCheck(crls=[base]), pki.other_path).outcome is Outcome.REVOKED
    both = CrlCheck(crls=[base, delta])
    assert _status(both, pki.path).outcome is Outcome.REVOKED
    assert _status(both, pki.other_path).outcome is Outcome.GOOD


def test_a_delta_crl_for_another_base_is_ignored() -> None:
    pki = build_pki()
    base = _raw_crl(pki.inter, number=10)
    old_delta = _raw_crl(pki.inter, number=9, revoked=[(pki.leaf.cert.serial_number, KC)], extra=[(x509.DeltaCRLIndicator(8), True)])
    assert _status(CrlCheck(crls=[base, old_delta]), pki.path).outcome is Outcome.GOOD


def _indirect_setup(crl_sign: bool = True) -> tuple[CA, CA, IssuedCert, IssuedCert]:
    root = CA.create("Root", not_before=AT - days(10))
    inter = root.create_intermediate("Issuing CA", not_before=AT - days(10))
    ku = x509.KeyUsage(False, False, False, False, False, False, crl_sign, False, False)
    signer = inter.issue_cert(cn="CRL Signer", eku=None, key_usage=ku, include_san=False, not_before=AT - days(5))
    cdp = x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier("http://crl.example.test/indirect.crl")],
                relative_name=None,
                reasons=None,
                crl_issuer=[x509.DirectoryName(signer.cert.subject)],
            )
        ]
    )
    leaf = inter.issue_server("www.example.test", extensions=[(cdp, False)], not_before=AT - days(1))
    return root, inter, leaf, signer


def _indirect_crl(inter: CA, signer: IssuedCert, serial: int) -> x509.CertificateRevocationList:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(signer.cert.subject)
        .last_update(AT - hours(1))
        .next_update(AT + days(1))
        .add_extension(x509.CRLNumber(3), critical=False)
        .add_extension(_idp(indirect_crl=True), critical=True)
    )
    rb = (
        x509.RevokedCertificateBuilder()
        .serial_number(serial)
        .revocation_date(AT - days(1))
        .add_extension(x509.CertificateIssuer([x509.DirectoryName(inter.cert.subject)]), critical=True)
    )
    return b.add_revoked_certificate(rb.build()).sign(signer.key, hashes.SHA256())  # type: ignore[arg-type]


def test_an_indirect_crl_from_an_authorised_crl_issuer_is_used() -> None:
    root, inter, leaf, signer = _indirect_setup()
    crl = _indirect_crl(inter, signer, leaf.cert.serial_number)
    path = [leaf.cert, inter.cert, root.cert]
    assert _status(CrlCheck(crls=[crl], extra_certs=[signer.cert]), path).outcome is Outcome.REVOKED
    # without the CRL issuer's certificate the CRL cannot be authorised
    assert _status(CrlCheck(crls=[crl]), path).outcome is Outcome.UNAUTHORISED_SIGNER


def test_an_indirect_crl_issuer_without_crl_sign_is_unauthorised() -> None:
    root, inter, leaf, signer = _indirect_setup(crl_sign=False)
    crl = _indirect_crl(inter, signer, leaf.cert.serial_number)
    st = _status(CrlCheck(crls=[crl], extra_certs=[signer.cert]), [leaf.cert, inter.cert, root.cert])
    assert st.outcome is Outcome.UNAUTHORISED_SIGNER
    assert "cRLSign" in st.detail


# -- distribution points and static files -------------------------------------


def test_no_distribution_point_and_no_static_crl_is_no_revocation_info() -> None:
    pki = build_pki(leaf_crl_url=None)
    st = CrlCheck().status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.NO_REVOCATION_INFO
    assert "no cRLDistributionPoints" in st.detail


def test_ldap_only_distribution_points_say_ldap_is_not_fetched() -> None:
    pki = build_pki(leaf_crl_url="ldap://ldap.example.test/cn=CA?certificateRevocationList")
    st = CrlCheck().status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy()))
    assert st.outcome is Outcome.NO_REVOCATION_INFO
    assert "LDAP" in st.detail and "ldap://ldap.example.test" in st.detail


def test_static_crl_files_and_folders_are_used_without_fetching(tmp_path: Path) -> None:
    pki = build_pki()
    folder = tmp_path / "crls"
    folder.mkdir()
    (folder / "inter.crl").write_bytes(der(pki.inter.issue_crl([(pki.leaf.cert, KC)], this_update=AT - hours(1), next_update=AT + days(1))))
    (folder / "root.pem").write_bytes(pem(pki.root.issue_crl([], this_update=AT - hours(1), next_update=AT + days(1))))
    check = CrlCheck()
    pol = policy(static_crls=(str(folder),), fetch_crls=False, scope="chain")
    assert check.status(pki.leaf.cert, pki.inter.cert, context(pki.path, pol)).outcome is Outcome.REVOKED
    assert check.status(pki.inter.cert, pki.root.cert, context(pki.path, pol)).outcome is Outcome.GOOD
    single = policy(static_crls=(str(folder / "root.pem"),), fetch_crls=False)
    assert check.status(pki.inter.cert, pki.root.cert, context(pki.path, single)).outcome is Outcome.GOOD


def test_an_unreadable_static_crl_is_malformed_when_nothing_else_answers(tmp_path: Path) -> None:
    pki = build_pki()
    bad = tmp_path / "broken.crl"
    bad.write_bytes(b"<html>oops</html>")
    crls, problems = load_crl_files([bad])
    assert crls == [] and "neither a DER nor a PEM CRL" in problems[0]
    st = CrlCheck().status(pki.leaf.cert, pki.inter.cert, context(pki.path, policy(static_crls=(str(bad),), fetch_crls=False)))
    assert st.outcome is Outcome.MALFORMED
    assert "broken.crl" in st.detail


def test_the_serial_index_agrees_with_cryptographys_lookup() -> None:
    ca = CA.create("Index CA")
    rng = random.Random(7)
    serials = [rng.getrandbits(rng.choice([8, 64, 159])) | 1 for _ in range(300)]
    crl = ca.issue_crl([(s, KC) for s in serials])
    parsed = ParsedCrl(crl)
    probes = serials + [rng.getrandbits(100) for _ in range(300)]
    for s in probes:
        assert parsed.contains(s) == (crl.get_revoked_certificate_by_serial_number(s) is not None)


# -- x509-limbo crl:: cases ---------------------------------------------------

LIMBO = json.loads((DATA / "limbo_crl_cases.json").read_text())["testcases"]


@pytest.mark.parametrize("case", LIMBO, ids=[c["id"] for c in LIMBO])
def test_limbo_crl_case(case: dict[str, object]) -> None:
    peer = x509.load_pem_x509_certificate(case["peer_certificate"].encode())
    anchors = [x509.load_pem_x509_certificate(t.encode()) for t in case["trusted_certs"]]
    issuer = next(a for a in anchors if a.subject == peer.issuer)
    crls = [x509.load_pem_x509_crl(c.encode()) for c in case["crls"]]
    at = _dt.datetime.fromisoformat(case["validation_time"])  # type: ignore[arg-type]
    check = CrlCheck(crls=crls)
    ctx = context([peer, issuer], policy(fetch_crls=False), at=at)
    st = check.status(peer, issuer, ctx)
    if case["expected_result"] == "SUCCESS":
        assert st.outcome is Outcome.GOOD, st.detail
    else:
        assert st.outcome is not Outcome.GOOD, st.detail
        with pytest.raises(RevocationError):
            check.run(ctx)


def test_limbo_crl_case_count_is_pinned() -> None:
    assert len(LIMBO) == 7
    assert {c["id"].split("::")[0] for c in LIMBO} == {"crl"}

