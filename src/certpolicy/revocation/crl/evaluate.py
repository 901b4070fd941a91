"""CRL evaluation: verify a CRL's signer and signature, and decide a certificate's status (RFC 5280 §6.3.3).

* :func:`authorise_crl` finds the certificate that signed a CRL (the
  certificate's issuer, another key of the same name after a re-key or a
  self-issued key rollover, a separate CRL-signing key, or an authorised
  indirect CRL issuer), requires ``cRLSign`` and, for a signer off the
  validated path, its own path to the same trust anchor (§6.3.3(f),
  :mod:`.signer`), and verifies the signature (§6.3.3(g)).
* :func:`evaluate_crl_reasons` (and :func:`evaluate_crl`, its status alone)
  applies the §5 rules (:mod:`.rules`), the CRL number, the scope and the
  reasons covered (§6.3.3(b), (d)), delta CRLs (§5.2.4) and the thisUpdate /
  nextUpdate window with ``clock_skew`` and ``crl_grace``, and returns a
  :class:`~certpolicy.checks.RevocationStatus` with the reasons covered.
* :func:`combine_reasons` combines the answers of several CRLs: the reasons
  mask is accumulated until it covers every reason (§6.3.3(d)-(e)).
* :func:`usable_until` is the last validation time at which a CRL still
  proves good standing.

Pure: no clock, no network.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cryptography import x509

from ...checks.base import RevocationStatus
from ...policy import Outcome, RevocationSettings
from .parse import CrlProblem, ParsedCrl, _der_name
from .scope import ALL_REASONS, DistributionPoints, crl_coverage, distribution_points
from .signer import crl_sign_allowed, validate_crl_signer

#: Vouches for a CRL signer that is not on the validated path (RFC 5280
#: §6.3.3(f)): raises :class:`CrlProblem` when it may not sign the CRL.
SignerCheck = Callable[[x509.Certificate], None]


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
    signer_check: SignerCheck | None = None,
) -> x509.Certificate:
    """Find the certificate that signed ``crl`` for ``cert`` and verify the signature (RFC 5280 §6.3.3(f), (g)).

    A direct CRL (its issuer is ``cert``'s issuer) is signed by ``issuer``,
    which must then allow ``cRLSign``, or by another certificate with that
    name (a separate CRL-signing key, or the CA's other key after a
    self-issued key rollover). An indirect CRL (issuingDistributionPoint
    ``indirectCRL``) is accepted only when ``cert``'s distribution point
    names its issuer in cRLIssuer. A signer that is not ``issuer`` nor a
    certificate of ``above`` must have its own valid certification path to
    the same trust anchor (the last certificate of ``above``) and allow
    ``cRLSign``: :func:`~.signer.validate_crl_signer`, or ``signer_check``
    when given (which :class:`~.fetch.CrlSource` uses to add the signer's
    revocation check).

    Args:
        crl, cert, issuer: the CRL, the certificate, and its issuer.
        at: validation time (UTC).
        dps: ``cert``'s distribution points (default: read from ``cert``).
        candidates: other certificates that may have signed the CRL, and the
            pool the signer's path is built from.
        above: ``issuer`` and the certificates above it on the validated
            path, ending with its trust anchor.
        clock_skew: seconds of tolerance on validity periods.
        signer_check: vouches for a signer off the path; raises
            :class:`CrlProblem`.

    Returns:
        the signing certificate.

    Raises:
        CrlProblem: ``unauthorised-signer`` or ``bad-signature``.
    """
    above = list(above) or [issuer]
    anchor = above[-1]

    def vouch(cand: x509.Certificate) -> None:
        if cand in above:
            if not crl_sign_allowed(cand):
                raise CrlProblem(
                    Outcome.UNAUTHORISED_SIGNER,
                    f"the CRL issuer {_name_text(cand.subject)} has a keyUsage without cRLSign (RFC 5280 §4.2.1.3)",
                )
            return
        if signer_check is not None:
            signer_check(cand)
        else:
            validate_crl_signer(cand, anchor=anchor, pool=candidates, at=at, clock_skew=clock_skew)

    cert_issuer = cert.issuer
    if crl.issuer_der == _der_name(cert_issuer):
        if crl.signature_valid(issuer):
            vouch(issuer)
            return issuer
        refusals: list[CrlProblem] = []
        for cand in candidates:
            if _der_name(cand.subject) == crl.issuer_der and cand != issuer and crl.signature_valid(cand):
                try:
                    vouch(cand)
                except CrlProblem as e:
                    refusals.append(e)
                    continue
                return cand
        if refusals:
            raise refusals[0]
        if not crl_sign_allowed(issuer):
            raise CrlProblem(
                Outcome.UNAUTHORISED_SIGNER,
                f"the CRL issuer {_name_text(issuer.subject)} has a keyUsage without cRLSign (RFC 5280 §4.2.1.3)",
            )
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
        if _der_name(cand.subject) != crl.issuer_der:
            continue
        if not crl.signature_valid(cand):
            reasons.append("the signature does not verify with its key")
            continue
        try:
            vouch(cand)
        except CrlProblem as e:
            reasons.append(e.detail)
            continue
        return cand
    if reasons and all(r.startswith("the signature") for r in reasons):
        raise CrlProblem(Outcome.BAD_SIGNATURE, f"indirect CRL of {_name_text(crl.issuer)}: {reasons[0]}")
    raise CrlProblem(
        Outcome.UNAUTHORISED_SIGNER,
        f"indirect CRL issuer {_name_text(crl.issuer)} could not be authorised: "
        + ("; ".join(sorted({r for r in reasons if not r.startswith("the signature")})) if reasons else "its certificate is not available"),
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
    signer_check: SignerCheck | None = None,
) -> RevocationStatus:
    """Decide ``cert``'s status from ``crl`` (and applicable ``deltas``) at ``at``.

    The status part of :func:`evaluate_crl_reasons`, which documents the rules.

    Returns:
        :class:`~certpolicy.checks.RevocationStatus` (``source="crl"``).
    """
    return evaluate_crl_reasons(
        crl, cert, issuer, at=at, settings=settings, dps=dps, candidates=candidates, above=above,
        deltas=deltas, url=url, signer_check=signer_check,
    )[0]


def evaluate_crl_reasons(
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
    signer_check: SignerCheck | None = None,
) -> tuple[RevocationStatus, frozenset[x509.ReasonFlags]]:
    """Decide ``cert``'s status from ``crl`` (and ``deltas``), and the reasons it covers (RFC 5280 §6.3.3).

    Pure: no clock, no network. In order:

    * the signer is authorised and the signature verified
      (:func:`authorise_crl`, §6.3.3(f)-(g));
    * a CRL that breaks an RFC 5280 §5 rule (:mod:`.rules`: an unknown or
      mis-marked critical extension, a wrong version, ...) is not used:
      ``malformed``;
    * a delta CRL is not a complete CRL: ``no-revocation-info``;
    * the scope (§6.3.3(b), (d)): a CRL that serves none of the
      certificate's distribution points (nor the implied one) or whose
      user / CA / attribute flags exclude it is ``no-revocation-info``;
    * delta CRLs (§5.2.4, §6.3.3(c), (h), (i), (k)) with the same issuer,
      signer and issuingDistributionPoint and ``BaseCRLNumber <= number <
      delta number`` are applied, the newest first: an entry revokes, and an
      entry with reason ``removeFromCRL`` lifts the complete CRL's entry
      (``certificateHold``) when the delta is within its own validity
      window. A delta that is otherwise applicable but breaks a §5 rule makes
      the answer ``malformed`` (fail closed: it may hold a revocation);
    * a listed serial is ``revoked`` whatever the CRL's age (BR-18; §3.3);
    * a CRL without cRLNumber is ``malformed`` (§5.2.3);
    * outside thisUpdate - ``clock_skew`` .. nextUpdate + ``clock_skew`` +
      ``crl_grace`` (thisUpdate + ``ocsp_max_age`` without nextUpdate): ``stale``;
    * a CRL that covers only some reasons (onlySomeReasons, or the
      distribution point's reasons) is ``unknown`` alone; its reasons are
      returned so that the caller can combine several CRLs (§6.3.3(d)-(e))
      until all reasons are covered;
    * otherwise ``good``.

    Returns:
        ``(status, reasons)``: ``reasons`` is the set of reasons for which
        this CRL shows good standing (all of
        :data:`~.scope.ALL_REASONS` for ``good``, some for a partial CRL's
        ``unknown``), empty for every other outcome.
    """
    none: frozenset[x509.ReasonFlags] = frozenset()
    where = url or crl.source
    dps = dps if dps is not None else distribution_points(cert)
    try:
        signer = authorise_crl(
            crl, cert, issuer, at=at, dps=dps, candidates=candidates, above=above,
            clock_skew=settings.clock_skew, signer_check=signer_check,
        )
    except CrlProblem as e:
        return _status(e.outcome, f"CRL from {where}: {e.detail}", crl, url), none
    if crl.problems:
        # RFC 5280 §5.2 / §6.3.3: a CRL that must not be used leaves the status undetermined
        return _status(Outcome.UNKNOWN, f"CRL from {where} cannot be used: {'; '.join(crl.problems)}", crl, url), none
    if crl.is_delta:
        return _status(
            Outcome.NO_REVOCATION_INFO,
            f"{where} serves a delta CRL (base CRL number {crl.delta_base}); the complete CRL is needed",
            crl,
            url,
        ), none
    covered, scope = crl_coverage(crl, cert, dps)
    if scope is not None:
        return _status(Outcome.NO_REVOCATION_INFO, f"CRL from {where} does not apply: {scope}", crl, url), none

    serial = cert.serial_number
    skew = _dt.timedelta(seconds=settings.clock_skew)
    used_delta: ParsedCrl | None = None
    try:
        entry = crl.lookup(serial, cert.issuer)
        for delta in sorted(deltas, key=lambda d: d.number or 0, reverse=True):
            if not _delta_applies(delta, crl, signer):
                continue
            if delta.problems:
                return _status(
                    Outcome.UNKNOWN,
                    f"CRL from {where}: its delta CRL from {delta.source} (number {delta.number}) cannot be used: "
                    + "; ".join(delta.problems),
                    crl,
                    url,
                ), none
            used_delta = delta
            d_entry = delta.lookup(serial, cert.issuer)
            if d_entry is not None:
                if d_entry.reason != x509.ReasonFlags.remove_from_crl.value:
                    entry = d_entry
                elif delta.this_update <= at + skew and at <= usable_until(delta, settings):
                    entry = None  # §6.3.3(k): removeFromCRL lifts the hold
            break
    except CrlProblem as e:
        return _status(e.outcome, f"CRL from {where}: {e.detail}", crl, url), none

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
        ), none
    if crl.number is None:
        return _status(
            Outcome.MALFORMED,
            f"CRL from {where} lacks the CRLNumber extension that RFC 5280 §5.2.3 requires",
            crl,
            url,
        ), none
    if crl.this_update > at + skew:
        return _status(
            Outcome.STALE,
            f"CRL from {where} ({number_text}) is not yet valid: thisUpdate {crl.this_update.isoformat()} "
            f"is later than the validation time {at.isoformat()} plus {settings.clock_skew:g} s of clock skew",
            crl,
            url,
        ), none
    limit = usable_until(crl, settings)
    if at > limit:
        return _status(
            Outcome.STALE,
            f"CRL from {where} ({number_text}) is stale: nextUpdate "
            f"{(crl.next_update or limit).isoformat()} has passed (validation time {at.isoformat()}); "
            "a stale CRL proves revocation but not good standing",
            crl,
            url,
        ), none
    if covered != ALL_REASONS:
        names = ", ".join(sorted(r.value for r in covered))
        return _status(
            Outcome.UNKNOWN,
            f"CRL from {where} covers only the reasons {names}; it does not show good standing",
            crl,
            url,
        ), covered
    return _status(
        Outcome.GOOD,
        f"serial {serial:#x} is not on the CRL of {_name_text(crl.issuer)} ({number_text}) from {where}",
        crl,
        url,
    ), covered


def _delta_applies(delta: ParsedCrl, base: ParsedCrl, signer: x509.Certificate) -> bool:
    """RFC 5280 §5.2.4, §6.3.3(c), (h): same issuer and scope, a base CRL number
    the complete CRL reaches, a newer CRL number, signed with the same key."""
    if not delta.is_delta or delta.issuer_der != base.issuer_der:
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


def combine_reasons(
    results: Sequence[tuple[RevocationStatus, frozenset[x509.ReasonFlags]]], cert: x509.Certificate
) -> RevocationStatus | None:
    """The definite answer of the CRLs evaluated so far (RFC 5280 §6.3.3), given
    :func:`evaluate_crl_reasons`' answers for ``cert``:
    a ``revoked`` one; a ``good`` one; or ``good`` when partial CRLs together
    cover every reason (the reasons mask reaches all-reasons, §6.3.3(d)-(e),
    (l)); ``None`` while undetermined."""
    for st, _ in results:
        if st.outcome is Outcome.REVOKED:
            return st
    for st, _ in results:
        if st.outcome is Outcome.GOOD:
            return st
    parts = [(st, r) for st, r in results if r]
    if not parts or frozenset().union(*(r for _, r in parts)) < ALL_REASONS:
        return None
    ends = [st.next_update for st, _ in parts if st.next_update is not None]
    soonest = min(ends) if ends else None
    first = next((st for st, _ in parts if st.next_update == soonest), parts[0][0])
    shown = "; ".join(
        f"{st.url or 'a static CRL'} (number {st.crl_number}: {', '.join(sorted(x.value for x in r))})"
        for st, r in parts
    )
    return replace(
        first,
        outcome=Outcome.GOOD,
        detail=f"serial {cert.serial_number:#x} is on none of {len(parts)} CRLs that together cover every "
        f"reason (RFC 5280 §6.3.3(d)-(e)): {shown}",
        next_update=soonest,
    )



#: Build a CRL :class:`RevocationStatus` (for callers outside this module).
status_for = _status
