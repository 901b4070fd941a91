"""The OCSP request (RFC 6960 §4.1): the CertID, the request with its optional nonce
and the responder URLs from the authority information access extension."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from ...policy import Outcome
from .errors import OcspError

#: CertIDs by (certificate, issuer, hash algorithm): a server's certificates
#: come back on every connection (certificates compare and hash by DER).
_CERT_IDS: dict[tuple[x509.Certificate, x509.Certificate, str], CertId] = {}
_CERT_ID_LOCK = threading.Lock()


@dataclass(frozen=True)
class CertId:
    """An OCSP ``CertID`` (RFC 6960 §4.1.1).

    Attributes:
        hash_name: hash algorithm of the two issuer hashes (``"sha1"`` ...).
        issuer_name_hash: hash of the DER of the issuer's subject name (bytes).
        issuer_key_hash: hash of the issuer's subjectPublicKey BIT STRING value (bytes).
        serial_number: the certificate's serial number.
    """

    hash_name: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int

    @classmethod
    def for_certificate(
        cls,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        algorithm: hashes.HashAlgorithm | None = None,
    ) -> CertId:
        """Compute the ``CertID`` of ``cert`` issued by ``issuer``.

        Args:
            cert: the certificate asked about.
            issuer: its issuer's certificate.
            algorithm: SHA-1 (default), SHA-224, SHA-256, SHA-384 or SHA-512.

        Raises:
            OcspError: (``malformed``) the hashes cannot be computed (unsupported
                algorithm or key).
        """
        algorithm = algorithm or hashes.SHA1()  # noqa: S303 - RFC 5019 §2.1.1 mandates SHA-1
        memo_key = (cert, issuer, algorithm.name)
        with _CERT_ID_LOCK:
            known = _CERT_IDS.get(memo_key)
        if known is not None:
            return known
        try:
            # cryptography computes both issuer hashes for us (no hand-written ASN.1).
            req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise OcspError(Outcome.MALFORMED, f"cannot compute the OCSP CertID: {e}") from None
        cert_id = cls(algorithm.name, req.issuer_name_hash, req.issuer_key_hash, cert.serial_number)
        with _CERT_ID_LOCK:
            _CERT_IDS[memo_key] = cert_id
            while len(_CERT_IDS) > 1024:
                _CERT_IDS.pop(next(iter(_CERT_IDS)))
        return cert_id

    def cache_key(self) -> str:
        """The revocation-cache key: ``"ocsp:"`` + hex SHA-256 over the CertID fields."""
        h = hashlib.sha256()
        for part in (
            self.hash_name.encode(),
            self.issuer_name_hash,
            self.issuer_key_hash,
            self.serial_number.to_bytes((self.serial_number.bit_length() + 8) // 8, "big", signed=True),
        ):
            h.update(len(part).to_bytes(4, "big"))
            h.update(part)
        return "ocsp:" + h.hexdigest()


@dataclass(frozen=True)
class OcspRequest:
    """An encoded OCSP request.

    Attributes:
        der: the DER ``OCSPRequest``.
        cert_id: the ``CertID`` it asks about.
        nonce: the nonce sent (RFC 8954), or ``None``.
    """

    der: bytes
    cert_id: CertId
    nonce: bytes | None = None


def build_request(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    nonce: bytes | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> OcspRequest:
    """Build an unsigned OCSP request for one certificate (RFC 6960 §4.1).

    Args:
        cert: the certificate asked about.
        issuer: its issuer.
        nonce: 1..32 random bytes to send in the nonce extension (RFC 8954
            §2.1: at least 1, at most 32 octets), or ``None`` for no nonce.
        algorithm: CertID hash (SHA-1 default, RFC 5019 §2.1.1).

    Returns:
        :class:`OcspRequest`.

    Raises:
        OcspError: (``malformed``) the request cannot be built.
        ValueError: a nonce longer than 32 bytes or empty.
    """
    algorithm = algorithm or hashes.SHA1()  # noqa: S303 - RFC 5019 §2.1.1
    if nonce is not None and not 1 <= len(nonce) <= 32:
        raise ValueError("an OCSP nonce is 1 to 32 bytes (RFC 8954 §2.1)")
    try:
        builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm)
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        req = builder.build()
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise OcspError(Outcome.MALFORMED, f"cannot build the OCSP request: {e}") from None
    cert_id = CertId(algorithm.name, req.issuer_name_hash, req.issuer_key_hash, cert.serial_number)
    return OcspRequest(req.public_bytes(Encoding.DER), cert_id, nonce)


def responder_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URLs of ``cert``'s authority information access
    extension (RFC 5280 §4.2.2.1), ``http``/``https`` only, in order.

    Returns an empty list when there is none (or the extension is unparseable).
    """
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    except ValueError:  # duplicate or undecodable extensions
        return []
    urls = []
    for desc in aia:
        if desc.access_method != AuthorityInformationAccessOID.OCSP:
            continue
        loc = desc.access_location
        if isinstance(loc, x509.UniformResourceIdentifier):
            url = loc.value.strip()
            if url.lower().startswith(("http://", "https://")) and url not in urls:
                urls.append(url)
    return urls
