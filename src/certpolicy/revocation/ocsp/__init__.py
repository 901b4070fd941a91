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

from .errors import OcspError
from .fetch import GET_MAX_URL_BYTES, Fetcher, fetch_response, get_url
from .request import CertId, OcspRequest, build_request, responder_urls
from .response import VerifiedResponse, verify_response
from .signer import ResponderCheck
from .status import SOURCE as SOURCE
from .status import (
    check_freshness,
    evaluate_response,
    expires_at,
    fetch_error_status,
    status_from_verified,
)

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
