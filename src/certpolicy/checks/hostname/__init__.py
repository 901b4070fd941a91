"""The hostname check: does the certificate name the server the client asked for?

Service identity verification after RFC 9525 (which obsoletes RFC 6125), with
the legacy subject-CN fallback of RFC 6125 §6.4.4 as an opt-in per policy.

The check is a thin adapter in the style of service_identity: it reads the
certificate, calls the pure matching core, and turns the verdict into a
:class:`~certpolicy.checks.CheckResult` or an error that explains the miss.

* :mod:`certpolicy.checks.hostname.match`: the pure, I/O-free matching
  (reference identities, presented identifiers, the DNS and IP rules, the
  legacy CN fallback), and the rules in full;
* :mod:`certpolicy.checks.hostname.presented`: reading the presented
  identifiers from a certificate, and the issuers' name constraints on a
  name taken from the CN;
* this module: :class:`HostnameCheck` (options, policy, errors) and the
  explanation of a mismatch.

Every public name of ``match`` and ``presented`` is re-exported here, so
``from certpolicy.checks.hostname import parse_reference`` keeps working.

Example::

    from certpolicy import HostnameCheck, HostnameMismatch

    try:
        result = HostnameCheck(cn_fallback="never").check(cert, "api.example.com")
        print(result.detail)     # 'api.example.com' matches dNSName SAN '*.example.com'
    except HostnameMismatch as e:
        print(e.reason, e.details["presented"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cryptography import x509

from ...errors import HostnameMismatch, MalformedInput, PolicyConfigError
from ...names import InvalidName, normalize_dns_name, parse_ip
from ...policy import VALIDATION_PROFILES, ValidationProfile
from ...publicsuffix import is_public_suffix
from ..base import CheckContext, CheckResult
from .match import (
    CnFallback,
    DNSReference,
    IPReference,
    Match,
    PresentedIdentifiers,
    ReferenceIdentity,
    _cn_fallback_applies,
    _normalize_presented_dns,
    dns_pattern_matches,
    match_reference,
    parse_reference,
)
from .presented import _cn_name_constraint_violation, _fast_dns_san_match, presented_identifiers

__all__ = [
    "CnFallback",
    "DNSReference",
    "HostnameCheck",
    "IPReference",
    "InvalidSanHandling",
    "Match",
    "PresentedIdentifiers",
    "ReferenceIdentity",
    "dns_pattern_matches",
    "match_reference",
    "parse_reference",
    "presented_identifiers",
]

_CN_FALLBACK_VALUES = ("never", "legacy")
InvalidSanHandling = Literal["skip", "reject"]
_INVALID_SAN_VALUES = ("skip", "reject")

#: How many presented identifiers an error message lists before "... and N more".
_MESSAGE_LIST_LIMIT = 10


# ---------------------------------------------------------------------------
# Explaining a mismatch
# ---------------------------------------------------------------------------


def _shorten(items: Sequence[str]) -> str:
    if not items:
        return "nothing"
    shown = ", ".join(items[:_MESSAGE_LIST_LIMIT])
    if len(items) > _MESSAGE_LIST_LIMIT:
        shown += f" ... and {len(items) - _MESSAGE_LIST_LIMIT} more"
    return shown


def _wildcard_hints(presented: PresentedIdentifiers, hostname: str) -> list[str]:
    hints: list[str] = []
    h_labels = hostname.split(".")
    for raw, pattern in presented.dns_patterns:
        p_labels = pattern.split(".")
        if p_labels[0] != "*":
            continue
        suffix = p_labels[1:]
        if len(p_labels) < 3:
            if h_labels[-len(suffix) :] == suffix:
                hints.append(
                    f"wildcard {raw!r} is not used: a wildcard needs at least two labels after '*'"
                )
            continue
        if hostname == ".".join(suffix):
            hints.append(f"wildcard {raw!r} does not cover the bare name {hostname!r}")
        elif len(h_labels) > len(p_labels) and h_labels[-len(suffix) :] == suffix:
            hints.append(f"wildcard {raw!r} covers exactly one label, not several")
        elif (
            len(h_labels) == len(p_labels)
            and h_labels[1:] == suffix
            and h_labels[0].startswith("xn--")
        ):
            hints.append(
                f"wildcard {raw!r} is not matched against the A-label {h_labels[0]!r} "
                "(no wildcards over internationalised labels)"
            )
    for entry, why in presented.skipped:
        if entry.startswith("DNS:"):
            hints.append(f"SAN entry {entry!r} is ignored: {why}")
    return hints


def _cn_matches(presented: PresentedIdentifiers, hostname: str) -> bool:
    for cn in presented.common_names:
        try:
            if dns_pattern_matches(_normalize_presented_dns(cn), hostname):
                return True
        except InvalidName:
            continue
    return False


def _mismatch(
    presented: PresentedIdentifiers,
    reference: ReferenceIdentity,
    cn_fallback: CnFallback,
    cert: x509.Certificate,
) -> HostnameMismatch:
    details: dict[str, Any] = {
        "reference": str(reference),
        "reference_type": "ip" if isinstance(reference, IPReference) else "dns",
        "cn_fallback": cn_fallback,
        "skipped": [f"{e} ({why})" for e, why in presented.skipped],
    }
    if isinstance(reference, IPReference):
        addr = reference.address
        in_cn = any(parse_ip(cn) == addr for cn in presented.common_names)
        in_dns = any(parse_ip(n) == addr for n in presented.dns_names)
        places = [p for p, hit in (("CN", in_cn), ("a dNSName", in_dns)) if hit]
        reason = f"certificate has no iPAddress SAN for {addr}"
        if places:
            reason += f" (found it only in {' and in '.join(places)})"
        if in_cn and cn_fallback == "legacy":
            reason += "; the legacy CN fallback never applies to IP addresses"
        shown = presented.describe(with_cn=in_cn)
        reason += f"; the certificate presents: {_shorten(shown)}"
        details["presented"] = shown
        details["hints"] = []
        return HostnameMismatch(
            reason, check="hostname", outcome="mismatch", certificate=cert, details=details
        )

    hostname = reference.hostname
    fallback_used = cn_fallback == "legacy" and _cn_fallback_applies(presented)
    cn_hit = _cn_matches(presented, hostname)
    with_cn = fallback_used or cn_hit
    shown = presented.describe(with_cn=with_cn)
    details["presented"] = shown
    if fallback_used:
        reason = f"neither a dNSName SAN nor the subject CN (legacy fallback) matches {hostname!r}"
    elif presented.has_san:
        reason = f"no dNSName SAN matches {hostname!r}"
    else:
        reason = f"the certificate has no subjectAltName extension, so nothing matches {hostname!r}"
    hints = _wildcard_hints(presented, hostname)
    if cn_hit and cn_fallback == "never":
        hints.append(
            "the name appears only in the subject CN, which RFC 9525 does not use "
            "(the policy's cn_fallback is 'never')"
        )
    elif cn_hit and not fallback_used:
        hints.append(
            "the subject CN matches but is not consulted because the certificate has "
            "dNSName SANs (RFC 6125 §6.4.4)"
        )
    reason += f"; the certificate presents: {_shorten(shown)}"
    if hints:
        reason += "; " + "; ".join(hints[:_MESSAGE_LIST_LIMIT])
        if len(hints) > _MESSAGE_LIST_LIMIT:
            reason += f"; ... and {len(hints) - _MESSAGE_LIST_LIMIT} more (see details['hints'])"
    details["hints"] = hints
    return HostnameMismatch(
        reason, check="hostname", outcome="mismatch", certificate=cert, details=details
    )


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


class HostnameCheck:
    """Service identity check (RFC 9525; legacy CN fallback after RFC 6125 §6.4.4).

    Args:
        cn_fallback: ``"never"``, ``"legacy"``, or ``None`` (the default): follow
            ``ctx.policy.cn_fallback`` in :meth:`run`, and ``"never"`` in
            :meth:`check`.
        invalid_san: what to do with a subjectAltName entry that can never match
            (a dNSName that is not A-label/LDH text, a partial or misplaced
            wildcard, an address block in an iPAddress): ``"skip"`` (the
            default: ignore the entry, report it in ``details["skipped"]``, and
            keep matching the other entries) or ``"reject"`` (fail the
            certificate with :class:`~certpolicy.MalformedInput`, as
            service_identity does).

    Raises:
        certpolicy.PolicyConfigError: ``cn_fallback`` or ``invalid_san`` has
            another value.

    The check is stateless and thread-safe; one instance can serve every
    connection. It needs a validated chain (``requires_chain = True``):
    a name on an unvalidated certificate proves nothing; the chain check
    also bounds the certificate's size (:data:`certpolicy.checks.chain.MAX_CERT_BYTES`),
    which this check does not repeat.
    """

    name = "hostname"
    requires_chain = True

    def __init__(
        self,
        cn_fallback: CnFallback | None = None,
        *,
        invalid_san: InvalidSanHandling = "skip",
        profile: ValidationProfile | None = None,
    ) -> None:
        if cn_fallback is not None and cn_fallback not in _CN_FALLBACK_VALUES:
            raise PolicyConfigError(
                f"invalid value {cn_fallback!r}; expected 'never' or 'legacy'",
                field="cn_fallback",
            )
        if invalid_san not in _INVALID_SAN_VALUES:
            raise PolicyConfigError(
                f"invalid value {invalid_san!r}; expected 'skip' or 'reject'",
                field="invalid_san",
            )
        if profile is not None and profile not in VALIDATION_PROFILES:
            raise PolicyConfigError(
                f"invalid value {profile!r}; expected 'webpki' or 'rfc5280'", field="profile"
            )
        self.cn_fallback: CnFallback | None = cn_fallback
        self.invalid_san: InvalidSanHandling = invalid_san
        self.profile: ValidationProfile | None = profile

    def __repr__(self) -> str:
        return (
            f"HostnameCheck(cn_fallback={self.cn_fallback!r}, invalid_san={self.invalid_san!r}, "
            f"profile={self.profile!r})"
        )

    def check(
        self,
        cert: x509.Certificate,
        host: str | bytes,
        *,
        cn_fallback: CnFallback | None = None,
        issuers: Sequence[x509.Certificate] = (),
        profile: ValidationProfile | None = None,
    ) -> CheckResult:
        """Check that ``cert`` names ``host``.

        Args:
            cert: the end-entity certificate (it should be on a validated path).
            host: the server name or IP address the client asked for (``str`` or
                ``bytes``), see :func:`parse_reference`.
            cn_fallback: overrides the instance's setting for this call; when both
                are ``None``, ``"never"``.
            issuers: the CA certificates of the validated path (above the leaf).
                A name taken from the subject CN (legacy fallback) must satisfy
                their dNSName name constraints (RFC 5280 §4.2.1.10), as a dNSName
                SAN must; path validation never checks the CN against them.
            profile: the validation profile (overrides the instance's; when
                both are ``None``, ``"webpki"``). Under ``"webpki"`` a wildcard
                directly under a public suffix (``*.co.uk``,
                ``*.s3.amazonaws.com``: the Public Suffix List,
                :mod:`certpolicy.publicsuffix`) never matches (CA/B BR 3.2.2.6).

        Returns:
            a :class:`~certpolicy.checks.CheckResult` with ``outcome="ok"``, a
            ``detail`` naming the SAN entry that matched (or ``"CN (legacy
            fallback)"``) and ``data`` with ``reference``, ``reference_type``,
            ``matched`` and ``via``.

        Raises:
            certpolicy.HostnameMismatch: ``outcome="mismatch"`` when nothing
                matches (``details["presented"]`` lists the certificate's
                identifiers, ``details["hints"]`` says why near misses fail), or
                ``outcome="invalid-reference"`` when ``host`` is not a valid host
                name or address (``"a.b.."``).
            certpolicy.MalformedInput: ``outcome="malformed"`` when the
                certificate's extensions cannot be read (duplicate or unparseable
                subjectAltName), or with ``invalid_san="reject"`` when a
                subjectAltName entry is invalid (``details["skipped"]``).
        """
        mode: CnFallback = cn_fallback or self.cn_fallback or "never"
        webpki = (profile or self.profile or "webpki") == "webpki"
        as_text = host.decode("utf-8", "replace") if isinstance(host, bytes) else host
        if not isinstance(cert, x509.Certificate):
            raise MalformedInput(
                f"expected the end-entity certificate as an x509.Certificate, got {type(cert).__name__}",
                check=self.name,
                outcome="malformed",
                host=as_text if isinstance(as_text, str) else None,
            )
        try:
            reference = parse_reference(host)
        except InvalidName as e:
            raise HostnameMismatch(
                f"invalid reference identity {as_text!r}: {e}",
                check="hostname",
                outcome="invalid-reference",
                certificate=cert,
                host=as_text,
                details={"reference": as_text},
            ) from None
        if isinstance(reference, DNSReference) and self.invalid_san == "skip":
            hit = _fast_dns_san_match(cert, reference.hostname)
            if hit is not None and not (webpki and _under_public_suffix(hit)):
                return CheckResult(
                    check=self.name,
                    outcome="ok",
                    detail=f"{reference.hostname!r} matches dNSName SAN {hit!r}",
                    data={
                        "reference": reference.hostname,
                        "reference_type": "dns",
                        "matched": f"DNS:{hit}",
                        "via": "san",
                        "cn_fallback": mode,
                    },
                )
        try:
            presented = presented_identifiers(cert)
        except MalformedInput as e:
            raise e.with_context(host=as_text) from None
        if self.invalid_san == "reject" and presented.skipped:
            bad = [f"{entry!r} ({why})" for entry, why in presented.skipped]
            raise MalformedInput(
                f"the certificate has invalid subjectAltName entries: {_shorten(bad)}",
                check=self.name,
                outcome="malformed",
                certificate=cert,
                host=as_text,
                details={
                    "skipped": [f"{e} ({why})" for e, why in presented.skipped],
                    "presented": presented.describe(),
                },
            )
        found = match_reference(
            presented, reference, cn_fallback=mode, wildcard_allowed=_not_public_suffix if webpki else None
        )
        if found is None:
            refused = match_reference(presented, reference, cn_fallback=mode) if webpki else None
            if refused is not None:
                value = refused.presented.split(":", 1)[1]
                raise HostnameMismatch(
                    f"{str(reference)!r} matches {refused.presented!r} only through a wildcard "
                    f"directly under the public suffix {value.rstrip('.')[2:].lower()!r}, which the Web "
                    "PKI never accepts (CA/B BR 3.2.2.6; Public Suffix List) [webpki profile]",
                    check=self.name,
                    outcome="mismatch",
                    certificate=cert,
                    host=as_text,
                    details={"presented": presented.describe(with_cn=mode == "legacy"), "profile": "webpki"},
                )
            err = _mismatch(presented, reference, mode, cert)
            raise err.with_context(host=as_text)
        if found.via == "cn":
            cn = found.presented.split(":", 1)[1]
            violated = _cn_name_constraint_violation(cn, issuers)
            if violated is not None:
                raise HostnameMismatch(
                    f"the subject CN {cn!r} would match {str(reference)!r} through the legacy CN "
                    f"fallback, but it is outside the name constraints of {violated} "
                    "(RFC 5280 §4.2.1.10; a CN is no way around them)",
                    check=self.name,
                    outcome="name-constraints",
                    certificate=cert,
                    host=as_text,
                    details={"presented": presented.describe(with_cn=True), "cn": cn},
                )
            detail = f"{str(reference)!r} matches CN (legacy fallback) {cn!r}"
        else:
            kind = "iPAddress" if isinstance(reference, IPReference) else "dNSName"
            value = found.presented.split(":", 1)[1]
            detail = f"{str(reference)!r} matches {kind} SAN {value!r}"
        return CheckResult(
            check=self.name,
            outcome="ok",
            detail=detail,
            data={
                "reference": str(reference),
                "reference_type": "ip" if isinstance(reference, IPReference) else "dns",
                "matched": found.presented,
                "via": found.via,
                "cn_fallback": mode,
            },
        )

    def run(self, ctx: CheckContext) -> CheckResult:
        """Run the check for one connection (the :class:`~certpolicy.checks.Check` protocol).

        Uses ``ctx.host_as_asked`` (or ``ctx.host``) as the reference identity,
        ``ctx.leaf`` as the certificate, and ``self.cn_fallback`` or else
        ``ctx.policy.cn_fallback``.

        Returns / Raises: as :meth:`check`; errors carry ``policy`` and ``host``.
        Without any host name the connection cannot be checked: a
        :class:`~certpolicy.HostnameMismatch` with ``outcome="invalid-reference"``.
        """
        policy_name = ctx.policy.name
        host = ctx.host_as_asked or ctx.host
        if not ctx.chain:
            raise MalformedInput(
                "the server presented no certificate",
                policy=policy_name,
                check=self.name,
                outcome="malformed",
                host=host,
            )
        leaf = ctx.leaf
        if not host:
            raise HostnameMismatch(
                "no reference identity: the client gave no server name or address to "
                "check the certificate against",
                policy=policy_name,
                check=self.name,
                outcome="invalid-reference",
                certificate=leaf,
            )
        mode: CnFallback = self.cn_fallback or ctx.policy.cn_fallback
        issuers = (ctx.verified_path or list(ctx.chain))[1:]
        profile = self.profile or ctx.policy.validation_profile
        try:
            return self.check(leaf, host, cn_fallback=mode, issuers=issuers, profile=profile)
        except (HostnameMismatch, MalformedInput) as e:
            raise e.with_context(policy=policy_name, host=host) from None


def _not_public_suffix(suffix: str) -> bool:
    """``wildcard_allowed`` of the Web PKI profile: ``*.suffix`` may match
    unless ``suffix`` is a public suffix."""
    return not is_public_suffix(suffix)


def _under_public_suffix(presented: str) -> bool:
    """Whether a presented dNSName is a wildcard directly under a public suffix."""
    if not presented.startswith("*."):
        return False
    try:
        suffix = normalize_dns_name(presented[2:])
    except InvalidName:
        return True  # not for the fast path to decide
    return is_public_suffix(suffix)
