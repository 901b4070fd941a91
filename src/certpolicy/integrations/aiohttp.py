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
"""

from __future__ import annotations

from typing import Any

import aiohttp

from ..context import PolicySSLContext, create_ssl_context
from ..resolver import PolicyResolver
from ..table import PolicyTable
from ._deferred import deferred_verdict

__all__ = ["PolicyConnector", "connector", "session"]


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
        try:
            return await super().connect(req, traces, timeout)
        except aiohttp.ClientError as e:
            deferred = deferred_verdict(e)
            if deferred is None:
                raise
            await self.certpolicy_context.verifier.complete_off_loop(deferred)
            return await super().connect(req, traces, timeout)


def connector(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **kwargs: Any) -> PolicyConnector:
    """A :class:`PolicyConnector` whose TLS connections are checked by certpolicy."""
    return PolicyConnector(_context(policy), **kwargs)


def session(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **kwargs: Any) -> aiohttp.ClientSession:
    """An :class:`aiohttp.ClientSession` on :func:`connector`."""
    return aiohttp.ClientSession(connector=connector(policy), **kwargs)
