"""Target syntax: which endpoints a policy row applies to (pure, I/O free).

Targets are written as the agent writes them, one string or a list, each
string a comma-separated list of:

* ``partner.com``: exactly that host;
* ``*.corp.example``: any name *below* ``corp.example`` at any depth, on label
  boundaries (never ``corp.example`` itself, never ``evilcorp.example``);
  ``*`` alone: every host;
* ``https://api.example.com:8443/v2/``: scheme, host and port; the path is a
  prefix on whole path segments (``/v2/`` does not match ``/v20/``);
* ``10.1.2.3``, ``fd00::1``: one address;
* ``10.10.10.0/24``, ``fc00::/7``: a CIDR block;
* ``10.10.11.0-10.10.11.165``: a dash range, both ends included.

Each parsed :class:`Target` carries its SPEC rank (:attr:`Target.rank`): a
tuple, lower is more specific. See :mod:`certpolicy.resolver`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import PolicyConfigError
from .names import InvalidName, IPAddress, normalize_dns_name, parse_ip

__all__ = [
    "TIER_EXACT_HOST",
    "TIER_EXACT_IP",
    "TIER_IP_RANGE",
    "TIER_URL_PATH",
    "TIER_URL_PORT",
    "TIER_WILDCARD",
    "HostTarget",
    "IPRangeTarget",
    "Target",
    "UrlTarget",
    "parse_target",
    "parse_targets",
]

# Rank tiers (SPEC "Target matching and precedence").
TIER_URL_PATH = 0
TIER_URL_PORT = 1
TIER_EXACT_HOST = 2
TIER_EXACT_IP = 3
TIER_WILDCARD = 4
TIER_IP_RANGE = 5

_DEFAULT_PORTS = {"https": 443, "http": 80, "wss": 443, "ws": 80, "ldaps": 636}


@dataclass(frozen=True)
class Target:
    """Base class of parsed targets. ``text`` is the target as written."""

    text: str

    @property
    def rank(self) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def label(self) -> str:
        """Short description of the target kind for ``explain``."""
        return type(self).__name__

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class HostTarget(Target):
    """An exact host name, or a wildcard (``*.suffix`` / ``*``) when ``wildcard``.

    ``host`` is the normalised name (for a wildcard, the suffix below which it
    matches; ``""`` for ``*``).
    """

    host: str
    wildcard: bool = False

    @property
    def labels(self) -> int:
        return 0 if not self.host else self.host.count(".") + 1

    @property
    def rank(self) -> tuple[int, int]:
        if self.wildcard:
            return (TIER_WILDCARD, -self.labels)
        return (TIER_EXACT_HOST, 0)

    @property
    def label(self) -> str:
        if self.wildcard:
            return "wildcard host" if self.host else "any host"
        return "exact host"

    def matches_host(self, host: str) -> bool:
        """``host`` must be normalised. Label-boundary suffix match for wildcards."""
        if not self.wildcard:
            return host == self.host
        if not self.host:
            return True
        return host.endswith("." + self.host)


_UNRESERVED_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _decode_unreserved(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _segments(path: str) -> tuple[str, ...]:
    """Normalised path segments (RFC 3986 §6.2.2): percent-escapes of
    unreserved characters decoded (``%61dmin`` -> ``admin``, ``%2e`` -> ``.``),
    other escapes upper-cased, dot segments removed (§5.2.4: ``/v2/../admin``
    -> ``admin``), empty segments dropped. A rule and a request path are
    compared in this form, so no spelling of a path escapes its rule."""
    out: list[str] = []
    for raw in path.split("/"):
        seg = _UNRESERVED_ESCAPE.sub(_decode_unreserved, raw)
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return tuple(out)


@dataclass(frozen=True)
class UrlTarget(Target):
    """A URL or URL prefix: scheme, host, port (explicit or the scheme default),
    and an optional path prefix matched on whole segments."""

    scheme: str
    host: str
    ip: IPAddress | None
    port: int
    explicit_port: bool
    path: tuple[str, ...]

    @property
    def has_path(self) -> bool:
        return bool(self.path)

    @property
    def rank(self) -> tuple[int, int]:
        if self.path:
            return (TIER_URL_PATH, -len(self.path))
        return (TIER_URL_PORT, 0)

    @property
    def label(self) -> str:
        return "URL prefix with path" if self.path else "URL (scheme, host, port)"

    def matches_origin(self, host: str, port: int | None, scheme: str | None) -> bool:
        """Host must be normalised. ``port``/``scheme`` ``None`` = unknown: a
        rule with an explicit non-default port then does not match."""
        if host != self.host:
            return False
        if scheme is not None and scheme != self.scheme:
            return False
        effective = port if port is not None else (_DEFAULT_PORTS.get(scheme or "https"))
        return effective == self.port

    def matches_path(self, path: str | None) -> bool:
        if not self.path:
            return True
        if path is None:
            return False
        segs = _segments(path.split("?", 1)[0].split("#", 1)[0])
        return segs[: len(self.path)] == self.path


@dataclass(frozen=True)
class IPRangeTarget(Target):
    """One address, a CIDR block or a dash range (both ends included)."""

    first: IPAddress
    last: IPAddress

    @property
    def version(self) -> int:
        return self.first.version

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    @property
    def single(self) -> bool:
        return self.first == self.last

    @property
    def rank(self) -> tuple[int, int]:
        if self.single:
            return (TIER_EXACT_IP, 0)
        return (TIER_IP_RANGE, self.size)

    @property
    def label(self) -> str:
        return "exact address" if self.single else "address range"

    def contains(self, addr: IPAddress) -> bool:
        return addr.version == self.first.version and int(self.first) <= int(addr) <= int(self.last)

    def blocks(self) -> list[tuple[int, int]]:
        """The range as the smallest list of CIDR blocks: ``(network int, prefix length)``."""
        bits = 32 if self.first.version == 4 else 128
        size = self.size
        start = int(self.first)
        if size & (size - 1) == 0 and start % size == 0:  # already one CIDR block
            return [(start, bits - (size.bit_length() - 1))]
        return cidr_cover(start, int(self.last), bits)

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The range as the smallest list of CIDR blocks."""
        return list(ipaddress.summarize_address_range(self.first, self.last))  # type: ignore[arg-type,unused-ignore]


