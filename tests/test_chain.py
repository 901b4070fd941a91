"""ChainCheck: certification path validation against a policy's trust anchors."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certpolicy import CertPolicyError, ChainError, PolicyConfigError
from certpolicy.checks.base import CheckContext
from certpolicy.checks.chain import ChainCheck
from certpolicy.pki import CA
from certpolicy.policy import Policy, PolicyKind, TrustSpec
from certpolicy.trust import clear_trust_cache, trust_anchors

DATA = Path(__file__).parent / "data" / "chain"
UTC = dt.timezone.utc
AT = dt.datetime(2030, 6, 1, tzinfo=UTC)


def d(year: int, month: int = 1, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=UTC)


def load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((DATA / name).read_bytes())


@pytest.fixture(scope="module")
def pki() -> dict[str, object]:
    root = CA.create("Test Root", not_before=d(2025), not_after=d(2045))
    inter = root.create_intermediate("Test Issuing CA", not_before=d(2025), not_after=d(2040))
    leaf = inter.issue_server("api.example.test", not_before=d(2029), not_after=d(2031))
    return {"root": root, "inter": inter, "leaf": leaf}


def check_for(root: CA, **kwargs: object) -> ChainCheck:
    return ChainCheck(anchors=[root.cert], **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# BR-25: a cross-signed root whose old issuer has expired
# ---------------------------------------------------------------------------

BR25_SENT = ["br25_leaf.pem", "br25_issuing_ca.pem", "br25_new_root_cross_signed_by_old_root.pem"]


@pytest.mark.parametrize("at", [d(2026, 3, 1), d(2027, 6, 1)])
def test_br25_path_ends_at_the_trusted_new_root(at: dt.datetime) -> None:
    chain = [load(n) for n in BR25_SENT]
    path = ChainCheck(anchors=[load("br25_new_root.pem")]).check(chain, "portal.example.test", at=at)
    assert path == [chain[0], chain[1], load("br25_new_root.pem")]


@pytest.mark.parametrize("at", [d(2026, 3, 1), d(2027, 6, 1)])
def test_br25_expired_alternative_path_does_not_hide_the_valid_one(at: dt.datetime) -> None:
    chain = [load(n) for n in BR25_SENT]
    anchors = [load("br25_old_root_expired.pem"), load("br25_new_root.pem")]
    path = ChainCheck(anchors=anchors).check(chain, "portal.example.test", at=at)
    assert path[-1] == load("br25_new_root.pem")


@pytest.mark.parametrize("host", ["portal.example.test", None])
def test_br25_expired_old_root_alone_is_rejected(host: str | None) -> None:
    chain = [load(n) for n in BR25_SENT]
    with pytest.raises(ChainError) as e:
        ChainCheck(anchors=[load("br25_old_root_expired.pem")]).check(chain, host, at=d(2026, 3, 1))
    assert "not valid at validation time" in e.value.reason
    assert e.value.outcome == "expired"


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------


def test_valid_chain_returns_the_path_leaf_to_anchor(pki: dict) -> None:
    leaf, inter, root = pki["leaf"], pki["inter"], pki["root"]
    path = check_for(root).check(leaf.chain, "api.example.test", at=AT)
    assert path == [leaf.cert, inter.cert, root.cert]


def test_order_and_extra_certificates_do_not_matter(pki: dict) -> None:
    leaf, inter, root = pki["leaf"], pki["inter"], pki["root"]
    stranger = CA.create("Stranger", not_before=d(2025), not_after=d(2045))
    chain = [leaf.cert, stranger.cert, inter.cert, inter.cert]
    assert check_for(root).check(chain, at=AT) == [leaf.cert, inter.cert, root.cert]


def test_host_never_decides_the_chain_verdict(pki: dict) -> None:
    # The name is HostnameCheck's job: a wrong host only changes the route
    # taken inside the check, not its answer.
    leaf, root = pki["leaf"], pki["root"]
    for host in ("api.example.test", "other.example", "192.0.2.1", "bad..name", None):
        assert check_for(root).check(leaf.chain, host, at=AT)[0] == leaf.cert


def test_leaf_without_subject_alt_name_passes_the_chain_check() -> None:
    # legacy CN-only certificates: the CN fallback is HostnameCheck's decision
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_server("legacy.example.test", include_san=False, not_before=d(2029), not_after=d(2031))
    assert check_for(root).check([leaf.cert], "legacy.example.test", at=AT)[0] == leaf.cert


def test_naive_validation_time_means_utc(pki: dict) -> None:
    leaf, root = pki["leaf"], pki["root"]
    assert check_for(root).check(leaf.chain, at=AT.replace(tzinfo=None))[0] == leaf.cert


def test_der_and_pem_input_give_the_same_path(pki: dict) -> None:
    leaf, inter, root = pki["leaf"], pki["inter"], pki["root"]
    der = [c.public_bytes(Encoding.DER) for c in leaf.chain]
    pem = [leaf.chain_pem]
    assert check_for(root).check(der, at=AT) == check_for(root).check(pem, at=AT) == [leaf.cert, inter.cert, root.cert]


# ---------------------------------------------------------------------------
# Validity periods (SPEC: every certificate, the trust anchor included)
# ---------------------------------------------------------------------------


def test_expired_leaf_is_rejected_as_expired(pki: dict) -> None:
    leaf, root = pki["leaf"], pki["root"]
    with pytest.raises(ChainError) as e:
        check_for(root).check(leaf.chain, at=d(2032))
    assert e.value.outcome == "expired"
    assert e.value.certificate == leaf.cert
    assert "expired at 2031-01-01" in e.value.reason


def test_not_yet_valid_leaf_is_rejected(pki: dict) -> None:
    leaf, root = pki["leaf"], pki["root"]
    with pytest.raises(ChainError) as e:
        check_for(root).check(leaf.chain, at=d(2028))
    assert e.value.outcome == "not-yet-valid"


def test_expired_intermediate_is_rejected() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    inter = root.create_intermediate("Short CA", not_before=d(2025), not_after=d(2030))
    leaf = inter.issue_server("a.example.test", not_before=d(2029), not_after=d(2031, 6))
    with pytest.raises(ChainError) as e:
        check_for(root).check(leaf.chain, at=d(2030, 6))
    assert "Short CA" in e.value.reason and "expired" in e.value.reason


def test_expired_trust_anchor_is_rejected() -> None:
    root = CA.create("Old Root", not_before=d(2020), not_after=d(2029))
    inter = root.create_intermediate("CA", not_before=d(2021), not_after=d(2035))
    leaf = inter.issue_server("a.example.test", not_before=d(2028), not_after=d(2031))
    assert check_for(root).check(leaf.chain, at=d(2028, 6))[-1] == root.cert
    with pytest.raises(ChainError, match="not valid at validation time"):
        check_for(root).check(leaf.chain, at=d(2030))


def test_expired_duplicate_intermediate_does_not_hide_the_valid_one() -> None:
    # Same subject and key, one copy expired: path building must try the other.
    root = CA.create("Root", not_before=d(2020), not_after=d(2045))
    key = ec.generate_private_key(ec.SECP256R1())
    old = root.create_intermediate("Issuing CA", key=key, not_before=d(2020), not_after=d(2026))
    new = root.create_intermediate("Issuing CA", key=key, not_before=d(2025), not_after=d(2040))
    leaf = new.issue_server("a.example.test", not_before=d(2029), not_after=d(2031))
    path = check_for(root).check([leaf.cert, old.cert, new.cert], at=AT)
    assert path[1] == new.cert


# ---------------------------------------------------------------------------
# Issuers, depth
# ---------------------------------------------------------------------------


def test_missing_intermediate_is_reported_as_unknown_issuer(pki: dict) -> None:
    leaf, root = pki["leaf"], pki["root"]
    with pytest.raises(ChainError) as e:
        check_for(root).check([leaf.cert], "api.example.test", at=AT)
    assert e.value.outcome == "unknown-issuer"
    assert "Test Issuing CA" in e.value.reason
    assert e.value.host == "api.example.test"


def test_chain_to_an_untrusted_root_is_rejected(pki: dict) -> None:
    other = CA.create("Other Root", not_before=d(2025), not_after=d(2045))
    with pytest.raises(ChainError) as e:
        check_for(other).check(pki["leaf"].chain, at=AT)
    assert e.value.outcome == "unknown-issuer"


def _deep_pki() -> tuple[CA, object]:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    i1 = root.create_intermediate("I1", path_length=None, not_before=d(2025), not_after=d(2040))
    i2 = i1.create_intermediate("I2", not_before=d(2025), not_after=d(2040))
    leaf = i2.issue_server("deep.example.test", not_before=d(2029), not_after=d(2031))
    return root, leaf


def test_max_chain_depth_limits_the_number_of_intermediates() -> None:
    root, leaf = _deep_pki()
    assert len(check_for(root, max_chain_depth=2).check(leaf.chain, at=AT)) == 4  # type: ignore[attr-defined]
    with pytest.raises(ChainError):
        check_for(root, max_chain_depth=1).check(leaf.chain, at=AT)  # type: ignore[attr-defined]


def test_policy_max_chain_depth_applies_when_the_check_has_none() -> None:
    root, leaf = _deep_pki()
    policy = Policy(name="shallow", kind=PolicyKind.OVERRIDE, max_chain_depth=1)
    with pytest.raises(ChainError) as e:
        check_for(root).check(leaf.chain, at=AT, policy=policy)  # type: ignore[attr-defined]
    assert e.value.policy == "shallow"


@pytest.mark.parametrize("depth", [-1, 256, 1.5, True])
def test_max_chain_depth_out_of_range_is_a_configuration_error(depth: object) -> None:
    with pytest.raises(PolicyConfigError):
        ChainCheck(max_chain_depth=depth)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Extended key usage (RFC 5280 §4.2.1.12)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eku", "ok_rfc5280", "ok_webpki"),
    [
        (("serverAuth",), True, True),
        (("serverAuth", "clientAuth"), True, True),
        (None, True, False),  # absent: unrestricted in RFC 5280; the Web PKI requires it (BR 7.1.2.7.10)
        (("anyExtendedKeyUsage",), True, False),  # BR 7.1.2.7.10 forbids it in subscriber certificates
        (("serverAuth", "anyExtendedKeyUsage"), True, False),
        (("clientAuth",), False, False),
        (("codeSigning",), False, False),
    ],
)
def test_leaf_extended_key_usage_must_allow_server_auth(
    eku: tuple[str, ...] | None, ok_rfc5280: bool, ok_webpki: bool
) -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_cert("a.example.test", eku=eku, not_before=d(2029), not_after=d(2031))
    for profile, ok in (("rfc5280", ok_rfc5280), ("webpki", ok_webpki)):
        for host in ("a.example.test", None):
            if ok:
                assert check_for(root, profile=profile).check([leaf.cert], host, at=AT)[0] == leaf.cert
            else:
                with pytest.raises(ChainError, match=r"EKU|extKeyUsage"):
                    check_for(root, profile=profile).check([leaf.cert], host, at=AT)


def test_webpki_is_the_default_profile_and_the_error_names_profile_and_rule() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_cert("a.example.test", eku=None, not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError, match=r"\[webpki profile: br_7_1_2_7_10_subscriber_eku\]") as info:
        check_for(root).check([leaf.cert], "a.example.test", at=AT)
    assert info.value.details is not None
    assert info.value.details["rule"] == "br_7_1_2_7_10_subscriber_eku"
    assert info.value.details["profile"] == "webpki"


def test_ca_extended_key_usage_must_allow_server_auth() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    inter = root.create_intermediate("Mail CA", eku=["emailProtection"], not_before=d(2025), not_after=d(2040))
    leaf = inter.issue_server("a.example.test", not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError):
        check_for(root).check(leaf.chain, at=AT)


def test_client_auth_eku_validates_client_certificates() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    client = root.issue_client("mid-01.acme.example", not_before=d(2029), not_after=d(2031))
    check = check_for(root, eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    assert check.check([client.cert], at=AT)[0] == client.cert
    with pytest.raises(ChainError):
        check_for(root).check([client.cert], at=AT)


def test_eku_none_disables_the_rule() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_cert("a.example.test", eku=["codeSigning"], not_before=d(2029), not_after=d(2031))
    assert check_for(root, eku=None).check([leaf.cert], at=AT)[0] == leaf.cert


# ---------------------------------------------------------------------------
# Trust anchors from the policy
# ---------------------------------------------------------------------------


def test_extra_pem_file_is_the_only_trust_anchor_without_system(pki: dict, tmp_path: Path) -> None:
    f = tmp_path / "corp-root.pem"
    f.write_bytes(pki["root"].cert_pem)
    check = ChainCheck(TrustSpec(system=False, extra=(str(f),)))
    assert check.check(pki["leaf"].chain, at=AT)[-1] == pki["root"].cert


def test_extra_folder_of_pem_files_is_read(pki: dict, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(CA.create("Unrelated").cert_pem)
    (tmp_path / "corp.crt").write_bytes(pki["root"].cert_pem)
    (tmp_path / "README").write_text("not a certificate")
    check = ChainCheck(TrustSpec(system=False, extra=(str(tmp_path),)))
    assert check.check(pki["leaf"].chain, at=AT)[-1] == pki["root"].cert


def test_unreadable_trust_file_fails_closed_naming_it(pki: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ChainError) as e:
        ChainCheck(TrustSpec(system=False, extra=(str(missing),))).check(pki["leaf"].chain, at=AT)
    assert e.value.outcome == "no-trust-anchors"
    assert "nope.pem" in e.value.reason


def test_no_trust_anchors_at_all_is_rejected(pki: dict) -> None:
    with pytest.raises(ChainError) as e:
        ChainCheck(TrustSpec(system=False)).check(pki["leaf"].chain, at=AT)
    assert e.value.outcome == "no-trust-anchors"


def test_private_intermediate_can_be_the_trust_anchor(pki: dict) -> None:
    path = ChainCheck(anchors=[pki["inter"].cert]).check([pki["leaf"].cert], at=AT)
    assert path == [pki["leaf"].cert, pki["inter"].cert]


def test_policy_trust_spec_is_used_by_run(pki: dict, tmp_path: Path) -> None:
    f = tmp_path / "root.pem"
    f.write_bytes(pki["root"].cert_pem)
    policy = Policy(name="intranet", kind=PolicyKind.INTRANET, trust=TrustSpec(system=False, extra=(str(f),)))
    ctx = CheckContext(host="api.example.test", chain=pki["leaf"].chain, policy=policy, at=AT)
    result = ChainCheck().run(ctx)
    assert ctx.verified_path == [pki["leaf"].cert, pki["inter"].cert, pki["root"].cert]
    assert result.passed and result.outcome == "ok"
    assert result.data["path"] == ["CN=api.example.test", "CN=Test Issuing CA", "CN=Test Root"]
    assert result.data["trust_anchor"] == "CN=Test Root"


def test_run_errors_carry_policy_and_host(pki: dict) -> None:
    policy = Policy(name="internet", kind=PolicyKind.INTERNET, trust=TrustSpec(system=False))
    ctx = CheckContext(host="api.example.test", chain=pki["leaf"].chain, policy=policy, at=AT)
    with pytest.raises(ChainError) as e:
        ChainCheck().run(ctx)
    assert (e.value.policy, e.value.host, e.value.check) == ("internet", "api.example.test", "chain")
    assert ctx.verified_path is None


def test_trust_store_is_built_once_and_reloaded_when_the_file_changes(pki: dict, tmp_path: Path) -> None:
    clear_trust_cache()
    f = tmp_path / "root.pem"
    f.write_bytes(pki["root"].cert_pem)
    spec = TrustSpec(system=False, extra=(str(f),))
    first = trust_anchors(spec, now=1000.0)
    assert trust_anchors(spec, now=1001.0) is first
    other = CA.create("Replacement Root")
    f.write_bytes(other.cert_pem + pki["root"].cert_pem)
    os.utime(f, ns=(1, 2))  # a different mtime for sure
    assert trust_anchors(spec, now=1002.0) is first  # not re-checked within the interval
    reloaded = trust_anchors(spec, now=5000.0)
    assert reloaded is not first and len(reloaded) == 2


def test_system_trust_store_is_cached() -> None:
    first = trust_anchors(TrustSpec())
    if len(first) == 0:
        pytest.skip("no system trust store on this machine")
    assert trust_anchors(TrustSpec()) is first
    assert first.store is not None


# ---------------------------------------------------------------------------
# Self-signed endpoint certificates (their own trust anchor)
# ---------------------------------------------------------------------------


def _openssl_style_self_signed(name: str, not_after: dt.datetime) -> x509.Certificate:
    """What ``openssl req -x509`` makes: cA=TRUE, no AKI, no EKU."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(d(2029))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )


