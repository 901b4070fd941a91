"""RFC 5280 CRL rules, one test per rule, through the public API: ChainCheck
with trust anchors validates the presented chain at a validation time, then
CrlCheck, given static CRLs and extra certificates, with the CRL check
enforced and the default (hard-fail) outcome map. Certificates come from
certpolicy.pki or cryptography's builders, CRLs from cryptography's
CertificateRevocationListBuilder (UnrecognizedExtension for odd extensions,
asn1crypto for fields the builder always gets right). No mocks.

Covered: the §5 rules on CRL fields and extensions (criticality, unknown
critical extensions and entry extensions on any entry, version 2, CRL number
range, signature algorithm and time encodings, certificateIssuer,
removeFromCRL); §6.3.3 processing: self-issued key rollover and separate
CRL-signing keys, indirect CRLs (cRLIssuer, certificateIssuer), the CRL
issuer's own certification path and revocation, issuingDistributionPoint
scopes against the certificate's distribution points, reasons masks combined
over several CRLs, delta CRLs (deltaCRLIndicator, freshestCRL, base CRL
number, removeFromCRL, certificateHold)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos as a_algos
from asn1crypto import crl as a_crl
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID, NameOID

from certpolicy import ChainCheck
from certpolicy.checks.base import CheckContext
from certpolicy.checks.crl import CrlCheck
from certpolicy.errors import CertificateRevoked, RevocationError
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import CheckMode, Outcome, Policy, PolicyKind, RevocationSettings
from certpolicy.revocation.cache import RevocationCache
from certpolicy.revocation.crl import ParsedCrl
from certpolicy.testing.http_server import LoopbackHTTPServer

UTC = _dt.timezone.utc
AT = _dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KC = x509.ReasonFlags.key_compromise
HOLD = x509.ReasonFlags.certificate_hold
URL = "http://crl.example.test/issuing.crl"
THIS_UPDATE = AT - _dt.timedelta(hours=1)
NEXT_UPDATE = AT + _dt.timedelta(days=1)
Ext = tuple[x509.ExtensionType, bool]


def hours(n: float) -> _dt.timedelta:
    return _dt.timedelta(hours=n)


def days(n: float) -> _dt.timedelta:
    return _dt.timedelta(days=n)


# -- the public API, end to end ------------------------------------------------


@dataclass
class Verdict:
    """What ChainCheck + CrlCheck decided: ``accepted``, and the outcome of the
    certificate that decided (``good`` when accepted)."""

    accepted: bool
    outcome: str
    detail: str


@pytest.fixture
def verdict(tmp_path: Path) -> Callable[..., Verdict]:
    def run(
        anchor: CA,
        presented: Sequence[x509.Certificate],
        crls: Sequence[x509.CertificateRevocationList],
        *,
        extra: Sequence[x509.Certificate] = (),
        scope: str = "leaf",
        at: _dt.datetime = AT,
        fetch: bool = False,
        files: Sequence[x509.CertificateRevocationList | bytes] = (),
    ) -> Verdict:
        path = ChainCheck(anchors=[anchor.cert], profile="rfc5280").check(
            list(presented), None, at=at, allow_network=False
        )
        folder = tmp_path / "static"
        folder.mkdir(exist_ok=True)
        for i, c in enumerate(files):
            (folder / f"{i}.crl").write_bytes(c if isinstance(c, bytes) else c.public_bytes(Encoding.DER))
        static = (str(folder),) if files else ()
        settings = RevocationSettings(fetch_crls=fetch, scope=scope, static_crls=static)  # type: ignore[arg-type]
        pol = Policy(name="intranet", kind=PolicyKind.INTRANET, crl=CheckMode.ENFORCE, revocation=settings)
        ctx = CheckContext(
            host=None, chain=list(presented), policy=pol, at=at, verified_path=path, allow_network=fetch
        )
        check = CrlCheck(
            crls=list(crls), extra_certs=list(extra), cache=RevocationCache(tmp_path / "cache"),
            clock=lambda: at, timed_refresh=False,
        )
        try:
            result = check.run(ctx)
        except CertificateRevoked as e:
            return Verdict(False, "revoked", str(e))
        except RevocationError as e:
            return Verdict(False, str(e.outcome), str(e))
        finally:
            check.close()
        assert result.passed
        return Verdict(True, "good", result.detail)

    return run


# -- builders --------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def dp(
    url: str | None = URL,
    *,
    crl_issuer: x509.Name | None = None,
    reasons: frozenset[x509.ReasonFlags] | None = None,
    relative: x509.RelativeDistinguishedName | None = None,
) -> x509.DistributionPoint:
    return x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)] if url and relative is None else None,
        relative_name=relative,
        reasons=reasons,
        crl_issuer=[x509.DirectoryName(crl_issuer)] if crl_issuer is not None else None,
    )


def cdp(*points: x509.DistributionPoint) -> Ext:
    return x509.CRLDistributionPoints(list(points)), False


def idp(**kw: Any) -> Ext:
    args: dict[str, Any] = dict(
        full_name=None, relative_name=None, only_contains_user_certs=False, only_contains_ca_certs=False,
        only_some_reasons=None, indirect_crl=False, only_contains_attribute_certs=False,
    )
    args.update(kw)
    return x509.IssuingDistributionPoint(**args), True


Entry = tuple[int, Sequence[Ext]]


def entry(cert: x509.Certificate | int, reason: x509.ReasonFlags | None = KC, *more: Ext) -> Entry:
    serial = cert if isinstance(cert, int) else cert.serial_number
    exts: list[Ext] = [(x509.CRLReason(reason), False)] if reason is not None else []
    return serial, [*exts, *more]


def crl(
    issuer: x509.Name,
    key: Any,
    entries: Sequence[Entry] = (),
    *,
    number: int | None = 1,
    number_critical: bool = False,
    exts: Sequence[Ext] = (),
    this_update: _dt.datetime = THIS_UPDATE,
    next_update: _dt.datetime = NEXT_UPDATE,
) -> x509.CertificateRevocationList:
    b = x509.CertificateRevocationListBuilder().issuer_name(issuer).last_update(this_update).next_update(next_update)
    if number is not None:
        b = b.add_extension(x509.CRLNumber(number), critical=number_critical)
    for ext, critical in exts:
        b = b.add_extension(ext, critical=critical)
    for serial, entry_exts in entries:
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(AT - days(2))
        for ext, critical in entry_exts:
            rb = rb.add_extension(ext, critical=critical)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(key, hashes.SHA256())


def ca_crl(ca: CA, entries: Sequence[Entry] = (), **kw: Any) -> x509.CertificateRevocationList:
    return crl(ca.cert.subject, ca.key, entries, **kw)


def resigned_der(
    original: x509.CertificateRevocationList, key: Any, change: Callable[[a_crl.TbsCertList], None]
) -> bytes:
    """The DER of ``original`` with its tbsCertList changed by ``change`` and
    signed again (fields cryptography's builder always gets right)."""
    outer = a_crl.CertificateList.load(original.public_bytes(Encoding.DER))
    tbs = outer["tbs_cert_list"]
    change(tbs)
    der = tbs.dump(force=True)
    signature = key.sign(der, ec.ECDSA(hashes.SHA256()))
    new = a_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": outer["signature_algorithm"], "signature": signature}
    )
    return bytes(new.dump(force=True))


