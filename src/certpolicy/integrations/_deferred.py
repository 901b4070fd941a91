"""Completing, off the event loop, a verification that an asyncio handshake
had to defer (revocation data not cached yet: the loop must not block on the
network). The async integrations catch such a failure, let
:meth:`certpolicy.engine.Verifier.complete_off_loop` fetch the data in a
worker thread (bounded by the policy's fetch limits), and retry the
connection once; the retry is decided from the now warm caches."""

from __future__ import annotations

from ..engine import Verdict
from ..errors import policy_error_of


def deferred_verdict(exc: BaseException) -> Verdict | None:
    """The deferred :class:`Verdict` behind ``exc``, or ``None`` when ``exc``
    is not such a failure."""
    err = policy_error_of(exc)
    verdict = getattr(err, "verdict", None) if err is not None else None
    if isinstance(verdict, Verdict) and verdict.can_complete_off_loop:
        return verdict
    return None