def test_self_signed_endpoint_certificate_is_its_own_anchor() -> None:
    cert = _openssl_style_self_signed("nas.corp.example", d(2031))
    assert ChainCheck(anchors=[cert]).check([cert], "nas.corp.example", at=AT) == [cert]


def test_expired_self_signed_anchor_is_rejected() -> None:
    cert = _openssl_style_self_signed("nas.corp.example", d(2030))
    with pytest.raises(ChainError) as e:
        ChainCheck(anchors=[cert]).check([cert], at=AT)
    assert e.value.outcome == "expired"


def test_self_signed_endpoint_not_in_the_trust_store_is_rejected() -> None:
    cert = _openssl_style_self_signed("nas.corp.example", d(2031))
    other = CA.create("Root", not_before=d(2025), not_after=d(2045))
    with pytest.raises(ChainError):
        check_for(other).check([cert], at=AT)


# ---------------------------------------------------------------------------
# Profile rules certpolicy adds (see docs/conformance.md)
# ---------------------------------------------------------------------------


def test_weak_rsa_leaf_key_is_rejected() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    leaf = root.issue_server("a.example.test", key=weak, not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError, match="1024 bits"):
        check_for(root).check([leaf.cert], at=AT)


def test_common_name_differing_from_its_san_only_in_case_is_rejected() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_server("example.com", cn="Example.COM", not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError, match="character-for-character"):
        check_for(root).check([leaf.cert], "example.com", at=AT)