def resigned(
    original: x509.CertificateRevocationList, key: Any, change: Callable[[a_crl.TbsCertList], None]
) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(resigned_der(original, key, change))


@dataclass
class World:
    root: CA
    issuing: CA
    leaf: IssuedCert
    other: IssuedCert

    @property
    def presented(self) -> list[x509.Certificate]:
        return [self.leaf.cert, self.issuing.cert]

    def root_crl(self, entries: Sequence[Entry] = ()) -> x509.CertificateRevocationList:
        return ca_crl(self.root, entries)


def world(*, leaf_exts: Sequence[Ext] | None = None, issuing_ku: x509.KeyUsage | None = None) -> World:
    root = CA.create("RFC5280 Root", not_before=AT - days(400), not_after=AT + days(3000))
    inter_exts: list[Ext] = [cdp(dp("http://crl.example.test/root.crl"))]
    if issuing_ku is not None:
        inter_exts.append((issuing_ku, True))
    issuing = root.create_intermediate(
        "RFC5280 Issuing CA", not_before=AT - days(300), not_after=AT + days(2000), extensions=inter_exts
    )
    exts = list(leaf_exts) if leaf_exts is not None else [cdp(dp())]
    leaf = issuing.issue_server("www.example.test", not_before=AT - days(30), not_after=AT + days(300), extensions=exts)
    other = issuing.issue_server("other.example.test", not_before=AT - days(30), not_after=AT + days(300), extensions=exts)
    return World(root, issuing, leaf, other)


def crl_signer(issuer: CA, cn: str, *, crl_sign: bool = True, key: Any = None) -> IssuedCert:
    ku = x509.KeyUsage(False, False, False, False, False, False, crl_sign, False, False)
    return issuer.issue_cert(
        cn=cn, eku=None, key_usage=ku, include_san=False, not_before=AT - days(20), not_after=AT + days(200), key=key
    )


