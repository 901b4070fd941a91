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

__all__ = ["connector", "session"]


def _context(policy: PolicySSLContext | PolicyResolver | PolicyTable | None) -> PolicySSLContext:
    return policy if isinstance(policy, PolicySSLContext) else create_ssl_context(policy)


def connector(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **kwargs: Any) -> aiohttp.TCPConnector:
    """An :class:`aiohttp.TCPConnector` whose TLS connections are checked by certpolicy."""
    return aiohttp.TCPConnector(ssl=_context(policy), **kwargs)


def session(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **kwargs: Any) -> aiohttp.ClientSession:
    """An :class:`aiohttp.ClientSession` on :func:`connector`."""
    return aiohttp.ClientSession(connector=connector(policy), **kwargs)
