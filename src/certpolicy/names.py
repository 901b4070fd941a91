"""Normalisation of DNS names and IP addresses (pure, I/O free).

One place for the rules the SPEC fixes, shared by target parsing, the
resolver and the hostname check:

* DNS names: lower-case, IDNA 2008 A-labels (UTS #46 mapping, through
  ``idna``), one trailing dot removed (RFC 1034 §3.1: the absolute form names the
  same host); empty labels, labels over 63 octets and names over 253 octets
  are invalid.
* IP addresses: ``ipaddress`` objects; brackets and an IPv6 zone id
  (``%eth0``) are dropped; an IPv4-mapped IPv6 address (``::ffff:10.1.2.3``)
  becomes the embedded IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket

import idna

__all__ = [
    "IPAddress",
    "InvalidName",
    "is_ip_literal",
    "normalize_dns_name",
    "normalize_ip",
    "parse_ip",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# ASCII label: letters, digits, hyphen, underscore (seen in intranet names and
# SRV-style owners); no leading/trailing hyphen.
_ASCII_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


class InvalidName(ValueError):
    """A host name or address is not valid (empty label, bad IDNA, too long...)."""


@functools.lru_cache(maxsize=4096)
def _normalize_cached(name: str, allow_wildcard: bool) -> str:
    if not name:
        raise InvalidName("empty host name")
    if name.endswith("."):
        name = name[:-1]
        if not name:
            raise InvalidName("host name '.' has no labels")
    if name.endswith(".") or name.startswith(".") or ".." in name:
        raise InvalidName(f"host name {name!r} has an empty label")
    if len(name) > 253 and name.isascii():
        raise InvalidName(f"host name is longer than 253 octets ({len(name)})")
    labels = name.split(".")
    out: list[str] = []
    for i, label in enumerate(labels):
        if allow_wildcard and i == 0 and label == "*":
            out.append("*")
            continue
        if "*" in label:
            if allow_wildcard:
                raise InvalidName(f"wildcard in {name!r}: '*' is allowed only as the whole left-most label")
            raise InvalidName(f"wildcard in {name!r}: a reference name cannot contain '*'")
        if label.isascii():
            low = label.lower()
            if not _ASCII_LABEL.match(low):
                raise InvalidName(f"invalid label {label!r} in host name {name!r}")
            if low.startswith("xn--"):
                try:
                    idna.decode(low)
                except idna.IDNAError as e:
                    raise InvalidName(f"invalid A-label {label!r} in {name!r}: {e}") from None
            out.append(low)
        else:
            try:
                alabel = idna.encode(label, uts46=True, transitional=False).decode("ascii")
            except (idna.IDNAError, UnicodeError) as e:
                raise InvalidName(f"invalid internationalised label {label!r} in {name!r}: {e}") from None
            out.append(alabel.lower())
    result = ".".join(out)
    if len(result) > 253:
        raise InvalidName(f"host name is longer than 253 octets ({len(result)})")
    return result


def normalize_dns_name(name: str | bytes, *, allow_wildcard: bool = False) -> str:
    """Normalise a DNS name to its canonical A-label form.

    Args:
        name: the name (``str``, or ``bytes`` as anyio passes SNI names).
        allow_wildcard: accept ``*`` as the whole left-most label (target syntax).

    Returns:
        lower-case A-label form without the trailing dot, e.g.
        ``normalize_dns_name("Bücher.Example.") == "xn--bcher-kva.example"``.
        The function is idempotent.

    Raises:
        InvalidName: empty labels (``"a..b"``, ``"a.b.."``), bad IDNA, a partial
            or misplaced wildcard, over-long labels or names.
    """
    if isinstance(name, bytes):
        try:
            text = name.decode("ascii")
        except UnicodeDecodeError:
            try:
                text = name.decode("utf-8", "strict")
            except UnicodeDecodeError:
                raise InvalidName(f"host name {name!r} is neither ASCII nor UTF-8") from None
    elif isinstance(name, str):
        text = name
    else:
        raise InvalidName(f"a host name must be text, got {type(name).__name__}")
    return _normalize_cached(text.strip(), allow_wildcard)


def parse_ip(text: str | bytes | IPAddress) -> IPAddress | None:
    """Parse an IP literal, or return ``None`` when ``text`` is not one.

    Accepts ``"10.1.2.3"``, ``"::1"``, ``"[::1]"``, ``"fe80::1%eth0"`` (zone id
    dropped). IPv4-mapped IPv6 addresses are returned as the embedded IPv4
    address. Never raises.
    """
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return normalize_ip(text)
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    return _parse_ip_text(text)


_IPV4_SHAPE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")


@functools.lru_cache(maxsize=8192)
def _parse_ip_text(text: str) -> IPAddress | None:
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    if "%" in t:
        t = t.split("%", 1)[0]
    # Only strings shaped like an address reach ipaddress (its failures are slow).
    if ":" not in t:
        if not _IPV4_SHAPE.match(t):
            return None
        try:  # strict dotted quad (no octal, no short forms), fast
            return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, t))
        except OSError:
            return None
    try:
        addr = ipaddress.ip_address(t)
    except ValueError:
        return None
    return normalize_ip(addr)


def normalize_ip(addr: IPAddress) -> IPAddress:
    """Return the IPv4 address embedded in an IPv4-mapped IPv6 address, else ``addr``."""
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return mapped
        if addr.scope_id:
            return ipaddress.IPv6Address(addr.packed)
    return addr


def is_ip_literal(text: str | bytes) -> bool:
    """``True`` when ``text`` is an IPv4 or IPv6 address literal."""
    return parse_ip(text) is not None