def odd(oid: str = "1.3.6.1.4.1.55555.7") -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00")


# -- the baseline ----------------------------------------------------------------


def test_a_conforming_crl_accepts_an_unlisted_and_rejects_a_listed_certificate(verdict: Callable[..., Verdict]) -> None:
    w = world()
    good = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.other.cert)])])
    assert good.accepted
    bad = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.leaf.cert)])])
    assert not bad.accepted and bad.outcome == "revoked"


# -- RFC 5280 §5: CRL fields and extensions (a CRL that breaks one is not used) --


@pytest.mark.parametrize(
    "ext, critical, ok",
    [
        (odd(), True, False),  # §5.2: unknown critical extension
        (odd(), False, True),  # an unknown non-critical one is ignored
        (x509.FreshestCRL([dp("http://crl.example.test/delta.crl")]), True, False),  # §5.2.6
        (
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://x.test/ca.cer"))]
            ),
            True,
            False,
        ),  # §5.2.7
    ],
    ids=["unknown-critical", "unknown-non-critical", "freshest-crl-critical", "aia-critical"],
)
def test_crl_extension_criticality(
    verdict: Callable[..., Verdict], ext: x509.ExtensionType, critical: bool, ok: bool
) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, exts=[(ext, critical)])])
    assert v.accepted is ok
    if not ok:
        assert v.outcome == Outcome.UNKNOWN.value and "RFC 5280 §5.2" in v.detail


def test_a_critical_crl_number_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, number_critical=True)])
    assert not v.accepted and v.outcome == "unknown" and "§5.2.3" in v.detail


def test_a_non_critical_issuing_distribution_point_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    ext, _ = idp(full_name=[x509.UniformResourceIdentifier(URL)])
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, exts=[(ext, False)])])
    assert not v.accepted and v.outcome == "unknown" and "§5.2.5" in v.detail
    assert verdict(w.root, w.presented, [ca_crl(w.issuing, exts=[(ext, True)])]).accepted


def test_a_revoking_crl_with_a_bad_extension_is_not_used_either(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.leaf.cert)], exts=[(odd(), True)])])
    assert not v.accepted and v.outcome == "unknown"  # not "revoked": the CRL is not used at all


@pytest.mark.parametrize("number, ok", [(0, True), (2**159 - 1, True), (2**159, False)], ids=["zero", "20-octets", "21-octets"])
def test_the_crl_number_fits_in_20_octets(verdict: Callable[..., Verdict], number: int, ok: bool) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, number=number)])
    assert v.accepted is ok


def test_a_negative_crl_number_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    negative = x509.UnrecognizedExtension(ExtensionOID.CRL_NUMBER, b"\x02\x01\xff")
    # cryptography refuses to read its extensions: a static file that is not a usable CRL
    v = verdict(w.root, w.presented, [], files=[ca_crl(w.issuing, number=None, exts=[(negative, False)])])
    assert not v.accepted and v.outcome == "malformed"


def test_a_crl_with_extensions_must_be_version_2(verdict: Callable[..., Verdict]) -> None:
    w = world()

    def v1(tbs: a_crl.TbsCertList) -> None:
        tbs["version"] = None

    v = verdict(w.root, w.presented, [resigned(ca_crl(w.issuing), w.issuing.key, v1)])
    assert not v.accepted and v.outcome == "unknown" and "§5.1.2.1" in v.detail


def test_the_inner_signature_algorithm_must_match_the_outer_one(verdict: Callable[..., Verdict]) -> None:
    w = world()

    def sha384(tbs: a_crl.TbsCertList) -> None:
        tbs["signature"] = a_algos.SignedDigestAlgorithm({"algorithm": "sha384_ecdsa"})

    # cryptography itself refuses to load such a CRL; as a static file it is "malformed"
    v = verdict(w.root, w.presented, [], files=[resigned_der(ca_crl(w.issuing), w.issuing.key, sha384)])
    assert not v.accepted and v.outcome == "malformed" and "signature algorithms do not match" in v.detail


def test_this_update_before_2050_must_be_utctime(verdict: Callable[..., Verdict]) -> None:
    w = world()

    def generalized(tbs: a_crl.TbsCertList) -> None:
        tbs["this_update"] = a_crl.Time({"general_time": AT - hours(1)})

    v = verdict(w.root, w.presented, [resigned(ca_crl(w.issuing), w.issuing.key, generalized)])
    assert not v.accepted and v.outcome == "unknown" and "UTCTime" in v.detail


def test_an_empty_crl_issuer_name_is_a_problem() -> None:
    parsed = ParsedCrl(crl(x509.Name([]), _key()))
    assert any("§5.1.2.3" in p for p in parsed.problems)


