"""CRL evaluation: verify a CRL's signer and signature, and decide a certificate's status (RFC 5280 §6.3.3).

* :func:`authorise_crl` finds the certificate that signed a CRL (the
  certificate's issuer, a re-keyed issuer of the same name, or an authorised
  indirect CRL issuer with ``cRLSign``) and verifies the signature.
* :func:`evaluate_crl` applies the CRL number, scope, delta CRLs (§5.2.4)
  and the thisUpdate / nextUpdate window with ``clock_skew`` and
  ``crl_grace``, and returns a :class:`~certpolicy.checks.RevocationStatus`.
* :func:`usable_until` is the last validation time at which a CRL still
  proves good standing.

Pure: no clock, no network.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from ...checks.base import RevocationStatus
from ...policy import Outcome, RevocationSettings
from .parse import CrlProblem, ParsedCrl, _der_name
from .scope import DistributionPoints, _partial_reasons, _scope_problem, distribution_points


def _crl_sign_allowed(cert: x509.Certificate) -> bool:
    """RFC 5280 §4.2.1.3 / §6.3.3(f): when keyUsage is present, cRLSign must be set."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return False
    return bool(ku.crl_sign)


def _valid_at(cert: x509.Certificate, at: _dt.datetime, skew: _dt.timedelta) -> bool:
    return cert.not_valid_before_utc - skew <= at <= cert.not_valid_after_utc + skew


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string() or "<empty name>"
    except ValueError:  # pragma: no cover
        return "<unprintable name>"


def authorise_crl(
    crl: ParsedCrl,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    dps: DistributionPoints | None = None,
    candidates: Sequence[x509.Certificate] = (),
    above: Sequence[x509.Certificate] = (),
    clock_skew: float = 900.0,
) -> x509.Certificate:
    """Find the certificate that signed ``crl`` for ``cert`` and verify the signature.

    A direct CRL (its issuer is ``cert``'s issuer) must be signed by ``issuer``
    (or by another certificate with that name, e.g. after a key rollover,
    issued by a certificate in ``above``) and ``issuer`` must allow
    ``cRLSign``. An indirect CRL (issuingDistributionPoint ``indirectCRL``) is
    accepted only when ``cert``'s distribution point names its issuer in
    cRLIssuer, and is verified with a certificate from ``candidates`` with
    that subject, valid at ``at``, allowed ``cRLSign`` and issued by
    ``issuer`` or a certificate in ``above`` (RFC 5280 §6.3.3(f): the CRL
    issuer chains to the same trust anchor).

    Args:
        crl, cert, issuer: the CRL, the certificate, and its issuer.
        at: validation time (UTC).
        dps: ``cert``'s distribution points (default: read from ``cert``).
        candidates: other certificates that may have signed the CRL.
        above: ``issuer`` and the certificates above it on the path.
        clock_skew: seconds of tolerance on candidate validity.

    Returns:
        the signing certificate.

    Raises:
        CrlProblem: ``unauthorised-signer`` or ``bad-signature``.
    """
    skew = _dt.timedelta(seconds=clock_skew)
    above = list(above) or [issuer]
    cert_issuer = cert.issuer
    if crl.issuer_der == _der_name(cert_issuer):
        if not _crl_sign_allowed(issuer):
            raise CrlProblem(
                Outcome.UNAUTHORISED_SIGNER,
                f"the CRL issuer {_name_text(issuer.subject)} has a keyUsage without cRLSign (RFC 5280 §4.2.1.3)",
            )
        if crl.signature_valid(issuer):
            return issuer
        for cand in candidates:
            if (
                cand.subject == crl.issuer
                and cand != issuer
                and _valid_at(cand, at, skew)
                and _crl_sign_allowed(cand)
                and any(_issued_by(cand, a) for a in above)
                and crl.signature_valid(cand)
            ):
                return cand
        raise CrlProblem(
            Outcome.BAD_SIGNATURE,
            f"the CRL signature does not verify with the key of its issuer {_name_text(issuer.subject)}",
        )
    dps = dps if dps is not None else distribution_points(cert)
    named = [_der_name(n) for n in dps.crl_issuers()]
    if not crl.indirect or crl.issuer_der not in named:
        raise CrlProblem(
            Outcome.UNAUTHORISED_SIGNER,
            f"the CRL is issued by {_name_text(crl.issuer)}, not by the certificate's issuer "
            f"{_name_text(cert_issuer)}"
            + (
                ""
                if not crl.indirect
                else ", and the certificate's cRLDistributionPoints do not name it as cRLIssuer"
            ),
        )
    reasons = []
    for cand in candidates:
        if cand.subject != crl.issuer:
            continue
        if not _valid_at(cand, at, skew):
            reasons.append("its certificate is not valid at the validation time")
            continue
        if not any(_issued_by(cand, a) for a in above):
            reasons.append("its certificate was not issued by a certificate of the path")
            continue
        if not _crl_sign_allowed(cand):
            reasons.append("its certificate has a keyUsage without cRLSign")
            continue
        if crl.signature_valid(cand):
            return cand
        reasons.append("the signature does not verify with its key")
    if reasons and all(r.startswith("the signature") for r in reasons):
        raise CrlProblem(Outcome.BAD_SIGNATURE, f"indirect CRL of {_name_text(crl.issuer)}: {reasons[0]}")
    raise CrlProblem(
        Outcome.UNAUTHORISED_SIGNER,
        f"indirect CRL issuer {_name_text(crl.issuer)} could not be authorised: "
        + ("; ".join(sorted(set(reasons))) if reasons else "its certificate is not available"),
    )


