"""PolicyResolver: which policy applies to a connection (pure, I/O free).

Precedence (SPEC "Target matching and precedence"); the most specific match
wins, whatever the row order:

1. among overrides: a URL target with a path (longest path first), then a URL
   target (scheme, host, port), then an exact host name, then an exact IP
   address; then wildcard host names (more labels first); then IP ranges
   (fewest addresses first);
2. the kind defaults: the instance policy (its endpoints), then intranet (the
   address is in the intranet range table), then internet.

IP rules apply to the connected peer's address and to IP-literal hosts. A
host name without a peer address is classified by name only, and
:meth:`Resolution.explain` says so.

The index makes a lookup independent of the number of rows: exact hosts in a
dict, wildcards by walking the queried name's parent domains (label
boundaries), URL targets by host, addresses in a dict and ranges as CIDR
blocks in one dict per prefix length (a dash range is stored as its minimal
CIDR cover, ranked by the range's own size).
"""

from __future__ import annotations

import collections
import datetime as _dt
import ipaddress
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .names import IPAddress, normalize_dns_name, parse_ip
from .policy import Policy, PolicyKind
from .table import PolicyTable, gc_paused
from .targets import HostTarget, IPRangeTarget, Target, UrlTarget

#: Resolutions memoised per resolver.
RESOLUTION_MEMO_SIZE = 4096

__all__ = ["Candidate", "PolicyResolver", "Resolution"]

TIER_INSTANCE = 6
TIER_INTRANET = 7
TIER_INTERNET = 8

_TIER_WORDS = {
    0: "URL prefix with path",
    1: "URL (scheme, host, port)",
    2: "exact host name",
    3: "exact IP address",
    4: "wildcard host name",
    5: "IP range",
    TIER_INSTANCE: "instance endpoint",
    TIER_INTRANET: "intranet address range",
    TIER_INTERNET: "internet (default)",
}

_DEFAULT_PORTS = {"https": 443, "http": 80, "wss": 443, "ws": 80, "ldaps": 636}

#: Suffixes reserved for private / local use (RFC 6761, 6762, 8375, 2606) and
#: common intranet pseudo-TLDs: a name under one looks internal.
_INTERNAL_SUFFIXES = frozenset({
    "local",
    "localhost",
    "internal",
    "intranet",
    "corp",
    "lan",
    "home",
    "home.arpa",
    "private",
    "test",
    "localdomain",
})


def _rank_words(rank: tuple[int, int]) -> str:
    tier, sub = rank
    words = _TIER_WORDS.get(tier, str(tier))
    if tier == 0:
        return f"{words} ({-sub} segment{'s' if sub != -1 else ''})"
    if tier == 4:
        return f"{words} ({-sub} label{'s' if sub != -1 else ''} below '*')"
    if tier == 5:
        return f"{words} ({sub} addresses)"
    return words


