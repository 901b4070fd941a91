"""The OCSP verdict: freshness (thisUpdate/nextUpdate, RFC 6960 §3.2 items 5-6) and the
RevocationStatus of a verified response, of a response's DER or of a failed fetch."""

from __future__ import annotations

import datetime as _dt
import logging

from cryptography import x509

from ...checks.base import RevocationStatus
from ...fetch import FetchError
from ...policy import Outcome
from .errors import OcspError
from .response import VerifiedResponse, verify_response
from .signer import ResponderCheck

log = logging.getLogger("certpolicy.ocsp")

SOURCE = "ocsp"


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
