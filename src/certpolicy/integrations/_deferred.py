"""Completing, off the event loop, a verification that an asyncio handshake
had to defer (revocation data not cached yet: the loop must not block on the
network). The async integrations catch such a failure, let
:meth:`certpolicy.engine.Verifier.complete_off_loop` fetch the data in a
worker thread (bounded by the policy's fetch limits), and retry the
connection once; the retry is decided from the now warm caches."""

from __future__ import annotations

from ..engine import Verdict
from ..errors import CertPolicyError


def deferred_verdict(exc: BaseException) -> Verdict | None:
    """The deferred :class:`Verdict` behind ``exc`` (walking causes and
    arguments), or ``None`` when ``exc`` is not such a failure."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen or len(seen) > 20:
            continue
        seen.add(id(cur))
        if isinstance(cur, CertPolicyError):
            verdict = getattr(cur, "verdict", None)
            if isinstance(verdict, Verdict) and verdict.can_complete_off_loop:
                return verdict
        for nxt in (cur.__cause__, cur.__context__, getattr(cur, "certificate_error", None), *getattr(cur, "args", ())):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    return None
