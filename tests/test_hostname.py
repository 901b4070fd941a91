"""HostnameCheck: RFC 9525 service identity matching, legacy CN fallback
(RFC 6125 §6.4.4), the bug cases BR-02, BR-03, BR-05, BR-06 and the
x509-limbo subjectAltName cases."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import pickle
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from certpolicy import (
    CertPolicyError,
    HostnameCheck,
    HostnameMismatch,
    MalformedInput,
    Policy,
    PolicyConfigError,
    PolicyKind,
)
from certpolicy.checks import Check, CheckContext

DATA = Path(__file__).parent / "data" / "hostname"
AT = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)

# ---------------------------------------------------------------------------
# Helpers: certificates built directly with cryptography (the hostname check
# reads names only, so one issuer key and no chain are enough)
# ---------------------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


def make_cert(
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    cn: str | Sequence[str] | None = None,
    san: bool = True,
    extra: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """A leaf with the given dNSName / iPAddress SAN entries and subject CN(s).

    ``san=False`` omits the subjectAltName extension; ``extra`` adds raw
    extensions (for malformed ones).
    """
    cns = [cn] if isinstance(cn, str) else list(cn or [])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, c) for c in cns])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostname test CA")]))
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    for ip in ips:
        value = ipaddress.ip_network(ip) if "/" in ip else ipaddress.ip_address(ip)
        names.append(x509.IPAddress(value))
    if san and names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not cns)
    for ext in extra:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(_KEY, hashes.SHA256())


def raw_san(der: bytes) -> x509.UnrecognizedExtension:
    """A subjectAltName extension with exactly the given DER value."""
    return x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, der)


class _AnyNames(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.Any


def utf8_dns_san(value: str) -> x509.UnrecognizedExtension:
    """A subjectAltName whose dNSName holds raw UTF-8 (a U-label, mis-issued)."""
    entry = core.Any.load(core.UTF8String(value, implicit=2).dump())
    return raw_san(_AnyNames([entry]).dump())


def with_duplicated_san(cert: x509.Certificate) -> x509.Certificate:
    """Re-sign ``cert`` with its subjectAltName extension present twice."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    exts = list(tbs["extensions"])
    san = next(e for e in exts if e["extn_id"].native == "subject_alt_name")
    tbs["extensions"] = asn1_x509.Extensions([*exts, asn1_x509.Extension.load(san.dump())])
    tbs_der = tbs.dump(force=True)
    signature = _KEY.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    rebuilt = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(rebuilt.dump())


def load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((DATA / f"{name}.pem").read_bytes())


def mismatch(cert: x509.Certificate, host: str | bytes, **kw: Any) -> HostnameMismatch:
    with pytest.raises(HostnameMismatch) as info:
        HostnameCheck(**kw).check(cert, host)
    return info.value


def matches(cert: x509.Certificate, host: str | bytes, **kw: Any) -> bool:
    try:
        HostnameCheck(**kw).check(cert, host)
    except HostnameMismatch:
        return False
    return True


def context(
    cert: x509.Certificate,
    host: str | None,
    *,
    host_as_asked: str | None = None,
    cn_fallback: str = "never",
) -> CheckContext:
    policy = Policy(name="corp", kind=PolicyKind.OVERRIDE, cn_fallback=cn_fallback)  # type: ignore[arg-type]
    return CheckContext(host=host, host_as_asked=host_as_asked, chain=[cert], policy=policy, at=AT)


# ---------------------------------------------------------------------------
# BR-02: an IP reference identity matches only an iPAddress SAN
# ---------------------------------------------------------------------------


def test_br02_ip_reference_is_never_matched_against_cn_even_with_legacy_fallback() -> None:
    err = mismatch(load("br02_leaf_cn_only"), "192.0.2.10", cn_fallback="legacy")
    assert err.outcome == "mismatch"
    assert "certificate has no iPAddress SAN for 192.0.2.10 (found it only in CN)" in err.reason
    assert err.details["presented"] == ["CN:192.0.2.10"]


def test_br02_ip_text_in_dnsname_is_not_an_ip_identity() -> None:
    err = mismatch(load("br02_leaf_dns_has_ip_text"), "192.0.2.10", cn_fallback="legacy")
    assert "certificate has no iPAddress SAN for 192.0.2.10 (found it only in a dNSName)" in err.reason
    assert err.details["presented"] == ["DNS:gw.example.net", "DNS:192.0.2.10"]


