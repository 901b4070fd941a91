"""Leaf certificates of the private PKI: :class:`IssuedCert`, self-signed leaves, PEM output.

Also the file and :class:`ssl.SSLContext` helpers both leaves and CAs write through
(:class:`PemPaths`, public 0644 files, keys loaded via a private temporary directory).
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from .keys import KeyType, PrivateKey, generate_key, private_key_pem, write_private_file
from .profiles import _DEFAULT_LEAF_DAYS, _build, _leaf_extensions, _leaf_subject, _validity

__all__ = ["IssuedCert", "Issuer", "PemPaths"]


class Issuer(Protocol):
    """What a leaf uses of the CA that issued it (:class:`certpolicy.pki.CA`,
    the one implementation; named by shape so that the leaf module does not
    depend on the CA module, which depends on it)."""

    @property
    def chain(self) -> list[x509.Certificate]:
        """The CA certificates a peer sends after the leaf, root excluded."""
        ...

    @property
    def root_cert(self) -> x509.Certificate:
        """The root certificate of the hierarchy (the trust anchor)."""
        ...


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

    def __init__(self, cert: x509.Certificate, key: PrivateKey, *, issuer: Issuer | None = None) -> None:
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