def cidr_cover(start: int, end: int, bits: int) -> list[tuple[int, int]]:
    """The smallest list of CIDR blocks ``(network int, prefix length)`` that
    covers ``start..end`` (both included) in a ``bits``-bit address space: the
    same blocks as :func:`ipaddress.summarize_address_range`, computed on
    integers (large tables build their index from it)."""
    out: list[tuple[int, int]] = []
    while start <= end:
        size = (start & -start) if start else 1 << bits
        remaining = end - start + 1
        while size > remaining:
            size >>= 1
        out.append((start, bits - (size.bit_length() - 1)))
        start += size
    return out


def _bad(text: str, why: str) -> PolicyConfigError:
    return PolicyConfigError(f"invalid target {text!r}: {why}")


def _parse_ip_strict(text: str, original: str) -> IPAddress:
    addr = parse_ip(text)
    if addr is None:
        raise _bad(original, f"{text!r} is not an IP address")
    return addr


def parse_target(text: str) -> Target:
    """Parse one target (no commas).

    Returns:
        a :class:`HostTarget`, :class:`UrlTarget` or :class:`IPRangeTarget`.

    Raises:
        PolicyConfigError: invalid name, URL, address, CIDR (host bits set, bad
            prefix), a dash range whose ends are reversed or of two IP versions,
            a wildcard anywhere but the whole left-most label.
    """
    t = text.strip()
    if not t:
        raise _bad(text, "empty target")
    if "://" in t:
        return _parse_url(t)
    if "/" in t:
        if not t.isascii():
            raise _bad(t, "an address or CIDR block must be written in ASCII digits")
        if "%" in t:  # an IPv6 zone id is ignored for matching: fe80::%eth0/64 -> fe80::/64
            addr_part, _pct, rest = t.partition("%")
            t_net = addr_part + "/" + rest.split("/", 1)[1] if "/" in rest else addr_part
        else:
            t_net = t
        fast = _ipv4_cidr(t_net)
        if fast is not None:
            return fast
        try:
            net = ipaddress.ip_network(t_net, strict=True)
        except ValueError as e:
            raise _bad(t, f"not a valid CIDR block ({e})") from None
        first = parse_ip(net.network_address)
        last = parse_ip(net.broadcast_address)
        assert first is not None and last is not None
        if first.version != last.version:  # IPv4-mapped block partially mapped
            first, last = net.network_address, net.broadcast_address
        return IPRangeTarget(t, first, last)
    if "-" in t and not t.startswith("-"):
        a, _sep, b = t.partition("-")
        ia, ib = parse_ip(a.strip()), parse_ip(b.strip())
        if ia is not None or ib is not None:
            if ia is None or ib is None:
                raise _bad(t, "a dash range needs an IP address on both sides")
            if ia.version != ib.version:
                raise _bad(t, "the two ends of a dash range are of different IP versions")
            if int(ia) > int(ib):
                raise _bad(t, f"dash range ends are reversed ({ia} > {ib})")
            return IPRangeTarget(t, ia, ib)
    addr = parse_ip(t)
    if addr is not None:
        return IPRangeTarget(t, addr, addr)
    if t == "*":
        return HostTarget(t, "", wildcard=True)
    last_label = t.rstrip(".").rsplit(".", 1)[-1]
    if last_label.isascii() and last_label.isdigit():
        raise _bad(t, "looks like an IP address but is not a valid one (leading zeros, a trailing dot or a missing part?)")
    try:
        if t.startswith("*."):
            return HostTarget(t, normalize_dns_name(t[2:]), wildcard=True)
        return HostTarget(t, normalize_dns_name(t))
    except InvalidName as e:
        raise _bad(t, str(e)) from None


