"""The revocation coordinator: consult OCSP and CRL in the policy's order.

SPEC ("Checks"): when both revocation checks are on, they are consulted in the
policy's order (``revocation.order``: ``"ocsp-first"`` by default,
``"crl-first"`` or ``"both"``). The first source that gives a definite answer
(``good`` or ``revoked``) decides; a source without one (no responder or
distribution point, unreachable, stale, bad signature, ...) hands the question
to the next (as Java's PKIX checker falls back from OCSP to CRL); when no
source answers, the **first consulted** source's outcome goes through the
policy's outcome map; ``revoked`` from any source always fails. Order
``"both"`` requires every source to say ``good``.

The certificates in scope are the leaf (``revocation.scope = "leaf"``) or every
certificate of the verified path below the trust anchor (``"chain"``); the
issuer of ``path[i]`` is ``path[i + 1]``.

Actions (:meth:`certpolicy.policy.RevocationSettings.action_for`):

* ``fail``: raise :class:`~certpolicy.errors.CertificateRevoked` (revoked) or
  :class:`~certpolicy.errors.RevocationError` (anything else), whose ``check``
  is the deciding source (``"ocsp"`` or ``"crl"``), so the engine can apply
  that check's mode (enforce, or audit: log and let through);
* ``warn``: log a WARNING on the ``certpolicy`` logger naming the policy, the
  check, the outcome and the URL, and pass;
* ``pass``: pass (DEBUG log).

The :class:`~certpolicy.checks.base.CheckResult` says which source decided for
each certificate (``data["certificates"]``) and carries ``data["next_update"]``:
the earliest time at which the revocation data used stops being valid, or the
validation time itself when some certificate passed without a definite answer
(so a verdict cache does not keep such a verdict).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from ..errors import (
    X509_V_ERR_OCSP_VERIFY_FAILED,
    CertificateRevoked,
    CertPolicyError,
    CheckCrashed,
    RevocationError,
    describe_certificate,
)
from ..policy import Action, CheckMode, Outcome, Policy
from .base import CheckContext, CheckResult, RevocationSource, RevocationStatus

__all__ = ["RevocationCheck", "revocation_mode", "source_order"]

log = logging.getLogger("certpolicy")

_ORDERS: dict[str, tuple[str, ...]] = {
    "ocsp-first": ("ocsp", "crl"),
    "crl-first": ("crl", "ocsp"),
    "both": ("ocsp", "crl"),
}


def revocation_mode(policy: Policy) -> CheckMode:
    """The mode the revocation coordinator runs in under ``policy``:
    ``enforce`` when OCSP or CRL is enforced, else ``audit`` when either is
    audited, else ``off``."""
    modes = [policy.mode("ocsp"), policy.mode("crl")]
    if CheckMode.ENFORCE in modes:
        return CheckMode.ENFORCE
    if CheckMode.AUDIT in modes:
        return CheckMode.AUDIT
    return CheckMode.OFF


def source_order(policy: Policy, available: Sequence[str] = ("ocsp", "crl")) -> list[str]:
    """The names of the active sources under ``policy``, in consultation order
    (``revocation.order``), restricted to ``available``."""
    order = _ORDERS.get(policy.revocation.order, _ORDERS["ocsp-first"])
    names = list(order) + [n for n in available if n not in order]
    return [n for n in names if n in available and policy.mode(n).active]


@dataclass
class _Decision:
    cert: x509.Certificate
    position: int
    status: RevocationStatus
    action: Action
    consulted: list[RevocationStatus] = field(default_factory=list)
    #: the source(s) whose answer decided ("ocsp", "crl", or "ocsp+crl" for order both)
    decided_by: str = ""

    def __post_init__(self) -> None:
        if not self.decided_by:
            self.decided_by = self.status.source


class RevocationCheck:
    """Consult the revocation sources in the policy's order (SPEC "Checks").

    Args:
        sources: revocation sources by name (``{"ocsp": OcspCheck(), "crl":
            CrlCheck()}``); a source runs when ``ctx.policy.mode(name)`` is
            ``enforce`` or ``audit``.

    Attributes:
        name: ``"revocation"``; requires_chain: ``True``.
    """

    name = "revocation"
    requires_chain = True

    def __init__(self, sources: Mapping[str, RevocationSource]) -> None:
        self.sources = dict(sources)

    def __repr__(self) -> str:
        return f"RevocationCheck(sources={sorted(self.sources)!r})"

    def run(self, ctx: CheckContext) -> CheckResult:
        """Check every certificate in scope.

        Returns:
            a :class:`CheckResult` (``outcome`` ``"good"`` when every certificate
            is good, otherwise the outcome that was passed or warned;
            ``"skipped"`` when no source is active). ``data``: ``order``,
            ``certificates`` (per certificate: subject, serial, source,
            outcome, url, next_update, action, detail, consulted) and
            ``next_update``.

        Raises:
            CertificateRevoked: a source said revoked.
            RevocationError: the deciding outcome maps to ``fail``.
            CheckCrashed: a source raised an unexpected exception.
        """
        policy = ctx.policy
        names = source_order(policy, list(self.sources))
        if not names:
            return CheckResult(self.name, "skipped", "no revocation check is on under this policy")
        path = list(ctx.verified_path or ctx.chain)
        if len(path) < 2:
            return CheckResult(
                self.name,
                "skipped",
                "the certificate is itself a trust anchor (or its issuer is unknown): nothing to check",
                data={"order": names, "certificates": [], "next_update": None},
            )
        count = 1 if policy.revocation.scope == "leaf" else len(path) - 1
        decisions = [self._decide(path[i], path[i + 1], i, names, ctx) for i in range(count)]

        revoked = [d for d in decisions if d.status.outcome is Outcome.REVOKED]
        if revoked:
            raise self._error(revoked[0], ctx)
        failed = [d for d in decisions if d.action is Action.FAIL]
        if failed:
            raise self._error(failed[0], ctx)
        for d in decisions:
            if d.action is Action.WARN:
                _log_warn(d, ctx)
            elif d.status.outcome is not Outcome.GOOD:
                log.debug(
                    "certpolicy: policy %r, check %r: revocation outcome %r passes by the outcome map: %s",
                    policy.name, d.status.source, d.status.outcome.value, d.status.detail,
                )
        entries = [self._entry(d, ctx) for d in decisions]
        first_non_good = next((d for d in decisions if d.status.outcome is not Outcome.GOOD), None)
        if first_non_good is None:
            outcome = Outcome.GOOD.value
            detail = "; ".join(
                f"{'leaf' if d.position == 0 else f'path certificate #{d.position}'} "
                f"(serial {_serial(d.cert)}): good ({d.decided_by})"
                for d in decisions
            )
        else:
            outcome = first_non_good.status.outcome.value
            detail = (
                f"{first_non_good.status.source}: {first_non_good.status.detail} "
                f"(policy maps {outcome!r} to {first_non_good.action.value})"
            )
        return CheckResult(
            self.name,
            outcome,
            detail,
            passed=True,
            data={
                "order": names,
                "certificates": entries,
                "next_update": _earliest_next_update(decisions, ctx),
            },
        )

    # -- one certificate -----------------------------------------------------

    def _consult(
        self, name: str, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext
    ) -> RevocationStatus:
        source = self.sources[name]
        try:
            st = source.status(cert, issuer, ctx)
        except CertPolicyError:
            raise
        except Exception as e:
            raise CheckCrashed(
                f"revocation source {name!r} raised {type(e).__name__}: {e}",
                policy=ctx.policy.name,
                check=name,
                certificate=cert,
                host=ctx.host,
            ) from e
        if not isinstance(st, RevocationStatus):
            raise CheckCrashed(
                f"revocation source {name!r} returned {type(st).__name__}, not RevocationStatus",
                policy=ctx.policy.name,
                check=name,
                certificate=cert,
                host=ctx.host,
            )
        if st.source != name:  # the coordinator names sources by their registration
            st = RevocationStatus(
                st.outcome, name, st.detail, st.url, st.revocation_time, st.revocation_reason,
                st.this_update, st.next_update, st.crl_number,
            )
        return st

    def _decide(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        position: int,
        names: list[str],
        ctx: CheckContext,
    ) -> _Decision:
        settings = ctx.policy.revocation
        consulted: list[RevocationStatus] = []
        if settings.order == "both":
            for name in names:
                consulted.append(self._consult(name, cert, issuer, ctx))
            revoked = next((s for s in consulted if s.outcome is Outcome.REVOKED), None)
            if revoked is not None:
                return _Decision(cert, position, revoked, Action.FAIL, consulted)
            bad = next((s for s in consulted if s.outcome is not Outcome.GOOD), None)
            if bad is None:
                return _Decision(
                    cert, position, consulted[0], Action.PASS, consulted,
                    decided_by="+".join(s.source for s in consulted),
                )
            return _Decision(cert, position, bad, settings.action_for(bad.outcome), consulted)
        for name in names:
            st = self._consult(name, cert, issuer, ctx)
            consulted.append(st)
            if st.outcome.definite:
                return _Decision(cert, position, st, settings.action_for(st.outcome), consulted)
        first = consulted[0]
        return _Decision(cert, position, first, settings.action_for(first.outcome), consulted)

    # -- results -------------------------------------------------------------

    def _entry(self, d: _Decision, ctx: CheckContext) -> dict[str, Any]:
        return {
            "subject": _LazySubject(d.cert),
            "serial": _serial(d.cert),
            "position": d.position,
            "source": d.decided_by,
            "outcome": d.status.outcome.value,
            "action": d.action.value,
            "url": d.status.url,
            "next_update": d.status.next_update,
            "detail": d.status.detail,
            "consulted": [
                {"source": s.source, "outcome": s.outcome.value, "url": s.url, "detail": s.detail}
                for s in d.consulted
            ],
        }

    def _error(self, d: _Decision, ctx: CheckContext) -> RevocationError:
        st = d.status
        others = [s for s in d.consulted if s is not st]
        also = ""
        if others:
            also = " Also consulted: " + "; ".join(f"{s.source}: {s.outcome.value} ({s.detail})" for s in others)
        where = "the leaf" if d.position == 0 else f"path certificate #{d.position}"
        details: dict[str, Any] = {
            "source": st.url,
            "url": st.url,
            "consulted": [{"source": s.source, "outcome": s.outcome.value, "url": s.url} for s in d.consulted],
            "order": ctx.policy.revocation.order,
            "position": d.position,
        }
        if st.outcome is Outcome.REVOKED:
            details.update(
                serial=_serial(d.cert),
                reason=st.revocation_reason,
                revocation_date=st.revocation_time.isoformat() if st.revocation_time else None,
            )
            return CertificateRevoked(
                f"{where} is revoked: {st.detail}.{also}",
                policy=ctx.policy.name,
                check=st.source,
                outcome=st.outcome.value,
                certificate=d.cert,
                host=ctx.host,
                details=details,
            )
        verify_code = X509_V_ERR_OCSP_VERIFY_FAILED if st.source == "ocsp" else None
        return RevocationError(
            f"revocation status of {where} could not be established as good: {st.detail}; "
            f"the policy maps {st.outcome.value!r} to fail (no answer counts as revoked).{also}",
            policy=ctx.policy.name,
            check=st.source,
            outcome=st.outcome.value,
            certificate=d.cert,
            host=ctx.host,
            verify_code=verify_code,
            details=details,
        )


class _LazySubject:
    """A certificate's subject, formatted only when shown (logs, ``--json``)."""

    __slots__ = ("_cert",)

    def __init__(self, cert: x509.Certificate) -> None:
        self._cert = cert

    def __str__(self) -> str:
        return _subject(self._cert)

    def __repr__(self) -> str:
        return repr(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, (str, _LazySubject)) else other)

    def __hash__(self) -> int:
        return hash(str(self))