@pytest.mark.parametrize(
    "raw",
    [b"\x30\x00", b"\x30\x06\x81\x01\xff\x82\x01\xff"],
    ids=["empty-idp", "user-and-ca-only"],
)
def test_an_issuing_distribution_point_that_breaks_5_2_5_is_refused(verdict: Callable[..., Verdict], raw: bytes) -> None:
    w = world()
    bad = x509.UnrecognizedExtension(ExtensionOID.ISSUING_DISTRIBUTION_POINT, raw)
    v = verdict(w.root, w.presented, [], files=[ca_crl(w.issuing, exts=[(bad, True)])])
    assert not v.accepted and v.outcome == "malformed"


# -- RFC 5280 §5.3: entry extensions, on any entry of the CRL ------------------------


def test_an_unknown_critical_entry_extension_on_another_entry_makes_the_crl_unusable(
    verdict: Callable[..., Verdict],
) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.other.cert, KC, (odd(), True))])])
    assert not v.accepted and v.outcome == "unknown" and "§5.3" in v.detail
    assert verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.other.cert, KC, (odd(), False))])]).accepted


@pytest.mark.parametrize(
    "ext",
    [x509.CRLReason(KC), x509.InvalidityDate(_dt.datetime(2026, 5, 1))],
    ids=["reason-code", "invalidity-date"],
)
def test_reason_code_and_invalidity_date_must_be_non_critical(verdict: Callable[..., Verdict], ext: x509.ExtensionType) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.other.cert, None, (ext, True))])])
    assert not v.accepted and v.outcome == "unknown" and "non-critical CRL entry extension" in v.detail


def test_remove_from_crl_in_a_complete_crl_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.leaf.cert, x509.ReasonFlags.remove_from_crl)])])
    assert not v.accepted and v.outcome == "unknown" and "§5.3.1" in v.detail


def test_certificate_issuer_in_a_crl_that_is_not_indirect_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    ci = x509.CertificateIssuer([x509.DirectoryName(w.issuing.cert.subject)])
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.other.cert, KC, (ci, True))])])
    assert not v.accepted and v.outcome == "unknown" and "§5.3.3" in v.detail


# -- §6.3.3(f): CRLs signed by another key of the issuer ------------------------------


def test_a_crl_signed_by_the_new_key_after_a_re_key_is_used(verdict: Callable[..., Verdict]) -> None:
    w = world()
    # The CA re-keyed: a second certificate with the same name and a new key, from the root.
    new = w.root.create_intermediate("RFC5280 Issuing CA", not_before=AT - days(10), not_after=AT + days(900))
    assert new.cert.subject == w.issuing.cert.subject
    good = crl(new.cert.subject, new.key, [entry(w.other.cert)])
    assert verdict(w.root, w.presented, [good], extra=[new.cert]).accepted
    revoked = crl(new.cert.subject, new.key, [entry(w.leaf.cert)])
    assert verdict(w.root, w.presented, [revoked], extra=[new.cert]).outcome == "revoked"
    # without the new key's certificate nothing vouches for the signature
    assert verdict(w.root, w.presented, [good]).outcome == "bad-signature"


def _self_issued(old: CA, new_key: Any) -> x509.Certificate:
    """RFC 5280 §6.1 self-issued certificate: the CA's new key, signed with its old key."""
    name = old.cert.subject
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(new_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AT - days(5))
        .not_valid_after(AT + days(500))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(new_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(old.key.public_key()), critical=False  # type: ignore[arg-type]
        )
        .sign(old.key, hashes.SHA256())
    )


def test_a_crl_signed_by_the_new_key_of_a_self_issued_rollover_is_used(verdict: Callable[..., Verdict]) -> None:
    w = world()
    new_key = _key()
    new_with_old = _self_issued(w.issuing, new_key)
    good = crl(w.issuing.cert.subject, new_key, [entry(w.other.cert)])
    v = verdict(w.root, w.presented, [good], extra=[new_with_old])
    assert v.accepted, v.detail
    revoked = crl(w.issuing.cert.subject, new_key, [entry(w.leaf.cert)])
    assert verdict(w.root, w.presented, [revoked], extra=[new_with_old]).outcome == "revoked"


def test_a_same_named_signer_under_another_anchor_is_not_trusted(verdict: Callable[..., Verdict]) -> None:
    w = world()
    stranger = CA.create("Stranger Root", not_before=AT - days(10))
    twin = stranger.create_intermediate("RFC5280 Issuing CA", not_before=AT - days(10))
    v = verdict(w.root, w.presented, [crl(twin.cert.subject, twin.key)], extra=[twin.cert, stranger.cert])
    assert not v.accepted and v.outcome == "unauthorised-signer" and "§6.3.3(f)" in v.detail


