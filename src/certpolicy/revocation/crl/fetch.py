"""CRL fetching: :class:`CrlSource`, bounded downloads of CRL distribution points through the cache.

:class:`CrlSource` is the stateful part shared by all connections of one
:class:`certpolicy.CrlCheck`: static CRLs, distribution point URLs, the
:class:`~certpolicy.revocation.cache.RevocationCache`, single-flight bounded
downloads retried under the policy's :class:`~certpolicy.policy.RetryPolicy`
(a download is authorised before it is cached), background refresh before
nextUpdate, and a short memory of failed downloads so a dead distribution
point is not hammered. The decisions are :mod:`.evaluate`'s.
"""

from __future__ import annotations

import collections
import datetime as _dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from ...checks.base import CheckContext, RevocationStatus
from ...fetch import FetchError, FetchResponse, FetchTooLarge, fetch
from ...policy import FetchLimits, Outcome, RevocationSettings
from ..cache import (
    CacheEntry,
    CacheTimeout,
    Loaded,
    RevocationCache,
    default_cache_dir,
    shared_store,
)
from ..refresh import BackgroundRefresher, call_with_retry
from .evaluate import (
    SignerCheck,
    _name_text,
    _refresh_due,
    _status,
    authorise_crl,
    combine_reasons,
    evaluate_crl_reasons,
    usable_until,
)
from .parse import CrlProblem, ParsedCrl, _der_name, _http_urls, load_crl, load_crl_files, load_crls
from .scope import ALL_REASONS, DistributionPoints, distribution_points
from .shared import RollbackGuard, shared_verifier
from .signer import vouch_for_signer

log = logging.getLogger("certpolicy.revocation.crl")
#: Structured events (revoked certificates) go to the package logger.
event_log = logging.getLogger("certpolicy")

Fetcher = Callable[..., FetchResponse]
Clock = Callable[[], _dt.datetime]

_ACCEPT = "application/pkix-crl, application/x-pkcs7-crl;q=0.5, */*;q=0.1"


def _error_outcome(e: BaseException) -> tuple[Outcome, str]:
    if isinstance(e, CrlProblem):
        return e.outcome, e.detail
    if isinstance(e, FetchTooLarge):
        return Outcome.OVERSIZED, f"download refused: {e.reason}"
    if isinstance(e, FetchError):
        return Outcome.UNREACHABLE, f"download failed: {e.reason}"
    if isinstance(e, CacheTimeout):
        return Outcome.UNREACHABLE, "timed out waiting for a concurrent download"
    return Outcome.UNREACHABLE, f"download failed: {e}"  # pragma: no cover


def _retryable(e: BaseException) -> bool:
    # An oversized body or a CRL from the wrong signer will not change on retry.
    if isinstance(e, FetchTooLarge):
        return False
    if isinstance(e, CrlProblem):
        return e.outcome is Outcome.MALFORMED
    return isinstance(e, FetchError)


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class _Attempt:
    """The latest download attempt of one URL: monotonic time, validation
    time, and the failure (``outcome`` ``None`` when it succeeded)."""

    when: float
    at: _dt.datetime
    outcome: Outcome | None
    detail: str


