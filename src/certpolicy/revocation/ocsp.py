"""OCSP (RFC 6960) on cryptography primitives: build the request, fetch it,
verify the response and turn it into a :class:`~certpolicy.checks.base.RevocationStatus`.

This module is the pure core of the OCSP check (:class:`certpolicy.OcspCheck`
adds caching, single flight and background fetching on top of it). Apart from
:func:`fetch_response`, which does one bounded HTTP exchange through
:func:`certpolicy.fetch.fetch`, nothing here touches the network or reads the
clock: the validation time is always an argument.

The steps, with the outcome of the SPEC taxonomy each one can produce:

1. :func:`responder_urls` - the OCSP URLs of the certificate's authority
   information access extension (RFC 5280 §4.2.2.1). None: ``no-revocation-info``.
2. :func:`build_request` - an ``OCSPRequest`` for one ``CertID`` (SHA-1, as
   RFC 5019 §2.1.1 requires), optionally with a nonce (RFC 8954).
3. :func:`fetch_response` - HTTP GET when the base64 request is small
   (RFC 6960 appendix A.1, RFC 5019 §5), POST otherwise, within the policy's
   :class:`~certpolicy.policy.FetchLimits`. Timeouts, refused connections and
   HTTP errors: ``unreachable``; a body over the byte limit: ``oversized``.
4. :func:`verify_response` (RFC 6960 §3.2 and §4.2.2.2):

   * the DER parses and ``responseStatus`` is ``successful``: otherwise
     ``malformed`` (garbage, ``malformedRequest``), ``unreachable``
     (``internalError``, ``tryLater``, ``sigRequired``: the responder is up
     but will not answer now, exactly like an HTTP 5xx/403) or ``unknown``
     (``unauthorized``: RFC 5019 §2.2.3, the responder is not authoritative
     for this certificate, i.e. has no status for it);
   * the signer is identified by the ``ResponderID`` (byName or byKey) as the
     issuer itself or as a certificate carried in the response; an
     unidentifiable signer: ``unauthorised-signer``;
   * the signature verifies with the signer's public key: otherwise
     ``bad-signature``;
   * a delegated responder is authorised: directly issued by the issuer,
     carries the id-kp-OCSPSigning EKU, is valid at the validation time
     (pyhanko-certvalidator validates that one-certificate path), and either
     carries id-pkix-ocsp-nocheck or passes its own revocation check
     (RFC 6960 §4.2.2.2.1): otherwise ``unauthorised-signer``;
   * a ``SingleResponse`` whose ``CertID`` matches the certificate asked
     about (hash algorithm taken from the response): otherwise ``malformed``
     (a response for another certificate);
   * when a nonce was sent and the response carries one, they are equal
     (RFC 8954 §2.1): otherwise ``malformed`` - a response with a wrong
     nonce is never used, whatever its certStatus (the caller then asks the
     next URL or source, and the policy's outcome map decides); a missing
     nonce is accepted (RFC 5019 responders ignore nonces).

5. :func:`check_freshness` - thisUpdate not later than the
   validation time plus the clock skew; nextUpdate not earlier than the
   validation time minus the clock skew; without nextUpdate, thisUpdate at most
   ``max_age`` seconds old (RFC 6960 §3.2 items 5-6, §4.2.2.1). Otherwise
   ``stale``. As for CRLs, an authentic response that says ``revoked`` still
   proves revocation when it is stale (except ``certificateHold``, which can be
   lifted).
6. ``certStatus``: ``good``, ``revoked`` (with revocationTime and
   revocationReason) or ``unknown``.

:func:`evaluate_response` runs 4-6 on a response's DER and never raises.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as _dt
import hashlib
import logging
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from ..checks.base import RevocationStatus
from ..fetch import FetchError, FetchHTTPStatus, FetchResponse
from ..policy import FetchLimits, Outcome

__all__ = [
    "GET_MAX_URL_BYTES",
    "CertId",
    "Fetcher",
    "OcspError",
    "OcspRequest",
    "ResponderCheck",
    "VerifiedResponse",
    "build_request",
    "check_freshness",
    "evaluate_response",
    "expires_at",
    "fetch_error_status",
    "fetch_response",
    "get_url",
    "responder_urls",
    "status_from_verified",
    "verify_response",
]

log = logging.getLogger("certpolicy.ocsp")

SOURCE = "ocsp"

#: Largest encoded request (bytes) sent with GET: RFC 5019 §5 says "less than
#: 255 bytes"; larger requests go out as POST.
GET_MAX_URL_BYTES = 255

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

#: responseStatus (RFC 6960 §4.2.1) -> taxonomy word, when not ``successful``.
_STATUS_OUTCOMES: dict[ocsp.OCSPResponseStatus, tuple[Outcome, str]] = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: (
        Outcome.MALFORMED,
        "the responder answered malformedRequest (it could not parse our request)",
    ),
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: (
        Outcome.UNREACHABLE,
        "the responder answered internalError (a server-side failure, like HTTP 500)",
    ),
    ocsp.OCSPResponseStatus.TRY_LATER: (
        Outcome.UNREACHABLE,
        "the responder answered tryLater (temporarily unable to answer, like HTTP 503)",
    ),
    ocsp.OCSPResponseStatus.SIG_REQUIRED: (
        Outcome.UNREACHABLE,
        "the responder answered sigRequired (it serves signed requests only)",
    ),
    ocsp.OCSPResponseStatus.UNAUTHORIZED: (
        Outcome.UNKNOWN,
        "the responder answered unauthorized (not authoritative for this certificate, "
        "RFC 5019 §2.2.3: it has no status for it)",
    ),
}


class OcspError(Exception):
    """A response (or request) that cannot be used.

    Attributes:
        outcome: the taxonomy word (:class:`~certpolicy.policy.Outcome`).
        detail: one human sentence.
    """

    def __init__(self, outcome: Outcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail
        super().__init__(f"{outcome.value}: {detail}")


# ---------------------------------------------------------------------------
# CertID and request
# ---------------------------------------------------------------------------


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


def get_url(base_url: str, der: bytes) -> str | None:
    """The GET form of a request (RFC 6960 appendix A.1): ``base_url`` + ``/``
    + the URL-encoded base64 of the DER request, or ``None`` when that encoding
    is 255 bytes or more (RFC 5019 §5) and the request must go as POST."""
    encoded = urllib.parse.quote(base64.b64encode(der).decode("ascii"), safe="")
    if len(encoded) >= GET_MAX_URL_BYTES:
        return None
    return base_url.rstrip("/") + "/" + encoded


class Fetcher(Protocol):
    """The signature of :func:`certpolicy.fetch.fetch` (injectable for tests
    and for callers with their own HTTP stack)."""

    def __call__(
        self,
        url: str,
        *,
        limits: FetchLimits,
        method: str = ...,
        body: bytes | None = ...,
        content_type: str | None = ...,
        accept: str | None = ...,
        deadline: float | None = ...,
    ) -> FetchResponse: ...


def fetch_response(
    url: str,
    request: OcspRequest,
    *,
    limits: FetchLimits,
    fetcher: Fetcher,
    deadline: float | None = None,
    allow_get: bool = True,
) -> bytes:
    """Send ``request`` to the responder at ``url`` and return the response DER.

    GET is used when the request is small and ``allow_get`` is true (requests
    with a nonce are sent as POST by the caller so that no cache between us and
    the responder answers them); when a GET gets an HTTP error status the
    request is retried once as POST within the same deadline (some responders
    only implement POST).

    Args:
        url: the responder URL (``http://`` or ``https://``).
        request: from :func:`build_request`.
        limits: connect/read/total timeouts (seconds) and byte limit (bytes).
        fetcher: :func:`certpolicy.fetch.fetch` or a compatible callable.
        deadline: absolute ``time.monotonic()`` bound on the whole exchange.
        allow_get: permit GET for small requests.

    Returns:
        the response body (bytes, not yet parsed).

    Raises:
        certpolicy.fetch.FetchError: (and subclasses) timeouts, refused
            connections, HTTP errors, bodies over ``limits.max_bytes``.
    """
    get = get_url(url, request.der) if allow_get else None
    if get is not None:
        try:
            return fetcher(get, limits=limits, method="GET", accept=OCSP_RESPONSE_TYPE, deadline=deadline).body
        except FetchHTTPStatus as e:
            log.debug("OCSP GET %s failed (%s); retrying as POST", url, e)
    resp = fetcher(
        url,
        limits=limits,
        method="POST",
        body=request.der,
        content_type=OCSP_REQUEST_TYPE,
        accept=OCSP_RESPONSE_TYPE,
        deadline=deadline,
    )
    return resp.body


# ---------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------

#: Called for a delegated responder without id-pkix-ocsp-nocheck: given the
#: responder certificate (issued by the same issuer), return its revocation
#: status; only ``good`` accepts the responder.
ResponderCheck = Callable[[x509.Certificate], RevocationStatus]


@dataclass(frozen=True)
class VerifiedResponse:
    """An OCSP response whose signature, signer and CertID were verified
    (freshness not yet judged: see :func:`check_freshness`).

    Attributes:
        cert_status: ``Outcome.GOOD``, ``Outcome.REVOKED`` or ``Outcome.UNKNOWN``.
        this_update / next_update / produced_at: aware UTC datetimes
            (``next_update`` may be ``None``).
        revocation_time / revocation_reason: for revoked certificates (the
            reason as its RFC 5280 name, e.g. ``"keyCompromise"``, or ``None``).
        signer: ``"issuer"`` or ``"delegated"``.
        signer_subject: RFC 4514 subject of the signing certificate.
        signer_not_after: notAfter of a delegated responder certificate (its
            authorisation ends then), ``None`` for the issuer.
        nonce_checked: ``True`` when a nonce was sent and echoed correctly.
        der: the response DER.
    """

    cert_status: Outcome
    this_update: _dt.datetime
    next_update: _dt.datetime | None
    produced_at: _dt.datetime
    revocation_time: _dt.datetime | None
    revocation_reason: str | None
    signer: Literal["issuer", "delegated"]
    signer_subject: str
    signer_not_after: _dt.datetime | None
    nonce_checked: bool
    der: bytes


def _spki_key_hash(cert: x509.Certificate) -> bytes:
    # SHA-1 of the subjectPublicKey BIT STRING value (RFC 6960 §4.2.1 KeyHash);
    # cryptography computes exactly that for the RFC 5280 key identifier.
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _responder_id_matches(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    try:
        if resp.responder_key_hash is not None:
            return resp.responder_key_hash == _spki_key_hash(cert)
        if resp.responder_name is not None:
            return resp.responder_name == cert.subject
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return False


def _same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    try:
        fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return a.public_key().public_bytes(*fmt) == b.public_key().public_bytes(*fmt)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _verify_signature(der: bytes, resp: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    """Verify the BasicOCSPResponse signature with ``signer``'s public key.

    pyhanko-certvalidator's signature validator handles every algorithm
    (RSA PKCS#1 v1.5 and PSS with its parameters, ECDSA, EdDSA, DSA).
    Raises OcspError(bad-signature).
    """
    from asn1crypto import keys as a_keys
    from asn1crypto import ocsp as a_ocsp
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

    try:
        basic = a_ocsp.OCSPResponse.load(der).basic_ocsp_response
        sig_alg = basic["signature_algorithm"]
        spki = a_keys.PublicKeyInfo.load(
            signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        DefaultSignatureValidator().validate_signature(
            resp.signature, resp.tbs_response_bytes, spki, sig_alg
        )
    except InvalidSignature:
        raise OcspError(
            Outcome.BAD_SIGNATURE,
            f"the response signature does not verify with the key of {signer.subject.rfc4514_string()!r}",
        ) from None
    except Exception as e:  # unsupported algorithm, PSS mismatch, key/algorithm clash
        raise OcspError(
            Outcome.BAD_SIGNATURE,
            f"the response signature cannot be verified ({type(e).__name__}: {e})",
        ) from None


def _run_coroutine(coro: Any, timeout: float = 10.0) -> Any:
    """Run a pyhanko coroutine to completion from synchronous code: on a
    private event loop in this thread, or in a worker thread when this thread
    already runs a loop (asyncio handshakes; DESIGN pitfall 4)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="certpolicy-pyhanko") as ex:
        return ex.submit(asyncio.run, coro).result(timeout=timeout)


def _validate_delegated_path(
    responder: x509.Certificate, issuer: x509.Certificate, at: _dt.datetime, clock_skew: float
) -> None:
    """Validate the one-certificate path issuer -> responder with
    pyhanko-certvalidator (signature, validity at ``at`` within ``clock_skew``,
    critical extensions, id-kp-OCSPSigning). Raises OcspError(unauthorised-signer)."""
    from asn1crypto import x509 as a_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy

    anchor = a_x509.Certificate.load(issuer.public_bytes(Encoding.DER))
    ee = a_x509.Certificate.load(responder.public_bytes(Encoding.DER))
    vc = ValidationContext(
        trust_roots=[CertTrustAnchor(anchor)],
        allow_fetching=False,
        moment=at,
        time_tolerance=_dt.timedelta(seconds=clock_skew),
        revinfo_policy=CertRevTrustPolicy(NO_REVOCATION),
    )
    validator = CertificateValidator(ee, validation_context=vc)
    try:
        _run_coroutine(
            validator.async_validate_usage(set(), extended_key_usage={"ocsp_signing"})  # type: ignore[no-untyped-call]
        )
    except Exception as e:
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {responder.subject.rfc4514_string()!r} is not valid under "
            f"the issuer: {e}",
        ) from None