def test_br02_dnsname_matches_on_certificate_with_ip_text_in_a_dnsname() -> None:
    result = HostnameCheck().check(load("br02_leaf_dns_has_ip_text"), "gw.example.net")
    assert result.outcome == "ok"


def test_br02_ip_found_in_cn_and_dnsname_names_both_places() -> None:
    cert = make_cert(dns=["192.0.2.10"], cn="192.0.2.10")
    err = mismatch(cert, "192.0.2.10")
    assert "(found it only in CN and in a dNSName)" in err.reason


# ---------------------------------------------------------------------------
# BR-03: an iPAddress-only SAN does not switch the legacy CN fallback off
# ---------------------------------------------------------------------------


def test_br03_ip_only_san_does_not_block_legacy_cn_fallback() -> None:
    result = HostnameCheck(cn_fallback="legacy").check(load("br03_leaf"), "historian.plant.example")
    assert result.data["via"] == "cn"
    assert "CN (legacy fallback)" in result.detail


def test_br03_strict_mode_never_reads_cn() -> None:
    err = mismatch(load("br03_leaf"), "historian.plant.example", cn_fallback="never")
    assert "only in the subject CN" in err.reason


def test_br03_ip_san_matches_ip_reference() -> None:
    result = HostnameCheck().check(load("br03_leaf"), "198.51.100.7")
    assert result.data["matched"] == "IP:198.51.100.7"


# ---------------------------------------------------------------------------
# BR-05: one trailing dot marks an absolute name; an empty label is invalid
# ---------------------------------------------------------------------------


def test_br05_trailing_dot_reference_matches() -> None:
    assert matches(load("br05_leaf"), "myhost.corp.example.")


def test_br05_reference_without_trailing_dot_matches() -> None:
    assert matches(load("br05_leaf"), "myhost.corp.example")


def test_br05_reference_with_empty_label_is_an_invalid_reference_identity() -> None:
    err = mismatch(load("br05_leaf"), "myhost.corp.example..")
    assert err.outcome == "invalid-reference"
    assert "invalid reference identity 'myhost.corp.example..'" in err.reason
    assert "empty label" in err.reason


# ---------------------------------------------------------------------------
# BR-06: a wildcard covers exactly one label; comparison ignores ASCII case
# ---------------------------------------------------------------------------


def test_br06_wildcard_covers_one_label() -> None:
    result = HostnameCheck().check(load("br06_leaf"), "a.example.com")
    assert result.data["matched"] == "DNS:*.Example.COM"


def test_br06_wildcard_never_spans_two_labels() -> None:
    err = mismatch(load("br06_leaf"), "a.b.example.com")
    assert "covers exactly one label" in err.reason


def test_br06_wildcard_needs_a_label_to_stand_for() -> None:
    err = mismatch(load("br06_leaf"), "example.com")
    assert "does not cover the bare name" in err.reason


@pytest.mark.parametrize("host", ["api.internal.example", "Api.Internal.Example"])
def test_br06_comparison_is_ascii_case_insensitive(host: str) -> None:
    assert matches(load("br06_leaf"), host)


# ---------------------------------------------------------------------------
# Wildcards
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["f*.example.com", "*oo.example.com", "f*o.example.com"])
def test_partial_wildcard_never_matches(pattern: str) -> None:
    err = mismatch(make_cert(dns=[pattern]), "foo.example.com")
    assert any(s.startswith(f"DNS:{pattern}") for s in err.details["skipped"])


def test_wildcard_only_in_the_left_most_label() -> None:
    assert not matches(make_cert(dns=["foo.*.example.com"]), "foo.bar.example.com")


def test_wildcard_needs_two_labels_after_it() -> None:
    err = mismatch(make_cert(dns=["*.com"]), "example.com")
    assert "at least two labels after '*'" in err.reason


def test_wildcard_is_not_matched_against_an_a_label() -> None:
    err = mismatch(make_cert(dns=["*.example.com"]), "bücher.example.com")
    assert "not matched against the A-label 'xn--bcher-kva'" in err.reason


