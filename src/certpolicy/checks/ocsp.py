"""The OCSP check (RFC 6960): ask the issuer's responder whether a certificate
is revoked, with caching, single flight and bounded fetches.

:class:`OcspCheck` is a :class:`~certpolicy.checks.base.RevocationSource`
(``status(cert, issuer, ctx)``) and a :class:`~certpolicy.checks.base.Check`
(``run(ctx)``, which hands the question to
:class:`~certpolicy.checks.revocation.RevocationCheck` with OCSP as the only
source). One instance is meant to be shared by every connection of an SSL
context: it is thread-safe, its caches are bounded, and concurrent questions
about one certificate cause one OCSP request (single flight).

Per question (``status``):

1. the responder URL: the policy's ``revocation.ocsp_responder`` override, else
   the certificate's authority information access OCSP URLs; none:
   ``no-revocation-info`` (several public CAs, Let's Encrypt among them, ended
   OCSP; turn the CRL check on for such endpoints);
2. the revocation cache (:class:`certpolicy.revocation.cache.RevocationCache`,
   memory LRU + disk, key ``"ocsp:<CertID hash>"``): a verified response that
   is fresh at the validation time answers without any network I/O;
3. a recent failure for the same certificate (kept ``negative_ttl`` seconds)
   answers again, so an unreachable responder does not cost every handshake a
   timeout;
4. without network permission (``ctx.allow_network`` false: asyncio handshakes
   on the event loop) the answer is ``unreachable`` ("not cached yet") and a
   bounded background fetch fills the cache for the next connection;
5. otherwise one bounded fetch per responder URL (GET for small requests,
   POST otherwise), all within ``ocsp_limits.total_timeout`` seconds and
   ``ctx.deadline``; the response is verified
   (:func:`certpolicy.revocation.ocsp.verify_response`) and cached until its
   nextUpdate, but never longer than thisUpdate + ``ocsp_max_age`` (the
   policy's cap, also the lifetime of a response without nextUpdate; see
   :func:`certpolicy.revocation.ocsp.expires_at`). A cached response that
   proves a permanent revocation keeps answering after that.

``status`` never raises for network or data problems: they are outcomes.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as _dt
import hashlib
import logging
import os
import threading
import time
from typing import Literal

from cryptography import x509

from ..fetch import FetchError, fetch
from ..policy import Outcome, RevocationSettings
from ..revocation import ocsp as core
from ..revocation.cache import (
    CacheEntry,
    CacheTimeout,
    Loaded,
    RevocationCache,
    default_cache_dir,
    shared_store,
)
from .base import CheckContext, CheckResult, RevocationStatus

__all__ = ["NO_OCSP_URL_DETAIL", "OcspCheck"]

log = logging.getLogger("certpolicy.ocsp")

#: Detail of the ``no-revocation-info`` outcome.
NO_OCSP_URL_DETAIL = (
    "the certificate names no OCSP responder (no OCSP URL in its authority information "
    "access extension, RFC 5280 §4.2.2.1) and the policy sets no responder URL; some public "
    "CAs (e.g. Let's Encrypt since 2025) have ended OCSP, so turn the CRL check on for such "
    "endpoints or map no-revocation-info explicitly"
)

ResponderRevocation = Literal["check", "require-nocheck", "ignore"]


class _LoadFailed(Exception):
    """Raised by the cache loader so that every single-flight waiter gets the status."""

    def __init__(self, status: RevocationStatus) -> None:
        self.status = status
        super().__init__(status.detail)


class OcspCheck:
    """Revocation status from OCSP responders (RFC 6960), as a check and a
    revocation source.

    Args:
        cache: the :class:`~certpolicy.revocation.cache.RevocationCache` to
            keep responses in; ``None``: one per ``revocation.cache_dir`` of the
            policies seen (the platform default folder when that is ``None``).
        fetcher: the HTTP function (signature of :func:`certpolicy.fetch.fetch`).
        responder_revocation: what to do with a delegated responder certificate
            that lacks id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): ``"check"``
            asks OCSP about the responder certificate itself, and only an
            answer signed by the issuer or by another, nocheck-carrying
            responder that says good accepts it; ``"require-nocheck"`` rejects
            such a responder (the CA/Browser Forum baseline requires nocheck);
            ``"ignore"`` accepts it (what OpenSSL does). ``None`` (default):
            the policy's ``revocation.ocsp_responder_check`` (itself
            ``"check"`` by default) decides per connection; a value given
            here wins over every policy.
        negative_ttl: seconds a failed answer (unreachable, malformed, ...) for
            one certificate is reused before the responder is asked again
            (0 disables).
        max_background: most background fetches running at once (for
            handshakes that may not block on the network).
        memory_entries: bound of the in-memory caches (entries).

    Attributes:
        name: ``"ocsp"``; requires_chain: ``True``.
        stats: counters (``requests``, ``cache_hits``, ``negative_hits``,
            ``background``) for diagnostics and benchmarks.

    Example::

        check = OcspCheck()
        st = check.status(leaf, issuer, ctx)   # RevocationStatus
        check.run(ctx)                          # CheckResult or raises RevocationError
    """

    name = "ocsp"
    requires_chain = True

    def __init__(
        self,
        *,
        cache: RevocationCache | None = None,
        fetcher: core.Fetcher = fetch,
        responder_revocation: ResponderRevocation | None = None,
        negative_ttl: float = 30.0,
        max_background: int = 4,
        memory_entries: int = 4096,
    ) -> None:
        if responder_revocation not in (None, "check", "require-nocheck", "ignore"):
            raise ValueError(f"invalid responder_revocation {responder_revocation!r}")
        self._cache = cache
        self._caches: dict[str, RevocationCache] = {}
        self.fetcher = fetcher
        self.responder_revocation: ResponderRevocation | None = responder_revocation
        self.negative_ttl = float(negative_ttl)
        self.memory_entries = int(memory_entries)
        self._lock = threading.Lock()
        # cache key + responder mode -> (sha256 of the DER, verified response): avoids re-verifying
        # signatures (and delegated responder paths) on every cache hit.
        self._verified: collections.OrderedDict[str, tuple[str, core.VerifiedResponse]] = collections.OrderedDict()
        # cache key -> (time.monotonic() expiry, status)
        self._negative: collections.OrderedDict[str, tuple[float, RevocationStatus]] = collections.OrderedDict()
        self._background_slots = threading.BoundedSemaphore(max(1, max_background))
        self._background_keys: set[str] = set()
        self.stats: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        return f"OcspCheck(responder_revocation={self.responder_revocation!r}, cache={self._cache!r})"

    # -- Check protocol ------------------------------------------------------

    def run(self, ctx: CheckContext) -> CheckResult:
        """Check the certificates in the policy's scope with OCSP only.

        Returns / raises as :meth:`certpolicy.checks.revocation.RevocationCheck.run`
        (``RevocationError`` / ``CertificateRevoked`` with ``check="ocsp"``).
        """
        from .revocation import RevocationCheck

        return RevocationCheck({"ocsp": self}).run(ctx)

    # -- RevocationSource protocol -------------------------------------------

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext) -> RevocationStatus:
        """Return the OCSP status of ``cert`` (issued by ``issuer``) at ``ctx.at``.

        Never raises for network or data problems (they are outcomes:
        unreachable, oversized, malformed, stale, bad-signature,
        unauthorised-signer, unknown, no-revocation-info).

        Args:
            cert: the certificate asked about.
            issuer: its issuer (the next certificate of the verified path).
            ctx: the connection's context: ``policy.revocation`` gives the
                responder override, nonce, clock skew (s), max age (s), fetch
                limits and cache folder; ``at`` the validation time;
                ``allow_network`` and ``deadline`` bound the work.

        Returns:
            :class:`~certpolicy.checks.base.RevocationStatus` with ``source="ocsp"``.
        """
        return self._status(cert, issuer, ctx, depth=0)

    # -- internals -----------------------------------------------------------

    def cache_for(self, settings: RevocationSettings) -> RevocationCache:
        """The revocation cache used under ``settings`` (see ``cache`` above)."""
        if self._cache is not None:
            return self._cache
        folder = os.fspath(settings.cache_dir) if settings.cache_dir else os.fspath(default_cache_dir())
        name = folder if settings.cache_url is None else f"{folder}|{settings.cache_url}"
        with self._lock:
            cache = self._caches.get(name)
        if cache is not None:
            return cache
        made = RevocationCache(
            folder,
            memory_entries=self.memory_entries,
            memory_bytes=64 * 1024 * 1024,
            shared=shared_store(settings.cache_url),
        )
        with self._lock:
            cache = self._caches.get(name)
            if cache is None:
                if len(self._caches) >= 16:
                    self._caches.pop(next(iter(self._caches)))
                cache = self._caches[name] = made
            return cache

    def _urls(self, cert: x509.Certificate, settings: RevocationSettings) -> list[str]:
        if settings.ocsp_responder:
            return [settings.ocsp_responder]
        return core.responder_urls(cert)[:3]

    def _status(
        self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext, *, depth: int
    ) -> RevocationStatus:
        settings = ctx.policy.revocation
        urls = self._urls(cert, settings)
        if not urls:
            return RevocationStatus(Outcome.NO_REVOCATION_INFO, core.SOURCE, NO_OCSP_URL_DETAIL)
        try:
            cert_id = core.CertId.for_certificate(cert, issuer)
        except core.OcspError as e:
            return RevocationStatus(e.outcome, core.SOURCE, f"OCSP: {e.detail}", url=urls[0])
        key = cert_id.cache_key()
        cache = self.cache_for(settings)

        def usable(entry: CacheEntry) -> bool:
            return self._fresh_status(entry, cert, issuer, ctx, key, depth, capped=True) is not None

        entry = cache.get(key, verify=usable)
        if entry is not None:
            st = self._fresh_status(entry, cert, issuer, ctx, key, depth, capped=True, cached=True)
            if st is not None:
                with self._lock:
                    self.stats["cache_hits"] += 1
                return st

        # failures depend on where and how we asked: remember them per URL list, nonce use
        # and responder check
        neg_key = f"{key}|{settings.nonce}|{self._responder_mode(ctx, depth)}|{' '.join(urls)}"
        neg = self._negative_get(neg_key)
        if neg is not None:
            with self._lock:
                self.stats["negative_hits"] += 1
            return dataclasses.replace(
                neg, detail=f"{neg.detail} (a recent attempt; retried after {self.negative_ttl:g} s)"
            )

        if not ctx.allow_network:
            started = self._start_background(cert, issuer, ctx, key)
            return RevocationStatus(
                Outcome.UNREACHABLE,
                core.SOURCE,
                f"OCSP responder {urls[0]}: response not cached yet, and this handshake may not "
                "block on the network (event loop); "
                + ("fetching it in the background" if started else "a background fetch is already running"),
                url=urls[0],
            )

        start = time.monotonic()
        end = start + settings.ocsp_limits.total_timeout
        if ctx.deadline is not None:
            end = min(end, ctx.deadline)
            if end <= start:
                return RevocationStatus(
                    Outcome.UNREACHABLE,
                    core.SOURCE,
                    f"OCSP responder {urls[0]}: the connection's deadline passed before the request",
                    url=urls[0],
                )

        fetched_here: list[bool] = []

        def loader(current: CacheEntry | None) -> Loaded:
            fetched_here.append(True)
            return self._load(cert, issuer, ctx, urls, end, key, neg_key, depth)

        try:
            got = cache.get_or_load(
                key, loader, accept=usable, timeout=max(0.05, end - time.monotonic()) + 1.0, verify=usable
            )
        except _LoadFailed as e:
            return e.status
        except CacheTimeout:
            return RevocationStatus(
                Outcome.UNREACHABLE,
                core.SOURCE,
                f"OCSP responder {urls[0]}: a concurrent request for the same certificate did not "
                f"finish within {settings.ocsp_limits.total_timeout:g} s",
                url=urls[0],
            )
        st = self._fresh_status(got, cert, issuer, ctx, key, depth, allow_stale=True, cached=not fetched_here)
        if st is None:  # pragma: no cover - the loader stores verified data only
            return RevocationStatus(Outcome.MALFORMED, core.SOURCE, "OCSP: cached response unusable", url=urls[0])
        return st

    def _fresh_status(
        self,
        entry: CacheEntry,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        key: str,
        depth: int,
        *,
        allow_stale: bool = False,
        capped: bool = False,
        cached: bool = False,
    ) -> RevocationStatus | None:
        """The status a cached entry gives at ctx.at, or None when unusable
        (cannot be verified, or stale and not a revocation; with ``capped``,
        also past its cache lifetime, see core.expires_at, unless it proves a
        permanent revocation)."""
        settings = ctx.policy.revocation
        v = self._verified_for(entry, cert, issuer, ctx, key, depth)
        if v is None:
            return None
        url = entry.metadata.get("url") if isinstance(entry.metadata.get("url"), str) else None
        st = core.status_from_verified(
            v,
            at=ctx.at,
            clock_skew=settings.clock_skew,
            max_age=settings.ocsp_max_age,
            url=url,
            cached=cached,
        )
        if st.outcome is Outcome.STALE and not allow_stale:
            return None
        if capped and not _permanent_revocation(v):
            lifetime_end = core.expires_at(v, max_age=settings.ocsp_max_age)
            if lifetime_end < ctx.at - _dt.timedelta(seconds=settings.clock_skew):
                return None
        return st

    def _verified_for(
        self,
        entry: CacheEntry,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        key: str,
        depth: int,
    ) -> core.VerifiedResponse | None:
        memo_key = f"{key}|{self._responder_mode(ctx, depth)}"
        with self._lock:
            memo = self._verified.get(memo_key)
            if memo is not None and memo[0] == entry.sha256:
                self._verified.move_to_end(memo_key)
                return memo[1]
        try:
            v = core.verify_response(
                entry.data,
                cert,
                issuer,
                at=ctx.at,
                clock_skew=ctx.policy.revocation.clock_skew,
                responder_check=self._responder_check(issuer, ctx, depth, key),
            )
        except core.OcspError as e:
            log.info("OCSP: cached response for serial %#x unusable (%s); fetching again", cert.serial_number, e)
            return None
        except Exception:  # hostile data in a tampered cache file
            log.info("OCSP: cached response for serial %#x unusable; fetching again", cert.serial_number, exc_info=True)
            return None
        self._remember_verified(memo_key, entry.sha256, v)
        return v

    def _remember_verified(self, key: str, sha256: str, v: core.VerifiedResponse) -> None:
        with self._lock:
            self._verified[key] = (sha256, v)
            self._verified.move_to_end(key)
            while len(self._verified) > self.memory_entries:
                self._verified.popitem(last=False)

    def _responder_mode(self, ctx: CheckContext, depth: int) -> ResponderRevocation:
        """How a delegated responder without nocheck is handled for this
        question: the constructor's choice, else the policy's; the
        responder of a responder (depth > 0) always needs nocheck."""
        if depth > 0:
            return "require-nocheck"
        if self.responder_revocation is not None:
            return self.responder_revocation
        return ctx.policy.revocation.ocsp_responder_check

    def _responder_check(
        self, issuer: x509.Certificate, ctx: CheckContext, depth: int, key: str
    ) -> core.ResponderCheck | None:
        mode = self._responder_mode(ctx, depth)
        if mode == "require-nocheck":
            return None
        if mode == "ignore":
            return lambda responder: RevocationStatus(
                Outcome.GOOD, core.SOURCE, "responder revocation not checked (ocsp_responder_check='ignore')"
            )

        def check(responder: x509.Certificate) -> RevocationStatus:
            try:
                if core.CertId.for_certificate(responder, issuer).cache_key() == key:
                    return RevocationStatus(
                        Outcome.UNAUTHORISED_SIGNER, core.SOURCE, "a responder cannot vouch for its own certificate"
                    )
            except core.OcspError as e:
                return RevocationStatus(e.outcome, core.SOURCE, e.detail)
            return self._status(responder, issuer, ctx, depth=depth + 1)

        return check

    def _negative_get(self, key: str) -> RevocationStatus | None:
        if self.negative_ttl <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            item = self._negative.get(key)
            if item is None:
                return None
            if item[0] <= now:
                del self._negative[key]
                return None
            return item[1]

    def _negative_put(self, key: str, status: RevocationStatus) -> None:
        if self.negative_ttl <= 0:
            return
        with self._lock:
            self._negative[key] = (time.monotonic() + self.negative_ttl, status)
            self._negative.move_to_end(key)
            while len(self._negative) > self.memory_entries:
                self._negative.popitem(last=False)

    def forget_failures(self) -> None:
        """Drop the remembered failures (the next question asks the responder again)."""
        with self._lock:
            self._negative.clear()

    def _load(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        urls: list[str],
        end: float,
        key: str,
        neg_key: str,
        depth: int,
    ) -> Loaded:
        """Ask the responders in turn; return the first usable verified
        response for the cache, or raise _LoadFailed with the first failure."""
        settings = ctx.policy.revocation
        failures: list[RevocationStatus] = []
        for url in urls:
            if time.monotonic() >= end:
                failures.append(
                    RevocationStatus(Outcome.UNREACHABLE, core.SOURCE, f"OCSP responder {url}: total deadline exceeded", url=url)
                )
                break
            nonce = os.urandom(16) if settings.nonce else None
            try:
                request = core.build_request(cert, issuer, nonce=nonce)
            except core.OcspError as e:
                failures.append(RevocationStatus(e.outcome, core.SOURCE, f"OCSP: {e.detail}", url=url))
                break
            with self._lock:
                self.stats["requests"] += 1
            try:
                der = core.fetch_response(
                    url,
                    request,
                    limits=settings.ocsp_limits,
                    fetcher=self.fetcher,
                    deadline=end,
                    allow_get=nonce is None,
                )
            except FetchError as e:
                failures.append(core.fetch_error_status(e, url))
                continue
            try:
                v = core.verify_response(
                    der,
                    cert,
                    issuer,
                    at=ctx.at,
                    clock_skew=settings.clock_skew,
                    nonce=nonce,
                    responder_check=self._responder_check(issuer, ctx, depth, key),
                )
            except core.OcspError as e:
                failures.append(RevocationStatus(e.outcome, core.SOURCE, f"OCSP responder {url}: {e.detail}", url=url))
                continue
            except Exception as e:  # hostile input surprising a parser: unusable data
                log.debug("unexpected error verifying the OCSP response from %s", url, exc_info=True)
                failures.append(
                    RevocationStatus(
                        Outcome.MALFORMED, core.SOURCE,
                        f"OCSP responder {url}: unusable response ({type(e).__name__}: {e})", url=url,
                    )
                )
                continue
            st = core.status_from_verified(
                v, at=ctx.at, clock_skew=settings.clock_skew, max_age=settings.ocsp_max_age, url=url
            )
            if st.outcome is Outcome.STALE:
                failures.append(st)
                continue
            self._remember_verified(f"{key}|{self._responder_mode(ctx, depth)}", _sha256(der), v)
            return Loaded(
                der,
                expires=core.expires_at(v, max_age=settings.ocsp_max_age),
                metadata={"url": url, "cert_status": v.cert_status.value, "signer": v.signer_subject},
            )
        first = failures[0]
        if len(failures) > 1:
            others = "; ".join(f.detail for f in failures[1:])
            first = dataclasses.replace(first, detail=f"{first.detail}; also tried: {others}")
        self._negative_put(neg_key, first)
        raise _LoadFailed(first)

    def _start_background(
        self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext, key: str
    ) -> bool:
        with self._lock:
            if key in self._background_keys:
                return False
            if not self._background_slots.acquire(blocking=False):
                return False
            self._background_keys.add(key)
            self.stats["background"] += 1
        bg_ctx = dataclasses.replace(ctx, allow_network=True, deadline=None, results={}, caches=ctx.caches)

        def work() -> None:
            try:
                self._status(cert, issuer, bg_ctx, depth=0)
            except Exception:  # pragma: no cover - status() does not raise for data problems
                log.warning("OCSP background fetch crashed", exc_info=True)
            finally:
                with self._lock:
                    self._background_keys.discard(key)
                self._background_slots.release()

        threading.Thread(target=work, name="certpolicy-ocsp-background", daemon=True).start()
        return True

    def wait_background(self, timeout: float = 10.0) -> bool:
        """Wait until no background fetch is running (tests, warm-up scripts).

        Returns ``True`` when none is left, ``False`` after ``timeout`` seconds.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._background_keys:
                    return True
            time.sleep(0.01)
        return False


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _permanent_revocation(v: core.VerifiedResponse) -> bool:
    """A revoked answer that can never be lifted (anything but certificateHold)."""
    return v.cert_status is Outcome.REVOKED and v.revocation_reason != "certificateHold"

