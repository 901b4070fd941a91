"""ChainCheck's two ServerVerifiers: cryptography's Web PKI profile (all Rust)
for chains seen before, certpolicy's ruled profile otherwise. The verdict must
not depend on which one ran: the first validation of a chain (cold) and the
next ones (warm, same certificate objects) agree, on hand-made chains for
each CA rule where the two profiles differ and on every x509-limbo case."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import ipaddress
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certpolicy import ChainCheck
from certpolicy._memo import CERTIFICATE_FACTS
from certpolicy.errors import CertPolicyError
from certpolicy.trust import TrustAnchors

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
LIMBO = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "limbo.json.gz"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    issuer: str,
    key: Any,
    issuer_key: Any,
    *,
    ca: bool,
    key_usage: bool = True,
    ski: bool = True,
    aki: str | None = "keyid",
    aki_key: Any = None,
    san: str | None = None,
    serial: int | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    extra: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage:
        if ca:
            ku = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        else:
            ku = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        b = b.add_extension(ku, critical=True)
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    aki_source = (aki_key or issuer_key).public_key()
    if aki == "keyid":
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_source), critical=False)
    elif aki == "all-fields":
        keyid = x509.SubjectKeyIdentifier.from_public_key(aki_source).digest
        b = b.add_extension(
            x509.AuthorityKeyIdentifier(keyid, [x509.DirectoryName(_name(issuer))], 1), critical=False
        )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA256())


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _chain(
    *, root: dict[str, Any] | None = None, inter: dict[str, Any] | None = None
) -> tuple[list[x509.Certificate], x509.Certificate]:
    rk, ik, lk = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root_cert = _cert("Verifiers Root", "Verifiers Root", rk, rk, ca=True, **(root or {}))
    inter_cert = _cert("Verifiers Intermediate", "Verifiers Root", ik, rk, ca=True, **(inter or {}))
    leaf = _cert("api.verifiers.example", "Verifiers Intermediate", lk, ik, ca=False, san="api.verifiers.example")
    return [leaf, inter_cert], root_cert


def _verdict(check: ChainCheck, chain: list[x509.Certificate], host: str) -> str:
    try:
        path = check.check(chain, host)
    except CertPolicyError as e:
        return f"FAILURE {e.outcome}"
    return f"SUCCESS {len(path)}"


# Each case: what differs between cryptography's Web PKI CA rules and
# certpolicy's, and certpolicy's verdict (RFC 5280 §4.2.1.1-3, §6.1.4(n)).
CASES = {
    "conforming chain": ({}, {}, True),
    "intermediate without keyUsage (RFC 5280 §6.1.4(n) accepts)": ({}, {"key_usage": False}, True),
    "trust anchor without keyUsage": ({"key_usage": False}, {}, True),
    "intermediate AKI with issuer and serial": ({}, {"aki": "all-fields"}, True),
    "trust anchor AKI with issuer and serial (CA/B BR 7.1.2.1.3)": (
        {"aki": "all-fields"},
        {},
        {"webpki": False, "rfc5280": True},
    ),
    "intermediate without subjectKeyIdentifier (RFC 5280 §4.2.1.2)": ({}, {"ski": False}, False),
    "intermediate without authorityKeyIdentifier (RFC 5280 §4.2.1.1)": ({}, {"aki": None}, False),
    "trust anchor without subjectKeyIdentifier (RFC 5280 §4.2.1.2)": ({"ski": False}, {}, False),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("profile", ["webpki", "rfc5280"])
def test_first_and_later_validations_agree(case: str, profile: str) -> None:
    root_opts, inter_opts, expected = CASES[case]
    ok = expected[profile] if isinstance(expected, dict) else expected
    chain, root = _chain(root=root_opts, inter=inter_opts)
    check = ChainCheck(anchors=[root], profile=profile)  # type: ignore[arg-type]
    host = "api.verifiers.example"
    verdicts = [_verdict(check, chain, host) for _ in range(3)]
    assert len(set(verdicts)) == 1, verdicts
    assert verdicts[0].startswith("SUCCESS" if ok else "FAILURE"), verdicts
    # the second and later calls took the warm route
    assert all(CERTIFICATE_FACTS.was_seen(c) for c in chain[1:])


def test_warm_verdict_also_holds_for_another_host_name_on_the_same_objects() -> None:
    chain, root = _chain(inter={"ski": False})
    check = ChainCheck(anchors=[root])
    for host in ("api.verifiers.example", "other.verifiers.example", "api.verifiers.example"):
        assert _verdict(check, chain, host).startswith("FAILURE")


def test_trust_anchors_are_freed_after_use() -> None:
    """The extension policies kept on a trust store hold Python callbacks;
    cryptography's objects are invisible to the garbage collector, so a
    callback holding the store would keep it alive forever."""
    chain, root = _chain()

    def count() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, TrustAnchors))

    before = count()
    for _ in range(20):
        check = ChainCheck(anchors=[root])
        check.check(chain, "api.verifiers.example")
        check.check(chain, "api.verifiers.example")
    del check
    assert count() - before <= 1


def _three(check: ChainCheck, chain: list[x509.Certificate], host: str = "a.example") -> list[str]:
    out = []
    for _ in range(3):
        try:
            path = check.check(chain, host)
        except CertPolicyError as e:
            out.append(f"FAILURE {type(e).__name__} {e.outcome}")
        else:
            out.append("SUCCESS " + " <- ".join(f"{c.subject.rfc4514_string()}#{c.serial_number}" for c in path))
    return out


def test_directory_name_constraints_do_not_skip_the_key_identifier_rules() -> None:
    """A CA without subjectKeyIdentifier whose nameConstraints hold a
    directoryName subtree: cryptography refuses the constraint as
    unsupported, pyhanko-certvalidator validates it, and certpolicy's
    key-identifier rules must still apply (RFC 5280 §4.2.1.2), on the first
    connection and on the later ones (found by hostile review)."""
    rk, ck, lk = _ec(), _ec(), _ec()
    root = _cert("Root", "Root", rk, rk, ca=True)
    nc = x509.NameConstraints(permitted_subtrees=[x509.DirectoryName(_name("leaf"))], excluded_subtrees=None)
    c = _cert("C", "Root", ck, rk, ca=True, ski=False, extra=((nc, True),))
    leaf = _cert("leaf", "C", lk, ck, ca=False, san="a.example")
    # (the rfc5280 profile: the leaf's CN "leaf" is not in its SAN, which the
    # Web PKI profile refuses on its own)
    assert _three(ChainCheck(anchors=[root], profile="rfc5280"), [leaf, c]) == ["FAILURE ChainError invalid"] * 3
    # the same CA with its subjectKeyIdentifier is accepted through pyhanko
    c_ok = _cert("C", "Root", ck, rk, ca=True, extra=((nc, True),))
    leaf_ok = _cert("leaf", "C", lk, ck, ca=False, san="a.example")
    assert all(
        v.startswith("SUCCESS") for v in _three(ChainCheck(anchors=[root], profile="rfc5280"), [leaf_ok, c_ok])
    )


def test_cross_certified_intermediate_without_key_usage_gives_one_verdict() -> None:
    """Two paths for one intermediate key: through a copy without keyUsage
    (certpolicy accepts, cryptography's Web PKI profile refuses) to a root
    certpolicy refuses (RSA modulus not a multiple of 8), and through a
    conforming copy to a good root. The path builders must not be allowed to
    pick different paths on the first and later connections."""
    ra, rb, ik, lk = rsa.generate_private_key(65537, 2052), _ec(), _ec(), _ec()
    r_a = _cert("Root A", "Root A", ra, ra, ca=True, serial=1)
    r_b = _cert("Root B", "Root B", rb, rb, ca=True, serial=2)
    i_a = _cert("Int", "Root A", ik, ra, ca=True, key_usage=False, serial=11)
    i_b = _cert("Int", "Root B", ik, rb, ca=True, serial=12)
    leaf = _cert("leaf", "Int", lk, ik, ca=False, san="a.example", serial=99)
    verdicts = _three(ChainCheck(anchors=[r_a, r_b]), [leaf, i_a, i_b])
    assert len(set(verdicts)) == 1, verdicts


@pytest.mark.parametrize("order", ["lax-first", "refused-first"])
def test_same_name_anchors_without_key_usage_give_one_verdict(order: str) -> None:
    """Two anchors with one name and key: one without keyUsage (certpolicy
    accepts it), one whose authorityKeyIdentifier contradicts its own key
    (certpolicy refuses it as an anchor)."""
    rk, ik, lk, other = _ec(), _ec(), _ec(), _ec()
    lax = _cert("Root", "Root", rk, rk, ca=True, key_usage=False, serial=1001)
    refused = _cert("Root", "Root", rk, rk, ca=True, aki_key=other, serial=2002)
    inter = _cert("Int", "Root", ik, rk, ca=True)
    leaf = _cert("leaf", "Int", lk, ik, ca=False, san="a.example")
    anchors = [lax, refused] if order == "lax-first" else [refused, lax]
    verdicts = _three(ChainCheck(anchors=anchors), [leaf, inter])
    assert len(set(verdicts)) == 1, verdicts


def test_failure_outcome_is_the_same_on_later_connections() -> None:
    """leaf <- I (no subjectKeyIdentifier) <- J (expired) <- Root: the error
    (class, outcome) comes from certpolicy's rules every time."""
    rk, jk, ik, lk = _ec(), _ec(), _ec(), _ec()
    root = _cert("Root", "Root", rk, rk, ca=True)
    j = _cert(
        "J", "Root", jk, rk, ca=True, not_before=NOW - dt.timedelta(days=60), not_after=NOW - dt.timedelta(days=2)
    )
    i = _cert("I", "J", ik, jk, ca=True, ski=False)
    leaf = _cert("leaf", "I", lk, ik, ca=False, san="a.example")
    check = ChainCheck(anchors=[root])
    errors = []
    for _ in range(3):
        with pytest.raises(CertPolicyError) as info:
            check.check([leaf, i, j], "a.example")
        errors.append((type(info.value).__name__, info.value.outcome, info.value.reason))
    assert len(set(errors)) == 1, errors


def _limbo_server_cases() -> list[dict[str, Any]]:
    if not LIMBO.exists():
        return []
    with gzip.open(LIMBO, "rt", encoding="utf-8") as f:
        cases: list[dict[str, Any]] = json.load(f)["testcases"]
    return [
        tc
        for tc in cases
        if tc.get("validation_kind") == "SERVER"
        and (tc.get("expected_peer_name") or {}).get("kind") in ("DNS", "IP")
        and not tc.get("extended_key_usage")
        and not tc.get("signature_algorithms")
        and not tc.get("key_usage")
        and not tc.get("crls")
    ]


def _run(check: ChainCheck, chain: list[x509.Certificate], host: str, at: dt.datetime | None) -> str:
    try:
        return f"SUCCESS {len(check.check(chain, host, at=at, allow_network=False))}"
    except CertPolicyError as e:
        return f"FAILURE {type(e).__name__} {e.outcome}"


@pytest.mark.skipif(not LIMBO.exists(), reason="x509-limbo file not present")
def test_every_limbo_case_gets_the_same_verdict_cold_and_warm() -> None:
    disagreements = []
    cases = _limbo_server_cases()
    assert len(cases) > 7000
    for tc in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load = x509.load_pem_x509_certificate
            anchors = [load(p.encode()) for p in tc.get("trusted_certs") or []]
            chain = [load(p.encode()) for p in [tc["peer_certificate"], *(tc.get("untrusted_intermediates") or [])]]
            at = dt.datetime.fromisoformat(tc["validation_time"].replace("Z", "+00:00")) if tc.get(
                "validation_time"
            ) else None
            host = tc["expected_peer_name"]["value"]
            if tc["expected_peer_name"]["kind"] == "IP":
                host = str(ipaddress.ip_address(host))
            check = ChainCheck(anchors=anchors, max_chain_depth=tc.get("max_chain_depth"))
            cold, warm, again = (_run(check, chain, host, at) for _ in range(3))
        if not cold == warm == again:
            disagreements.append((tc["id"], cold, warm, again))
    assert not disagreements, disagreements[:10]


def test_hostname_check_reports_the_first_matching_entry_every_time() -> None:
    """HostnameCheck indexes a certificate's dNSName entries from its second
    sight on; the entry it reports must stay the first match in certificate
    order (here the wildcard), as on the first sight."""
    from certpolicy import HostnameCheck

    k = _ec()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("www.example.com"))
        .issuer_name(_name("www.example.com"))
        .public_key(k.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("*.example.com"), x509.DNSName("www.example.com")]),
            critical=False,
        )
        .sign(k, hashes.SHA256())
    )
    check = HostnameCheck()
    matched = [check.check(cert, "www.example.com").data["matched"] for _ in range(3)]
    assert matched == ["DNS:*.example.com"] * 3
    assert [check.check(cert, "WWW.Example.com.").data["matched"] for _ in range(2)] == ["DNS:*.example.com"] * 2
    assert [check.check(cert, "api.example.com").data["matched"] for _ in range(2)] == ["DNS:*.example.com"] * 2


@pytest.mark.parametrize("inter_opts", [{"ski": False}, {"aki": None}])
def test_a_refused_ca_certificate_is_named_in_the_error(inter_opts: dict[str, Any]) -> None:
    chain, root = _chain(inter=inter_opts)
    check = ChainCheck(anchors=[root])
    for _ in range(2):
        with pytest.raises(CertPolicyError) as info:
            check.check(chain, "api.verifiers.example")
        assert info.value.certificate is chain[1]
        assert "CA certificate 'CN=Verifiers Intermediate' has no" in info.value.reason
        assert "Python extension validator" not in info.value.reason