def test_unrelated_common_name_is_fine() -> None:
    # a commonName that names no SAN identity is not held to BR 7.1.4.3's
    # copy rule under either profile (x509-limbo's BetterTLS good chains have
    # such leaves, and cryptography accepts them)
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_server("example.com", cn="Web Server 7", not_before=d(2029), not_after=d(2031))
    for profile in ("webpki", "rfc5280"):
        assert check_for(root, profile=profile).check([leaf.cert], "example.com", at=AT)[0] == leaf.cert


def test_critical_subject_alt_name_with_a_subject_is_rejected() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    leaf = root.issue_server("a.example.test", san_critical=True, not_before=d(2029), not_after=d(2031))
    for host in ("a.example.test", None):
        with pytest.raises(ChainError, match="critical"):
            check_for(root).check([leaf.cert], host, at=AT)


def _intermediate_without_ski(root: CA) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No SKI CA")]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(d(2025))
        .not_valid_after(d(2040))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert, key


def test_intermediate_without_subject_key_identifier_is_rejected() -> None:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    inter_cert, inter_key = _intermediate_without_ski(root)
    inter = CA(inter_cert, inter_key, parent=root)
    leaf = inter.issue_server("a.example.test", not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError, match="subjectKeyIdentifier"):
        check_for(root).check([leaf.cert, inter_cert], at=AT)
    # ... and as the trust anchor itself, under either profile: RFC 5280
    # §4.2.1.2 requires the extension in every CA certificate
    for profile in ("webpki", "rfc5280"):
        with pytest.raises(ChainError, match="rfc5280_4_2_1_2_anchor_ski"):
            ChainCheck(anchors=[inter_cert], profile=profile).check([leaf.cert], at=AT)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# directoryName name constraints (pyhanko-certvalidator)
