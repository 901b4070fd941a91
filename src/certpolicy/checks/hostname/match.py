"""Pure service identity matching (RFC 9525, RFC 6125 §6.4.4): reference identities vs presented identifiers.

This is certpolicy's counterpart of service_identity's ``hazmat`` module: no
I/O, no certificates, only strings, addresses and frozen dataclasses, with
types named after the RFC's terms:

* the **reference identity** is what the client asked for: a DNS-ID
  (:class:`DNSReference`) or an IP-ID (:class:`IPReference`), made by
  :func:`parse_reference`;
* the **presented identifiers** are what the certificate carries: the
  subjectAltName dNSName and iPAddress entries, and the subject commonName
  (:class:`PresentedIdentifiers`, read from a certificate by
  :func:`certpolicy.checks.hostname.presented.presented_identifiers`);
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
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ...names import InvalidName, IPAddress, normalize_dns_name, parse_ip

__all__ = [
    "CnFallback",
    "DNSReference",
    "IPReference",
    "Match",
    "PresentedIdentifiers",
    "ReferenceIdentity",
    "dns_pattern_matches",
    "match_reference",
    "parse_reference",
]

CnFallback = Literal["never", "legacy"]


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
    wildcard_allowed: Callable[[str], bool] | None = None,
) -> Match | None:
    """Find the presented identifier that matches ``reference``.

    Args:
        presented: from :func:`presented_identifiers`.
        reference: from :func:`parse_reference`.
        cn_fallback: ``"never"`` (RFC 9525) or ``"legacy"`` (RFC 6125 §6.4.4: the
            subject CN, only when there is no dNSName SAN and only for a DNS-ID).
        wildcard_allowed: ``wildcard_allowed(suffix)`` decides whether a
            wildcard pattern ``*.suffix`` may match at all (the Web PKI
            profile refuses one directly under a public suffix); ``None``:
            every well-formed wildcard may.

    Returns:
        the first :class:`Match` in certificate order, or ``None``.
    """
    if isinstance(reference, IPReference):
        for addr in presented.ip_addresses:
            if addr == reference.address:
                return Match("san", f"IP:{addr}")
        return None
    for raw, pattern in presented.dns_patterns:
        if dns_pattern_matches(pattern, reference.hostname) and _wildcard_ok(pattern, wildcard_allowed):
            return Match("san", f"DNS:{raw}")
    if cn_fallback == "legacy" and _cn_fallback_applies(presented):
        for cn in presented.common_names:
            try:
                pattern = _normalize_presented_dns(cn)
            except InvalidName:
                continue
            if dns_pattern_matches(pattern, reference.hostname) and _wildcard_ok(pattern, wildcard_allowed):
                return Match("cn", f"CN:{cn}")
    return None


def _wildcard_ok(pattern: str, wildcard_allowed: Callable[[str], bool] | None) -> bool:
    return wildcard_allowed is None or not pattern.startswith("*.") or wildcard_allowed(pattern[2:])