def test_wildcard_pattern_with_a_labels_after_it_matches() -> None:
    assert matches(make_cert(dns=["*.xn--bcher-kva.example"]), "www.bücher.example")


def test_bare_wildcard_never_matches() -> None:
    assert not matches(make_cert(dns=["*"]), "localhost")


# ---------------------------------------------------------------------------
# DNS names: IDNA, case, trailing dots, invalid entries
# ---------------------------------------------------------------------------


def test_u_label_reference_matches_a_label_san() -> None:
    result = HostnameCheck().check(make_cert(dns=["xn--bcher-kva.example"]), "Bücher.example")
    assert result.data["reference"] == "xn--bcher-kva.example"


def test_upper_case_a_label_san_matches() -> None:
    assert matches(make_cert(dns=["XN--BCHER-KVA.EXAMPLE"]), "bücher.example")


def test_san_entry_with_trailing_dot_matches() -> None:
    assert matches(make_cert(dns=["api.example.com."]), "api.example.com")


def test_u_label_san_entry_is_skipped_not_matched() -> None:
    cert = make_cert(cn="x", extra=[utf8_dns_san("bücher.example")])
    err = mismatch(cert, "bücher.example")
    assert err.details["skipped"][0].startswith("DNS:bücher.example (not A-label text")


@pytest.mark.parametrize(
    "entry", ["exa mple.com", "a..example.com", "", ".example.com", "xn--zz.example.com", "-a.example.com"]
)
def test_invalid_san_entry_is_skipped_and_others_still_match(entry: str) -> None:
    cert = make_cert(dns=[entry, "api.example.com"])
    assert matches(cert, "api.example.com")
    assert not matches(cert, entry.strip(".") or "empty.example")


def test_bytes_reference_is_accepted() -> None:
    assert matches(make_cert(dns=["api.example.com"]), b"api.example.com")


@pytest.mark.parametrize("host", ["1.2.3", "999.1.1.1", "a.b..", "", ".", "*.example.com", "a b.example"])
def test_invalid_reference_identity_is_rejected_with_outcome_invalid_reference(host: str) -> None:
    err = mismatch(make_cert(dns=["api.example.com"]), host)
    assert err.outcome == "invalid-reference"


# ---------------------------------------------------------------------------
# IP addresses
# ---------------------------------------------------------------------------


def test_ipv6_zone_id_is_ignored() -> None:
    assert matches(make_cert(ips=["fe80::1"]), "fe80::1%eth0")


def test_bracketed_ipv6_reference_matches() -> None:
    assert matches(make_cert(ips=["2001:db8::1"]), "[2001:DB8::1]")


def test_ipv4_mapped_ipv6_reference_compares_as_ipv4() -> None:
    assert matches(make_cert(ips=["192.0.2.1"]), "::ffff:192.0.2.1")


def test_ipv4_mapped_ipv6_san_compares_as_ipv4() -> None:
    assert matches(make_cert(ips=["::ffff:192.0.2.1"]), "192.0.2.1")


def test_ip_san_never_matches_a_dns_reference() -> None:
    assert not matches(make_cert(ips=["192.0.2.1"]), "example.com")


def test_address_block_in_san_is_skipped() -> None:
    err = mismatch(make_cert(ips=["192.0.2.0/24"]), "192.0.2.1")
    assert "IP:192.0.2.0/24" in err.details["presented"]
    assert err.details["skipped"] == ["IP:192.0.2.0/24 (an address block, not an address)"]


def test_invalid_san_entries_can_be_rejected_instead_of_skipped() -> None:
    cert = make_cert(dns=["f*.example.com", "api.example.com"])
    with pytest.raises(MalformedInput) as info:
        HostnameCheck(invalid_san="reject").check(cert, "api.example.com")
    assert "invalid subjectAltName entries: 'DNS:f*.example.com'" in info.value.reason
    assert HostnameCheck(invalid_san="reject").check(make_cert(dns=["api.example.com"]), "api.example.com")


# ---------------------------------------------------------------------------
# Legacy CN fallback
# ---------------------------------------------------------------------------


def test_cn_fallback_is_off_by_default_in_check() -> None:
    assert not matches(make_cert(cn="legacy.example", san=False), "legacy.example")


def test_legacy_cn_fallback_reads_cn_without_san() -> None:
    result = HostnameCheck(cn_fallback="legacy").check(
        make_cert(cn="legacy.example", san=False), "legacy.example"
    )
    assert result.data["matched"] == "CN:legacy.example"