# ---------------------------------------------------------------------------


def _dn_constrained_pki() -> tuple[CA, CA]:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    permitted = x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")]))
    inter = root.create_intermediate(
        "Acme CA",
        not_before=d(2025),
        not_after=d(2040),
        extensions=[(x509.NameConstraints(permitted_subtrees=[permitted], excluded_subtrees=None), True)],
    )
    return root, inter


def test_directory_name_constraints_accept_a_name_inside_the_subtree() -> None:
    root, inter = _dn_constrained_pki()
    leaf = inter.issue_server("a.acme.example", organization="Acme", not_before=d(2029), not_after=d(2031))
    path = check_for(root).check(leaf.chain, "a.acme.example", at=AT)
    assert path == [leaf.cert, inter.cert, root.cert]


def test_directory_name_constraints_reject_a_name_outside_the_subtree() -> None:
    root, inter = _dn_constrained_pki()
    leaf = inter.issue_server("a.acme.example", organization="Evil", not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError, match=r"namespace|name constraint"):
        check_for(root).check(leaf.chain, "a.acme.example", at=AT)


def test_directory_name_constrained_paths_still_check_validity() -> None:
    root, inter = _dn_constrained_pki()
    leaf = inter.issue_server("a.acme.example", organization="Acme", not_before=d(2029), not_after=d(2031))
    with pytest.raises(ChainError):
        check_for(root).check(leaf.chain, at=d(2032))