class Candidate(NamedTuple):
    """A row that matched the query.

    Attributes:
        policy: the row's :class:`Policy`.
        target: the target that matched (``None`` for the internet default).
        rank: ``(tier, sub)``; lower is more specific.
        winner: the candidate that won (``None`` for the winner itself).
    """

    policy: Policy
    target: Target | None
    rank: tuple[int, int]
    winner: Candidate | None = None

    @property
    def why_lost(self) -> str:
        """Why this row did not win (``""`` for the winner)."""
        return _why_lost(self, self.winner) if self.winner is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.name,
            "kind": self.policy.kind.value,
            "target": self.target.text if self.target else None,
            "rank": _rank_words(self.rank),
            "why_lost": self.why_lost or None,
        }


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer of :meth:`PolicyResolver.resolve`.

    Attributes:
        policy: the :class:`Policy` in force.
        matched_target: the winning target, or ``None`` for the internet default.
        rank: the winner's ``(tier, sub)`` rank.
        matches: every row that matched, the winner first (see :attr:`candidates`).
        warnings: sentences: name-only classification, a path rule skipped for
            want of a URL, an expired override skipped, a name that looks
            internal on a public address or the reverse.
        host: the normalised host (A-label name or address text), or ``None``.
        peer_ip: the peer address used, or ``None``.
        port / scheme / path: from the query (``None`` when unknown).
        name_only: ``True`` when no address was available for IP rules.
    """

    policy: Policy
    matched_target: Target | None
    rank: tuple[int, int]
    matches: tuple[Candidate, ...] = ()
    warnings: tuple[str, ...] = ()
    host: str | None = None
    peer_ip: IPAddress | None = None
    port: int | None = None
    scheme: str | None = None
    path: str | None = None
    name_only: bool = False

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """Every other row that matched, most specific first, each with ``why_lost``."""
        if len(self.matches) < 2:
            return ()
        winner = self.matches[0]
        return tuple(Candidate(c.policy, c.target, c.rank, winner) for c in self.matches[1:])

    @property
    def rank_description(self) -> str:
        return _rank_words(self.rank)

    def explain(self) -> str:
        """Render the resolution for a person (multi-line ``str``)."""
        q = []
        if self.scheme:
            q.append(f"scheme {self.scheme}")
        q.append(f"host {self.host or '-'}")
        if self.port is not None:
            q.append(f"port {self.port}")
        if self.path is not None:
            q.append(f"path {self.path}")
        q.append(f"peer address {self.peer_ip if self.peer_ip is not None else 'unknown'}")
        lines = [f"query: {', '.join(q)}"]
        p = self.policy
        how = f"target {self.matched_target.text!r} ({self.rank_description})" if self.matched_target else self.rank_description
        lines.append(f"policy: {p.name} (kind {p.kind.value}) via {how}")
        lines.append(f"checks: {p.summary()}" + (f", cn_fallback={p.cn_fallback}" if p.hostname.active else ""))
        if p.chain.active or p.hostname.active:
            origin = "set by the row" if p.profile is not None else f"the {p.kind.value} kind's default"
            lines.append(f"validation profile: {p.validation_profile} ({origin})")
        if p.ocsp.active or p.crl.active:
            lines.append(f"revocation: order {p.revocation.order}, scope {p.revocation.scope}")
        if p.expires:
            lines.append(f"expires: {p.expires.isoformat()}")
        if p.reason:
            lines.append(f"reason: {p.reason}")
        if p.owner:
            lines.append(f"owner: {p.owner}")
        if self.candidates:
            lines.append("other matches:")
            for c in self.candidates:
                tgt = f"target {c.target.text!r}" if c.target else "default"
                lines.append(f"  - {c.policy.name} ({c.policy.kind.value}) via {tgt} ({_rank_words(c.rank)}): {c.why_lost}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json``)."""
        return {
            "query": {
                "host": self.host,
                "peer_ip": str(self.peer_ip) if self.peer_ip is not None else None,
                "port": self.port,
                "scheme": self.scheme,
                "path": self.path,
            },
            "policy": self.policy.name,
            "kind": self.policy.kind.value,
            "matched_target": self.matched_target.text if self.matched_target else None,
            "rank": self.rank_description,
            "checks": {c: self.policy.mode(c).value for c in ("chain", "hostname", "ocsp", "crl")},
            "cn_fallback": self.policy.cn_fallback,
            "profile": self.policy.validation_profile,
            "expires": self.policy.expires.isoformat() if self.policy.expires else None,
            "reason": self.policy.reason,
            "candidates": [c.to_dict() for c in self.candidates],
            "warnings": list(self.warnings),
            "name_only": self.name_only,
        }


_Entry = tuple[Policy, Target]


