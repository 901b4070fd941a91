"""Bad input to the chain check: always a clear CertPolicyError, in bounded
time, never an unhandled exception and never an acceptance."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from asn1crypto import x509 as ax
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certpolicy import CertPolicyError, ChainError, MalformedInput
from certpolicy.checks.base import CheckContext
from certpolicy.checks.chain import MAX_CERT_BYTES, MAX_CHAIN_CERTS, ChainCheck, parse_chain
from certpolicy.checks.hostname import HostnameCheck
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import Policy, PolicyKind, TrustSpec

NO_TRUST = TrustSpec(system=False)

UTC = dt.timezone.utc
AT = dt.datetime(2030, 6, 1, tzinfo=UTC)


def d(year: int) -> dt.datetime:
    return dt.datetime(year, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, IssuedCert]:
    root = CA.create("Root", not_before=d(2025), not_after=d(2045))
    inter = root.create_intermediate("Issuing CA", not_before=d(2025), not_after=d(2040))
    leaf = inter.issue_server("a.example.test", not_before=d(2029), not_after=d(2031))
    return root, inter, leaf


def rejects(
    check: Callable[[], Any], kind: type[CertPolicyError] = CertPolicyError, limit: float = 1.0
) -> CertPolicyError:
    """Run ``check``: it must raise ``kind`` (a CertPolicyError) within ``limit`` seconds."""
    start = time.perf_counter()
    with pytest.raises(kind) as e:
        check()
    assert time.perf_counter() - start < limit
    assert isinstance(e.value, ssl.SSLCertVerificationError)
    assert e.value.reason
    return e.value


def with_duplicate_extension(cert: x509.Certificate, signer: Any) -> x509.Certificate:
    """Re-sign ``cert`` with its first extension repeated (builders refuse to)."""
    tbs = ax.TbsCertificate.load(cert.tbs_certificate_bytes)
    exts = list(tbs["extensions"])
    tbs["extensions"] = ax.Extensions([*exts, exts[0]])
    tbs_der = tbs.dump(force=True)
    signature = signer.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    outer = ax.Certificate.load(cert.public_bytes(Encoding.DER))
    new = ax.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": outer["signature_algorithm"], "signature_value": signature}
    )
    return x509.load_der_x509_certificate(new.dump())


def huge_certificate(ca: CA, size: int) -> x509.Certificate:
    """A correctly signed leaf carrying ``size`` bytes in a private extension."""
    filler = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x04" + b"A" * size)
    return ca.issue_server("a.example.test", not_before=d(2029), not_after=d(2031), extensions=[(filler, False)]).cert


# ---------------------------------------------------------------------------
# parse_chain
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [
        [],
        [b""],
        [b"   \n"],
        [b"\x30\x82\x01"],
        [b"not a certificate at all"],
        [b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"],
        ["a text string"],
        [None],
        [12345],
    ],
    ids=["empty", "empty-item", "blank", "short-der", "garbage", "garbage-pem", "str", "none", "int"],
)
def test_garbage_is_malformed_input(items: list[Any]) -> None:
    err = rejects(lambda: parse_chain(items), MalformedInput)
    assert err.outcome == "malformed" and err.check == "chain"


def test_truncated_der_is_malformed_input(pki: tuple[CA, CA, IssuedCert]) -> None:
    der = pki[2].cert.public_bytes(Encoding.DER)
    for cut in (1, 10, len(der) // 2, len(der) - 1):
        err = rejects(lambda cut=cut: parse_chain([der[:cut]]), MalformedInput)
        assert "undecodable DER" in err.reason


def test_truncated_pem_is_malformed_input(pki: tuple[CA, CA, IssuedCert]) -> None:
    pem = pki[2].cert.public_bytes(Encoding.PEM)
    for cut in (40, len(pem) // 2, len(pem) - 30):
        rejects(lambda cut=cut: parse_chain([pem[:cut]]), MalformedInput)


def test_garbage_after_a_good_leaf_is_malformed_input(pki: tuple[CA, CA, IssuedCert]) -> None:
    leaf = pki[2].cert.public_bytes(Encoding.DER)
    err = rejects(lambda: parse_chain([leaf, b"\x00" * 50]), MalformedInput)
    assert "certificate #1" in err.reason


def test_a_thousand_certificates_are_refused_quickly(pki: tuple[CA, CA, IssuedCert]) -> None:
    root, inter, leaf = pki
    items = [leaf.cert.public_bytes(Encoding.DER)] + [inter.cert.public_bytes(Encoding.DER)] * 999
    err = rejects(lambda: ChainCheck(anchors=[root.cert]).check(items, at=AT), MalformedInput, limit=0.2)
    assert "1000 certificates" in err.reason and str(MAX_CHAIN_CERTS) in err.reason
    objects = [leaf.cert] + [inter.cert] * 999
    rejects(lambda: ChainCheck(anchors=[root.cert]).check(objects, at=AT), MalformedInput, limit=0.2)


def test_many_certificates_in_one_pem_item_are_refused(pki: tuple[CA, CA, IssuedCert]) -> None:
    _root, inter, leaf = pki
    bundle = leaf.cert_pem + inter.cert_pem * (MAX_CHAIN_CERTS + 5)
    rejects(lambda: parse_chain([bundle]), MalformedInput)


def test_one_megabyte_certificate_is_refused(pki: tuple[CA, CA, IssuedCert]) -> None:
    root, inter, _ = pki
    big = huge_certificate(inter, 1024 * 1024)
    der = big.public_bytes(Encoding.DER)
    assert len(der) > 1024 * 1024
    err = rejects(lambda: ChainCheck(anchors=[root.cert]).check([der, inter.cert], at=AT), MalformedInput)
    assert "larger than the limit" in err.reason
    pem = big.public_bytes(Encoding.PEM)
    rejects(lambda: ChainCheck(anchors=[root.cert]).check([pem], at=AT), MalformedInput)


def test_one_megabyte_certificate_object_is_refused_by_every_check(pki: tuple[CA, CA, IssuedCert]) -> None:
    """A parsed certificate counts with its DER size, like bytes: through
    ChainCheck.check and ChainCheck.run (the engine runs the chain check
    first; HostnameCheck needs it and bounds no size itself)."""
    root, inter, _ = pki
    big = huge_certificate(inter, 1024 * 1024)
    check = ChainCheck(anchors=[root.cert])
    err = rejects(lambda: check.check([big, inter.cert], "huge.example", at=AT), MalformedInput)
    assert "larger than the limit" in err.reason
    ctx = CheckContext(host="huge.example", chain=[big, inter.cert], policy=Policy(name="p", kind=PolicyKind.OVERRIDE), at=AT)
    rejects(lambda: check.run(ctx), MalformedInput)


def test_hostname_check_refuses_what_is_not_a_certificate_object() -> None:
    for item in (b"\x30\x82garbage", "-----BEGIN CERTIFICATE-----", None):
        err = rejects(lambda item=item: HostnameCheck().check(item, "a.example"), MalformedInput)  # type: ignore[arg-type]
        assert "x509.Certificate" in err.reason


def test_certificate_just_under_the_size_limit_is_accepted(pki: tuple[CA, CA, IssuedCert]) -> None:
    root, inter, _ = pki
    cert = huge_certificate(inter, MAX_CERT_BYTES - 2048)
    for item in (cert.public_bytes(Encoding.DER), cert.public_bytes(Encoding.PEM)):
        assert ChainCheck(anchors=[root.cert]).check([item, inter.cert], at=AT)[0] == cert


# ---------------------------------------------------------------------------
# Duplicate extensions (RFC 5280 §4.2: each extension at most once)
# ---------------------------------------------------------------------------


def test_leaf_with_duplicate_extensions_is_malformed(pki: tuple[CA, CA, IssuedCert]) -> None:
    root, inter, leaf = pki
    bad = with_duplicate_extension(leaf.cert, inter.key)
    err = rejects(lambda: parse_chain([bad.public_bytes(Encoding.DER)]), MalformedInput)
    assert "duplicate extension" in err.reason
    rejects(lambda: ChainCheck(anchors=[root.cert]).check([bad, inter.cert], at=AT), MalformedInput)


def test_intermediate_with_duplicate_extensions_is_never_accepted(pki: tuple[CA, CA, IssuedCert]) -> None:
    root, inter, leaf = pki
    bad_inter = with_duplicate_extension(inter.cert, root.key)
    err = rejects(lambda: ChainCheck(anchors=[root.cert]).check([leaf.cert, bad_inter], at=AT), MalformedInput)
    assert "duplicate extension" in err.reason and "certificate #1" in err.reason


# ---------------------------------------------------------------------------
# Fuzzing: mutated certificates never crash and are never accepted
# ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_leaf_is_rejected_cleanly(pki: tuple[CA, CA, IssuedCert], data: st.DataObject) -> None:
    root, inter, leaf = pki
    der = bytearray(leaf.cert.public_bytes(Encoding.DER))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(der) - 1))
        der[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        der = der[: data.draw(st.integers(0, len(der)))]
    items: Sequence[bytes] = [bytes(der), inter.cert.public_bytes(Encoding.DER)]
    start = time.perf_counter()
    try:
        path = ChainCheck(anchors=[root.cert]).check(items, at=AT)
    except CertPolicyError:
        pass
    else:  # only an unchanged certificate may pass
        assert path[0].tbs_certificate_bytes == leaf.cert.tbs_certificate_bytes
        assert path[0].signature == leaf.cert.signature
    assert time.perf_counter() - start < 1.0


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=4096))
def test_random_bytes_are_rejected_cleanly(blob: bytes) -> None:
    with pytest.raises(CertPolicyError):
        ChainCheck(NO_TRUST).check([blob], at=AT)


def test_no_anchor_and_garbage_is_still_a_chain_error(pki: tuple[CA, CA, IssuedCert]) -> None:
    _, _, leaf = pki
    err = rejects(lambda: ChainCheck(NO_TRUST).check([leaf.cert], at=AT), ChainError)
    assert err.outcome == "no-trust-anchors"
