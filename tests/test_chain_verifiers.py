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
from cryptography.hazmat.primitives.asymmetric import ec
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
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    key_usage: bool = True,
    ski: bool = True,
    aki: str | None = "keyid",
    san: str | None = None,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
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
    if aki == "keyid":
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    elif aki == "all-fields":
        keyid = x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key()).digest
        b = b.add_extension(
            x509.AuthorityKeyIdentifier(keyid, [x509.DirectoryName(_name(issuer))], 1), critical=False
        )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


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
    "trust anchor AKI with issuer and serial": ({"aki": "all-fields"}, {}, True),
    "intermediate without subjectKeyIdentifier (RFC 5280 §4.2.1.2)": ({}, {"ski": False}, False),
    "intermediate without authorityKeyIdentifier (RFC 5280 §4.2.1.1)": ({}, {"aki": None}, False),
    "trust anchor without subjectKeyIdentifier (exempt)": ({"ski": False}, {}, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_first_and_later_validations_agree(case: str) -> None:
    root_opts, inter_opts, ok = CASES[case]
    chain, root = _chain(root=root_opts, inter=inter_opts)
    check = ChainCheck(anchors=[root])
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
