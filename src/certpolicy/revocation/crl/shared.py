"""Verification of CRLs read back from the fleet's shared store: re-checked exactly as a fresh download, and never older than what this process has seen.

A CRL that another process (or anyone with write access to the store) put
into the shared store is used only when :func:`shared_verifier`'s check
passes: it parses, it is signed by an authorised CRL issuer for this
certificate (:func:`~certpolicy.revocation.crl.evaluate.authorise_crl`:
signature, issuer, cRLSign, scope), it is the kind expected (complete or
delta), and it does not roll back: its cRLNumber is not lower, and its
thisUpdate not earlier, than those of the CRL this process holds for the same
distribution point or has seen before (:class:`RollbackGuard`). A replayed
older CRL that is still within its validity cannot hide a revocation this
process already knows of.
"""

from __future__ import annotations

import collections
import datetime as _dt
import threading
from collections.abc import Callable, Sequence

from cryptography import x509

from ...policy import RevocationSettings
from ..cache import CacheEntry
from .evaluate import authorise_crl
from .parse import CrlProblem, ParsedCrl
from .scope import DistributionPoints

__all__ = ["RollbackGuard", "shared_verifier"]


class RollbackGuard:
    """The highest cRLNumber and latest thisUpdate seen per cache key
    (bounded: ``size`` keys, least recently used dropped)."""

    def __init__(self, size: int = 4096) -> None:
        self._seen: collections.OrderedDict[str, tuple[int | None, _dt.datetime]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def note(self, key: str, crl: ParsedCrl) -> None:
        """Record ``crl`` as seen for ``key`` (keeps the newest)."""
        with self._lock:
            old = self._seen.get(key)
            number = crl.number
            this_update = crl.this_update
            if old is not None:
                if old[0] is not None and (number is None or number < old[0]):
                    number = old[0]
                this_update = max(this_update, old[1])
            self._seen[key] = (number, this_update)
            self._seen.move_to_end(key)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)

    def rolls_back(self, key: str, crl: ParsedCrl) -> bool:
        """Whether ``crl`` is older than the newest seen for ``key``."""
        with self._lock:
            old = self._seen.get(key)
        if old is None:
            return False
        if old[0] is not None and crl.number is not None and crl.number < old[0]:
            return True
        return crl.this_update < old[1]


def shared_verifier(
    parse: Callable[[CacheEntry], ParsedCrl | None],
    guard: RollbackGuard,
    key: str,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    at: _dt.datetime,
    settings: RevocationSettings,
    dps: DistributionPoints,
    candidates: Sequence[x509.Certificate],
    above: Sequence[x509.Certificate],
    *,
    expect_delta: bool = False,
    local: ParsedCrl | None = None,
) -> Callable[[CacheEntry], bool]:
    """The ``verify`` hook of :meth:`RevocationCache.get_or_load` for one CRL
    distribution point (see the module docstring).

    Args:
        parse: the source's memoised parser (bytes -> :class:`ParsedCrl`).
        guard: the source's :class:`RollbackGuard`.
        key: the cache key (``"crl:<url>"``).
        cert, issuer, dps, candidates, above: as for a download's validation.
        at: the validation time.
        settings: the policy's revocation settings (``clock_skew``).
        expect_delta: a delta CRL is expected (else a complete one).
        local: the CRL this process holds for ``key`` (a floor), if any.

    Returns:
        ``verify(entry) -> bool``.
    """
    if local is not None:
        guard.note(key, local)

    def verify(entry: CacheEntry) -> bool:
        parsed = parse(entry)
        if parsed is None or parsed.is_delta != expect_delta or guard.rolls_back(key, parsed):
            return False
        try:
            authorise_crl(
                parsed, cert, issuer, at=at, dps=dps, candidates=candidates, above=above,
                clock_skew=settings.clock_skew,
            )
        except CrlProblem:
            return False
        guard.note(key, parsed)
        return True

    return verify