def _has_ocsp_signing(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def _has_nocheck(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return True


def _authorise_delegated(
    responder: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    clock_skew: float,
    responder_check: ResponderCheck | None,
) -> None:
    """RFC 6960 §4.2.2.2 item 3 and §4.2.2.2.1. Raises OcspError(unauthorised-signer)."""
    name = responder.subject.rfc4514_string()
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"the response is signed by {name!r}, which the issuer "
            f"{issuer.subject.rfc4514_string()!r} did not issue (a responder of another CA?)",
        ) from None
    if not _has_ocsp_signing(responder):
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {name!r} lacks the id-kp-OCSPSigning extended key usage "
            "(RFC 6960 §4.2.2.2)",
        )
    try:
        ku = responder.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise OcspError(
                Outcome.UNAUTHORISED_SIGNER,
                f"delegated responder {name!r} has a key usage without digitalSignature",
            )
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        raise OcspError(Outcome.UNAUTHORISED_SIGNER, f"delegated responder {name!r} has an unparseable key usage") from None
    _validate_delegated_path(responder, issuer, at, clock_skew)
    if _has_nocheck(responder):
        return
    if responder_check is None:
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {name!r} carries no id-pkix-ocsp-nocheck extension and its own "
            "revocation status is not checked under this configuration (RFC 6960 §4.2.2.2.1)",
        )
    st = responder_check(responder)
    if st.outcome is not Outcome.GOOD:
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {name!r} (no id-pkix-ocsp-nocheck) could not be shown unrevoked: "
            f"{st.outcome.value}: {st.detail}",
        )