class _Index:
    """Lookup structures over a set of rows (see module docstring)."""

    def __init__(self, rows: Iterable[Policy]) -> None:
        self.exact: dict[str, list[_Entry]] = defaultdict(list)
        self.wild: dict[str, list[_Entry]] = defaultdict(list)
        self.url: dict[str, list[tuple[Policy, UrlTarget]]] = defaultdict(list)
        self.ip: dict[tuple[int, int], list[_Entry]] = defaultdict(list)
        # (version, prefixlen) -> {network int >> host bits: entries}
        self.nets: dict[tuple[int, int], dict[int, list[tuple[Policy, IPRangeTarget]]]] = {}
        self.has_path_rules: set[str] = set()
        for p in rows:
            for t in p.targets:
                self._add(p, t)
        # (shift, bucket) per prefix length, most specific first: one dict
        # lookup per prefix length present, whatever the number of rows.
        self.v4_probe = [(32 - pl, self.nets[(4, pl)]) for pl in sorted((pl for (v, pl) in self.nets if v == 4), reverse=True)]
        self.v6_probe = [(128 - pl, self.nets[(6, pl)]) for pl in sorted((pl for (v, pl) in self.nets if v == 6), reverse=True)]
        self.exact = dict(self.exact)
        self.wild = dict(self.wild)
        self.url = dict(self.url)
        self.ip = dict(self.ip)

    def _add(self, p: Policy, t: Target) -> None:
        if isinstance(t, HostTarget):
            (self.wild if t.wildcard else self.exact)[t.host].append((p, t))
        elif isinstance(t, UrlTarget):
            self.url[t.host].append((p, t))
            if t.has_path:
                self.has_path_rules.add(t.host)
        elif isinstance(t, IPRangeTarget):
            if t.single:
                self.ip[(t.version, int(t.first))].append((p, t))
                return
            bits = 32 if t.version == 4 else 128
            for network, prefixlen in t.blocks():
                bucket = self.nets.setdefault((t.version, prefixlen), {})
                bucket.setdefault(network >> (bits - prefixlen), []).append((p, t))

    def is_empty(self) -> bool:
        return not (self.exact or self.wild or self.url or self.ip or self.nets)

    def host_matches(self, host: str) -> list[_Entry]:
        """Exact and wildcard host targets matching ``host`` (normalised),
        walking up its parent domains on label boundaries."""
        out: list[_Entry] = []
        hit = self.exact.get(host)
        if hit:
            out.extend(hit)
        wild = self.wild
        if wild:
            dot = host.find(".")
            while dot >= 0:
                hit = wild.get(host[dot + 1 :])
                if hit:
                    out.extend(hit)
                dot = host.find(".", dot + 1)
            hit = wild.get("")
            if hit:
                out.extend(hit)
        return out

    def ip_matches(self, addr: IPAddress) -> list[_Entry]:
        """Every (row, target) whose address target contains ``addr``. The
        CIDR blocks of one range are disjoint, so no entry comes twice."""
        version = addr.version
        value = int(addr)
        out: list[_Entry] = []
        hit = self.ip.get((version, value))
        if hit:
            out.extend(hit)
        for shift, bucket in self.v4_probe if version == 4 else self.v6_probe:
            found = bucket.get(value >> shift)
            if found:
                out.extend(found)
        return out