def _log_warn(d: _Decision, ctx: CheckContext) -> None:
    st = d.status
    log.warning(
        "certpolicy: policy %r, check %r: revocation outcome %r for %s (%s): %s; "
        "the policy maps it to warn, connection allowed",
        ctx.policy.name,
        st.source,
        st.outcome.value,
        describe_certificate(d.cert),
        st.url or "no URL",
        st.detail,
        extra={
            "certpolicy": {
                "event": "revocation-warn",
                "policy": ctx.policy.name,
                "check": st.source,
                "outcome": st.outcome.value,
                "url": st.url,
                "host": ctx.host,
                "serial": _serial(d.cert),
            }
        },
    )


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # pragma: no cover - malformed names
        return "<unparseable subject>"


def _serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def _earliest_next_update(decisions: list[_Decision], ctx: CheckContext) -> _dt.datetime | None:
    """Earliest validity end of the data that decided; ``ctx.at`` when some
    certificate passed without a definite answer (do not cache that verdict)."""
    ends: list[_dt.datetime] = []
    max_age = _dt.timedelta(seconds=ctx.policy.revocation.ocsp_max_age)
    for d in decisions:
        if not d.status.outcome.definite:
            return ctx.at
        # order "both": every consulted source's data must still be valid
        for st in d.consulted if ctx.policy.revocation.order == "both" else [d.status]:
            if st.source == "ocsp" and st.this_update is not None:
                # an OCSP answer is cached until nextUpdate, capped at thisUpdate + ocsp_max_age
                end = st.this_update + max_age
                ends.append(end if st.next_update is None else min(end, st.next_update))
            elif st.next_update is not None:
                ends.append(st.next_update)
    return min(ends) if ends else None
