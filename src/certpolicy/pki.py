"""A private PKI in a few lines: root and intermediate CAs, server, client and
OCSP-responder certificates, CRLs and OCSP responses, built with
:mod:`cryptography`.

The API follows trustme's shape (one obvious call with good defaults, nouns
``CA`` and ``IssuedCert``, adapters that configure an :class:`ssl.SSLContext`
rather than wrap it), but the certificates follow the RFC 5280 / CA/Browser
Forum profiles closely enough that :mod:`cryptography.x509.verification`
(``ServerVerifier`` / ``ClientVerifier``), OpenSSL and Java accept them::

    from certpolicy.pki import CA

    root = CA.create("Acme Root CA")                    # EC P-256, 10 years
    issuing = root.create_intermediate("Acme Issuing CA")
    server = issuing.issue_server("api.acme.example", "10.0.0.5")
    client = issuing.issue_client("mid-01.acme.example")

    server.configure_cert(server_ctx)   # cert chain (leaf + intermediate) + key
    root.configure_trust(client_ctx)    # the root as trust anchor

Profiles (RFC 5280 §4.2.1):

* CA certificates: basicConstraints ``cA=TRUE`` (critical, optional
  pathLenConstraint), keyUsage ``keyCertSign, cRLSign`` (critical), subject key
  identifier, authority key identifier (intermediates), optional
  nameConstraints (critical), optional CRL distribution point and authority
  information access (OCSP, caIssuers) pointing at the *parent's* services.
* Leaves: basicConstraints ``cA=FALSE`` (critical), keyUsage
  ``digitalSignature`` (+ ``keyEncipherment`` for RSA keys) (critical),
  extendedKeyUsage (``serverAuth`` / ``clientAuth`` / ``OCSPSigning``), SKI, AKI,
  subjectAltName (dNSName / iPAddress / rfc822Name / uniformResourceIdentifier),
  optional CRL distribution point, AIA, OCSP must-staple, id-pkix-ocsp-nocheck.
* Serial numbers are random positive 159-bit integers (CA/B BR §7.1).

Times are timezone-aware :class:`datetime.datetime` objects; a naive datetime
is refused with :class:`ValueError` rather than guessed.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA",
    "EKU_NAMES",
    "IssuedCert",
    "KeyType",
    "PemPaths",
    "PrivateKey",
    "eku_oid",
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "write_private_file",
]

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"]
"""Key algorithms :func:`generate_key` understands."""

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
"""The private key types this module creates and accepts."""

EKU_NAMES: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "anyExtendedKeyUsage": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}
"""RFC 5280 §4.2.1.12 short names of the extended key usages (plus OIDs by value)."""

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


def generate_key(key_type: KeyType | str = "ec-p256") -> PrivateKey:
    """Generate a private key.

    Args:
        key_type: ``"ec-p256"`` (default), ``"ec-p384"``, ``"rsa-2048"``,
            ``"rsa-3072"``, ``"rsa-4096"`` or ``"ed25519"``.

    Returns:
        The private key object.

    Raises:
        ValueError: unknown ``key_type``.
    """
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(
        f"unknown key_type {key_type!r}: use ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519"
    )


def _sign_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


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
        from .names import normalize_dns_name

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


def reason_flag(name: str) -> x509.ReasonFlags:
    """The :class:`x509.ReasonFlags` for ``"keyCompromise"`` / ``"key_compromise"``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    wanted = name.replace("_", "").replace("-", "").lower()
    for flag in x509.ReasonFlags:
        if flag.name.replace("_", "").lower() == wanted or flag.value.lower() == wanted:
            return flag
    raise ValueError(f"unknown CRL reason {name!r}; known: {', '.join(f.value for f in x509.ReasonFlags)}")


def _leaf_subject(names: Sequence[str | x509.GeneralName], cn: str | None, organization: str | None) -> x509.Name:
    """A leaf's subject: ``cn`` (default: the first name, when it is text)."""
    if cn is None and names and isinstance(names[0], str):
        cn = names[0]
    return _name(cn, organization)


def _serial_of(item: x509.Certificate | IssuedCert | CA | int) -> int:
    if isinstance(item, int):
        return item
    return item.cert.serial_number if not isinstance(item, x509.Certificate) else item.serial_number


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``; encrypted (best available, AES-256) when a passphrase is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Load a PEM (or DER) private key of a type this module supports.

    Raises:
        ValueError: unparseable data, a wrong or missing passphrase, or an
            unsupported key type (the message says which).
        TypeError: a passphrase was given for an unencrypted key (from cryptography).
    """
    if b"-----BEGIN" in data:
        key = serialization.load_pem_private_key(data, passphrase)
    else:
        key = serialization.load_der_private_key(data, passphrase)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def write_private_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Create ``path`` with mode 0600 and write ``data``; never overwrite.

    Raises:
        FileExistsError: ``path`` already exists (an existing key is never replaced).
    """
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
    finally:
        if fd != -1:
            os.close(fd)
    return p


