"""The CRL check: revocation status from certificate revocation lists (RFC 5280).

:class:`CrlCheck` is a :class:`~certpolicy.checks.base.RevocationSource`
(``status(cert, issuer, ctx)``) and a :class:`~certpolicy.checks.base.Check`
(``run(ctx)``, which hands the work to
:class:`~certpolicy.checks.revocation.RevocationCheck` with CRL as the only
source, so the policy's scope, outcome map and logging apply). One object
serves every connection of an SSL context: it is thread-safe and its caches
are bounded.

For each certificate (the leaf, or with ``revocation.scope = "chain"`` every
certificate of the verified path below the trust anchor):

1. static CRLs (constructor ``crls=``, then the policy's ``static_crls``
   files and folders) of the certificate's issuer are evaluated first, for
   air-gapped networks;
2. when ``fetch_crls`` is on, each ``http``/``https`` cRLDistributionPoint is
   tried in order: the CRL comes from the memory/disk cache
   (:class:`~certpolicy.revocation.cache.RevocationCache`) or from one
   bounded download (connect/read/total timeouts and a byte cap from
   ``crl_limits``), retried under ``retry``, with one download per URL
   however many threads ask (single flight). LDAP and other schemes are not
   fetched (``no-revocation-info``, saying so);
3. the CRL is verified with the issuer (or an authorised indirect CRL issuer)
   and evaluated: CRL number, issuingDistributionPoint scope, delta CRLs,
   thisUpdate / nextUpdate with ``clock_skew`` and ``crl_grace``. A listed
   serial is ``revoked`` with its reason and date and is logged as a
   structured event on the ``certpolicy`` logger.

When ``ctx.allow_network`` is false (a handshake on an asyncio event loop) no
network I/O happens: the answer comes from the cache, or is ``unreachable``
("not cached yet") while a background download fills the cache for the next
connection. A cached CRL is refreshed in the background from nextUpdate minus
``refresh_margin``.

Example::

    check = certpolicy.CrlCheck()
    status = check.status(leaf, issuer, ctx)      # RevocationStatus
    check.run(ctx)                                # CheckResult, or raises CertificateRevoked
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509

from ..fetch import fetch
from ..revocation.cache import RevocationCache
from ..revocation.crl import Clock, CrlSource, Fetcher, ParsedCrl
from ..revocation.refresh import BackgroundRefresher
from .base import CheckContext, CheckResult, RevocationStatus

__all__ = ["CrlCheck"]


class CrlCheck:
    """Revocation status from CRLs, as a revocation source and as a check.

    Args:
        cache: the :class:`~certpolicy.revocation.cache.RevocationCache` for
            every policy; ``None``: one cache per ``revocation.cache_dir``
            (the platform default, see
            :func:`~certpolicy.revocation.cache.default_cache_dir`, when unset).
        fetcher: the bounded fetch function (default :func:`certpolicy.fetch.fetch`).
        clock: wall clock ``() -> aware datetime`` used to schedule background
            refreshes (default: the system clock). Validation uses ``ctx.at``.
        crls: static CRLs used under every policy before fetching:
            :class:`cryptography.x509.CertificateRevocationList` objects,
            DER/PEM bytes or :class:`~certpolicy.revocation.crl.ParsedCrl`
            (e.g. in-memory CRLs of a conformance suite).
        extra_certs: certificates that may sign indirect CRLs, besides the
            chain the server presented.
        refresher: background job runner to share (default: a private one).
        failure_ttl: seconds a failed (or useless) download of a URL is not
            repeated; its outcome is reused meanwhile.
        timed_refresh: refresh each CRL in use at nextUpdate minus
            ``refresh_margin`` by the wall clock.

    Attributes:
        name: ``"crl"``; requires_chain: ``True``.
        source: the :class:`~certpolicy.revocation.crl.CrlSource` doing the work.
    """

    name = "crl"
    requires_chain = True

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
    ) -> None:
        self.source = CrlSource(
            cache=cache,
            fetcher=fetcher,
            clock=clock,
            crls=crls,
            extra_certs=extra_certs,
            refresher=refresher,
            failure_ttl=failure_ttl,
            timed_refresh=timed_refresh,
        )

    def __repr__(self) -> str:
        return f"CrlCheck(cache={self.source._cache!r})"

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext) -> RevocationStatus:
        """Return ``cert``'s CRL status at ``ctx.at`` under ``ctx.policy``.

        Args:
            cert: the certificate to check.
            issuer: its issuer (``path[i + 1]`` on the verified path).
            ctx: the connection's context (policy, validation time ``at``,
                ``allow_network``, ``deadline``, presented chain).

        Returns:
            :class:`~certpolicy.checks.base.RevocationStatus` with
            ``source="crl"``; network and data problems are outcomes
            (``unreachable``, ``stale``, ``malformed`` ...), never exceptions.
        """
        return self.source.status(cert, issuer, ctx)

    def run(self, ctx: CheckContext) -> CheckResult:
        """Check the certificates in the policy's scope with CRLs only.

        Returns / raises as :meth:`certpolicy.checks.revocation.RevocationCheck.run`:
        a :class:`CheckResult`, or :class:`~certpolicy.errors.CertificateRevoked`
        / :class:`~certpolicy.errors.RevocationError` with ``check="crl"`` when
        the outcome maps to ``fail``.
        """
        from .revocation import RevocationCheck

        return RevocationCheck({"crl": self}).run(ctx)

    def close(self) -> None:
        """Stop the background refresh threads (they are daemons; optional)."""
        self.source.close()