def test_a_separate_crl_signing_key_serves_a_ca_whose_key_cannot_sign_crls(verdict: Callable[..., Verdict]) -> None:
    cert_sign_only = x509.KeyUsage(False, False, False, False, False, True, False, False, False)
    w = world(issuing_ku=cert_sign_only)
    signing = w.root.create_intermediate(
        "RFC5280 Issuing CA", not_before=AT - days(10), not_after=AT + days(900),
        extensions=[(x509.KeyUsage(False, False, False, False, False, False, True, False, False), True)],
    )
    assert verdict(w.root, w.presented, [crl(signing.cert.subject, signing.key)], extra=[signing.cert]).accepted
    # the CA's own key has no cRLSign: its own CRL is refused
    v = verdict(w.root, w.presented, [ca_crl(w.issuing)])
    assert v.outcome == "unauthorised-signer" and "cRLSign" in v.detail


def test_a_crl_signer_that_is_revoked_is_not_used_under_scope_chain(verdict: Callable[..., Verdict]) -> None:
    w = world()
    new = w.root.create_intermediate("RFC5280 Issuing CA", not_before=AT - days(10), not_after=AT + days(900))
    issuing_crl = crl(new.cert.subject, new.key)
    ok = verdict(w.root, w.presented, [issuing_crl, w.root_crl()], extra=[new.cert], scope="chain")
    assert ok.accepted, ok.detail
    v = verdict(w.root, w.presented, [issuing_crl, w.root_crl([entry(new.cert)])], extra=[new.cert], scope="chain")
    assert not v.accepted and v.outcome == "unauthorised-signer" and "not in good standing" in v.detail


def test_a_crl_signer_without_revocation_information_fails_closed_under_scope_chain(
    verdict: Callable[..., Verdict],
) -> None:
    w = world()
    signer = crl_signer(w.root, "Signer")  # no distribution point, and no CRL of the root lists it
    leaf = w.issuing.issue_server("www.example.test", not_before=AT - days(1), extensions=[cdp(dp(crl_issuer=signer.cert.subject))])
    indirect = crl(signer.cert.subject, signer.key, exts=[idp(indirect_crl=True)])
    root_crl = ca_crl(w.root)
    # scope = "leaf": the signer's path is validated, its revocation is not asked
    assert verdict(w.root, [leaf.cert, w.issuing.cert], [indirect], extra=[signer.cert]).accepted
    # scope = "chain": the root's CRL must say the signer is good; a root CRL
    # that does not cover it (only CA certificates) leaves it unknown: refused
    ca_only = ca_crl(w.root, exts=[idp(only_contains_ca_certs=True)])
    v = verdict(w.root, [leaf.cert, w.issuing.cert], [indirect, ca_only], extra=[signer.cert], scope="chain")
    assert not v.accepted and v.outcome == "unauthorised-signer"
    assert verdict(w.root, [leaf.cert, w.issuing.cert], [indirect, root_crl], extra=[signer.cert], scope="chain").accepted


# -- indirect CRLs: cRLIssuer and certificateIssuer --------------------------------------


def _indirect_world() -> tuple[World, IssuedCert, IssuedCert]:
    w = world()
    signer = crl_signer(w.root, "Indirect CRL Issuer")  # issued by the root, not by the leaf's CA
    leaf = w.issuing.issue_server(
        "www.example.test", not_before=AT - days(1), extensions=[cdp(dp(crl_issuer=signer.cert.subject))]
    )
    return w, signer, leaf


def _ci(ca: CA) -> Ext:
    return x509.CertificateIssuer([x509.DirectoryName(ca.cert.subject)]), True


def test_an_indirect_crl_issuer_with_its_own_path_to_the_anchor_is_used(verdict: Callable[..., Verdict]) -> None:
    w, signer, leaf = _indirect_world()
    revoked = crl(signer.cert.subject, signer.key, [entry(leaf.cert, KC, _ci(w.issuing))], exts=[idp(indirect_crl=True)])
    v = verdict(w.root, [leaf.cert, w.issuing.cert], [revoked], extra=[signer.cert])
    assert v.outcome == "revoked"


def test_certificate_issuer_attributes_entries_to_the_named_ca(verdict: Callable[..., Verdict]) -> None:
    w, signer, leaf = _indirect_world()
    elsewhere = w.root.create_intermediate("Another CA", not_before=AT - days(10))
    # Same serial, but the entry belongs to another CA (certificateIssuer), and
    # so does every following entry without the extension (§5.3.3).
    entries = [entry(leaf.cert, KC, _ci(elsewhere)), entry(12345)]
    listed_elsewhere = crl(signer.cert.subject, signer.key, entries, exts=[idp(indirect_crl=True)])
    assert verdict(w.root, [leaf.cert, w.issuing.cert], [listed_elsewhere], extra=[signer.cert]).accepted