class PolicyResolver:
    """Resolve the policy for a connection from a :class:`PolicyTable`.

    Build once, share across threads (immutable after construction).

    Args:
        table: the policy table.
        clock: a callable returning "today" (``datetime.date``) for override
            expiry; default: the current UTC date.
    """

    def __init__(self, table: PolicyTable, *, clock: Any = None) -> None:
        self.table = table
        self._clock = clock
        self._memo: collections.OrderedDict[tuple[Any, ...], Resolution] = collections.OrderedDict()
        self._memo_lock = threading.Lock()
        with gc_paused():
            self._overrides = _Index(table.overrides)
            self._instance = _Index([table.instance])
            self._intranet = _Index([table.intranet])

    def _today(self) -> _dt.date:
        if self._clock is not None:
            value = self._clock()
            if isinstance(value, _dt.datetime):
                return value.date()
            if isinstance(value, _dt.date):
                return value
            raise TypeError(f"resolver clock returned {value!r}, not a date")
        return _dt.datetime.now(_dt.timezone.utc).date()

    # -- public ---------------------------------------------------------------

    def resolve(
        self,
        host: str | bytes | None = None,
        *,
        peer_ip: str | IPAddress | None = None,
        port: int | None = None,
        url: str | None = None,
        scheme: str | None = None,
        path: str | None = None,
        today: _dt.date | None = None,
    ) -> Resolution:
        """Resolve the policy for one connection.

        Args:
            host: the server name the client asked for (name or IP literal;
                ``bytes`` accepted). May be omitted when ``url`` is given.
            peer_ip: the connected peer's address (``str`` or ``ipaddress``
                object), or ``None`` when unknown (name-only classification).
            port: the peer port (``int``), or ``None``.
            url: the full URL when known (HTTP integrations): supplies scheme,
                host, port and path; URL-path rules apply only then.
            scheme / path: alternatively, the scheme and path separately.
            today: date for override expiry (default: the resolver's clock).

        Returns:
            :class:`Resolution`.

        Raises:
            certpolicy.names.InvalidName (a ``ValueError``): ``host`` is not a
                valid name or address; ``ValueError``: neither host nor url, or
                a host that contradicts the URL.

        Resolutions are memoised per resolver (its table is immutable) by
        their inputs and the date (:data:`RESOLUTION_MEMO_SIZE` entries, least
        recently used dropped): the handshake path resolves a host seen before
        with one dictionary lookup.
        """
        day = today or self._today()
        memo_key = (host, peer_ip if peer_ip is None or isinstance(peer_ip, str) else str(peer_ip), port, url, scheme, path, day)
        memo = self._memo
        hit = memo.get(memo_key)
        if hit is not None:
            return hit
        res = self._resolve_uncached(host, peer_ip=peer_ip, port=port, url=url, scheme=scheme, path=path, today=day)
        with self._memo_lock:
            memo[memo_key] = res
            if len(memo) > RESOLUTION_MEMO_SIZE:
                memo.popitem(last=False)
        return res

    def _resolve_uncached(
        self,
        host: str | bytes | None,
        *,
        peer_ip: str | IPAddress | None,
        port: int | None,
        url: str | None,
        scheme: str | None,
        path: str | None,
        today: _dt.date,
    ) -> Resolution:
        if url is not None:
            try:
                u = urllib.parse.urlsplit(url)
                uport = u.port
            except ValueError as e:
                raise ValueError(f"invalid URL {url!r}: {e}") from None
            if not u.hostname:
                raise ValueError(f"URL {url!r} has no host")
            scheme = u.scheme.lower() or scheme
            if host is not None and _norm_host(host)[0] != _norm_host(u.hostname)[0]:
                raise ValueError(f"host {host!r} contradicts URL {url!r}")
            host = u.hostname
            if port is None:
                port = uport if uport is not None else _DEFAULT_PORTS.get(scheme or "")
            path = u.path or "/"
        if host is None:
            raise ValueError("resolve() needs a host or a url")
        name, host_ip = _norm_host(host)
        peer: IPAddress | None = parse_ip(peer_ip) if peer_ip is not None else None
        if peer_ip is not None and peer is None:
            raise ValueError(f"invalid peer address {peer_ip!r}")
        return self._resolve(name, host_ip, peer, port, scheme, path, today)

    # -- internals -------------------------------------------------------------

    def _resolve(
        self,
        name: str,
        host_ip: IPAddress | None,
        peer: IPAddress | None,
        port: int | None,
        scheme: str | None,
        path: str | None,
        today: _dt.date,
    ) -> Resolution:
        warnings: list[str] = []
        found: list[Candidate] = []
        expired: list[Candidate] = []
        ips = [a for a in (host_ip, peer) if a is not None]
        if host_ip is not None and peer is not None and host_ip == peer:
            ips = [host_ip]

        def add(policy: Policy, target: Target, rank: tuple[int, int]) -> None:
            c = Candidate(policy, target, rank)
            if policy.is_expired(today):
                expired.append(c)
            else:
                found.append(c)

        idx = self._overrides
        url_hits = idx.url.get(name)
        if url_hits:
            for p, ut in url_hits:
                if not ut.matches_origin(name, port, scheme):
                    continue
                if ut.has_path:
                    if path is None:
                        warnings.append(
                            f"path rule {ut.text!r} of {p.name!r} skipped: the URL path is not known at this layer "
                            "(use an HTTP-client integration to apply path rules)"
                        )
                        continue
                    if not ut.matches_path(path):
                        continue
                add(p, ut, ut.rank)
        if host_ip is None:
            for p, ht in idx.host_matches(name):
                add(p, ht, ht.rank)
        for addr in ips:
            for p, it in idx.ip_matches(addr):
                add(p, it, it.rank)

        for c in expired:
            warnings.append(f"override {c.policy.name!r} expired on {c.policy.expires}; skipped")

        name_only = host_ip is None and peer is None
        if name_only:
            warnings.append("no connected peer address: classified by name only (IP and intranet rules not applied)")

        table = self.table
        intranet_hit: Target | None = None
        for addr in ips:
            hits = self._intranet.ip_matches(addr)
            if hits:
                intranet_hit = hits[0][1]
                break
        if not found:
            # Kind defaults: instance endpoints, then intranet addresses, then internet.
            for p, inst_t in self._instance_matches(name, host_ip, ips, port, scheme, path):
                found.append(Candidate(p, inst_t, (TIER_INSTANCE, 0)))
                break
            if intranet_hit is not None:
                found.append(Candidate(table.intranet, intranet_hit, (TIER_INTRANET, 0)))
            found.append(Candidate(table.internet, None, (TIER_INTERNET, 0)))
        else:
            # Overrides won; still report the kind defaults that matched.
            inst = next(iter(self._instance_matches(name, host_ip, ips, port, scheme, path)), None)
            if inst is not None:
                found.append(Candidate(inst[0], inst[1], (TIER_INSTANCE, 0)))
            if intranet_hit is not None:
                found.append(Candidate(table.intranet, intranet_hit, (TIER_INTRANET, 0)))
            found.append(Candidate(table.internet, None, (TIER_INTERNET, 0)))

        found.sort(key=lambda c: (c.rank, 0 if c.target is not None and host_ip is not None and isinstance(c.target, IPRangeTarget) and c.target.contains(host_ip) else 1))
        winner = found[0]
        if host_ip is None and peer is not None:
            self._add_classification_warnings(name, peer, intranet_hit is not None, warnings)
        return Resolution(
            policy=winner.policy,
            matched_target=winner.target,
            rank=winner.rank,
            matches=tuple(found),
            warnings=(*warnings, *self.table.notes) if self.table.notes else tuple(warnings),
            host=name,
            peer_ip=peer if peer is not None else host_ip,
            port=port,
            scheme=scheme,
            path=path,
            name_only=name_only,
        )

    def _instance_matches(
        self,
        name: str,
        host_ip: IPAddress | None,
        ips: list[IPAddress],
        port: int | None,
        scheme: str | None,
        path: str | None,
    ) -> Iterator[_Entry]:
        idx = self._instance
        for p, t in idx.url.get(name, ()):
            if t.matches_origin(name, port, scheme) and (not t.has_path or (path is not None and t.matches_path(path))):
                yield p, t
        if host_ip is None:
            yield from idx.host_matches(name)
        for addr in ips:
            yield from idx.ip_matches(addr)

    @staticmethod
    def _add_classification_warnings(name: str, peer: IPAddress, private_peer: bool, warnings: list[str]) -> None:
        labels = name.rsplit(".", 2)
        internal_name = (
            len(labels) == 1
            or labels[-1] in _INTERNAL_SUFFIXES
            or ".".join(labels[-2:]) in _INTERNAL_SUFFIXES
        )
        if internal_name and not private_peer:
            warnings.append(
                f"the name {name!r} looks internal but the peer address {peer} is public"
            )
        elif not internal_name and private_peer:
            warnings.append(
                f"the name {name!r} looks public but the peer address {peer} is private (split DNS, or DNS rebinding?)"
            )

    # -- reference implementation (tests and benchmarks) ----------------------

    def resolve_by_scan(
        self,
        host: str | bytes,
        *,
        peer_ip: str | IPAddress | None = None,
        port: int | None = None,
        scheme: str | None = None,
        path: str | None = None,
        today: _dt.date | None = None,
    ) -> tuple[str, str | None]:
        """Plain scan over every row and target (no index): returns ``(policy
        name, matched target text)``. Slow on purpose; the property tests
        check that :meth:`resolve` always agrees with it."""
        name, host_ip = _norm_host(host)
        peer = parse_ip(peer_ip) if peer_ip is not None else None
        ips = [a for a in (host_ip, peer) if a is not None]
        today = today or self._today()
        best: tuple[tuple[int, int], int, Policy, Target | None] | None = None

        def consider(rank: tuple[int, int], pref: int, p: Policy, t: Target | None) -> None:
            nonlocal best
            if best is None or (rank, pref) < (best[0], best[1]):
                best = (rank, pref, p, t)

        for p in self.table.overrides:
            if p.is_expired(today):
                continue
            for t in p.targets:
                if _scan_match(t, name, host_ip, ips, port, scheme, path):
                    pref = 0 if isinstance(t, IPRangeTarget) and host_ip is not None and t.contains(host_ip) else 1
                    consider(t.rank, pref, p, t)
        if best is None:
            for t in self.table.instance.targets:
                if _scan_match(t, name, host_ip, ips, port, scheme, path):
                    return (self.table.instance.name, t.text)
            for t in self.table.intranet.targets:
                if isinstance(t, IPRangeTarget) and any(t.contains(a) for a in ips):
                    return (self.table.intranet.name, t.text)
            return (self.table.internet.name, None)
        return (best[2].name, best[3].text if best[3] else None)


