"""Validation profiles (``profile = "webpki" | "rfc5280"``): each rule that
differs between them, at the level of one certificate, and the profile
flowing from the policy table through the SSL context to the error."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import certpolicy
from certpolicy import ChainCheck, ChainError, HostnameCheck, HostnameMismatch, PolicyConfigError
from certpolicy.pki import CA
from certpolicy.policy import Policy, PolicyKind, parse_policy_row
from certpolicy.testing.pytest_plugin import TestPKI
from certpolicy.testing.tls_server import LoopbackTLSServer

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
PROFILES = ("webpki", "rfc5280")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _root(
    *, ski: bool = True, aki_all_fields: bool = False, extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()
) -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    if aki_all_fields:  # its own keyIdentifier, plus authorityCertIssuer and authorityCertSerialNumber
        keyid = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
        extra = (*extra, (x509.AuthorityKeyIdentifier(keyid, [x509.DirectoryName(_name("Profile Root"))], 7), False))
    b = (
        x509.CertificateBuilder()
        .subject_name(_name("Profile Root"))
        .issuer_name(_name("Profile Root"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    )
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(key, hashes.SHA256()), key


def _leaf(
    issuer: x509.Certificate,
    issuer_key: Any,
    name: str = "api.profiles.example",
    *,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return b.sign(issuer_key, hashes.SHA256())


def _verdicts(anchor: x509.Certificate, chain: list[x509.Certificate]) -> dict[str, str]:
    out = {}
    for profile in PROFILES:
        try:
            ChainCheck(anchors=[anchor], profile=profile).check(chain, "api.profiles.example")  # type: ignore[arg-type]
            out[profile] = "ok"
        except ChainError as e:
            out[profile] = (e.details or {}).get("rule", e.outcome)
    return out


# ---------------------------------------------------------------------------
# The profile setting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (PolicyKind.INSTANCE, "webpki"),
        (PolicyKind.INTERNET, "webpki"),
        (PolicyKind.OVERRIDE, "webpki"),
        (PolicyKind.INTRANET, "rfc5280"),
    ],
)
def test_each_kind_has_its_default_profile(kind: PolicyKind, expected: str) -> None:
    assert Policy(name="p", kind=kind).validation_profile == expected


def test_profile_is_read_from_a_row_and_inherited_from_defaults() -> None:
    table = certpolicy.PolicyTable.from_dict(
        {"defaults": {"profile": "rfc5280"}, "intranet": {"profile": "webpki"}}
    )
    assert table.internet.validation_profile == "rfc5280"
    assert table.intranet.validation_profile == "webpki"
    assert parse_policy_row({}, kind=PolicyKind.INTRANET, name="x").profile is None


@pytest.mark.parametrize("value", ["WebPKI", "strict", "", 1, True])
def test_an_unknown_profile_is_a_clear_error(value: object) -> None:
    with pytest.raises(PolicyConfigError, match="profile") as info:
        certpolicy.PolicyTable.from_dict({"internet": {"profile": value}})
    assert "'webpki' or 'rfc5280'" in str(info.value)
    with pytest.raises(PolicyConfigError, match="profile"):
        ChainCheck(profile=value)  # type: ignore[arg-type]
    with pytest.raises(PolicyConfigError, match="profile"):
        HostnameCheck(profile=value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Rules that differ between the profiles, one certificate each
# ---------------------------------------------------------------------------


def test_a_root_with_an_extended_key_usage_is_refused_under_webpki_only() -> None:
    root, key = _root(extra=((x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),))
    assert _verdicts(root, [_leaf(root, key)]) == {
        "webpki": "br_7_1_2_1_2_root_without_eku",
        "rfc5280": "ok",
    }


def test_a_root_whose_aki_names_issuer_and_serial_is_refused_under_webpki_only() -> None:
    root, key = _root(aki_all_fields=True)
    assert _verdicts(root, [_leaf(root, key)]) == {"webpki": "br_7_1_2_1_3_root_aki", "rfc5280": "ok"}


def test_a_trust_anchor_without_subject_key_identifier_is_refused_under_both() -> None:
    root, key = _root(ski=False)
    assert _verdicts(root, [_leaf(root, key)]) == {
        "webpki": "rfc5280_4_2_1_2_anchor_ski",
        "rfc5280": "rfc5280_4_2_1_2_anchor_ski",
    }


def test_non_critical_name_constraints_are_refused_under_rfc5280_only() -> None:
    root = CA.create("NC Root")
    nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName("profiles.example")], excluded_subtrees=None)
    inter = root.create_intermediate("NC CA", extensions=[(nc, False)])
    leaf = inter.issue_server("api.profiles.example")
    assert _verdicts(root.cert, leaf.chain) == {
        "webpki": "ok",
        "rfc5280": "rfc5280_4_2_1_10_name_constraints_critical",
    }
    # marked critical, as RFC 5280 §4.2.1.10 requires: fine under both
    inter_ok = root.create_intermediate("NC CA 2", extensions=[(nc, True)])
    assert _verdicts(root.cert, inter_ok.issue_server("api.profiles.example").chain) == {
        "webpki": "ok",
        "rfc5280": "ok",
    }


@pytest.mark.parametrize(
    ("eku", "expected"),
    [
        (None, {"webpki": "br_7_1_2_7_10_subscriber_eku", "rfc5280": "ok"}),
        (("anyExtendedKeyUsage",), {"webpki": "br_7_1_2_7_10_subscriber_eku", "rfc5280": "ok"}),
        (("serverAuth",), {"webpki": "ok", "rfc5280": "ok"}),
    ],
)
def test_subscriber_extended_key_usage(eku: tuple[str, ...] | None, expected: dict[str, str]) -> None:
    root = CA.create("EKU Root")
    leaf = root.issue_cert("api.profiles.example", eku=eku)
    assert _verdicts(root.cert, leaf.chain) == expected


def test_the_eku_rules_are_off_when_the_check_requires_no_eku() -> None:
    root = CA.create("EKU Root")
    leaf = root.issue_cert("api.profiles.example", eku=None)
    assert ChainCheck(anchors=[root.cert], eku=None, profile="webpki").check(leaf.chain)[0] == leaf.cert


def test_a_pinned_self_signed_endpoint_is_held_to_rfc5280_alone() -> None:
    # a path of one certificate: the Baseline Requirements bind what a CA issues
    from certpolicy.pki import IssuedCert

    leaf = IssuedCert.self_signed("pinned.profiles.example", eku=None)
    assert ChainCheck(anchors=[leaf.cert], profile="webpki").check([leaf.cert])[0] == leaf.cert


@pytest.mark.parametrize(
    ("pattern", "host", "webpki_ok"),
    [
        ("*.co.uk", "shop.co.uk", False),  # ICANN section, two labels
        ("*.s3.amazonaws.com", "bucket.s3.amazonaws.com", False),  # private section
        ("*.github.io", "me.github.io", False),
        ("*.example.co.uk", "www.example.co.uk", True),
        ("*.example.com", "www.example.com", True),
    ],
)
def test_no_wildcard_directly_under_a_public_suffix_under_webpki(pattern: str, host: str, webpki_ok: bool) -> None:
    leaf = CA.create("PSL Root").issue_server(pattern)
    assert HostnameCheck(profile="rfc5280").check(leaf.cert, host).outcome == "ok"
    if webpki_ok:
        assert HostnameCheck(profile="webpki").check(leaf.cert, host).outcome == "ok"
        assert HostnameCheck().check(leaf.cert, host).outcome == "ok"
    else:
        for check in (HostnameCheck(profile="webpki"), HostnameCheck()):
            with pytest.raises(HostnameMismatch, match="public suffix"):
                check.check(leaf.cert, host)


def test_an_exact_name_that_is_a_public_suffix_still_matches() -> None:
    # only wildcards are refused; a certificate for the suffix itself names it
    leaf = CA.create("PSL Root").issue_server("github.io")
    assert HostnameCheck(profile="webpki").check(leaf.cert, "github.io").outcome == "ok"


# ---------------------------------------------------------------------------
# From the policy table to the handshake and the explanation
# ---------------------------------------------------------------------------


def test_chain_check_takes_the_profile_of_the_policy_in_force() -> None:
    root = CA.create("Kind Root")
    leaf = root.issue_cert("api.profiles.example", eku=None)
    check = ChainCheck(anchors=[root.cert])
    intranet = Policy(name="intranet", kind=PolicyKind.INTRANET)
    internet = Policy(name="internet", kind=PolicyKind.INTERNET)
    assert check.check(leaf.chain, policy=intranet)[0] == leaf.cert
    with pytest.raises(ChainError, match=r"\[webpki profile: br_7_1_2_7_10_subscriber_eku\]") as info:
        check.check(leaf.chain, policy=internet)
    assert info.value.policy == "internet"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("profiles-pki"))


def test_a_real_handshake_follows_the_intranet_rows_profile(pki: TestPKI) -> None:
    leaf = pki.intermediate.issue_cert("localhost", "127.0.0.1", eku=None)  # a private CA's habit
    with LoopbackTLSServer(leaf) as srv:
        for profile, ok in ((None, True), ("rfc5280", True), ("webpki", False)):
            row = {} if profile is None else {"profile": profile}
            ctx = certpolicy.create_ssl_context(pki.table({"intranet": row}))
            sock = socket.create_connection((srv.host, srv.port), timeout=10)
            try:
                if ok:
                    with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                        verdict = certpolicy.verdict_of(tls)
                        assert verdict is not None and verdict.passed
                        text = verdict.explain()
                        assert "validation profile: rfc5280" in text
                        assert f"({'rfc5280'} profile)" in text
                else:
                    with pytest.raises(ssl.SSLCertVerificationError) as info:
                        ctx.wrap_socket(sock, server_hostname="localhost")
                    assert "[webpki profile: br_7_1_2_7_10_subscriber_eku]" in str(info.value)
            finally:
                sock.close()


def test_resolution_explain_names_the_profile_and_where_it_comes_from() -> None:
    table = certpolicy.PolicyTable.from_dict({"internet": {"profile": "rfc5280"}})
    resolver = certpolicy.PolicyResolver(table)
    text = resolver.resolve("api.example.com", peer_ip="93.184.216.34").explain()
    assert "validation profile: rfc5280 (set by the row)" in text
    text = resolver.resolve("db.corp", peer_ip="10.1.2.3").explain()
    assert "validation profile: rfc5280 (the intranet kind's default)" in text
    assert resolver.resolve("api.example.com", peer_ip="93.184.216.34").to_dict()["profile"] == "rfc5280"
