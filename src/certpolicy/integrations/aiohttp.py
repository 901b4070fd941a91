"""aiohttp integration: a connector that uses a certpolicy context.

Example::

    import certpolicy
    from certpolicy.integrations.aiohttp import session

    async with session(certpolicy.PolicyTable.load("policies.toml")) as s:
        async with s.get("https://api.example.com/") as r:
            ...

The peer address comes from the asyncio transport (found by the context),
so intranet ranges and CIDR overrides apply. aiohttp keys its pools by host,
port and SSL settings, not by URL path: URL-path rules are not applied here
(use the httpx or requests integration for those).

After :meth:`PolicySSLContext.replace_table`, a pooled connection verified
under a row that has since changed is closed when the pool hands it out,
and a new connection is made under the table in force.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from ..context import PolicySSLContext, create_ssl_context, verdict_of
from ..resolver import PolicyResolver
from ..table import PolicyTable
from ._deferred import deferred_verdict

__all__ = ["PolicyConnector", "connector", "session"]

#: Pooled connections closed at most per request before a fresh one is made.
_MAX_STALE = 16


def _context(policy: PolicySSLContext | PolicyResolver | PolicyTable | None) -> PolicySSLContext:
    return policy if isinstance(policy, PolicySSLContext) else create_ssl_context(policy)


class PolicyConnector(aiohttp.TCPConnector):
    """An :class:`aiohttp.TCPConnector` for a certpolicy context.

    On the event loop the handshake never waits on the network: when OCSP or
    CRL data is not cached yet, the connector fetches it in a worker thread
    (bounded by the policy's limits) and retries the connection once.
    """

    def __init__(self, ctx: PolicySSLContext, **kwargs: Any) -> None:
        self.certpolicy_context = ctx
        super().__init__(ssl=ctx, **kwargs)

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        for _ in range(_MAX_STALE):
            conn = await self._connect_once(req, traces, timeout)
            if not self._stale(conn, req):
                return conn
            conn.close()  # verified under a row a new table changed: not reused
        return await self._connect_once(req, traces, timeout)

    async def _connect_once(self, req: Any, traces: Any, timeout: Any) -> Any:
        try:
            return await super().connect(req, traces, timeout)
        except aiohttp.ClientError as e:
            deferred = deferred_verdict(e)
            if deferred is None:
                raise
            await self.certpolicy_context.verifier.complete_off_loop(deferred)
            return await super().connect(req, traces, timeout)

    def _stale(self, conn: Any, req: Any) -> bool:
        """Whether a pooled connection was verified under another policy
        object than the one the table in force gives the request."""
        ctx = self.certpolicy_context
        if ctx.table_version == 0:
            return False
        verdict = verdict_of(getattr(conn, "transport", None))
        if verdict is None:
            return False  # plain HTTP, or not a certpolicy connection
        peer = str(verdict.peer_ip) if verdict.peer_ip is not None else None
        now = ctx.resolver.resolve(url=str(req.url), peer_ip=peer, port=verdict.port)
        return now.policy is not verdict.resolution.policy


def connector(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **kwargs: Any) -> PolicyConnector:
    """A :class:`PolicyConnector` whose TLS connections are checked by certpolicy."""
    return PolicyConnector(_context(policy), **kwargs)


def session(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **kwargs: Any) -> aiohttp.ClientSession:
    """An :class:`aiohttp.ClientSession` on :func:`connector`."""
    return aiohttp.ClientSession(connector=connector(policy), **kwargs)