def _ipv4_cidr(t: str) -> IPRangeTarget | None:
    """Fast path for ``a.b.c.d/n`` (what large tables are made of); ``None``
    hands anything else to :mod:`ipaddress`."""
    addr_text, _slash, plen_text = t.partition("/")
    if not (plen_text.isascii() and plen_text.isdigit()) or ":" in addr_text:
        return None
    addr = parse_ip(addr_text)
    plen = int(plen_text)
    if not isinstance(addr, ipaddress.IPv4Address) or plen > 32:
        return None
    host_mask = (1 << (32 - plen)) - 1
    first = int(addr)
    if first & host_mask:
        raise _bad(t, f"not a valid CIDR block ({t} has host bits set)")
    return IPRangeTarget(t, addr, ipaddress.IPv4Address(first | host_mask))


def _parse_url(t: str) -> UrlTarget:
    try:
        u = urllib.parse.urlsplit(t)
        port = u.port
    except ValueError as e:
        raise _bad(t, f"not a valid URL ({e})") from None
    scheme = u.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _bad(t, f"unsupported scheme {u.scheme!r}; expected one of {', '.join(sorted(_DEFAULT_PORTS))}")
    if u.username or u.password:
        raise _bad(t, "a URL target must not carry user information")
    if u.query or u.fragment:
        raise _bad(t, "a URL target must not carry a query or fragment")
    hostname = u.hostname
    if not hostname:
        raise _bad(t, "URL has no host")
    ip = parse_ip(hostname)
    if ip is not None:
        host = str(ip)
    else:
        if "*" in hostname:
            raise _bad(t, "wildcards are not allowed in URL targets; use a wildcard host target")
        try:
            host = normalize_dns_name(hostname)
        except InvalidName as e:
            raise _bad(t, str(e)) from None
    return UrlTarget(
        t,
        scheme=scheme,
        host=host,
        ip=ip,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        explicit_port=port is not None,
        path=_segments(u.path),
    )


def parse_targets(value: Any) -> tuple[Target, ...]:
    """Parse a target field: a comma-separated string, or a list of such strings.

    Raises:
        PolicyConfigError: any invalid element (the message names it), or a value
            that is neither a string nor a list of strings.
    """
    items: Iterable[Any]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise PolicyConfigError(f"expected a string or a list of strings, got {value!r}")
    out: list[Target] = []
    for item in items:
        if not isinstance(item, str):
            raise PolicyConfigError(f"expected a string target, got {item!r}")
        for part in item.split(","):
            if part.strip():
                out.append(parse_target(part))
    return tuple(out)