def test_directory_name_validation_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import certpolicy.checks.chain.verifiers as chain_module

    root, inter = _dn_constrained_pki()
    leaf = inter.issue_server("a.acme.example", organization="Acme", not_before=d(2029), not_after=d(2031))
    import time as _time

    def slow_pyhanko(*args: object) -> list[bytes]:  # a pathological input, made deterministic
        _time.sleep(0.4)
        return []

    monkeypatch.setattr(chain_module, "pyhanko_validate", slow_pyhanko)
    monkeypatch.setattr(chain_module, "PYHANKO_TIMEOUT", 0.05)
    started = _time.monotonic()
    with pytest.raises(ChainError, match="refused"):
        check_for(root).check(leaf.chain, at=AT)
    assert _time.monotonic() - started < 1.0


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------


def test_one_instance_serves_many_threads(pki: dict, tmp_path: Path) -> None:
    f = tmp_path / "root.pem"
    f.write_bytes(pki["root"].cert_pem)
    check = ChainCheck(TrustSpec(system=False, extra=(str(f),)))
    good = pki["leaf"].chain
    bad = [pki["leaf"].cert]

    def one(i: int) -> bool:
        try:
            check.check(good if i % 2 == 0 else bad, at=AT)
            return True
        except CertPolicyError:
            return False

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(400)))
    assert results == [i % 2 == 0 for i in range(400)]