def test_a_non_critical_certificate_issuer_makes_an_indirect_crl_unusable(verdict: Callable[..., Verdict]) -> None:
    w, signer, leaf = _indirect_world()
    ci = x509.CertificateIssuer([x509.DirectoryName(w.issuing.cert.subject)])
    bad = crl(signer.cert.subject, signer.key, [entry(leaf.cert, KC, (ci, False))], exts=[idp(indirect_crl=True)])
    v = verdict(w.root, [leaf.cert, w.issuing.cert], [bad], extra=[signer.cert])
    assert not v.accepted and v.outcome == "unknown" and "MUST always be critical" in v.detail


def test_a_crl_from_the_crl_issuer_without_the_indirect_flag_is_refused(verdict: Callable[..., Verdict]) -> None:
    w, signer, leaf = _indirect_world()
    v = verdict(w.root, [leaf.cert, w.issuing.cert], [crl(signer.cert.subject, signer.key)], extra=[signer.cert])
    assert not v.accepted and v.outcome == "no-revocation-info"  # §6.3.3(b)(1): not a CRL for this point


def test_an_indirect_crl_issuer_under_another_anchor_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    stranger = CA.create("Stranger Root", not_before=AT - days(10))
    signer = crl_signer(stranger, "Indirect CRL Issuer")
    leaf = w.issuing.issue_server("www.example.test", not_before=AT - days(1), extensions=[cdp(dp(crl_issuer=signer.cert.subject))])
    indirect = crl(signer.cert.subject, signer.key, exts=[idp(indirect_crl=True)])
    v = verdict(w.root, [leaf.cert, w.issuing.cert], [indirect], extra=[signer.cert, stranger.cert])
    assert not v.accepted and v.outcome == "unauthorised-signer"


def test_an_indirect_crl_issuer_without_crl_sign_is_refused(verdict: Callable[..., Verdict]) -> None:
    w = world()
    signer = crl_signer(w.root, "Indirect CRL Issuer", crl_sign=False)
    leaf = w.issuing.issue_server("www.example.test", not_before=AT - days(1), extensions=[cdp(dp(crl_issuer=signer.cert.subject))])
    indirect = crl(signer.cert.subject, signer.key, exts=[idp(indirect_crl=True)])
    v = verdict(w.root, [leaf.cert, w.issuing.cert], [indirect], extra=[signer.cert])
    assert not v.accepted and v.outcome == "unauthorised-signer" and "cRLSign" in v.detail


# -- §6.3.3(b): issuingDistributionPoint scope against the certificate's points ----------


def test_only_contains_user_certs_does_not_cover_a_ca(verdict: Callable[..., Verdict]) -> None:
    w = world()
    leaf_crl = ca_crl(w.issuing)
    user_only = ca_crl(w.root, exts=[idp(only_contains_user_certs=True)])
    v = verdict(w.root, w.presented, [leaf_crl, user_only], scope="chain")
    assert not v.accepted and v.outcome == "no-revocation-info" and "only end-entity" in v.detail
    ca_only = ca_crl(w.root, exts=[idp(only_contains_ca_certs=True)])
    assert verdict(w.root, w.presented, [leaf_crl, ca_only], scope="chain").accepted


def test_only_contains_ca_certs_does_not_cover_an_end_entity(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, exts=[idp(only_contains_ca_certs=True)])])
    assert not v.accepted and v.outcome == "no-revocation-info"


def test_only_contains_attribute_certs_covers_no_public_key_certificate(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, exts=[idp(only_contains_attribute_certs=True)])])
    assert not v.accepted and v.outcome == "no-revocation-info"


def test_the_idp_name_must_be_one_of_the_certificates_distribution_points(verdict: Callable[..., Verdict]) -> None:
    w = world()
    right = ca_crl(w.issuing, exts=[idp(full_name=[x509.UniformResourceIdentifier(URL)])])
    wrong = ca_crl(w.issuing, exts=[idp(full_name=[x509.UniformResourceIdentifier("http://crl.example.test/part2.crl")])])
    assert verdict(w.root, w.presented, [right]).accepted
    v = verdict(w.root, w.presented, [wrong])
    assert not v.accepted and v.outcome == "no-revocation-info"