def _scan_match(
    t: Target,
    name: str,
    host_ip: IPAddress | None,
    ips: list[IPAddress],
    port: int | None,
    scheme: str | None,
    path: str | None,
) -> bool:
    if isinstance(t, UrlTarget):
        if not t.matches_origin(name, port, scheme):
            return False
        return not t.has_path or (path is not None and t.matches_path(path))
    if isinstance(t, HostTarget):
        return host_ip is None and t.matches_host(name)
    if isinstance(t, IPRangeTarget):
        return any(t.contains(a) for a in ips)
    return False


def _why_lost(c: Candidate, winner: Candidate) -> str:
    wk, ck = winner.policy.kind, c.policy.kind
    if wk is PolicyKind.OVERRIDE and ck is not PolicyKind.OVERRIDE:
        return f"overrides beat the {ck.value} policy"
    if c.rank == winner.rank:
        return "same rank; the address in the URL beats the connected peer's"
    return f"less specific: {_rank_words(winner.rank)} of {winner.policy.name!r} beats {_rank_words(c.rank)}"


def _norm_host(host: str | bytes) -> tuple[str, IPAddress | None]:
    """Return (normalised host text, address if an IP literal)."""
    addr = parse_ip(host)
    if addr is not None:
        return (str(addr), addr)
    return (normalize_dns_name(host), None)


# keep ipaddress imported for type checkers of IPAddress aliases
_ = ipaddress