def _write_public_file(path: Path, data: bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def _certs_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_cert_chain_into(
    ssl_context: ssl.SSLContext, chain: Sequence[x509.Certificate], key: PrivateKey
) -> None:
    """``load_cert_chain`` through a private (0700) temp dir, files 0600, removed
    after; the key file is encrypted under a random one-time password."""
    one_time = secrets.token_hex(24).encode("ascii")
    tmpdir = tempfile.mkdtemp(prefix="certpolicy-id-")
    try:
        os.chmod(tmpdir, 0o700)
        cert_path = Path(tmpdir) / "chain.pem"
        key_path = Path(tmpdir) / "key.pem"
        write_private_file(cert_path, _certs_pem(chain))
        write_private_file(key_path, private_key_pem(key, one_time))
        ssl_context.load_cert_chain(str(cert_path), str(key_path), password=one_time)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


class PemPaths(NamedTuple):
    """Files written by :meth:`IssuedCert.write` / :meth:`CA.write`.

    ``cert``: the certificate alone; ``chain``: the certificate followed by its
    intermediates (what a TLS peer sends, RFC 8446 §4.4.2); ``key``: the private
    key (mode 0600).
    """

    cert: Path
    chain: Path
    key: Path


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


def _aki_for(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# CA
# ---------------------------------------------------------------------------


class CA:
    """A certification authority: a CA certificate and its private key.

    Build one with :meth:`CA.create` (a self-signed root),
    :meth:`create_intermediate`, or :meth:`CA.load` (from PEM files).

    Attributes:
        cert: the CA certificate (:class:`cryptography.x509.Certificate`).
        key: its private key.
        name: the commonName given at creation (``str``).
        parent: the issuing :class:`CA` object, or ``None`` for a root (and for
            a CA loaded from files, whose ancestors are known only as certificates).
    """

    def __init__(
        self,
        cert: x509.Certificate,
        key: PrivateKey,
        *,
        parent: CA | None = None,
        issuer_certs: Sequence[x509.Certificate] | None = None,
    ) -> None:
        """Wrap an existing CA certificate and key (most users call :meth:`create`).

        Args:
            cert: the CA certificate.
            key: its private key.
            parent: the issuing CA object (``None`` for a root).
            issuer_certs: when ``parent`` is not known as an object, the
                certificates above ``cert``, nearest first, ending with the root
                (empty or ``None`` for a root).
        """
        self.cert = cert
        self.key = key
        self.parent = parent
        if parent is not None:
            self._issuer_certs: list[x509.Certificate] = [parent.cert, *parent._issuer_certs]
        else:
            self._issuer_certs = list(issuer_certs or [])
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        self.name: str = str(cns[0].value) if cns else cert.subject.rfc4514_string()
        self._revoked: dict[int, tuple[x509.ReasonFlags | None, _dt.datetime]] = {}
        self._crl_number = 0

    # -- construction ------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str = "certpolicy Test Root CA",
        *,
        key_type: KeyType | str = "ec-p256",
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        days: int | float = _DEFAULT_CA_DAYS,
        organization: str | None = None,
        path_length: int | None = None,
        key: PrivateKey | None = None,
        extensions: Sequence[
            x509.Extension[x509.ExtensionType] | tuple[x509.ExtensionType, bool]
        ] = (),
    ) -> CA:
        """Create a self-signed root CA (the trust anchor).

        Args:
            name: subject commonName.
            key_type: see :func:`generate_key` (default EC P-256).
            not_before, not_after: aware datetimes; default now - 1 day and
                now + ``days``.
            days: validity in days when ``not_after`` is omitted.
            organization: optional subject organizationName.
            path_length: basicConstraints pathLenConstraint (``None``: unlimited).
            key: use this key instead of generating one.
            extensions: extra or replacement extensions, as
                ``(ExtensionType, critical)`` pairs or :class:`x509.Extension`.

        Returns:
            The new :class:`CA`.

        Raises:
            ValueError: unknown key type, naive datetime, notAfter before notBefore.
        """
        key = key if key is not None else generate_key(key_type)
        start, end = _validity(not_before, not_after, days, None)
        subject = _name(name, organization)
        pub = key.public_key()
        exts: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_ca_key_usage(), True),
            (x509.SubjectKeyIdentifier.from_public_key(pub), False),
        ]
        cert = _build(
            subject=subject,
            public_key=pub,
            issuer_name=subject,
            signing_key=key,
            not_before=start,
            not_after=end,
            extensions=exts,
            overrides=extensions,
        )
        return cls(cert, key)

    @classmethod
    def load(
        cls,
        cert_pem: bytes,
        key_pem: bytes,
        *,
        passphrase: bytes | None = None,
        issuer_certs_pem: bytes | None = None,
    ) -> CA:
        """Load a CA from PEM data (e.g. files written by :meth:`write`).

        Args:
            cert_pem: the CA certificate (PEM; further certificates after the
                first are taken as its issuers, nearest first).
            key_pem: its private key (PEM, possibly encrypted).
            passphrase: the key's passphrase.
            issuer_certs_pem: the certificates above this CA, nearest first,
                ending with the root (for chains and :meth:`configure_trust`).

        Raises:
            ValueError: no certificate in ``cert_pem``, bad key or passphrase,
                or the key does not belong to the certificate.
        """
        certs = x509.load_pem_x509_certificates(cert_pem)
        issuers = certs[1:]
        if issuer_certs_pem:
            issuers += x509.load_pem_x509_certificates(issuer_certs_pem)
        key = load_private_key(key_pem, passphrase)
        if key.public_key() != certs[0].public_key():
            raise ValueError("the private key does not belong to the CA certificate")
        return cls(certs[0], key, issuer_certs=issuers)

    def create_intermediate(
        self,
        name: str = "certpolicy Test Intermediate CA",
        *,
        path_length: int | None = 0,
        permitted_dns: Sequence[str] | None = None,
        excluded_dns: Sequence[str] | None = None,
        permitted_ips: Sequence[str] | None = None,
        key_type: KeyType | str = "ec-p256",
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        days: int | float = _DEFAULT_CA_DAYS // 2,
        organization: str | None = None,
        crl_url: str | Sequence[str] | None = None,
        ocsp_url: str | None = None,
        ca_issuers_url: str | None = None,
        eku: Sequence[str | x509.ObjectIdentifier] | None = None,
        key: PrivateKey | None = None,
        extensions: Sequence[
            x509.Extension[x509.ExtensionType] | tuple[x509.ExtensionType, bool]
        ] = (),
    ) -> CA:
        """Create a subordinate CA signed by this CA.

        Args:
            name: subject commonName.
            path_length: pathLenConstraint (default 0: may issue only leaves;
                ``None``: unlimited).
            permitted_dns / excluded_dns: dNSName subtrees for a critical
                nameConstraints extension (RFC 5280 §4.2.1.10), e.g. ``["acme.example"]``.
            permitted_ips: iPAddress subtrees in CIDR form (``"10.0.0.0/8"``).
            key_type, not_before, not_after, days, organization, key,
                extensions: as for :meth:`create` (``not_after`` defaults to
                now + ``days`` but never past this CA's notAfter).
            crl_url, ocsp_url, ca_issuers_url: where relying parties check the
                *intermediate's* revocation / fetch *this* CA's certificate
                (cRLDistributionPoints, authorityInfoAccess).
            eku: optional extendedKeyUsage on the CA certificate (``None``: absent).

        Returns:
            The new :class:`CA`, whose :attr:`parent` is this CA.
        """
        key = key if key is not None else generate_key(key_type)
        start, end = _validity(not_before, not_after, days, self.cert.not_valid_after_utc)
        pub = key.public_key()
        exts: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_ca_key_usage(), True),
            (x509.SubjectKeyIdentifier.from_public_key(pub), False),
            (_aki_for(self.cert), False),
        ]
        if permitted_dns or excluded_dns or permitted_ips:
            permitted: list[x509.GeneralName] = [x509.DNSName(d) for d in permitted_dns or ()]
            permitted += [_ip_network(n) for n in permitted_ips or ()]
            excluded: list[x509.GeneralName] = [x509.DNSName(d) for d in excluded_dns or ()]
            exts.append(
                (
                    x509.NameConstraints(
                        permitted_subtrees=permitted or None, excluded_subtrees=excluded or None
                    ),
                    True,
                )
            )
        if eku:
            exts.append((x509.ExtendedKeyUsage([eku_oid(e) for e in eku]), False))
        cdp = _cdp(crl_url)
        if cdp is not None:
            exts.append((cdp, False))
        aia = _aia(ocsp_url, ca_issuers_url)
        if aia is not None:
            exts.append((aia, False))
        cert = self._sign(_name(name, organization), pub, start, end, exts, extensions)
        return CA(cert, key, parent=self)

    def _sign(
        self,
        subject: x509.Name,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
        start: _dt.datetime,
        end: _dt.datetime,
        exts: Sequence[tuple[x509.ExtensionType, bool]],
        overrides: Sequence[x509.Extension[x509.ExtensionType] | tuple[x509.ExtensionType, bool]],
    ) -> x509.Certificate:
        """Sign a certificate for ``subject`` with this CA's key and name."""
        return _build(
            subject=subject,
            public_key=public_key,
            issuer_name=self.cert.subject,
            signing_key=self.key,
            not_before=start,
            not_after=end,
            extensions=exts,
            overrides=overrides,
        )

    # -- leaves ------------------------------------------------------------

    def issue_cert(
        self,
        *names: str | x509.GeneralName,
        cn: str | None = None,
        organization: str | None = None,
        key_type: KeyType | str = "ec-p256",
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        days: int | float = _DEFAULT_LEAF_DAYS,
        eku: Sequence[str | x509.ObjectIdentifier] | None = ("serverAuth",),
        key_usage: x509.KeyUsage | None = None,
        ocsp_url: str | None = None,
        crl_url: str | Sequence[str] | None = None,
        ca_issuers_url: str | None = None,
        ocsp_must_staple: bool = False,
        ocsp_nocheck: bool = False,
        san_critical: bool = False,
        include_san: bool = True,
        key: PrivateKey | None = None,
        extensions: Sequence[
            x509.Extension[x509.ExtensionType] | tuple[x509.ExtensionType, bool]
        ] = (),
    ) -> IssuedCert:
        """Issue an end-entity certificate (the general form behind
        :meth:`issue_server`, :meth:`issue_client`, :meth:`issue_ocsp_responder`).

        Args:
            names: subjectAltName entries: DNS names (dNSName), IP literals
                (iPAddress), ``user@host`` (rfc822Name), ``scheme://...`` (URI),
                or :class:`x509.GeneralName` objects.
            cn: subject commonName (default: the first name, if any).
            organization: optional subject organizationName.
            key_type: see :func:`generate_key`.
            not_before, not_after, days: validity (default now - 1 day to
                now + ``days``, never past this CA's notAfter unless given).
            eku: extendedKeyUsage names or OIDs; ``None`` or ``()`` omits the
                extension.
            key_usage: replace the default keyUsage (digitalSignature, plus
                keyEncipherment for RSA keys).
            ocsp_url, ca_issuers_url: authorityInfoAccess entries.
            crl_url: cRLDistributionPoints full name(s).
            ocsp_must_staple: add the TLS feature ``status_request`` (RFC 7633).
            ocsp_nocheck: add id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
            san_critical: mark subjectAltName critical (forced when the subject is empty).
            include_san: ``False`` issues a certificate without subjectAltName
                (legacy commonName-only certificates, for tests).
            key: use this key instead of generating one.
            extensions: extra or replacement extensions.

        Returns:
            :class:`IssuedCert`.
        """
        key = key if key is not None else generate_key(key_type)
        start, end = _validity(not_before, not_after, days, self.cert.not_valid_after_utc)
        subject = _leaf_subject(names, cn, organization)
        pub = key.public_key()
        exts = _leaf_extensions(
            pub,
            names,
            subject_empty=len(subject) == 0,
            eku=eku,
            key_usage=key_usage,
            ocsp_url=ocsp_url,
            crl_url=crl_url,
            ca_issuers_url=ca_issuers_url,
            ocsp_must_staple=ocsp_must_staple,
            ocsp_nocheck=ocsp_nocheck,
            san_critical=san_critical,
            include_san=include_san,
        )
        exts.append((_aki_for(self.cert), False))
        cert = self._sign(subject, pub, start, end, exts, extensions)
        return IssuedCert(cert, key, issuer=self)

    def issue_server(
        self,
        *names: str | x509.GeneralName,
        eku: Sequence[str | x509.ObjectIdentifier] | None = ("serverAuth",),
        **kwargs: object,
    ) -> IssuedCert:
        """Issue a TLS server certificate (EKU serverAuth) for DNS names and/or
        IP literals; keyword arguments as for :meth:`issue_cert`.

        Example: ``ca.issue_server("api.example", "127.0.0.1", "::1")``.
        """
        return self.issue_cert(*names, eku=eku, **kwargs)  # type: ignore[arg-type]

    def issue_client(
        self,
        *names: str | x509.GeneralName,
        eku: Sequence[str | x509.ObjectIdentifier] | None = ("clientAuth",),
        **kwargs: object,
    ) -> IssuedCert:
        """Issue a TLS client certificate (EKU clientAuth, the mTLS identity);
        keyword arguments as for :meth:`issue_cert`.

        Example: ``ca.issue_client("mid-01.acme.example")``.
        """
        return self.issue_cert(*names, eku=eku, **kwargs)  # type: ignore[arg-type]

    def issue_ocsp_responder(
        self,
        name: str = "OCSP Responder",
        *,
        nocheck: bool = True,
        eku: Sequence[str | x509.ObjectIdentifier] | None = ("OCSPSigning",),
        **kwargs: object,
    ) -> IssuedCert:
        """Issue a delegated OCSP responder certificate (RFC 6960 §4.2.2.2):
        EKU id-kp-OCSPSigning, id-pkix-ocsp-nocheck when ``nocheck`` (default),
        no subjectAltName. Keyword arguments as for :meth:`issue_cert`."""
        kwargs.setdefault("include_san", False)
        return self.issue_cert(cn=name, eku=eku, ocsp_nocheck=nocheck, **kwargs)  # type: ignore[arg-type]

    # -- revocation ----------------------------------------------------------

    def revoke(
        self,
        cert_or_serial: x509.Certificate | IssuedCert | CA | int,
        reason: x509.ReasonFlags | str | None = None,
        when: _dt.datetime | None = None,
    ) -> None:
        """Record a revocation; :meth:`issue_crl` and :meth:`ocsp_response`
        use the record when not told otherwise.

        Args:
            cert_or_serial: a certificate issued by this CA, or its serial number.
            reason: CRLReason (RFC 5280 §5.3.1): a :class:`x509.ReasonFlags`, its
                name (``"keyCompromise"`` or ``"key_compromise"``) or ``None``.
            when: revocationDate (default: now).

        Raises:
            ValueError: an unknown reason name.
        """
        when = _aware(when, "when") if when is not None else _now()
        if isinstance(reason, str):
            reason = reason_flag(reason)
        self._revoked[_serial_of(cert_or_serial)] = (reason, when)

    @property
    def revoked_serials(self) -> dict[int, tuple[x509.ReasonFlags | None, _dt.datetime]]:
        """Serials recorded by :meth:`revoke`: ``{serial: (reason, revocation_date)}``."""
        return dict(self._revoked)

    def issue_crl(
        self,
        revoked: Iterable[RevokedEntry] | None = None,
        *,
        this_update: _dt.datetime | None = None,
        next_update: _dt.datetime | None = None,
        crl_number: int | None = None,
        idp_url: str | None = None,
        signer: CA | IssuedCert | PrivateKey | None = None,
        next_update_days: float = 7,
    ) -> x509.CertificateRevocationList:
        """Issue a CRL (RFC 5280 §5) signed by this CA.

        Args:
            revoked: entries ``cert_or_serial``, ``(cert_or_serial, reason)`` or
                ``(cert_or_serial, reason, revocation_date)``; default: the
                serials recorded with :meth:`revoke`.
            this_update: thisUpdate (default now - 1 minute).
            next_update: nextUpdate (default thisUpdate + ``next_update_days``).
            crl_number: cRLNumber (default: 1, 2, 3 ... per CA).
            idp_url: add a critical issuingDistributionPoint with this full name.
            signer: sign with another CA / certificate (its subject becomes
                the CRL issuer; an indirect CRL), or with a bare private key
                (keeps this CA's name: a CRL with a bad signature, for tests).

        Returns:
            :class:`cryptography.x509.CertificateRevocationList`.
        """
        this_update = _aware(this_update, "this_update") if this_update else _now() - _dt.timedelta(minutes=1)
        next_update = (
            _aware(next_update, "next_update")
            if next_update
            else this_update + _dt.timedelta(days=next_update_days)
        )
        if crl_number is None:
            self._crl_number += 1
            crl_number = self._crl_number
        issuer_name = self.cert.subject
        sign_key: PrivateKey = self.key
        aki_cert: x509.Certificate | None = self.cert
        if isinstance(signer, (CA, IssuedCert)):
            issuer_name = signer.cert.subject
            sign_key = signer.key
            aki_cert = signer.cert
        elif signer is not None:
            sign_key = signer
            aki_cert = None
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer_name)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(crl_number), critical=False)
        )
        if aki_cert is not None:
            builder = builder.add_extension(_aki_for(aki_cert), critical=False)
        if idp_url:
            builder = builder.add_extension(
                x509.IssuingDistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(idp_url)],
                    relative_name=None,
                    only_contains_user_certs=False,
                    only_contains_ca_certs=False,
                    only_some_reasons=None,
                    indirect_crl=False,
                    only_contains_attribute_certs=False,
                ),
                critical=True,
            )
        entries: list[tuple[int, x509.ReasonFlags | None, _dt.datetime]] = []
        if revoked is None:
            entries = [(s, r, w) for s, (r, w) in self._revoked.items()]
        else:
            for item in revoked:
                if isinstance(item, tuple):
                    serial = _serial_of(item[0])
                    reason = item[1] if len(item) > 1 else None
                    when_raw = item[2] if len(item) > 2 else None
                    when = _aware(when_raw, "revocation_date") if when_raw else this_update
                    entries.append((serial, reason, when))
                else:
                    entries.append((_serial_of(item), None, this_update))
        for serial, reason, when in entries:
            rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            if reason is not None:
                rb = rb.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(rb.build())
        return builder.sign(sign_key, _sign_hash(sign_key))

    def ocsp_response(
        self,
        cert: x509.Certificate | IssuedCert,
        *,
        status: Literal["good", "revoked", "unknown"] | None = None,
        responder: IssuedCert | CA | None = None,
        this_update: _dt.datetime | None = None,
        next_update: _dt.datetime | None = None,
        next_update_days: float | None = 1,
        produced_at: _dt.datetime | None = None,
        revocation_time: _dt.datetime | None = None,
        reason: x509.ReasonFlags | None = None,
        nonce: bytes | None = None,
        request: ocsp.OCSPRequest | None = None,
        include_responder_cert: bool = True,
        responder_id_by_key: bool = False,
    ) -> ocsp.OCSPResponse:
        """Build a signed OCSP response (RFC 6960 §4.2) for ``cert`` issued by this CA.

        Args:
            cert: the certificate asked about.
            status: ``"good"``, ``"revoked"`` or ``"unknown"`` (default: revoked
                when recorded with :meth:`revoke`, else good).
            responder: the signer: ``None`` (this CA signs), a delegated
                responder from :meth:`issue_ocsp_responder`, or any other
                certificate / CA (an unauthorised signer, for tests).
            this_update / next_update: default now - 1 minute and
                thisUpdate + ``next_update_days`` (``None``: no nextUpdate).
            produced_at: ignored by cryptography (it stamps "now"); kept for symmetry.
            revocation_time, reason: for ``"revoked"`` (defaults from :meth:`revoke`).
            nonce: add a nonce extension (RFC 8954); with ``request`` given,
                its nonce is echoed when ``nonce`` is ``None``.
            request: the parsed request; the hash algorithm of its CertID is used.
            include_responder_cert: put the delegated responder's certificate in ``certs``.
            responder_id_by_key: identify the responder by key hash instead of name.

        Returns:
            :class:`cryptography.x509.ocsp.OCSPResponse`.
        """
        del produced_at
        leaf = cert.cert if isinstance(cert, IssuedCert) else cert
        serial = leaf.serial_number
        if status is None:
            status = "revoked" if serial in self._revoked else "good"
        this_update = _aware(this_update, "this_update") if this_update else _now() - _dt.timedelta(minutes=1)
        if next_update is not None:
            nu: _dt.datetime | None = _aware(next_update, "next_update")
        elif next_update_days is not None:
            nu = this_update + _dt.timedelta(days=next_update_days)
        else:
            nu = None
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status]
        rev_time: _dt.datetime | None = None
        rev_reason: x509.ReasonFlags | None = None
        if status == "revoked":
            recorded = self._revoked.get(serial)
            rev_time = _aware(revocation_time, "revocation_time") if revocation_time else (
                recorded[1] if recorded else this_update
            )
            rev_reason = reason if reason is not None else (recorded[0] if recorded else None)
        algorithm: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303 - RFC 6960 CertID default
        if request is not None:
            algorithm = request.hash_algorithm
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=leaf,
            issuer=self.cert,
            algorithm=algorithm,
            cert_status=cert_status,
            this_update=this_update,
            next_update=nu,
            revocation_time=rev_time,
            revocation_reason=rev_reason,
        )
        signer_cert = self.cert
        signer_key: PrivateKey = self.key
        if responder is not None:
            signer_cert = responder.cert
            signer_key = responder.key
            if include_responder_cert and responder is not self:
                builder = builder.certificates([responder.cert])
        builder = builder.responder_id(
            ocsp.OCSPResponderEncoding.HASH if responder_id_by_key else ocsp.OCSPResponderEncoding.NAME,
            signer_cert,
        )
        if nonce is None and request is not None:
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                nonce = None
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(signer_key, _sign_hash(signer_key))

    # -- accessors ---------------------------------------------------------

    @property
    def is_root(self) -> bool:
        """``True`` for a self-signed trust anchor (no issuer certificates above it)."""
        return not self._issuer_certs

    @property
    def root(self) -> CA | None:
        """The root :class:`CA` object up the :attr:`parent` links, or ``None``
        when this CA was loaded without its root's key (see :attr:`root_cert`)."""
        ca: CA = self
        while ca.parent is not None:
            ca = ca.parent
        return ca if ca.is_root else None

    @property
    def root_cert(self) -> x509.Certificate:
        """The root certificate of this CA's hierarchy (the trust anchor)."""
        return self._issuer_certs[-1] if self._issuer_certs else self.cert

    @property
    def chain(self) -> list[x509.Certificate]:
        """The CA certificates a peer sends after a leaf issued by this CA:
        this CA, then its issuers up to **but excluding** the root. ``[]`` for
        a root; ``[intermediate]`` for a one-level intermediate."""
        if self.is_root:
            return []
        return [self.cert, *self._issuer_certs[:-1]]

    @property
    def subject(self) -> x509.Name:
        """The CA's subject name."""
        return self.cert.subject

    @property
    def serial(self) -> int:
        """The CA certificate's serial number."""
        return self.cert.serial_number

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """:attr:`chain` in PEM (empty for a root)."""
        return _certs_pem(self.chain)

    @property
    def root_cert_pem(self) -> bytes:
        """:attr:`root_cert` in PEM: what to upload as a trusted CA."""
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when ``passphrase`` is given."""
        return private_key_pem(self.key, passphrase)

    def write(
        self, directory: str | os.PathLike[str], stem: str = "ca", *, passphrase: bytes | None = None
    ) -> PemPaths:
        """Write ``stem.pem`` (certificate), ``stem.chain.pem`` (certificate and
        its intermediates) and ``stem.key`` (mode 0600) into ``directory``.

        Raises:
            FileExistsError: ``stem.key`` exists (keys are never overwritten;
                nothing is written then).
        """
        return _write_triple(Path(directory), stem, [self.cert, *self.chain[1:]], self.key, passphrase)

    def configure_trust(self, ssl_context: ssl.SSLContext) -> None:
        """Load this hierarchy's root certificate (:attr:`root_cert`) into
        ``ssl_context`` as a trust anchor (client side: to verify servers; server
        side: to verify client certificates)."""
        ssl_context.load_verify_locations(cadata=self.root_cert_pem.decode("ascii"))

    def __repr__(self) -> str:
        return f"<CA {self.name!r} serial={self.cert.serial_number:#x}>"


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
    cdp = _cdp(crl_url)
    if cdp is not None:
        exts.append((cdp, False))
    aia = _aia(ocsp_url, ca_issuers_url)
    if aia is not None:
        exts.append((aia, False))
    if ocsp_must_staple:
        exts.append((x509.TLSFeature([x509.TLSFeatureType.status_request]), False))
    if ocsp_nocheck:
        exts.append((x509.OCSPNoCheck(), False))
    return exts


def _write_triple(
    directory: Path,
    stem: str,
    chain: Sequence[x509.Certificate],
    key: PrivateKey,
    passphrase: bytes | None,
) -> PemPaths:
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{stem}.key"
    # The key first, with O_EXCL: when it exists nothing else is touched.
    write_private_file(key_path, private_key_pem(key, passphrase))
    cert_path = _write_public_file(directory / f"{stem}.pem", _certs_pem(chain[:1]))
    chain_path = _write_public_file(directory / f"{stem}.chain.pem", _certs_pem(chain))
    return PemPaths(cert_path, chain_path, key_path)


# ---------------------------------------------------------------------------
# IssuedCert
# ---------------------------------------------------------------------------


class IssuedCert:
    """An end-entity certificate with its private key and issuing chain.

    Attributes:
        cert: the certificate.
        key: its private key.
        issuer: the issuing :class:`CA`, or ``None`` for a self-signed leaf.
    """

    def __init__(self, cert: x509.Certificate, key: PrivateKey, *, issuer: CA | None = None) -> None:
        self.cert = cert
        self.key = key
        self.issuer = issuer

    @classmethod
    def self_signed(
        cls,
        *names: str | x509.GeneralName,
        cn: str | None = None,
        organization: str | None = None,
        key_type: KeyType | str = "ec-p256",
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        days: int | float = _DEFAULT_LEAF_DAYS,
        eku: Sequence[str | x509.ObjectIdentifier] | None = ("serverAuth", "clientAuth"),
        key: PrivateKey | None = None,
        extensions: Sequence[
            x509.Extension[x509.ExtensionType] | tuple[x509.ExtensionType, bool]
        ] = (),
    ) -> IssuedCert:
        """A self-signed leaf (``cA=FALSE``; subject = issuer). Such certificates
        are refused as mTLS client identities by servers that trust a CA, and
        flagged ``SELF_SIGNED_LEAF`` by :func:`certpolicy.clientcert.lint_client_certificate`.

        Arguments as for :meth:`CA.issue_cert`; EKU defaults to serverAuth + clientAuth.
        """
        key = key if key is not None else generate_key(key_type)
        start, end = _validity(not_before, not_after, days, None)
        subject = _leaf_subject(names, cn, organization)
        pub = key.public_key()
        exts = _leaf_extensions(
            pub,
            names,
            subject_empty=len(subject) == 0,
            eku=eku,
            key_usage=None,
            ocsp_url=None,
            crl_url=None,
            ca_issuers_url=None,
            ocsp_must_staple=False,
            ocsp_nocheck=False,
            san_critical=False,
            include_san=True,
        )
        cert = _build(
            subject=subject,
            public_key=pub,
            issuer_name=subject,
            signing_key=key,
            not_before=start,
            not_after=end,
            extensions=exts,
            overrides=extensions,
        )
        return cls(cert, key, issuer=None)

    @property
    def serial(self) -> int:
        """The certificate's serial number."""
        return self.cert.serial_number

    @property
    def chain(self) -> list[x509.Certificate]:
        """The leaf followed by its intermediates, root **not** included (what a
        TLS peer sends, RFC 8446 §4.4.2)."""
        return [self.cert, *(self.issuer.chain if self.issuer is not None else [])]

    @property
    def cert_pem(self) -> bytes:
        """The leaf in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """Leaf and intermediates in PEM (:attr:`chain`)."""
        return _certs_pem(self.chain)

    @property
    def root_cert(self) -> x509.Certificate:
        """The trust anchor of this certificate (itself when self-signed)."""
        return self.issuer.root_cert if self.issuer is not None else self.cert

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted (AES-256) when a passphrase is given."""
        return private_key_pem(self.key, passphrase)

    def write(
        self, directory: str | os.PathLike[str], stem: str, *, passphrase: bytes | None = None
    ) -> PemPaths:
        """Write ``stem.pem`` (leaf), ``stem.chain.pem`` (leaf + intermediates)
        and ``stem.key`` (mode 0600, encrypted when ``passphrase`` is given).

        Returns:
            :class:`PemPaths`.

        Raises:
            FileExistsError: ``stem.key`` already exists; nothing is written.
        """
        return _write_triple(Path(directory), stem, self.chain, self.key, passphrase)

    def pkcs12(self, passphrase: bytes | None = None, *, friendly_name: bytes | None = None) -> bytes:
        """A PKCS#12 (RFC 7292) bundle: key, leaf and intermediates; encrypted
        with the best available algorithm (PBES2/AES-256) when ``passphrase`` is given."""
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        cns = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = friendly_name or (str(cns[0].value).encode() if cns else None)
        return pkcs12.serialize_key_and_certificates(
            name, self.key, self.cert, self.chain[1:] or None, enc
        )

    def configure_cert(self, ssl_context: ssl.SSLContext) -> None:
        """Load the leaf, its intermediates and its key into ``ssl_context``
        (server side: the server certificate; client side: the mTLS identity).
        The PEM goes through a private temporary directory (0700, files 0600)
        that is removed before returning."""
        _load_cert_chain_into(ssl_context, self.chain, self.key)

    def __repr__(self) -> str:
        return f"<IssuedCert {self.cert.subject.rfc4514_string()!r} serial={self.serial:#x}>"


_Revocable = x509.Certificate | IssuedCert | CA | int
RevokedEntry = (
    _Revocable
    | tuple[_Revocable, "x509.ReasonFlags | None"]
    | tuple[_Revocable, "x509.ReasonFlags | None", "_dt.datetime | None"]
)
"""One entry of :meth:`CA.issue_crl`'s ``revoked``: a certificate or serial,
optionally with a CRLReason and a revocationDate."""
