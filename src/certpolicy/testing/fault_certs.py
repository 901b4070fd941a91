"""Certificates and signers behind the content faults of the test servers.

``stale`` / ``future`` re-sign a leaf with a validity in the past / future,
``wrong_signer`` uses a CA nobody trusts (:func:`stranger_ca`), and
``unauthorised_delegate`` a certificate the issuer signed without granting
it the right to sign (:func:`undelegated`). Everything is made once per
process and issuer and cached: a fault costs one signature, not a key
generation, after the first use.
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

from ..pki import CA, IssuedCert

__all__ = ["faulty_chain", "resign_leaf", "stranger_ca", "undelegated"]

_lock = threading.Lock()
_stranger: CA | None = None
_undelegated: dict[int, IssuedCert] = {}


def _hash_for(key: object) -> hashes.SHA256 | None:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


def stranger_ca() -> CA:
    """A root CA that no test PKI trusts (one per process): the ``wrong_signer``."""
    global _stranger
    with _lock:
        if _stranger is None:
            _stranger = CA.create("certpolicy wrong signer (untrusted)")
        return _stranger


def undelegated(issuer: Any) -> IssuedCert:
    """A certificate ``issuer`` (a :class:`~certpolicy.pki.CA`) signed for a
    key it did not authorise to sign anything: an end-entity certificate with
    EKU serverAuth only (no OCSPSigning, no cRLSign, no cA). Cached per issuer."""
    key = id(issuer)
    with _lock:
        cert = _undelegated.get(key)
        if cert is None or cert.issuer is not issuer:
            cert = issuer.issue_cert(cn="certpolicy unauthorised delegate", include_san=False)
            _undelegated[key] = cert
        return cert


def resign_leaf(
    cert: x509.Certificate,
    *,
    issuer_cert: x509.Certificate,
    issuer_key: Any,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
) -> x509.Certificate:
    """``cert`` re-signed by ``issuer_cert`` / ``issuer_key``: same subject,
    public key and extensions (the authority key identifier replaced), new
    serial, and the given validity (default: ``cert``'s).

    Raises:
        ValueError: from :mod:`cryptography` for an inconsistent validity.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer_cert.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or cert.not_valid_before_utc)
        .not_valid_after(not_after or cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        if isinstance(ext.value, x509.AuthorityKeyIdentifier):
            continue
        builder = builder.add_extension(ext.value, ext.critical)
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]
    builder = builder.add_extension(aki, critical=False)
    return builder.sign(issuer_key, _hash_for(issuer_key))


def faulty_chain(identity: Any, name: str, by: _dt.timedelta) -> list[x509.Certificate]:
    """The certificate chain a TLS server sends under the content fault ``name``
    (``stale``, ``future``, ``wrong_signer``, ``unauthorised_delegate``) for
    ``identity`` (an :class:`~certpolicy.pki.IssuedCert` with its issuing CA).

    Raises:
        ValueError: ``identity`` has no issuing CA, or an unknown ``name``.
    """
    issuer = getattr(identity, "issuer", None)
    if issuer is None or getattr(issuer, "key", None) is None:
        raise ValueError(f"the {name!r} fault needs an identity issued by a certpolicy.pki.CA")
    leaf: x509.Certificate = identity.cert
    now = _dt.datetime.now(_dt.timezone.utc)
    if name == "stale":
        return [resign_leaf(leaf, issuer_cert=issuer.cert, issuer_key=issuer.key,
                            not_before=now - by - _dt.timedelta(days=30), not_after=now - by), *issuer.chain]
    if name == "future":
        return [resign_leaf(leaf, issuer_cert=issuer.cert, issuer_key=issuer.key,
                            not_before=now + by, not_after=now + by + _dt.timedelta(days=30)), *issuer.chain]
    if name == "wrong_signer":
        stranger = stranger_ca()
        return [resign_leaf(leaf, issuer_cert=stranger.cert, issuer_key=stranger.key), stranger.cert]
    if name == "unauthorised_delegate":
        delegate = undelegated(issuer)
        return [resign_leaf(leaf, issuer_cert=delegate.cert, issuer_key=delegate.key), *delegate.chain]
    raise ValueError(f"no faulty certificate chain for {name!r}")