def _find_single(resp: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPSingleResponse:
    ids: dict[str, CertId] = {}
    count = 0
    for single in resp.responses:
        count += 1
        if count > 1000:
            break
        try:
            alg = single.hash_algorithm
        except UnsupportedAlgorithm:
            continue
        if alg.name not in _HASHES:
            continue
        if alg.name not in ids:
            ids[alg.name] = CertId.for_certificate(cert, issuer, _HASHES[alg.name]())
        want = ids[alg.name]
        if (
            single.serial_number == want.serial_number
            and single.issuer_name_hash == want.issuer_name_hash
            and single.issuer_key_hash == want.issuer_key_hash
        ):
            return single
    raise OcspError(
        Outcome.MALFORMED,
        f"the response is for another certificate: no SingleResponse matches the CertID "
        f"(serial {cert.serial_number:#x}, issuer {issuer.subject.rfc4514_string()!r})",
    )


def _reason_name(reason: x509.ReasonFlags | None) -> str | None:
    return None if reason is None else reason.value


def verify_response(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    clock_skew: float = 900.0,
    nonce: bytes | None = None,
    responder_check: ResponderCheck | None = None,
) -> VerifiedResponse:
    """Parse and verify an OCSP response for ``cert`` (RFC 6960 §3.2, §4.2.2.2).

    Freshness is not judged here (see :func:`check_freshness`), so a verified
    response can be cached and re-judged at every later validation time.

    Args:
        der: the response body.
        cert: the certificate asked about; ``issuer``: its issuer.
        at: validation time (aware UTC), for the delegated responder's validity.
        clock_skew: tolerance in seconds on that validity.
        nonce: the nonce sent in the request, or ``None``.
        responder_check: how to check a delegated responder that lacks
            id-pkix-ocsp-nocheck; ``None`` rejects such a responder.

    Returns:
        :class:`VerifiedResponse`.

    Raises:
        OcspError: with ``outcome`` malformed, unreachable, unknown,
            bad-signature or unauthorised-signer (see the module docstring).
    """
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError as e:
        sample = der[:16].hex()
        raise OcspError(
            Outcome.MALFORMED,
            f"the body ({len(der)} bytes, starting {sample or 'empty'}) is not a DER OCSP response: {e}",
        ) from None
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        outcome, why = _STATUS_OUTCOMES.get(
            resp.response_status, (Outcome.MALFORMED, f"unexpected responseStatus {resp.response_status}")
        )
        raise OcspError(outcome, why)

    # Who signed it (RFC 6960 §4.2.2.3 ResponderID)?
    try:
        carried = list(resp.certificates)
    except ValueError as e:
        raise OcspError(Outcome.MALFORMED, f"the response's certificates cannot be parsed: {e}") from None
    signer: x509.Certificate | None = None
    delegated = False
    if _responder_id_matches(resp, issuer):
        signer = issuer
    else:
        for c in carried[:20]:
            if _responder_id_matches(resp, c):
                signer = c
                delegated = not (_same_key(c, issuer) and c.subject == issuer.subject)
                break
    if signer is None:
        rid = (
            f"byKey {resp.responder_key_hash.hex()}"
            if resp.responder_key_hash is not None
            else f"byName {resp.responder_name.rfc4514_string() if resp.responder_name else '?'}"
        )
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"the signer ({rid}) is neither the issuer nor a certificate included in the response",
        )
    _verify_signature(der, resp, signer)
    if delegated:
        _authorise_delegated(signer, issuer, at=at, clock_skew=clock_skew, responder_check=responder_check)

    single = _find_single(resp, cert, issuer)

    nonce_checked = False
    if nonce is not None:
        try:
            got: bytes | None = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            got = None
        except ValueError as e:
            raise OcspError(Outcome.MALFORMED, f"the response extensions cannot be parsed: {e}") from None
        if got is not None:
            if got != nonce:
                raise OcspError(
                    Outcome.MALFORMED,
                    f"the response echoes a different nonce ({got.hex()}) than the request sent "
                    f"({nonce.hex()}): a replayed or cached answer (RFC 8954 §2.1)",
                )
            nonce_checked = True

    try:
        status = single.certificate_status
        this_update = single.this_update_utc
        next_update = single.next_update_utc
        produced_at = resp.produced_at_utc
        rev_time = single.revocation_time_utc if status is ocsp.OCSPCertStatus.REVOKED else None
        rev_reason = _reason_name(single.revocation_reason) if status is ocsp.OCSPCertStatus.REVOKED else None
    except ValueError as e:
        raise OcspError(Outcome.MALFORMED, f"the SingleResponse cannot be parsed: {e}") from None
    if next_update is not None and next_update < this_update:
        raise OcspError(Outcome.MALFORMED, f"nextUpdate {next_update:%Y-%m-%dT%H:%M:%SZ} precedes thisUpdate")
    outcome = {
        ocsp.OCSPCertStatus.GOOD: Outcome.GOOD,
        ocsp.OCSPCertStatus.REVOKED: Outcome.REVOKED,
        ocsp.OCSPCertStatus.UNKNOWN: Outcome.UNKNOWN,
    }[status]
    return VerifiedResponse(
        cert_status=outcome,
        this_update=this_update,
        next_update=next_update,
        produced_at=produced_at,
        revocation_time=rev_time,
        revocation_reason=rev_reason,
        signer="delegated" if delegated else "issuer",
        signer_subject=signer.subject.rfc4514_string(),
        signer_not_after=signer.not_valid_after_utc if delegated else None,
        nonce_checked=nonce_checked,
        der=der,
    )


