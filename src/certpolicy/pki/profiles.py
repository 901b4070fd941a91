"""Certificate profiles of the private PKI (RFC 5280 §4.2.1): validity, names, extensions.

The pure pieces :class:`~certpolicy.pki.CA` and :class:`~certpolicy.pki.IssuedCert`
build certificates from: validity periods, subject and subjectAltName entries, the
extension sets of CA and leaf certificates, and the one function that signs them.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ..oids import EKU_NAMES
from .keys import PrivateKey, _sign_hash

__all__ = ["EKU_NAMES", "eku_oid"]



_DEFAULT_CA_DAYS = 3650
_DEFAULT_LEAF_DAYS = 365
_BACKDATE = _dt.timedelta(days=1)


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _aware(value: _dt.datetime, what: str) -> _dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(_dt.timezone.utc)


def _validity(
    not_before: _dt.datetime | None,
    not_after: _dt.datetime | None,
    days: int | float,
    cap: _dt.datetime | None,
) -> tuple[_dt.datetime, _dt.datetime]:
    """Resolve a validity period; a defaulted notAfter never outlives ``cap``."""
    start = _aware(not_before, "not_before") if not_before is not None else _now() - _BACKDATE
    if not_after is not None:
        end = _aware(not_after, "not_after")
    else:
        end = _now() + _dt.timedelta(days=days)
        if cap is not None and end > cap:
            end = cap
    if end < start:
        raise ValueError(f"not_after ({end.isoformat()}) is before not_before ({start.isoformat()})")
    return start, end


def eku_oid(value: str | x509.ObjectIdentifier) -> x509.ObjectIdentifier:
    """Map an EKU short name (``"clientAuth"``) or dotted OID string to an OID.

    Raises:
        ValueError: neither a known name nor a dotted OID.
    """
    if isinstance(value, x509.ObjectIdentifier):
        return value
    if value in EKU_NAMES:
        return EKU_NAMES[value]
    if value and value[0].isdigit():
        return x509.ObjectIdentifier(value)
    raise ValueError(f"unknown extended key usage {value!r}; known: {', '.join(EKU_NAMES)}")


def _general_name(name: str | x509.GeneralName) -> x509.GeneralName:
    """``"a.example"`` -> dNSName, ``"10.0.0.1"``/``"::1"`` -> iPAddress,
    ``"a@b.example"`` -> rfc822Name, ``"spiffe://..."`` -> URI."""
    if isinstance(name, x509.GeneralName):
        return name
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    if "://" in name:
        return x509.UniformResourceIdentifier(name)
    if "@" in name:
        return x509.RFC822Name(name)
    if not name.isascii():
        from ..names import normalize_dns_name

        name = normalize_dns_name(name, allow_wildcard=True)
    return x509.DNSName(name)


def _ip_network(value: str | ipaddress.IPv4Network | ipaddress.IPv6Network) -> x509.IPAddress:
    return x509.IPAddress(ipaddress.ip_network(value, strict=False))


def _name(
    cn: str | None, organization: str | None = None, extra: Sequence[x509.NameAttribute[str]] = ()
) -> x509.Name:
    attrs: list[x509.NameAttribute[str]] = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    attrs.extend(extra)
    return x509.Name(attrs)


def _leaf_subject(names: Sequence[str | x509.GeneralName], cn: str | None, organization: str | None) -> x509.Name:
    """A leaf's subject: ``cn`` (default: the first name, when it is text)."""
    if cn is None and names and isinstance(names[0], str):
        cn = names[0]
    return _name(cn, organization)


# ---------------------------------------------------------------------------
# certificate building
# ---------------------------------------------------------------------------


def _build(
    *,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    issuer_name: x509.Name,
    signing_key: PrivateKey,
    not_before: _dt.datetime,
    not_after: _dt.datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
    overrides: Sequence[x509.Extension[x509.ExtensionType] | tuple[x509.ExtensionType, bool]] = (),
    serial: int | None = None,
) -> x509.Certificate:
    by_oid: dict[x509.ObjectIdentifier, tuple[x509.ExtensionType, bool]] = {}
    for ext_value, critical in extensions:
        by_oid[ext_value.oid] = (ext_value, critical)
    for item in overrides:
        if isinstance(item, x509.Extension):
            by_oid[item.oid] = (item.value, item.critical)
        else:
            by_oid[item[0].oid] = (item[0], item[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext_value, critical in by_oid.values():
        builder = builder.add_extension(ext_value, critical=critical)
    return builder.sign(signing_key, _sign_hash(signing_key))


def _aia(ocsp_url: str | None, ca_issuers_url: str | None) -> x509.AuthorityInformationAccess | None:
    descs = []
    if ocsp_url:
        descs.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            )
        )
    if ca_issuers_url:
        descs.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(ca_issuers_url),
            )
        )
    return x509.AuthorityInformationAccess(descs) if descs else None


def _cdp(crl_url: str | Sequence[str] | None) -> x509.CRLDistributionPoints | None:
    if not crl_url:
        return None
    urls = [crl_url] if isinstance(crl_url, str) else list(crl_url)
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(u)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            for u in urls
        ]
    )


def _pointer_extensions(
    crl_url: str | Sequence[str] | None, ocsp_url: str | None, ca_issuers_url: str | None
) -> list[tuple[x509.ExtensionType, bool]]:
    """The non-critical cRLDistributionPoints and authorityInformationAccess
    extensions (RFC 5280 §4.2.1.13, §4.2.2.1) for the URLs given, if any."""
    exts: list[tuple[x509.ExtensionType, bool]] = []
    cdp = _cdp(crl_url)
    if cdp is not None:
        exts.append((cdp, False))
    aia = _aia(ocsp_url, ca_issuers_url)
    if aia is not None:
        exts.append((aia, False))
    return exts


def _aki_for(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(pub: object) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(pub, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_extensions(
    pub: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    names: Sequence[str | x509.GeneralName],
    *,
    subject_empty: bool,
    eku: Sequence[str | x509.ObjectIdentifier] | None,
    key_usage: x509.KeyUsage | None,
    ocsp_url: str | None,
    crl_url: str | Sequence[str] | None,
    ca_issuers_url: str | None,
    ocsp_must_staple: bool,
    ocsp_nocheck: bool,
    san_critical: bool,
    include_san: bool,
) -> list[tuple[x509.ExtensionType, bool]]:
    exts: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage if key_usage is not None else _leaf_key_usage(pub), True),
        (x509.SubjectKeyIdentifier.from_public_key(pub), False),
    ]
    if eku:
        exts.append((x509.ExtendedKeyUsage([eku_oid(e) for e in eku]), False))
    if include_san and names:
        exts.append(
            (x509.SubjectAlternativeName([_general_name(n) for n in names]), san_critical or subject_empty)
        )
    exts.extend(_pointer_extensions(crl_url, ocsp_url, ca_issuers_url))
    if ocsp_must_staple:
        exts.append((x509.TLSFeature([x509.TLSFeatureType.status_request]), False))
    if ocsp_nocheck:
        exts.append((x509.OCSPNoCheck(), False))
    return exts
