"""The hostname check: does the certificate name the server the client asked for?

Service identity verification after RFC 9525 (which obsoletes RFC 6125), with
the legacy subject-CN fallback of RFC 6125 §6.4.4 as an opt-in per policy.

The matching core is pure and I/O free, in the style of service_identity's
``hazmat`` module, with types named after the RFC's terms:

* the **reference identity** is what the client asked for: a DNS-ID
  (:class:`DNSReference`) or an IP-ID (:class:`IPReference`), made by
  :func:`parse_reference`;
* the **presented identifiers** are what the certificate carries: the
  subjectAltName dNSName and iPAddress entries, and the subject commonName
  (:class:`PresentedIdentifiers`, made by :func:`presented_identifiers`);
* :func:`match_reference` compares the two and returns a :class:`Match` or
  ``None``; :func:`dns_pattern_matches` is the single DNS comparison rule.

The rules (SPEC "Checks", RFC 9525 §6.3 and §6.4):

* a DNS-ID is compared with dNSName SAN entries only, an IP-ID with iPAddress
  SAN entries only; IP text inside a dNSName (or the CN) is never an IP
  identity;
* DNS names are compared in their A-label form, ASCII case-insensitively, with
  one trailing dot removed (RFC 1034 §3.1); the reference is normalised with
  :func:`certpolicy.names.normalize_dns_name` (IDNA 2008 / UTS #46); a SAN
  entry must already be A-label/LDH text, and an entry that is not (U-labels,
  spaces, empty labels, invalid punycode, a misplaced or partial wildcard) is
  skipped and reported in ``details["skipped"]``, never matched and never a
  crash (``HostnameCheck(invalid_san="reject")`` rejects such certificates
  instead: DESIGN pitfall 13 makes the tolerance a choice);
* a wildcard ``*`` is only the whole left-most label of a pattern with at
  least two labels after it (``*.example.com``, not ``*.com``), and stands for
  exactly one whole, non-A-label (not ``xn--``) left-most label of the
  reference: ``*.example.com`` matches ``a.example.com`` but neither
  ``a.b.example.com`` nor ``example.com``; partial wildcards (``f*.example.com``,
  ``*oo.example.com``) never match;
* IP addresses are compared as addresses: IPv6 zone ids are ignored, and an
  IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) compares as its IPv4
  address, on both sides;
* ``cn_fallback="legacy"`` reads the subject commonName(s) only when the
  certificate has no dNSName SAN entry at all (an iPAddress-only SAN does not
  block it), and never for an IP-ID.

Example::

    from certpolicy import HostnameCheck, HostnameMismatch

    try:
        result = HostnameCheck(cn_fallback="never").check(cert, "api.example.com")
        print(result.detail)     # 'api.example.com' matches dNSName SAN '*.example.com'
    except HostnameMismatch as e:
        print(e.reason, e.details["presented"])
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from .._memo import CERTIFICATE_FACTS
from ..errors import HostnameMismatch, MalformedInput, PolicyConfigError
from ..names import InvalidName, IPAddress, normalize_dns_name, normalize_ip, parse_ip
from .base import CheckContext, CheckResult

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

CnFallback = Literal["never", "legacy"]
_CN_FALLBACK_VALUES = ("never", "legacy")
InvalidSanHandling = Literal["skip", "reject"]
_INVALID_SAN_VALUES = ("skip", "reject")

#: How many presented identifiers an error message lists before "... and N more".
_MESSAGE_LIST_LIMIT = 10


# ---------------------------------------------------------------------------
# Reference identities (what the client asked for)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DNSReference:
    """A DNS-ID reference identity (RFC 9525 §6.2).

    Attributes:
        hostname: the normalised name: lower-case A-labels, no trailing dot.
        as_asked: the text the client passed.
    """

    hostname: str
    as_asked: str

    def __str__(self) -> str:
        return self.hostname


@dataclass(frozen=True)
class IPReference:
    """An IP-ID reference identity (RFC 9525 §6.4; RFC 9110 §4.3.5).

    Attributes:
        address: the address; an IPv4-mapped IPv6 address is stored as IPv4,
            the zone id is dropped.
        as_asked: the text the client passed.
    """

    address: IPAddress
    as_asked: str

    def __str__(self) -> str:
        return str(self.address)


ReferenceIdentity = DNSReference | IPReference


def _as_text(host: str | bytes) -> str:
    if isinstance(host, bytes):
        try:
            return host.decode("ascii")
        except UnicodeDecodeError:
            try:
                return host.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidName(f"host name {host!r} is neither ASCII nor UTF-8") from None
    return host


def parse_reference(host: str | bytes) -> ReferenceIdentity:
    """Turn the server name the client asked for into a reference identity.

    Args:
        host: a DNS name (U-labels or A-labels, any case, optionally with one
            trailing dot) or an IP address literal (``"192.0.2.1"``, ``"::1"``,
            ``"[::1]"``, ``"fe80::1%eth0"``); ``bytes`` are decoded as ASCII, then
            UTF-8 (anyio passes SNI names as bytes).

    Returns:
        an :class:`IPReference` for an IP literal, else a :class:`DNSReference`.

    Raises:
        certpolicy.names.InvalidName: not a valid reference identity: empty, an
            empty label (``"a.b.."``), bad IDNA, a ``*``, an over-long name, or a
            name whose last label is all digits (``"1.2.3"``: not an IP address and
            not a host name, RFC 1123 §2.1).
    """
    return _parse_reference_text(_as_text(host))


@functools.lru_cache(maxsize=4096)
def _parse_reference_text(text: str) -> ReferenceIdentity:
    """:func:`parse_reference` on text, memoised (the results are immutable)."""
    addr = parse_ip(text)
    if addr is not None:
        return IPReference(address=addr, as_asked=text)
    body = text.strip()
    body = body[:-1] if body.endswith(".") else body
    if body and "" in body.split("."):
        raise InvalidName(
            f"{text!r} has an empty label (only one trailing dot, marking an absolute "
            "name, is allowed: RFC 1034 §3.1)"
        )
    hostname = normalize_dns_name(text)
    if hostname.rsplit(".", 1)[-1].isdigit():
        raise InvalidName(
            f"{text!r} is neither a valid IP address nor a host name "
            "(the last label of a host name cannot be all digits, RFC 1123 §2.1)"
        )
    return DNSReference(hostname=hostname, as_asked=text)


# ---------------------------------------------------------------------------
# Presented identifiers (what the certificate carries)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PresentedIdentifiers:
    """The identifiers a certificate presents, read once.

    Attributes:
        has_san: ``True`` when the certificate has a subjectAltName extension.
        dns_names: every dNSName SAN entry, as written in the certificate.
        dns_patterns: ``(raw, normalised)`` pairs of the dNSName entries that are
            valid A-label/LDH text (with at most a whole left-most ``*``).
        ip_addresses: every iPAddress SAN entry that is an address (IPv4-mapped
            IPv6 entries normalised to IPv4).
        skipped: ``(entry, why)`` for SAN entries that can never match
            (``"DNS:bücher.example"``, ``"IP:10.0.0.0/8"``).
        common_names: the subject commonName values (read only by the legacy
            fallback and for hints).
    """

    has_san: bool
    dns_names: tuple[str, ...] = ()
    dns_patterns: tuple[tuple[str, str], ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    common_names: tuple[str, ...] = field(default=())

    def describe(self, *, with_cn: bool = False) -> list[str]:
        """The identifiers as ``"DNS:..."``, ``"IP:..."`` (and ``"CN:..."`` when
        ``with_cn``), in certificate order per type."""
        out = [f"DNS:{n}" for n in self.dns_names]
        out += [f"IP:{a}" for a in self.ip_addresses]
        out += [s for s, _ in self.skipped if s.startswith("IP:")]
        if with_cn:
            out += [f"CN:{cn}" for cn in self.common_names]
        return out


def _normalize_presented_dns(value: str) -> str:
    """Normalise a dNSName SAN entry (or a legacy CN) for comparison.

    Raises:
        InvalidName: the entry is not A-label/LDH text with at most a whole
            left-most wildcard label.
    """
    if not value.isascii():
        raise InvalidName("not A-label text (contains non-ASCII characters)")
    if not value or value != value.strip():
        raise InvalidName("empty or surrounded by white space")
    if "_" in value:
        # RFC 5280 §4.2.1.6: a dNSName is in the preferred name syntax (RFC 1034
        # §3.5, letters, digits, hyphen); '_' is not a host name character.
        raise InvalidName("contains '_' (not a host name in the preferred name syntax)")
    return normalize_dns_name(value, allow_wildcard=True)


def _read_common_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ()
    return tuple(a.value for a in attrs if isinstance(a.value, str))


def presented_identifiers(cert: x509.Certificate) -> PresentedIdentifiers:
    """Read the subjectAltName dNSName and iPAddress entries and the subject CN.

    Args:
        cert: the end-entity certificate.

    Returns:
        a :class:`PresentedIdentifiers`.

    Raises:
        certpolicy.MalformedInput: (``check="hostname"``, ``outcome="malformed"``)
            the extensions cannot be read: a duplicate extension (RFC 5280 §4.2
            allows each extension once), an unparseable subjectAltName, an
            iPAddress entry of the wrong length.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return PresentedIdentifiers(has_san=False, common_names=_read_common_names(cert))
    except x509.DuplicateExtension as e:
        oid_name = getattr(e.oid, "_name", None) or e.oid.dotted_string
        raise MalformedInput(
            f"the certificate carries the {oid_name} extension more than once "
            "(RFC 5280 §4.2), so its subjectAltName cannot be trusted",
            check="hostname",
            outcome="malformed",
            certificate=cert,
            details={"duplicate_extension": e.oid.dotted_string},
        ) from None
    except ValueError as e:
        raise MalformedInput(
            f"the certificate's extensions cannot be parsed, so its subjectAltName "
            f"cannot be read: {e}",
            check="hostname",
            outcome="malformed",
            certificate=cert,
        ) from None
    san = ext.value
    if not isinstance(san, x509.SubjectAlternativeName):  # pragma: no cover - defensive
        raise MalformedInput(
            "the subjectAltName extension has an unexpected value",
            check="hostname",
            outcome="malformed",
            certificate=cert,
        )
    dns_names: list[str] = []
    patterns: list[tuple[str, str]] = []
    addresses: list[IPAddress] = []
    skipped: list[tuple[str, str]] = []
    for gn in san:
        if isinstance(gn, x509.DNSName):
            raw = gn.value
            dns_names.append(raw)
            try:
                patterns.append((raw, _normalize_presented_dns(raw)))
            except InvalidName as e:
                skipped.append((f"DNS:{raw}", str(e)))
        elif isinstance(gn, x509.IPAddress):
            value = gn.value
            if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                addresses.append(normalize_ip(value))
            else:
                skipped.append((f"IP:{value}", "an address block, not an address"))
    return PresentedIdentifiers(
        has_san=True,
        dns_names=tuple(dns_names),
        dns_patterns=tuple(patterns),
        ip_addresses=tuple(addresses),
        skipped=tuple(skipped),
        common_names=_read_common_names(cert),
    )


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------