def _status(
    outcome: Outcome, detail: str, crl: ParsedCrl | None, url: str | None, **kw: Any
) -> RevocationStatus:
    return RevocationStatus(
        outcome=outcome,
        source="crl",
        detail=detail,
        url=url,
        this_update=crl.this_update if crl is not None else None,
        next_update=crl.next_update if crl is not None else None,
        crl_number=crl.number if crl is not None else None,
        **kw,
    )


def evaluate_crl(
    crl: ParsedCrl,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    settings: RevocationSettings,
    dps: DistributionPoints | None = None,
    candidates: Sequence[x509.Certificate] = (),
    above: Sequence[x509.Certificate] = (),
    deltas: Sequence[ParsedCrl] = (),
    url: str | None = None,
) -> RevocationStatus:
    """Decide ``cert``'s status from ``crl`` (and applicable ``deltas``) at ``at``.

    Pure: no clock, no network. Follows RFC 5280 §6.3.3: the signer is
    authorised and the signature verified (:func:`authorise_crl`); a listed
    serial is ``revoked`` whatever the CRL's age (a stale or not-yet-valid CRL
    still proves revocation, BR-18; revocation is permanent, §3.3); a CRL
    without CRLNumber is ``malformed`` (§5.2.3); a CRL whose scope does not
    cover the certificate is ``no-revocation-info``; a partial CRL (only some
    reasons) that does not list the serial is ``unknown``; a CRL past
    nextUpdate + ``clock_skew`` + ``crl_grace``, or whose thisUpdate is later
    than ``at`` + ``clock_skew``, is ``stale``; otherwise ``good``. A CRL
    without nextUpdate is treated as valid for ``ocsp_max_age`` after its
    thisUpdate (the same rule as OCSP responses without nextUpdate).

    Delta CRLs (§5.2.4) are applied when issued by the same issuer with the
    same signer, with ``BaseCRLNumber <= number < delta number``: an entry
    with reason ``removeFromCRL`` lifts a ``certificateHold`` of the base CRL,
    any other entry revokes. Good standing still requires the complete CRL
    to be within its own validity window.

    Returns:
        :class:`~certpolicy.checks.RevocationStatus` (``source="crl"``).
    """
    where = url or crl.source
    dps = dps if dps is not None else distribution_points(cert)
    try:
        signer = authorise_crl(
            crl, cert, issuer, at=at, dps=dps, candidates=candidates, above=above,
            clock_skew=settings.clock_skew,
        )
    except CrlProblem as e:
        return _status(e.outcome, f"CRL from {where}: {e.detail}", crl, url)
    if crl.problems:
        return _status(Outcome.MALFORMED, f"CRL from {where} cannot be used: {'; '.join(crl.problems)}", crl, url)
    if crl.is_delta:
        return _status(
            Outcome.NO_REVOCATION_INFO,
            f"{where} serves a delta CRL (base CRL number {crl.delta_base}); the complete CRL is needed",
            crl,
            url,
        )
    scope = _scope_problem(crl, cert, dps)
    if scope is not None:
        return _status(Outcome.NO_REVOCATION_INFO, f"CRL from {where} does not apply: {scope}", crl, url)

    serial = cert.serial_number
    try:
        entry = crl.lookup(serial, cert.issuer)
        used_delta: ParsedCrl | None = None
        for delta in sorted(deltas, key=lambda d: d.number or 0, reverse=True):
            if _delta_applies(delta, crl, signer):
                used_delta = delta
                d_entry = delta.lookup(serial, cert.issuer)
                if d_entry is not None:
                    entry = None if d_entry.reason == x509.ReasonFlags.remove_from_crl.value else d_entry
                break
    except CrlProblem as e:
        return _status(e.outcome, f"CRL from {where}: {e.detail}", crl, url)

    number_text = f"number {crl.number}" if crl.number is not None else "without CRL number"
    if used_delta is not None:
        number_text += f", delta CRL number {used_delta.number}"
    if entry is not None:
        return _status(
            Outcome.REVOKED,
            f"serial {serial:#x} is revoked since {entry.revocation_date.isoformat()}"
            f" (reason {entry.reason or 'unspecified'}) according to the CRL of "
            f"{_name_text(crl.issuer)} ({number_text}) from {where}",
            crl,
            url,
            revocation_time=entry.revocation_date,
            revocation_reason=entry.reason,
        )
    if crl.number is None:
        return _status(
            Outcome.MALFORMED,
            f"CRL from {where} lacks the CRLNumber extension that RFC 5280 §5.2.3 requires",
            crl,
            url,
        )
    skew = _dt.timedelta(seconds=settings.clock_skew)
    if crl.this_update > at + skew:
        return _status(
            Outcome.STALE,
            f"CRL from {where} ({number_text}) is not yet valid: thisUpdate {crl.this_update.isoformat()} "
            f"is later than the validation time {at.isoformat()} plus {settings.clock_skew:g} s of clock skew",
            crl,
            url,
        )
    limit = usable_until(crl, settings)
    if at > limit:
        return _status(
            Outcome.STALE,
            f"CRL from {where} ({number_text}) is stale: nextUpdate "
            f"{(crl.next_update or limit).isoformat()} has passed (validation time {at.isoformat()}); "
            "a stale CRL proves revocation but not good standing",
            crl,
            url,
        )
    partial = _partial_reasons(crl, dps)
    if partial:
        names = ", ".join(sorted(r.value for r in partial))
        return _status(
            Outcome.UNKNOWN,
            f"CRL from {where} covers only the reasons {names}; it does not show good standing",
            crl,
            url,
        )
    return _status(
        Outcome.GOOD,
        f"serial {serial:#x} is not on the CRL of {_name_text(crl.issuer)} ({number_text}) from {where}",
        crl,
        url,
    )


