"""Missing intermediates from the authority information access extension.

A server that sends only its leaf (or an incomplete chain) can often still be
validated: the certificate's authorityInfoAccess extension names, under the
``id-ad-caIssuers`` access method, a URL where its issuer's certificate is
published (RFC 5280 §4.2.2.1). The body is one DER certificate, or a
"certs-only" CMS / PKCS #7 bundle (``.p7c``); PEM is accepted too.

:class:`AiaFetcher` downloads those certificates when a policy allows it
(``TrustSpec.aia_fetch``):

* only ``http`` and ``https`` URLs (``ldap`` is skipped), through
  :func:`certpolicy.fetch.fetch` with the policy's ``TrustSpec.aia_limits``
  (connect / read / total timeouts in seconds, a byte cap);
* at most :attr:`AiaFetcher.max_fetches` downloads and
  :attr:`AiaFetcher.max_depth` levels per chain, all within one total deadline;
* answers cached in a bounded LRU (positive answers for ``ttl`` seconds,
  failures for ``negative_ttl`` seconds, so an unreachable URL is not retried
  on every connection); the cache is thread-safe and no lock is held while
  fetching.

The fetched certificates are only *candidates*: they are handed to the path
builder as untrusted intermediates, exactly like the ones the server sent.

pyhanko-certvalidator can also chase caIssuers URLs, but its fetchers have no
total deadline, no byte cap and caches that never expire (DESIGN pitfall 9), so
certpolicy fetches itself and lets cryptography build the path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from .errors import MalformedInput
from .fetch import FetchError, FetchResponse, fetch
from .policy import FetchLimits

__all__ = ["AiaFetcher", "AiaResult", "ca_issuers_urls", "parse_ca_issuers"]

#: Largest number of certificates accepted from one caIssuers body.
MAX_CERTS_PER_BODY = 8

Fetcher = Callable[..., FetchResponse]


def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """The ``http``/``https`` caIssuers URLs of ``cert`` (RFC 5280 §4.2.2.1).

    Returns:
        the URLs in certificate order; ``[]`` when the extension is absent,
        unreadable, or names only other schemes (``ldap``).
    """
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    urls: list[str] = []
    for desc in aia:
        if desc.access_method != AuthorityInformationAccessOID.CA_ISSUERS:
            continue
        loc = desc.access_location
        if isinstance(loc, x509.UniformResourceIdentifier):
            value = loc.value
            if value.lower().startswith(("http://", "https://")) and value not in urls:
                urls.append(value)
    return urls


def parse_ca_issuers(body: bytes, url: str = "<caIssuers>") -> list[x509.Certificate]:
    """Parse a caIssuers body: DER certificate, PEM certificate(s), or a
    certs-only PKCS #7 / CMS bundle (DER or PEM).

    Args:
        body: the downloaded bytes.
        url: where they came from (for the error message).

    Returns:
        one or more certificates (at most :data:`MAX_CERTS_PER_BODY`).

    Raises:
        MalformedInput: the body is none of these, or holds too many certificates.
    """
    certs: list[x509.Certificate] | None = None
    stripped = body.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        if b"PKCS7-----" in stripped:
            try:
                certs = pkcs7.load_pem_pkcs7_certificates(stripped)
            except (ValueError, x509.InvalidVersion):
                certs = None
        else:
            try:
                certs = x509.load_pem_x509_certificates(stripped)
            except (ValueError, x509.InvalidVersion):
                certs = None
    else:
        try:
            certs = [x509.load_der_x509_certificate(body)]
        except (ValueError, x509.InvalidVersion):
            try:
                certs = pkcs7.load_der_pkcs7_certificates(body)
            except (ValueError, x509.InvalidVersion):
                certs = None
    if not certs:
        raise MalformedInput(
            f"caIssuers {url}: body of {len(body)} bytes is not a DER/PEM certificate "
            "or a certs-only PKCS #7 bundle (RFC 5280 §4.2.2.1)",
            check="chain",
            outcome="malformed",
        )
    for c in certs:
        try:
            c.subject.public_bytes()
            c.issuer.public_bytes()
        except (ValueError, TypeError) as e:
            raise MalformedInput(
                f"caIssuers {url}: certificate with an unreadable name ({e})",
                check="chain",
                outcome="malformed",
            ) from None
    if len(certs) > MAX_CERTS_PER_BODY:
        raise MalformedInput(
            f"caIssuers {url}: {len(certs)} certificates in one answer "
            f"(limit {MAX_CERTS_PER_BODY})",
            check="chain",
            outcome="malformed",
        )
    return certs


@dataclass(frozen=True)
class AiaResult:
    """What one chase produced.

    Attributes:
        certificates: new candidate intermediates (deduplicated).
        fetched: URLs downloaded during this chase (cache misses).
        cached: URLs answered from the cache.
        errors: ``(url, reason)`` for every URL that gave nothing usable.
    """

    certificates: tuple[x509.Certificate, ...] = ()
    fetched: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """One sentence for error messages."""
        parts = []
        if self.certificates:
            parts.append(f"{len(self.certificates)} certificate(s) obtained from caIssuers")
        for url, why in self.errors:
            parts.append(f"caIssuers {url}: {why}")
        if not parts:
            parts.append("no caIssuers URL to fetch")
        return "; ".join(parts)


@dataclass
class _CacheEntry:
    certs: tuple[x509.Certificate, ...]
    error: str | None
    expires: float


@dataclass
class AiaFetcher:
    """Fetch and cache issuer certificates named by caIssuers URLs.

    Args (all optional):
        cache_size: URLs kept in the LRU cache.
        ttl: seconds a downloaded certificate stays cached.
        negative_ttl: seconds a failure stays cached (no retry before).
        max_fetches: downloads per chain (cache hits do not count).
        max_depth: levels chased per chain (the leaf's issuer, its issuer, ...).
        fetcher: the download function (default :func:`certpolicy.fetch.fetch`).

    Thread-safe: one instance serves every connection of a context.
    """

    cache_size: int = 256
    ttl: float = 24 * 3600.0
    negative_ttl: float = 60.0
    max_fetches: int = 4
    max_depth: int = 3
    fetcher: Fetcher = fetch
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _cache: OrderedDict[str, _CacheEntry] = field(default_factory=OrderedDict, init=False, repr=False)

    def cache_info(self) -> dict[str, int]:
        """``{"entries": n, "max": cache_size}``."""
        with self._lock:
            return {"entries": len(self._cache), "max": self.cache_size}

    def clear(self) -> None:
        """Empty the cache."""
        with self._lock:
            self._cache.clear()

    def _cached(self, url: str, now: float) -> _CacheEntry | None:
        with self._lock:
            entry = self._cache.get(url)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._cache[url]
                return None
            self._cache.move_to_end(url)
            return entry

    def _store(self, url: str, entry: _CacheEntry) -> None:
        with self._lock:
            self._cache[url] = entry
            self._cache.move_to_end(url)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def lookup(
        self,
        url: str,
        *,
        limits: FetchLimits,
        deadline: float | None = None,
        allow_network: bool = True,
    ) -> tuple[tuple[x509.Certificate, ...], str | None, bool]:
        """Certificates published at ``url``.

        Args:
            url: an ``http``/``https`` caIssuers URL.
            limits: fetch bounds (seconds, bytes).
            deadline: ``time.monotonic()`` value bounding the download further.
            allow_network: ``False``: answer from the cache only.

        Returns:
            ``(certificates, error, fetched)``: ``error`` is ``None`` on success,
            else the reason; ``fetched`` tells whether the network was used.
            Never raises for network or data problems.
        """
        now = time.monotonic()
        entry = self._cached(url, now)
        if entry is not None:
            return entry.certs, entry.error, False
        if not allow_network:
            return (), "not in the cache and network use is not allowed here", False
        try:
            resp = self.fetcher(
                url,
                limits=limits,
                accept="application/pkix-cert, application/pkcs7-mime",
                deadline=deadline,
            )
            certs = tuple(parse_ca_issuers(resp.body, url))
        except FetchError as e:
            reason = f"{e.outcome}: {e.reason}"
            self._store(url, _CacheEntry((), reason, time.monotonic() + self.negative_ttl))
            return (), reason, True
        except MalformedInput as e:
            self._store(url, _CacheEntry((), e.reason, time.monotonic() + self.negative_ttl))
            return (), e.reason, True
        self._store(url, _CacheEntry(certs, None, time.monotonic() + self.ttl))
        return certs, None, True

    def chase(
        self,
        chain: Sequence[x509.Certificate],
        has_issuer: Callable[[x509.Certificate], bool],
        *,
        limits: FetchLimits,
        deadline: float | None = None,
        allow_network: bool = True,
    ) -> AiaResult:
        """Fetch issuers for the certificates of ``chain`` whose issuer is missing.

        Args:
            chain: the presented chain, leaf first.
            has_issuer: ``has_issuer(cert)`` is ``True`` when a candidate issuer
                of ``cert`` is already known (a presented certificate or a
                trust anchor with the matching subject name).
            limits: bounds of each download; ``limits.total_timeout`` also
                bounds the whole chase.
            deadline: an absolute ``time.monotonic()`` deadline (the earlier
                of the two applies).
            allow_network: ``False``: use cached answers only.

        Returns:
            :class:`AiaResult`. Never raises for network or data problems.
        """
        end = time.monotonic() + limits.total_timeout
        if deadline is not None:
            end = min(end, deadline)
        known: dict[bytes, x509.Certificate] = {
            c.public_bytes(Encoding.DER): c for c in chain
        }
        subjects = {c.subject.public_bytes() for c in chain}
        new: list[x509.Certificate] = []
        fetched: list[str] = []
        cached: list[str] = []
        errors: list[tuple[str, str]] = []
        pending = [
            c
            for c in chain
            if c.issuer.public_bytes() not in subjects and not has_issuer(c)
        ]
        tried: set[str] = set()
        for _level in range(self.max_depth):
            if not pending:
                break
            nxt: list[x509.Certificate] = []
            for cert in pending:
                urls = ca_issuers_urls(cert)
                if not urls:
                    errors.append(
                        (
                            "-",
                            f"certificate {cert.subject.rfc4514_string()!r} has no http "
                            "caIssuers URL",
                        )
                    )
                for url in urls:
                    if url in tried:
                        continue
                    if len(fetched) >= self.max_fetches:
                        errors.append((url, f"not fetched: limit of {self.max_fetches} downloads"))
                        continue
                    if time.monotonic() >= end:
                        errors.append((url, "not fetched: total deadline exceeded"))
                        continue
                    tried.add(url)
                    certs, error, did_fetch = self.lookup(
                        url, limits=limits, deadline=end, allow_network=allow_network
                    )
                    (fetched if did_fetch else cached).append(url)
                    if error is not None:
                        errors.append((url, error))
                        continue
                    for c in certs:
                        der = c.public_bytes(Encoding.DER)
                        if der in known:
                            continue
                        known[der] = c
                        new.append(c)
                        subjects.add(c.subject.public_bytes())
                        if c.issuer != c.subject and not has_issuer(c):
                            nxt.append(c)
                    if certs:
                        break  # one working URL per certificate is enough
            pending = [c for c in nxt if c.issuer.public_bytes() not in subjects]
        return AiaResult(tuple(new), tuple(fetched), tuple(cached), tuple(errors))
