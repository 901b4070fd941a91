"""The OCSP response check (RFC 6960 §3.2, §4.2.1): parse it, verify its signer and
signature, match the CertID and the nonce, and read thisUpdate, nextUpdate and certStatus."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from ...policy import Outcome
from .errors import OcspError
from .request import CertId
from .signer import (
    ResponderCheck,
    _authorise_delegated,
    _responder_id_matches,
    _same_key,
    _verify_signature,
)

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