def test_a_relative_idp_name_matches_the_full_name_it_stands_for(verdict: Callable[..., Verdict]) -> None:
    part = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "Partition 1")])
    w = world(leaf_exts=[])
    full = x509.Name([*w.issuing.cert.subject.rdns, part])
    leaf = w.issuing.issue_server(
        "www.example.test", not_before=AT - days(1),
        extensions=[cdp(x509.DistributionPoint([x509.DirectoryName(full)], None, None, None))],
    )
    partition = ca_crl(w.issuing, exts=[idp(relative_name=part)])
    assert verdict(w.root, [leaf.cert, w.issuing.cert], [partition]).accepted
    other_part = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "Partition 2")])
    assert not verdict(w.root, [leaf.cert, w.issuing.cert], [ca_crl(w.issuing, exts=[idp(relative_name=other_part)])]).accepted


def test_a_certificate_without_distribution_points_is_covered_by_the_issuers_full_crl(
    verdict: Callable[..., Verdict],
) -> None:
    w = world(leaf_exts=[])
    assert verdict(w.root, w.presented, [ca_crl(w.issuing)]).accepted
    # ... but not by a CRL for a named distribution point (§6.3.3: the implied point is the issuer's name)
    named = ca_crl(w.issuing, exts=[idp(full_name=[x509.UniformResourceIdentifier(URL)])])
    assert not verdict(w.root, w.presented, [named]).accepted
    issuer_named = ca_crl(w.issuing, exts=[idp(full_name=[x509.DirectoryName(w.issuing.cert.subject)])])
    assert verdict(w.root, w.presented, [issuer_named]).accepted


# -- §6.3.3(d)-(e): reasons masks, combined over several CRLs ----------------------------


SOME = frozenset({KC, x509.ReasonFlags.ca_compromise})
REST = frozenset(x509.ReasonFlags) - SOME - {x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl}


def test_one_partial_crl_does_not_show_good_standing(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, exts=[idp(only_some_reasons=SOME)])])
    assert not v.accepted and v.outcome == "unknown"


def test_partial_crls_that_cover_every_reason_together_show_good_standing(verdict: Callable[..., Verdict]) -> None:
    w = world()
    first = ca_crl(w.issuing, number=5, exts=[idp(only_some_reasons=SOME)])
    second = ca_crl(w.issuing, number=6, exts=[idp(only_some_reasons=REST)])
    v = verdict(w.root, w.presented, [first, second])
    assert v.accepted, v.detail
    short = ca_crl(w.issuing, number=6, exts=[idp(only_some_reasons=REST - {HOLD})])
    v = verdict(w.root, w.presented, [first, short])
    assert not v.accepted and v.outcome == "unknown"


def test_a_partial_crl_that_lists_the_certificate_revokes_it(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [ca_crl(w.issuing, [entry(w.leaf.cert)], exts=[idp(only_some_reasons=SOME)])])
    assert v.outcome == "revoked"


def test_the_distribution_points_reasons_limit_what_an_indirect_crl_covers(verdict: Callable[..., Verdict]) -> None:
    w = world()
    a = crl_signer(w.root, "CRL Issuer A")
    b = crl_signer(w.root, "CRL Issuer B")
    leaf = w.issuing.issue_server(
        "www.example.test", not_before=AT - days(1),
        extensions=[cdp(dp("http://a.test/a.crl", crl_issuer=a.cert.subject, reasons=SOME),
                        dp("http://b.test/b.crl", crl_issuer=b.cert.subject, reasons=REST))],
    )
    crl_a = crl(a.cert.subject, a.key, exts=[idp(indirect_crl=True)])
    crl_b = crl(b.cert.subject, b.key, exts=[idp(indirect_crl=True)])
    presented = [leaf.cert, w.issuing.cert]
    only_a = verdict(w.root, presented, [crl_a], extra=[a.cert, b.cert])
    assert not only_a.accepted and only_a.outcome == "unknown"
    both = verdict(w.root, presented, [crl_a, crl_b], extra=[a.cert, b.cert])
    assert both.accepted, both.detail


# -- delta CRLs (§5.2.4, §5.2.6, §6.3.3(c), (h)-(k)) -------------------------------------


def _delta(ca: CA, number: int, base: int, entries: Sequence[Entry] = (), **kw: Any) -> x509.CertificateRevocationList:
    exts = [(x509.DeltaCRLIndicator(base), kw.pop("critical", True)), *kw.pop("exts", [])]
    return ca_crl(ca, entries, number=number, exts=exts, **kw)


def test_a_delta_crl_adds_a_revocation(verdict: Callable[..., Verdict]) -> None:
    w = world()
    base = ca_crl(w.issuing, number=10)
    assert verdict(w.root, w.presented, [base, _delta(w.issuing, 11, 10, [entry(w.leaf.cert)])]).outcome == "revoked"