def dns_pattern_matches(pattern: str, hostname: str) -> bool:
    """Compare one presented DNS pattern with a DNS-ID (RFC 9525 §6.3).

    Args:
        pattern: a normalised presented identifier (lower-case A-labels, no
            trailing dot), optionally with ``*`` as its whole left-most label.
        hostname: a normalised reference DNS-ID.

    Returns:
        ``True`` on an exact match, or when ``pattern`` is ``*.`` followed by at
        least two labels, ``hostname`` has exactly one more label in front of the
        same suffix, and that label is not an A-label (``xn--``). Partial
        wildcards never match.
    """
    if "*" not in pattern:
        return pattern == hostname
    p_labels = pattern.split(".")
    if p_labels[0] != "*" or len(p_labels) < 3 or any("*" in lab for lab in p_labels[1:]):
        return False
    h_labels = hostname.split(".")
    if len(h_labels) != len(p_labels):
        return False
    left = h_labels[0]
    if not left or left.startswith("xn--"):
        return False
    return p_labels[1:] == h_labels[1:]


def _dns_san_index(cert: x509.Certificate) -> dict[str, tuple[tuple[int, str], ...]] | None:
    """``{entry lower-cased without a trailing dot: ((position, entry as
    written), ...)}`` for the certificate's dNSName SAN entries; ``None`` when
    the subjectAltName is absent or unreadable. Entries are validated only
    when they are looked up."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return None
    index: dict[str, tuple[tuple[int, str], ...]] = {}
    for position, raw in enumerate(san.get_values_for_type(x509.DNSName)):
        key = raw.lower().removesuffix(".")
        index[key] = (*index.get(key, ()), (position, raw))
    return index


def _fast_dns_san_match(cert: x509.Certificate, hostname: str) -> str | None:
    """The common success case without validating every SAN entry: take the
    entries that can match ``hostname`` (itself, or ``*.`` and its parent),
    in certificate order, validate only those, and return the first that
    matches, as written. ``None`` sends the caller down the complete path
    (which also explains a mismatch and handles every unusual entry). A
    certificate seen before has its entries indexed (memoised); on first
    sight one pass over them finds the candidates."""
    dot = hostname.find(".")
    wildcard = "*" + hostname[dot:] if dot > 0 else ""
    candidates: Iterable[str]
    if CERTIFICATE_FACTS.seen_before(cert):
        index = CERTIFICATE_FACTS(cert, _dns_san_index)
        if not index:
            return None
        exact, wild = index.get(hostname, ()), index.get(wildcard, ())
        candidates = [raw for _, raw in (sorted((*exact, *wild)) if exact and wild else exact or wild)]
    else:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
            return None
        candidates = (
            raw
            for raw in san.get_values_for_type(x509.DNSName)
            if (key := raw.lower().removesuffix(".")) == hostname or key == wildcard
        )
    for raw in candidates:
        try:
            pattern = _normalize_presented_dns(raw)
        except InvalidName:
            continue
        if dns_pattern_matches(pattern, hostname):
            return raw
    return None


def _dns_constraint_matches(name: str, constraint: str) -> bool:
    """RFC 5280 §4.2.1.10 for dNSName: ``corp.example`` covers itself and every
    name below it; ``.corp.example`` only the names below it; ``""`` everything."""
    c = constraint.lower().rstrip(".")
    if not c:
        return True
    if c.startswith("."):
        return name.endswith(c)
    return name == c or name.endswith("." + c)


def _cn_name_constraint_violation(cn: str, issuers: Sequence[x509.Certificate]) -> str | None:
    """The CA whose dNSName constraints ``cn`` violates (as a description), or ``None``."""
    name = cn.lower().rstrip(".")
    for ca in issuers:
        try:
            nc = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        except ValueError:
            return f"{ca.subject.rfc4514_string()!r} (unreadable nameConstraints)"
        permitted = [g.value for g in (nc.permitted_subtrees or ()) if isinstance(g, x509.DNSName)]
        excluded = [g.value for g in (nc.excluded_subtrees or ()) if isinstance(g, x509.DNSName)]
        if any(_dns_constraint_matches(name, c) for c in excluded):
            return f"{ca.subject.rfc4514_string()!r} (excluded)"
        if permitted and not any(_dns_constraint_matches(name, c) for c in permitted):
            return f"{ca.subject.rfc4514_string()!r} (not permitted)"
    return None


@dataclass(frozen=True)
class Match:
    """A successful match.

    Attributes:
        via: ``"san"`` or ``"cn"`` (the legacy fallback).
        presented: the identifier that matched, as written: ``"DNS:*.example.com"``,
            ``"IP:192.0.2.1"``, ``"CN:legacy.example"``.
    """

    via: Literal["san", "cn"]
    presented: str


def _cn_fallback_applies(presented: PresentedIdentifiers) -> bool:
    """RFC 6125 §6.4.4: only without any dNSName SAN entry (iPAddress entries
    do not count; a dNSName entry counts even when it is unusable)."""
    return not presented.dns_names


def match_reference(
    presented: PresentedIdentifiers,
    reference: ReferenceIdentity,
    *,
    cn_fallback: CnFallback = "never",
) -> Match | None:
    """Find the presented identifier that matches ``reference``.

    Args:
        presented: from :func:`presented_identifiers`.
        reference: from :func:`parse_reference`.
        cn_fallback: ``"never"`` (RFC 9525) or ``"legacy"`` (RFC 6125 §6.4.4: the
            subject CN, only when there is no dNSName SAN and only for a DNS-ID).

    Returns:
        the first :class:`Match` in certificate order, or ``None``.
    """
    if isinstance(reference, IPReference):
        for addr in presented.ip_addresses:
            if addr == reference.address:
                return Match("san", f"IP:{addr}")
        return None
    for raw, pattern in presented.dns_patterns:
        if dns_pattern_matches(pattern, reference.hostname):
            return Match("san", f"DNS:{raw}")
    if cn_fallback == "legacy" and _cn_fallback_applies(presented):
        for cn in presented.common_names:
            try:
                pattern = _normalize_presented_dns(cn)
            except InvalidName:
                continue
            if dns_pattern_matches(pattern, reference.hostname):
                return Match("cn", f"CN:{cn}")
    return None


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
        self.cn_fallback: CnFallback | None = cn_fallback
        self.invalid_san: InvalidSanHandling = invalid_san

    def __repr__(self) -> str:
        return f"HostnameCheck(cn_fallback={self.cn_fallback!r}, invalid_san={self.invalid_san!r})"

    def check(
        self,
        cert: x509.Certificate,
        host: str | bytes,
        *,
        cn_fallback: CnFallback | None = None,
        issuers: Sequence[x509.Certificate] = (),
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
            if hit is not None:
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
        found = match_reference(presented, reference, cn_fallback=mode)
        if found is None:
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
        try:
            return self.check(leaf, host, cn_fallback=mode, issuers=issuers)
        except (HostnameMismatch, MalformedInput) as e:
            raise e.with_context(policy=policy_name, host=host) from None
