"""The certificate authority of the private PKI: root and intermediate CAs and their issuing.

:class:`CA` creates, loads and writes CAs and issues leaves (server, client,
OCSP responder); its CRL and OCSP methods come from :mod:`.revocation`.
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from .keys import KeyType, PrivateKey, generate_key, load_private_key, private_key_pem
from .leaf import IssuedCert, PemPaths, _certs_pem, _write_triple
from .profiles import (
    _DEFAULT_CA_DAYS,
    _DEFAULT_LEAF_DAYS,
    _aki_for,
    _build,
    _ca_key_usage,
    _ip_network,
    _leaf_extensions,
    _leaf_subject,
    _name,
    _pointer_extensions,
    _validity,
    eku_oid,
)
from .revocation import _RevocationIssuing

__all__ = ["CA"]


# ---------------------------------------------------------------------------
# CA
# ---------------------------------------------------------------------------


class CA(_RevocationIssuing):
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
        exts.extend(_pointer_extensions(crl_url, ocsp_url, ca_issuers_url))
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