class CrlSource:
    """CRL-based revocation status for certificates, shared by all connections.

    Args:
        cache: the :class:`RevocationCache` to use for every policy; ``None``:
            one cache per policy ``cache_dir`` (the platform default when that
            is ``None``).
        fetcher: the bounded fetch function (signature of
            :func:`certpolicy.fetch.fetch`).
        clock: wall clock (``() -> aware datetime``) used only to schedule
            background refreshes; validation uses ``ctx.at``.
        crls: static CRLs (objects, DER/PEM bytes, or :class:`ParsedCrl`)
            used for every policy, before fetching (e.g. limbo's in-memory CRLs).
        extra_certs: certificates that may sign indirect CRLs (besides the
            presented chain).
        refresher: background job runner (default: a private one, created on
            first use).
        failure_ttl: seconds during which a failed download of a URL is not
            retried (its outcome is reused).
        timed_refresh: plan a background refresh at nextUpdate minus
            ``refresh_margin`` (wall clock) for every CRL in use.
        parsed_entries / parsed_bytes: bounds of the parsed-CRL memory (count,
            DER bytes).
        static_recheck: seconds between checks of static CRL files for changes.

    Thread-safe. All methods return outcomes instead of raising for network
    or data problems.
    """

    def __init__(
        self,
        *,
        cache: RevocationCache | None = None,
        fetcher: Fetcher = fetch,
        clock: Clock | None = None,
        crls: Iterable[x509.CertificateRevocationList | bytes | ParsedCrl] = (),
        extra_certs: Iterable[x509.Certificate] = (),
        refresher: BackgroundRefresher | None = None,
        failure_ttl: float = 30.0,
        timed_refresh: bool = True,
        parsed_entries: int = 32,
        parsed_bytes: int = 256 * 1024 * 1024,
        static_recheck: float = 30.0,
    ) -> None:
        self._cache = cache
        self._fetcher = fetcher
        self._clock: Clock = clock or _utcnow
        self._extra_certs = list(extra_certs)
        self._refresher = refresher
        self._own_refresher = refresher is None
        self.failure_ttl = failure_ttl
        self.timed_refresh = timed_refresh
        self._parsed_entries = parsed_entries
        self._parsed_bytes = parsed_bytes
        self._static_recheck = static_recheck
        self._lock = threading.RLock()
        self._caches: collections.OrderedDict[str, RevocationCache] = collections.OrderedDict()
        self._parsed: collections.OrderedDict[str, ParsedCrl] = collections.OrderedDict()
        self._parsed_size = 0
        self._attempts: collections.OrderedDict[str, _Attempt] = collections.OrderedDict()
        self._planned: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._guard = RollbackGuard()
        #: the check a CRL read from the shared store must pass (:mod:`.shared`)
        self._verifier = functools.partial(shared_verifier, self.parse_entry, self._guard)
        self._static_files: collections.OrderedDict[
            tuple[str, ...], tuple[float, tuple[Any, ...], list[ParsedCrl], list[str]]
        ] = collections.OrderedDict()
        self.downloads = 0
        self._static: list[ParsedCrl] = []
        for item in crls:
            if isinstance(item, ParsedCrl):
                self._static.append(item)
            elif isinstance(item, (bytes, bytearray)):
                self._static.extend(ParsedCrl(c, "<static>") for c in load_crls(bytes(item)))
            else:
                self._static.append(ParsedCrl(item, "<static>"))

    # -- public --------------------------------------------------------------

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext) -> RevocationStatus:
        """Return ``cert``'s CRL status at ``ctx.at`` under ``ctx.policy``.

        Static CRLs (constructor ``crls`` and the policy's ``static_crls``)
        are consulted first; then, when the policy's ``fetch_crls`` is on, each
        ``http``/``https`` distribution point in order, through the cache. The
        first definite answer (good or revoked) wins; otherwise the first
        non-definite outcome is returned, with the details of every source.
        """
        settings = ctx.policy.revocation
        try:
            dps = distribution_points(cert)
        except CrlProblem as e:
            return _status(e.outcome, e.detail, None, None)
        path = list(ctx.verified_path or [])
        above = _above(path, issuer)
        candidates = _dedupe([*ctx.chain, *path, *self._extra_certs])
        vouch = self._signer_check(ctx, settings, path or above, above[-1], candidates)
        results: list[tuple[RevocationStatus, frozenset[x509.ReasonFlags]]] = []

        static = self._from_static(cert, issuer, ctx, settings, dps, candidates, above, vouch)
        results += static
        decided = combine_reasons(results, cert)
        if decided is not None:
            return self._finish(decided, cert)

        if settings.fetch_crls:
            for url, _dp in dps.urls:
                results.append(self._from_url(url, cert, issuer, ctx, settings, dps, candidates, above, vouch))
                decided = combine_reasons(results, cert)
                if decided is not None:
                    return self._finish(decided, cert)

        tried = [st for st, _ in results]
        if tried:
            first = tried[0]
            covered = frozenset().union(*(r for _, r in results))
            if covered and len(tried) > 1:
                first = next(st for st, r in results if r)
                missing = ", ".join(sorted(r.value for r in ALL_REASONS - covered))
                first = _replace_detail(
                    first,
                    f"the CRLs at hand show good standing only for some reasons; none covers {missing} "
                    f"(RFC 5280 §6.3.3(d)-(e)): {first.detail}",
                )
            if len(tried) > 1:
                others = "; ".join(f"{t.outcome.value}: {t.detail}" for t in tried if t is not tried[0])
                return _replace_detail(first, f"{first.detail} (also tried: {others})")
            return first
        return _status(Outcome.NO_REVOCATION_INFO, self._no_info_detail(cert, dps, settings), None, None)

    def _signer_check(
        self,
        ctx: CheckContext,
        settings: RevocationSettings,
        path: Sequence[x509.Certificate],
        anchor: x509.Certificate,
        candidates: Sequence[x509.Certificate],
    ) -> SignerCheck:
        """RFC 5280 §6.3.3(f) for a CRL signer off the validated path: its own
        path to ``anchor``, and under ``scope = "chain"`` its revocation (with
        this source, fail closed)."""

        def status(
            cert: x509.Certificate, issuer: x509.Certificate, signer_path: Sequence[x509.Certificate]
        ) -> RevocationStatus:
            return self.status(cert, issuer, replace(ctx, verified_path=list(signer_path)))

        return vouch_for_signer(
            anchor=anchor,
            pool=candidates,
            at=ctx.at,
            clock_skew=settings.clock_skew,
            checked_elsewhere=path,
            status=status if settings.scope == "chain" else None,
        )

    def close(self) -> None:
        """Stop the private background refresher (if one was started)."""
        if self._own_refresher and self._refresher is not None:
            self._refresher.close()

    @property
    def refresher(self) -> BackgroundRefresher:
        """The background job runner (created on first use)."""
        with self._lock:
            if self._refresher is None:
                self._refresher = BackgroundRefresher(name="certpolicy-crl")
            return self._refresher

    def cache_for(self, settings: RevocationSettings) -> RevocationCache:
        """The cache used under ``settings`` (the constructor's, or one per ``cache_dir``)."""
        if self._cache is not None:
            return self._cache
        directory = settings.cache_dir or str(default_cache_dir())
        name = directory if settings.cache_url is None else f"{directory}|{settings.cache_url}"
        with self._lock:
            cache = self._caches.get(name)
            if cache is None:
                shared = shared_store(settings.cache_url)  # None unless a policy names one
                cache = self._caches[name] = RevocationCache(directory, shared=shared)
                while len(self._caches) > 8:
                    self._caches.popitem(last=False)
            else:
                self._caches.move_to_end(name)
            return cache

    def parse_entry(self, entry: CacheEntry) -> ParsedCrl | None:
        """Return the parsed CRL of a cache entry (memoised by SHA-256), or
        ``None`` when the bytes are not a usable CRL."""
        with self._lock:
            parsed = self._parsed.get(entry.sha256)
            if parsed is not None:
                self._parsed.move_to_end(entry.sha256)
                return parsed
        try:
            parsed = ParsedCrl(load_crl(entry.data), str(entry.metadata.get("url") or entry.key), der=entry.data)
        except CrlProblem as e:
            log.warning("cached CRL %r is unusable (%s); discarding it", entry.key, e.detail)
            return None
        self._remember_parsed(parsed)
        return parsed

    # -- static CRLs ---------------------------------------------------------

    def _static_for(self, settings: RevocationSettings) -> tuple[list[ParsedCrl], list[str]]:
        crls = list(self._static)
        if not settings.static_crls:
            return crls, []
        key = tuple(settings.static_crls)
        now = time.monotonic()
        with self._lock:
            cached = self._static_files.get(key)
        if cached is not None and now - cached[0] < self._static_recheck:
            return crls + cached[2], cached[3]
        stamp = _stamp(key)
        if cached is not None and cached[1] == stamp:
            with self._lock:
                self._static_files[key] = (now, stamp, cached[2], cached[3])
            return crls + cached[2], cached[3]
        loaded, problems = load_crl_files(key, max_bytes=max(settings.crl_limits.max_bytes, 1))
        for p in problems:
            log.warning("static CRL problem: %s", p)
        with self._lock:
            self._static_files[key] = (now, stamp, loaded, problems)
            while len(self._static_files) > 16:
                self._static_files.popitem(last=False)
        return crls + loaded, problems

    def _from_static(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
        vouch: SignerCheck,
    ) -> list[tuple[RevocationStatus, frozenset[x509.ReasonFlags]]]:
        """Every static CRL that may concern ``cert``, evaluated (newest first)."""
        crls, problems = self._static_for(settings)
        if not crls and not problems:
            return []
        direct = _der_name(cert.issuer)
        indirect = {_der_name(n) for n in dps.crl_issuers()}
        relevant = [
            c for c in crls
            if not c.is_delta and (c.issuer_der == direct or (c.indirect and c.issuer_der in indirect))
        ]
        if not relevant:
            if problems:
                return [(
                    _status(
                        Outcome.MALFORMED,
                        f"no usable static CRL for issuer {_name_text(cert.issuer)}; unreadable static CRLs: "
                        + "; ".join(problems),
                        None,
                        None,
                    ),
                    frozenset(),
                )]
            return []
        # Deltas: the static ones and those at the base CRL's freshestCRL (§5.2.6).
        return [
            evaluate_crl_reasons(
                c, cert, issuer, at=ctx.at, settings=settings, dps=dps, candidates=candidates,
                above=above, deltas=self._deltas(c, cert, issuer, ctx, settings, dps, candidates, above),
                signer_check=vouch,
            )
            for c in sorted(relevant, key=lambda c: (c.number or -1, c.this_update), reverse=True)
        ]

    # -- distribution points -------------------------------------------------

    def _from_url(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
        vouch: SignerCheck,
    ) -> tuple[RevocationStatus, frozenset[x509.ReasonFlags]]:
        parsed, problem = self._obtain(url, cert, issuer, ctx, settings, dps, candidates, above)
        if parsed is None:
            assert problem is not None
            return _status(problem[0], f"CRL from {url}: {problem[1]}", None, url), frozenset()
        deltas = self._deltas(parsed, cert, issuer, ctx, settings, dps, candidates, above)
        st, reasons = evaluate_crl_reasons(
            parsed, cert, issuer, at=ctx.at, settings=settings, dps=dps, candidates=candidates,
            above=above, deltas=deltas, url=url, signer_check=vouch,
        )
        if problem is not None and not st.outcome.definite:
            st = _replace_detail(st, f"{st.detail}; refresh failed: {problem[1]}")
        return st, reasons

    def _obtain(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> tuple[ParsedCrl | None, tuple[Outcome, str] | None]:
        """Return (CRL to evaluate or None, problem of the latest refresh or None)."""
        key = "crl:" + url
        cache = self.cache_for(settings)
        at = ctx.at
        skew = _dt.timedelta(seconds=settings.clock_skew)

        def good_enough(e: CacheEntry) -> bool:
            p = self.parse_entry(e)
            return p is not None and p.this_update <= at + skew and at <= usable_until(p, settings)

        verify = self._verifier(key, cert, issuer, at, settings, dps, candidates, above)
        entry = cache.get(key, verify=verify)
        parsed = self.parse_entry(entry) if entry is not None else None
        if entry is not None and parsed is None:
            cache.discard(key)
            entry = None
        if parsed is not None:
            self._guard.note(key, parsed)
        loader = self._loader(url, cert, issuer, at, settings, dps, candidates, above, deadline=ctx.deadline)

        if entry is not None and parsed is not None and good_enough(entry):
            if at >= _refresh_due(parsed, settings):
                bg_loader = self._loader(url, cert, issuer, at, settings, dps, candidates, above)
                self._background_load(
                    key, at, cache, bg_loader, lambda e: not _due(self.parse_entry(e), at, settings), verify=verify
                )
            else:
                self._plan_timed_refresh(key, parsed, cache, settings, url, cert, issuer, dps, candidates, above)
            return parsed, None

        recent = self._recent_attempt(key, at)
        if not ctx.allow_network:
            if recent is not None and recent.outcome is not None:
                note = f"the last download failed: {recent.detail}"
            else:
                bg_loader = self._loader(url, cert, issuer, at, settings, dps, candidates, above)
                started = self._background_load(key, at, cache, bg_loader, good_enough, verify=verify)
                note = "a download was started in the background" if started else "the background queue is full"
            if parsed is not None:
                return parsed, (Outcome.STALE, f"cached CRL is out of date and no network I/O is allowed here; {note}")
            return None, (
                Outcome.UNREACHABLE,
                f"the CRL is not cached yet and no network I/O is allowed here (asyncio handshake); {note}",
            )

        if recent is not None and (recent.outcome is not None or parsed is not None):
            ago = time.monotonic() - recent.when
            if recent.outcome is None:
                # Downloaded moments ago and still not usable: do not download again.
                return parsed, None
            return parsed, (
                recent.outcome,
                f"{recent.detail} ({ago:.0f} s ago; not retried for {self.failure_ttl:g} s)",
            )
        try:
            entry = cache.get_or_load(key, loader, accept=good_enough, timeout=_wait_budget(ctx), verify=verify)
        except (FetchError, CrlProblem, CacheTimeout) as e:
            outcome, detail = _error_outcome(e)
            self._note_attempt(key, at, outcome, detail)
            log.warning(
                "CRL download from %s failed: %s", url, detail,
                extra={"event": "crl-fetch-failed", "url": url, "outcome": outcome.value},
            )
            return parsed, (outcome, detail)
        fresh = self.parse_entry(entry)
        if fresh is None:  # pragma: no cover - the loader validated it
            return parsed, (Outcome.MALFORMED, "the downloaded CRL could not be parsed")
        if good_enough(entry):
            self._plan_timed_refresh(key, fresh, cache, settings, url, cert, issuer, dps, candidates, above)
        return fresh, None

    def _loader(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: _dt.datetime,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
        *,
        deadline: float | None = None,
        expect_delta: bool = False,
    ) -> Callable[[CacheEntry | None], Loaded | CacheEntry]:
        limits: FetchLimits = settings.crl_limits

        def attempt(end: float) -> ParsedCrl:
            with self._lock:
                self.downloads += 1
            resp = self._fetcher(url, limits=limits, accept=_ACCEPT, deadline=end)
            parsed = ParsedCrl(load_crl(resp.body), url, der=resp.body)
            # Validate before caching: a CRL of the wrong issuer or with a bad
            # signature must never displace a good cached one (or be served).
            authorise_crl(
                parsed, cert, issuer, at=at, dps=dps, candidates=candidates, above=above,
                clock_skew=settings.clock_skew,
            )
            if parsed.is_delta != expect_delta:
                what = "a delta CRL" if parsed.is_delta else "a complete CRL"
                raise CrlProblem(Outcome.MALFORMED, f"{url} served {what} where {'a delta' if expect_delta else 'a complete'} CRL was expected")
            return parsed

        def load(current: CacheEntry | None) -> Loaded | CacheEntry:
            parsed = call_with_retry(
                attempt, settings.retry, retry_if=_retryable, deadline=deadline,
                describe=f"CRL download from {url}",
            )
            # Remember the download (successful, whatever it brought) so that a
            # CRL that is still out of date is not downloaded again at once.
            self._note_attempt("crl:" + url, at, None)
            old = self.parse_entry(current) if current is not None else None
            if (
                current is not None
                and old is not None
                and old.number is not None
                and parsed.number is not None
                and parsed.number < old.number
            ):
                log.warning(
                    "CRL from %s has number %d, lower than the cached %d; keeping the cached CRL",
                    url, parsed.number, old.number,
                    extra={"event": "crl-number-rollback", "url": url},
                )
                return current
            self._remember_parsed(parsed)
            log.info(
                "CRL from %s: number %s, %d entries, nextUpdate %s", url, parsed.number, len(parsed),
                parsed.next_update.isoformat() if parsed.next_update else None,
                extra={"event": "crl-downloaded", "url": url, "crl_number": parsed.number},
            )
            return Loaded(
                parsed.der,
                parsed.next_update,
                {
                    "url": url,
                    "crl_number": parsed.number,
                    "issuer": _name_text(parsed.issuer),
                    "this_update": parsed.this_update.isoformat(),
                    "entries": len(parsed),
                },
            )

        return load

    def _deltas(
        self,
        base: ParsedCrl,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> list[ParsedCrl]:
        """Delta CRLs for ``base``: static ones, and (best effort) the
        freshestCRL locations of the base CRL or the certificate."""
        out = [c for c in self._static_for(settings)[0] if c.is_delta and c.issuer_der == base.issuer_der]
        urls = list(base.freshest_urls)
        try:
            fresh_ext = cert.extensions.get_extension_for_class(x509.FreshestCRL).value
            urls += [u for u in _http_urls(fresh_ext) if u not in urls]
        except (x509.ExtensionNotFound, ValueError):
            pass
        if not urls or not settings.fetch_crls:
            return out
        cache = self.cache_for(settings)
        at = ctx.at

        def fresh_delta(e: CacheEntry) -> bool:
            p = self.parse_entry(e)
            return p is not None and at <= usable_until(p, settings)

        for url in urls[:2]:
            key = "crl:" + url
            verify = self._verifier(key, cert, issuer, at, settings, dps, candidates, above, expect_delta=True)
            entry = cache.get(key, verify=verify)
            parsed = self.parse_entry(entry) if entry is not None else None
            if entry is not None and parsed is not None and fresh_delta(entry):
                out.append(parsed)
                continue
            loader = self._loader(
                url, cert, issuer, at, settings, dps, candidates, above, deadline=ctx.deadline, expect_delta=True
            )
            if not ctx.allow_network:
                self._background_load(key, at, cache, loader, fresh_delta, verify=verify)
            elif self._recent_attempt(key, at) is None:
                try:
                    got = cache.get_or_load(key, loader, accept=fresh_delta, timeout=_wait_budget(ctx), verify=verify)
                    parsed = self.parse_entry(got) or parsed
                except (FetchError, CrlProblem, CacheTimeout) as e:
                    outcome, detail = _error_outcome(e)
                    self._note_attempt(key, at, outcome, detail)
                    log.warning("delta CRL from %s unavailable: %s", url, detail)
            if parsed is not None:
                out.append(parsed)
        return out

    # -- background work -----------------------------------------------------

    def _background_load(
        self,
        key: str,
        at: _dt.datetime,
        cache: RevocationCache,
        loader: Callable[[CacheEntry | None], Loaded | CacheEntry],
        accept: Callable[[CacheEntry], bool],
        *,
        delay: float = 0.0,
        verify: Callable[[CacheEntry], bool] | None = None,
    ) -> bool:
        """Schedule a single-flight load of ``key`` in the background."""
        if delay <= 0 and self._recent_attempt(key, at) is not None:
            return True  # tried moments ago; the cache holds its result

        def job() -> None:
            run_at = at if delay <= 0 else self._clock()
            if delay > 0:
                # A timed refresh: whatever it finds, the CRL in use next gets a new plan.
                with self._lock:
                    self._planned.pop(key, None)
            if delay <= 0 and self._recent_attempt(key, run_at) is not None:
                return
            try:
                cache.get_or_load(key, loader, accept=accept, verify=verify)
            except (FetchError, CrlProblem, CacheTimeout) as e:
                outcome, detail = _error_outcome(e)
                self._note_attempt(key, run_at, outcome, detail)
                log.warning(
                    "background CRL download from %s failed: %s", key[4:], detail,
                    extra={"event": "crl-fetch-failed", "url": key[4:], "outcome": outcome.value},
                )

        return self.refresher.schedule(key, job, delay=delay)

    def _plan_timed_refresh(
        self,
        key: str,
        parsed: ParsedCrl,
        cache: RevocationCache,
        settings: RevocationSettings,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> None:
        """Schedule one refresh at nextUpdate - refresh_margin (wall clock) per CRL."""
        if not self.timed_refresh:
            return
        with self._lock:
            if self._planned.get(key) == parsed.sha256:
                return
            self._planned[key] = parsed.sha256
            self._planned.move_to_end(key)
            while len(self._planned) > 1024:
                self._planned.popitem(last=False)
        now = self._clock()
        delay = (_refresh_due(parsed, settings) - now).total_seconds()
        if delay <= 0:
            # Due by the wall clock although fresh at ctx.at: the caller
            # validates at another time (history, tests); nothing to refresh.
            return
        clock = self._clock
        loader = self._loader(url, cert, issuer, now, settings, dps, candidates, above)
        verify = self._verifier(key, cert, issuer, now, settings, dps, candidates, above)
        self._background_load(
            key, now, cache, loader, lambda e: not _due(self.parse_entry(e), clock(), settings), delay=delay, verify=verify
        )

    # -- bookkeeping ---------------------------------------------------------

    def _remember_parsed(self, parsed: ParsedCrl) -> None:
        with self._lock:
            if parsed.sha256 in self._parsed:
                self._parsed.move_to_end(parsed.sha256)
                return
            self._parsed[parsed.sha256] = parsed
            self._parsed_size += parsed.size
            while len(self._parsed) > 1 and (
                len(self._parsed) > self._parsed_entries or self._parsed_size > self._parsed_bytes
            ):
                _, old = self._parsed.popitem(last=False)
                self._parsed_size -= old.size

    def _recent_attempt(self, key: str, at: _dt.datetime) -> _Attempt | None:
        """The latest attempt for ``key`` if it is younger than ``failure_ttl``
        both by the monotonic clock and by validation time."""
        with self._lock:
            a = self._attempts.get(key)
            if a is None:
                return None
            if time.monotonic() - a.when >= self.failure_ttl:
                del self._attempts[key]
                return None
            if abs((at - a.at).total_seconds()) >= self.failure_ttl:
                return None
            return a

    def _note_attempt(self, key: str, at: _dt.datetime, outcome: Outcome | None, detail: str = "") -> None:
        with self._lock:
            self._attempts[key] = _Attempt(time.monotonic(), at, outcome, detail)
            self._attempts.move_to_end(key)
            while len(self._attempts) > 1024:
                self._attempts.popitem(last=False)

    def _finish(self, st: RevocationStatus, cert: x509.Certificate) -> RevocationStatus:
        if st.outcome is Outcome.REVOKED:
            event_log.warning(
                "certificate revoked (CRL): serial %#x, issuer %s, reason %s, CRL number %s, source %s",
                cert.serial_number,
                _name_text(cert.issuer),
                st.revocation_reason or "unspecified",
                st.crl_number,
                st.url or "static CRL",
                extra={
                    "event": "certificate-revoked",
                    "check": "crl",
                    "serial": f"{cert.serial_number:#x}",
                    "issuer": _name_text(cert.issuer),
                    "reason": st.revocation_reason,
                    "revocation_date": st.revocation_time.isoformat() if st.revocation_time else None,
                    "crl_number": st.crl_number,
                    "source_url": st.url,
                },
            )
        return st

    def _no_info_detail(self, cert: x509.Certificate, dps: DistributionPoints, settings: RevocationSettings) -> str:
        issuer = _name_text(cert.issuer)
        if not dps.present:
            base = "the certificate has no cRLDistributionPoints extension"
        elif not dps.urls and dps.unsupported:
            base = (
                "the certificate's CRL distribution points use only schemes certpolicy does not fetch ("
                + ", ".join(dps.unsupported)
                + "; LDAP is not supported, only http and https)"
            )
        elif not dps.urls:
            base = "the certificate's cRLDistributionPoints name no location"
        else:
            base = "CRL fetching is off in this policy (fetch_crls = false)"
        return f"{base}, and no static CRL of issuer {issuer} is configured"


def _wait_budget(ctx: CheckContext) -> float | None:
    """Seconds a connection may wait for another thread's download (its deadline)."""
    if ctx.deadline is None:
        return None
    return max(0.05, ctx.deadline - time.monotonic())


def _due(parsed: ParsedCrl | None, at: _dt.datetime, settings: RevocationSettings) -> bool:
    return parsed is None or at >= _refresh_due(parsed, settings)


def _stamp(paths: Sequence[str]) -> tuple[Any, ...]:
    out: list[Any] = []
    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
            out.append((raw, st.st_mtime_ns, st.st_size))
            if p.is_dir():
                for c in sorted(p.iterdir()):
                    cs = c.stat()
                    out.append((c.name, cs.st_mtime_ns, cs.st_size))
        except OSError:
            out.append((raw, None))
    return tuple(out)


def _above(path: Sequence[x509.Certificate], issuer: x509.Certificate) -> list[x509.Certificate]:
    for i, c in enumerate(path):
        if c == issuer:
            return list(path[i:])
    return [issuer]


def _dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    # Certificates hash and compare by their DER encoding.
    return list(dict.fromkeys(certs))


def _replace_detail(st: RevocationStatus, detail: str) -> RevocationStatus:
    return replace(st, detail=detail)