def test_legacy_cn_fallback_is_not_used_when_a_dnsname_san_exists() -> None:
    err = mismatch(make_cert(dns=["other.example"], cn="legacy.example"), "legacy.example", cn_fallback="legacy")
    assert "not consulted because the certificate has dNSName SANs" in err.reason


def test_legacy_cn_wildcard_covers_one_label_only() -> None:
    cert = make_cert(cn="*.legacy.example", san=False)
    assert matches(cert, "a.legacy.example", cn_fallback="legacy")
    assert not matches(cert, "a.b.legacy.example", cn_fallback="legacy")


def test_legacy_cn_fallback_checks_every_common_name() -> None:
    cert = make_cert(cn=["first.example", "second.example"], san=False)
    assert matches(cert, "second.example", cn_fallback="legacy")


def test_legacy_cn_with_u_label_is_not_matched() -> None:
    assert not matches(make_cert(cn="bücher.example", san=False), "bücher.example", cn_fallback="legacy")


def test_mismatch_without_san_says_so() -> None:
    err = mismatch(make_cert(cn="legacy.example", san=False), "other.example")
    assert "no subjectAltName extension" in err.reason


# ---------------------------------------------------------------------------
# Malformed certificates fail closed with a clear reason
# ---------------------------------------------------------------------------


def test_duplicate_san_extension_is_malformed_input() -> None:
    cert = with_duplicated_san(make_cert(dns=["api.example.com"]))
    with pytest.raises(MalformedInput) as info:
        HostnameCheck().check(cert, "api.example.com")
    assert info.value.check == "hostname"
    assert info.value.outcome == "malformed"
    assert "subjectAltName extension more than once" in info.value.reason


@pytest.mark.parametrize(
    "der",
    [b"\x30\x03\x01\x02", b"\x30\x07\x87\x05\x01\x02\x03\x04\x05", b"", b"\x04\x00"],
    ids=["truncated", "ip-of-5-octets", "empty", "not-a-sequence"],
)
def test_unparseable_san_is_malformed_input(der: bytes) -> None:
    cert = make_cert(cn="x", extra=[raw_san(der)])
    with pytest.raises(MalformedInput) as info:
        HostnameCheck().check(cert, "api.example.com")
    assert "cannot be parsed" in info.value.reason


# ---------------------------------------------------------------------------
# Results, errors and the Check protocol
# ---------------------------------------------------------------------------


def test_success_result_names_the_matching_san_entry() -> None:
    result = HostnameCheck().check(make_cert(dns=["a.example", "*.example.com"]), "api.example.com")
    assert (result.check, result.outcome, result.passed) == ("hostname", "ok", True)
    assert result.detail == "'api.example.com' matches dNSName SAN '*.example.com'"
    assert result.to_dict()["data"]["matched"] == "DNS:*.example.com"


def test_mismatch_lists_presented_identifiers() -> None:
    err = mismatch(make_cert(dns=["a.example"], ips=["192.0.2.1"]), "b.example")
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert (err.check, err.outcome, err.host) == ("hostname", "mismatch", "b.example")
    assert err.details["presented"] == ["DNS:a.example", "IP:192.0.2.1"]
    assert "the certificate presents: DNS:a.example, IP:192.0.2.1" in str(err)


def test_mismatch_message_shortens_long_san_lists() -> None:
    err = mismatch(make_cert(dns=[f"h{i}.example" for i in range(25)]), "b.example")
    assert "... and 15 more" in err.reason
    assert len(err.details["presented"]) == 25


def test_mismatch_error_survives_pickling() -> None:
    err = mismatch(make_cert(dns=["a.example"]), "b.example")
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object
    assert (type(again), again.outcome, again.details["presented"]) == (
        HostnameMismatch,
        "mismatch",
        ["DNS:a.example"],
    )


def test_invalid_cn_fallback_value_is_a_config_error() -> None:
    with pytest.raises(PolicyConfigError):
        HostnameCheck(cn_fallback=cast(Any, "sometimes"))
    with pytest.raises(PolicyConfigError):
        HostnameCheck(invalid_san=cast(Any, "ignore"))


