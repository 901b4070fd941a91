"""httpx integration: transports whose connection pools are keyed by policy.

``httpx.Client(verify=ctx)`` already works with a certpolicy context (host
and peer address rules). The transports below add URL-path rules: each
request is resolved from its URL first, and goes through an inner transport
that belongs to that policy only, so a connection verified under one policy
is never reused for a request under another. The sync and async APIs mirror
each other name for name.

Example::

    import certpolicy
    from certpolicy.integrations.httpx import client, async_client

    table = certpolicy.PolicyTable.load("policies.toml")
    with client(table) as c:
        c.get("https://api.example.com/v2/orders")
    async with async_client(table) as c:
        await c.get("https://api.example.com/v2/orders")

``response.extensions["certpolicy_verdict"]`` holds the verdict when the
request opened a new connection.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from ..context import _COLLECTOR, PolicySSLContext, create_ssl_context
from ..engine import Verdict
from ..errors import CertPolicyError
from ..resolver import PolicyResolver
from ..table import PolicyTable
from ._deferred import deferred_verdict
from ._url import REQUEST_URL

__all__ = ["AsyncPolicyTransport", "PolicyTransport", "async_client", "client"]


def _context(policy: PolicySSLContext | PolicyResolver | PolicyTable | None) -> PolicySSLContext:
    return policy if isinstance(policy, PolicySSLContext) else create_ssl_context(policy)


class PolicyTransport(httpx.BaseTransport):
    """A sync httpx transport routing each request to a per-policy pool.

    Args:
        ctx: the certpolicy context.
        **transport_kwargs: passed to each inner :class:`httpx.HTTPTransport`.
    """

    def __init__(self, ctx: PolicySSLContext, **transport_kwargs: Any) -> None:
        self.ctx = ctx
        self._kwargs = transport_kwargs
        self._transports: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def _for(self, request: httpx.Request) -> httpx.HTTPTransport:
        res = self.ctx.resolver.resolve(url=str(request.url))
        with self._lock:
            t = self._transports.get(res.policy.name)
            if t is None:
                t = self._transports[res.policy.name] = httpx.HTTPTransport(verify=self.ctx, **self._kwargs)
            return t

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._for(request)
        collected: list[Verdict] = []
        t_url, t_col = REQUEST_URL.set(str(request.url)), _COLLECTOR.set(collected)
        try:
            response = transport.handle_request(request)
        finally:
            _COLLECTOR.reset(t_col)
            REQUEST_URL.reset(t_url)
        response.extensions["certpolicy_verdict"] = collected[-1] if collected else None
        return response

    def close(self) -> None:
        with self._lock:
            transports = list(self._transports.values())
            self._transports.clear()
        for t in transports:
            t.close()


class AsyncPolicyTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`PolicyTransport`.

    On the event loop the handshake never waits on the network: when OCSP or
    CRL data is not cached yet, the transport fetches it in a worker thread
    (bounded by the policy's limits) and retries the connection once."""

    def __init__(self, ctx: PolicySSLContext, **transport_kwargs: Any) -> None:
        self.ctx = ctx
        self._kwargs = transport_kwargs
        self._transports: dict[str, httpx.AsyncHTTPTransport] = {}

    def _for(self, request: httpx.Request) -> httpx.AsyncHTTPTransport:
        res = self.ctx.resolver.resolve(url=str(request.url))
        t = self._transports.get(res.policy.name)
        if t is None:
            t = self._transports[res.policy.name] = httpx.AsyncHTTPTransport(verify=self.ctx, **self._kwargs)
        return t

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._for(request)
        collected: list[Verdict] = []
        t_url, t_col = REQUEST_URL.set(str(request.url)), _COLLECTOR.set(collected)
        try:
            try:
                response = await transport.handle_async_request(request)
            except httpx.TransportError as e:
                deferred = deferred_verdict(e)
                if deferred is None:
                    raise
                # revocation data was not cached: fetch it off the loop, then retry once
                try:
                    await self.ctx.verifier.complete_off_loop(deferred)
                except CertPolicyError as err:
                    raise httpx.ConnectError(str(err), request=request) from err
                response = await transport.handle_async_request(request)
        finally:
            _COLLECTOR.reset(t_col)
            REQUEST_URL.reset(t_url)
        response.extensions["certpolicy_verdict"] = collected[-1] if collected else None
        return response

    async def aclose(self) -> None:
        transports = list(self._transports.values())
        self._transports.clear()
        for t in transports:
            await t.aclose()


def client(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **client_kwargs: Any) -> httpx.Client:
    """An :class:`httpx.Client` on a :class:`PolicyTransport`."""
    return httpx.Client(transport=PolicyTransport(_context(policy)), **client_kwargs)


def async_client(
    policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **client_kwargs: Any
) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` on an :class:`AsyncPolicyTransport`."""
    return httpx.AsyncClient(transport=AsyncPolicyTransport(_context(policy)), **client_kwargs)