def test_certificate_hold_revokes_and_remove_from_crl_in_a_delta_lifts_it(verdict: Callable[..., Verdict]) -> None:
    w = world()
    base = ca_crl(w.issuing, [entry(w.leaf.cert, HOLD)], number=10)
    held = verdict(w.root, w.presented, [base])
    assert held.outcome == "revoked" and "certificateHold" in held.detail
    lifted = _delta(w.issuing, 11, 10, [entry(w.leaf.cert, x509.ReasonFlags.remove_from_crl)])
    assert verdict(w.root, w.presented, [base, lifted]).accepted
    # a stale delta does not lift a hold
    stale = _delta(
        w.issuing, 11, 10, [entry(w.leaf.cert, x509.ReasonFlags.remove_from_crl)],
        this_update=AT - days(3), next_update=AT - days(2),
    )
    assert verdict(w.root, w.presented, [base, stale]).outcome == "revoked"


@pytest.mark.parametrize(
    "number, base",
    [(9, 8), (12, 11)],
    ids=["older-than-the-complete-crl", "base-number-above-the-complete-crl"],
)
def test_a_delta_for_another_base_is_not_applied(verdict: Callable[..., Verdict], number: int, base: int) -> None:
    w = world()
    delta = _delta(w.issuing, number, base, [entry(w.leaf.cert)])
    assert verdict(w.root, w.presented, [ca_crl(w.issuing, number=10), delta]).accepted


def test_a_delta_with_another_scope_or_signer_is_not_applied(verdict: Callable[..., Verdict]) -> None:
    w = world()
    base = ca_crl(w.issuing, number=10)
    other_scope = _delta(w.issuing, 11, 10, [entry(w.leaf.cert)], exts=[idp(only_some_reasons=SOME)])
    assert verdict(w.root, w.presented, [base, other_scope]).accepted
    forged = crl(w.issuing.cert.subject, _key(), [entry(w.leaf.cert)], number=11, exts=[(x509.DeltaCRLIndicator(10), True)])
    assert verdict(w.root, w.presented, [base, forged]).accepted


def test_a_delta_with_a_non_critical_delta_indicator_fails_closed(verdict: Callable[..., Verdict]) -> None:
    w = world()
    base = ca_crl(w.issuing, number=10)
    v = verdict(w.root, w.presented, [base, _delta(w.issuing, 11, 10, critical=False)])
    assert not v.accepted and v.outcome == "unknown" and "§5.2.4" in v.detail


def test_a_delta_alone_is_not_a_complete_crl(verdict: Callable[..., Verdict]) -> None:
    w = world()
    v = verdict(w.root, w.presented, [_delta(w.issuing, 11, 10)])
    assert not v.accepted and v.outcome == "no-revocation-info"


@pytest.fixture
def srv() -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer() as server:
        yield server


def test_the_delta_at_the_base_crls_freshest_crl_is_fetched_and_applied(
    verdict: Callable[..., Verdict], srv: LoopbackHTTPServer
) -> None:
    w = world()
    delta_url = srv.url("/delta.crl")
    srv.route("/delta.crl", _delta(w.issuing, 11, 10, [entry(w.leaf.cert)]).public_bytes(Encoding.DER))
    base = ca_crl(w.issuing, number=10, exts=[(x509.FreshestCRL([dp(delta_url)]), False)])
    v = verdict(w.root, w.presented, [base], fetch=True)
    assert v.outcome == "revoked" and "delta CRL number 11" in v.detail
    assert srv.hits("/delta.crl") == 1


def test_entry_extension_oids_used_here_are_the_rfc_ones() -> None:
    # guards the fixtures above: the entry extensions these rules concern
    assert CRLEntryExtensionOID.CERTIFICATE_ISSUER.dotted_string == "2.5.29.29"
    assert CRLEntryExtensionOID.CRL_REASON.dotted_string == "2.5.29.21"


def test_the_crl_issuer_name_matches_under_the_7_1_comparison_rules(verdict: Callable[..., Verdict]) -> None:
    w = world()
    # RFC 4518 preparation: case and inner whitespace do not matter (PKITS 4.3.3-4.3.5)
    folded = _name("rfc5280   issuing CA")
    assert folded != w.issuing.cert.subject
    assert verdict(w.root, w.presented, [crl(folded, w.issuing.key, [entry(w.other.cert)])]).accepted
    assert verdict(w.root, w.presented, [crl(folded, w.issuing.key, [entry(w.leaf.cert)])]).outcome == "revoked"
    assert not verdict(w.root, w.presented, [crl(_name("RFC5280 Issuing CA 2"), w.issuing.key)]).accepted