def _iso(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_freshness(
    v: VerifiedResponse, *, at: _dt.datetime, clock_skew: float = 900.0, max_age: float = 7 * 86400.0
) -> str | None:
    """Judge a verified response's time window at ``at`` (RFC 6960 §3.2 items
    5-6, §4.2.2.1).

    Args:
        v: a :class:`VerifiedResponse`.
        at: validation time (aware UTC).
        clock_skew: tolerance in seconds in both directions (900 = 15 min).
        max_age: seconds a response without nextUpdate stays fresh after thisUpdate.

    Returns:
        ``None`` when fresh, else the reason it is stale (one sentence).
    """
    skew = _dt.timedelta(seconds=clock_skew)
    if v.this_update > at + skew:
        return f"thisUpdate {_iso(v.this_update)} is in the future (validation time {_iso(at)}, clock skew {clock_skew:g} s)"
    if v.next_update is not None:
        if v.next_update < at - skew:
            return f"nextUpdate {_iso(v.next_update)} has passed (validation time {_iso(at)}, clock skew {clock_skew:g} s)"
    elif v.this_update + _dt.timedelta(seconds=max_age) < at - skew:
        return (
            f"no nextUpdate and thisUpdate {_iso(v.this_update)} is older than the maximum age of "
            f"{max_age:g} s (validation time {_iso(at)})"
        )
    if v.signer_not_after is not None and v.signer_not_after < at - skew:
        return f"the delegated responder's certificate expired {_iso(v.signer_not_after)}"
    return None


def expires_at(v: VerifiedResponse, *, max_age: float = 7 * 86400.0) -> _dt.datetime:
    """When a cached response stops being usable (its cache lifetime): the
    earlier of nextUpdate and thisUpdate + ``max_age`` seconds (the policy's
    ``ocsp_max_age`` caps responses whose nextUpdate is further away, and is
    the whole lifetime of one without nextUpdate); never after a delegated
    signer's notAfter. Callers compare it with the validation time minus the
    clock skew, like nextUpdate."""
    end = v.this_update + _dt.timedelta(seconds=max_age)
    if v.next_update is not None:
        end = min(end, v.next_update)
    if v.signer_not_after is not None:
        end = min(end, v.signer_not_after)
    return end


def status_from_verified(
    v: VerifiedResponse,
    *,
    at: _dt.datetime,
    clock_skew: float = 900.0,
    max_age: float = 7 * 86400.0,
    url: str | None = None,
    cached: bool = False,
) -> RevocationStatus:
    """Turn a :class:`VerifiedResponse` into a :class:`RevocationStatus` at
    ``at``: the certStatus when fresh, ``stale`` otherwise (a stale ``revoked``
    still proves revocation, except ``certificateHold``)."""
    where = f"OCSP responder {url}" if url else "OCSP response"
    how = " (cached)" if cached else ""
    signer = "the issuer" if v.signer == "issuer" else f"delegated responder {v.signer_subject!r}"
    stale = check_freshness(v, at=at, clock_skew=clock_skew, max_age=max_age)
    if stale is not None and not (v.cert_status is Outcome.REVOKED and v.revocation_reason != "certificateHold"):
        return RevocationStatus(
            Outcome.STALE,
            SOURCE,
            f"{where}{how}: response signed by {signer} is stale: {stale}",
            url=url,
            this_update=v.this_update,
            next_update=v.next_update,
        )
    if v.cert_status is Outcome.REVOKED:
        when = _iso(v.revocation_time) if v.revocation_time else "an unknown time"
        return RevocationStatus(
            Outcome.REVOKED,
            SOURCE,
            f"{where}{how}: certificate revoked at {when}, reason {v.revocation_reason or 'unspecified'} "
            f"(signed by {signer})",
            url=url,
            revocation_time=v.revocation_time,
            revocation_reason=v.revocation_reason,
            this_update=v.this_update,
            next_update=v.next_update,
        )
    word = "good" if v.cert_status is Outcome.GOOD else "unknown (the responder does not know this certificate)"
    return RevocationStatus(
        v.cert_status,
        SOURCE,
        f"{where}{how}: status {word}, thisUpdate {_iso(v.this_update)}, "
        f"nextUpdate {_iso(v.next_update) if v.next_update else 'absent'} (signed by {signer})",
        url=url,
        this_update=v.this_update,
        next_update=v.next_update,
    )


def evaluate_response(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    clock_skew: float = 900.0,
    max_age: float = 7 * 86400.0,
    nonce: bytes | None = None,
    url: str | None = None,
    responder_check: ResponderCheck | None = None,
) -> RevocationStatus:
    """Verify and judge one OCSP response; never raises for bad data.

    Args:
        der: the response body.
        cert / issuer: the certificate asked about and its issuer.
        at: validation time (aware UTC ``datetime``).
        clock_skew: seconds of tolerance (default 900).
        max_age: seconds a response without nextUpdate stays fresh (default 7 days).
        nonce: the request's nonce, or ``None``.
        url: the responder URL, for the detail text.
        responder_check: see :func:`verify_response`.

    Returns:
        a :class:`RevocationStatus` with ``source="ocsp"``.

    Example::

        st = evaluate_response(der, leaf, issuer, at=datetime.now(timezone.utc))
        st.outcome  # Outcome.GOOD
    """
    try:
        v = verify_response(
            der, cert, issuer, at=at, clock_skew=clock_skew, nonce=nonce, responder_check=responder_check
        )
    except OcspError as e:
        where = f"OCSP responder {url}" if url else "OCSP response"
        return RevocationStatus(e.outcome, SOURCE, f"{where}: {e.detail}", url=url)
    except Exception as e:  # cryptography/asn1crypto surprises on hostile input: unusable data
        log.debug("unexpected error while verifying an OCSP response", exc_info=True)
        where = f"OCSP responder {url}" if url else "OCSP response"
        return RevocationStatus(
            Outcome.MALFORMED, SOURCE, f"{where}: unusable response ({type(e).__name__}: {e})", url=url
        )
    return status_from_verified(v, at=at, clock_skew=clock_skew, max_age=max_age, url=url)


def fetch_error_status(err: FetchError, url: str) -> RevocationStatus:
    """Map a :class:`~certpolicy.fetch.FetchError` to ``unreachable`` or ``oversized``."""
    outcome = Outcome.OVERSIZED if err.outcome == "oversized" else Outcome.UNREACHABLE
    return RevocationStatus(outcome, SOURCE, f"OCSP responder {url}: {err.reason}", url=url)