def test_hostname_check_implements_the_check_protocol() -> None:
    check = HostnameCheck()
    assert isinstance(check, Check)
    assert (check.name, check.requires_chain) == ("hostname", True)


def test_run_follows_the_policy_cn_fallback() -> None:
    cert = make_cert(cn="legacy.example", san=False)
    assert HostnameCheck().run(context(cert, "legacy.example", cn_fallback="legacy")).outcome == "ok"
    with pytest.raises(HostnameMismatch):
        HostnameCheck().run(context(cert, "legacy.example", cn_fallback="never"))


def test_run_constructor_setting_overrides_the_policy() -> None:
    cert = make_cert(cn="legacy.example", san=False)
    with pytest.raises(HostnameMismatch):
        HostnameCheck(cn_fallback="never").run(context(cert, "legacy.example", cn_fallback="legacy"))


def test_run_prefers_the_host_as_asked() -> None:
    cert = make_cert(dns=["myhost.corp.example"])
    ctx = context(cert, "wrong.example", host_as_asked="MyHost.corp.example.")
    assert HostnameCheck().run(ctx).data["reference"] == "myhost.corp.example"


def test_run_error_names_policy_and_host() -> None:
    with pytest.raises(HostnameMismatch) as info:
        HostnameCheck().run(context(make_cert(dns=["a.example"]), "b.example"))
    assert (info.value.policy, info.value.host) == ("corp", "b.example")
    assert "policy 'corp'" in str(info.value)


def test_run_without_any_host_fails_closed() -> None:
    with pytest.raises(HostnameMismatch) as info:
        HostnameCheck().run(context(make_cert(dns=["a.example"]), None))
    assert info.value.outcome == "invalid-reference"


def test_run_with_empty_chain_is_malformed_input() -> None:
    ctx = context(make_cert(dns=["a.example"]), "a.example")
    ctx.chain = []
    with pytest.raises(MalformedInput):
        HostnameCheck().run(ctx)


def test_run_on_malformed_certificate_names_the_policy() -> None:
    cert = with_duplicated_san(make_cert(dns=["a.example"]))
    with pytest.raises(MalformedInput) as info:
        HostnameCheck().run(context(cert, "a.example"))
    assert info.value.policy == "corp"


# ---------------------------------------------------------------------------
# x509-limbo: subjectAltName matching (CN fallback off, as the suite expects)
# ---------------------------------------------------------------------------

_LIMBO = json.loads(gzip.decompress((DATA / "limbo_hostname.json.gz").read_bytes()))["cases"]


def test_limbo_hostname_cases() -> None:
    wrong = []
    for case in _LIMBO:
        cert = x509.load_pem_x509_certificate(case["peer_certificate"].encode())
        try:
            HostnameCheck(cn_fallback="never").check(cert, case["value"])
            got = "match"
        except CertPolicyError:
            got = "mismatch"
        if got != case["expected"]:
            wrong.append((case["id"], case["value"], got))
    assert len(_LIMBO) > 700
    assert wrong == []


# -- the legacy CN fallback never gets around name constraints --------------------


def test_cn_fallback_respects_permitted_name_constraints() -> None:
    from certpolicy.pki import CA

    root = CA.create("NC root")
    nc = root.create_intermediate("NC CA", permitted_dns=["corp.example"])
    leaf = nc.issue_cert(cn="bank.example", include_san=False)
    with pytest.raises(HostnameMismatch) as err:
        HostnameCheck(cn_fallback="legacy").check(leaf.cert, "bank.example", issuers=[nc.cert, root.cert])
    assert err.value.outcome == "name-constraints"
    inside = nc.issue_cert(cn="app.corp.example", include_san=False)
    assert HostnameCheck(cn_fallback="legacy").check(inside.cert, "app.corp.example", issuers=[nc.cert]).outcome == "ok"


def test_cn_fallback_respects_excluded_name_constraints() -> None:
    from certpolicy.pki import CA

    root = CA.create("NC root 2")
    nc = root.create_intermediate("NC CA 2", excluded_dns=["bank.example"])
    leaf = nc.issue_cert(cn="www.bank.example", include_san=False)
    with pytest.raises(HostnameMismatch, match="name constraints"):
        HostnameCheck(cn_fallback="legacy").check(leaf.cert, "www.bank.example", issuers=[nc.cert])