def _delta_applies(delta: ParsedCrl, base: ParsedCrl, signer: x509.Certificate) -> bool:
    if not delta.is_delta or delta.issuer_der != base.issuer_der or delta.problems:
        return False
    if base.number is None or delta.number is None or delta.delta_base is None:
        return False
    if not (delta.delta_base <= base.number < delta.number):
        return False
    if delta.idp != base.idp:
        return False
    return delta.signature_valid(signer)


def usable_until(crl: ParsedCrl, settings: RevocationSettings) -> _dt.datetime:
    """The last validation time at which ``crl`` still proves good standing:
    nextUpdate (or thisUpdate + ``ocsp_max_age`` without one) + ``clock_skew``
    + ``crl_grace``."""
    base = crl.next_update or (crl.this_update + _dt.timedelta(seconds=settings.ocsp_max_age))
    return base + _dt.timedelta(seconds=settings.clock_skew + settings.crl_grace)


def _refresh_due(crl: ParsedCrl, settings: RevocationSettings) -> _dt.datetime:
    base = crl.next_update or (crl.this_update + _dt.timedelta(seconds=settings.ocsp_max_age))
    return base - _dt.timedelta(seconds=settings.refresh_margin)


#: Build a CRL :class:`RevocationStatus` (for callers outside this module).
status_for = _status
