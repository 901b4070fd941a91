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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx

from ..context import _COLLECTOR, PolicySSLContext, create_ssl_context
from ..engine import Verdict
from ..errors import CertPolicyError
from ..policy import Policy
from ..resolver import PolicyResolver
from ..table import PolicyTable
from ..tablediff import TableDiff
from ._deferred import deferred_verdict
from ._url import REQUEST_URL

__all__ = ["AsyncPolicyTransport", "PolicyTransport", "async_client", "client"]


def _context(policy: PolicySSLContext | PolicyResolver | PolicyTable | None) -> PolicySSLContext:
    return policy if isinstance(policy, PolicySSLContext) else create_ssl_context(policy)


class _Pool:
    """One inner transport, the policy object it belongs to, and how many
    requests are using it (a retired pool closes when none is)."""

    __slots__ = ("active", "policy", "retired", "transport")

    def __init__(self, policy: Policy, transport: Any) -> None:
        self.policy = policy
        self.transport = transport
        self.active = 0
        self.retired = False


class _TrackedStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


class _AsyncTrackedStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, done: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._done: Callable[[], Awaitable[None]] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            done, self._done = self._done, None
            if done is not None:
                await done()


class _Pools:
    """The per-policy pools of one transport, shared by the sync and async
    twins: routing, retiring the pools of rows a new table changed, and
    counting the requests (with their response bodies) using each pool."""

    def __init__(self, ctx: PolicySSLContext, factory: Callable[[], Any]) -> None:
        self.ctx = ctx
        self._factory = factory
        self._pools: dict[str, _Pool] = {}
        self._retired: list[_Pool] = []
        self._lock = threading.Lock()
        ctx.add_replace_listener(self._on_replace)

    def acquire(self, request: httpx.Request) -> _Pool:
        policy = self.ctx.resolver.resolve(url=str(request.url)).policy
        with self._lock:
            pool = self._pools.get(policy.name)
            if pool is None or pool.policy is not policy:
                if pool is not None:
                    self._retire(pool)  # verified under a row that changed
                pool = self._pools[policy.name] = _Pool(policy, self._factory())
            pool.active += 1
            return pool

    def release(self, pool: _Pool) -> bool:
        """Count one request off; ``True`` when the retired pool is now unused."""
        with self._lock:
            pool.active -= 1
            if pool.retired and pool.active == 0 and pool in self._retired:
                self._retired.remove(pool)
                return True
        return False

    def _retire(self, pool: _Pool) -> None:
        pool.retired = True
        self._retired.append(pool)

    def _on_replace(self, table: PolicyTable, diff: TableDiff) -> None:
        # The pool is chosen from the URL before the peer address is known,
        # while the handshake was checked under the policy of the URL *and*
        # the address: a changed address or range row may concern any pool.
        # So every pool is retired (unchanged rows keep their cached
        # verdicts, so reconnecting costs a cheap handshake).
        with self._lock:
            for name in list(self._pools):
                self._retire(self._pools.pop(name))

    def idle_retired(self) -> list[_Pool]:
        """Retired pools no request uses (to be closed now)."""
        with self._lock:
            idle = [p for p in self._retired if p.active == 0]
            for p in idle:
                self._retired.remove(p)
        return idle

    def take_all(self) -> list[_Pool]:
        with self._lock:
            pools = [*self._pools.values(), *self._retired]
            self._pools.clear()
            self._retired.clear()
        return pools


class PolicyTransport(httpx.BaseTransport):
    """A sync httpx transport routing each request to a per-policy pool.

    After :meth:`PolicySSLContext.replace_table` that changed anything,
    every pool is retired (the pool is chosen by URL before the peer address
    is known, and an address row may have changed): no new request uses it,
    and it is closed once the requests using it (and their response bodies)
    are done. Verdicts of unchanged rows stay cached, so reconnecting is cheap.

    Args:
        ctx: the certpolicy context.
        **transport_kwargs: passed to each inner :class:`httpx.HTTPTransport`.
    """

    def __init__(self, ctx: PolicySSLContext, **transport_kwargs: Any) -> None:
        self.ctx = ctx
        self._kwargs = transport_kwargs
        self._pools = _Pools(ctx, lambda: httpx.HTTPTransport(verify=self.ctx, **self._kwargs))

    def _release(self, pool: _Pool) -> None:
        if self._pools.release(pool):
            pool.transport.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for idle in self._pools.idle_retired():
            idle.transport.close()
        pool = self._pools.acquire(request)
        collected: list[Verdict] = []
        t_url, t_col = REQUEST_URL.set(str(request.url)), _COLLECTOR.set(collected)
        try:
            response: httpx.Response = pool.transport.handle_request(request)
        except BaseException:
            self._release(pool)
            raise
        finally:
            _COLLECTOR.reset(t_col)
            REQUEST_URL.reset(t_url)
        response.stream = _TrackedStream(response.stream, lambda: self._release(pool))
        response.extensions["certpolicy_verdict"] = collected[-1] if collected else None
        return response

    def close(self) -> None:
        for pool in self._pools.take_all():
            pool.transport.close()


class AsyncPolicyTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`PolicyTransport`.

    On the event loop the handshake never waits on the network: when OCSP or
    CRL data is not cached yet, the transport fetches it in a worker thread
    (bounded by the policy's limits) and retries the connection once."""

    def __init__(self, ctx: PolicySSLContext, **transport_kwargs: Any) -> None:
        self.ctx = ctx
        self._kwargs = transport_kwargs
        self._pools = _Pools(ctx, lambda: httpx.AsyncHTTPTransport(verify=self.ctx, **self._kwargs))

    async def _release(self, pool: _Pool) -> None:
        if self._pools.release(pool):
            await pool.transport.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for idle in self._pools.idle_retired():
            await idle.transport.aclose()
        pool = self._pools.acquire(request)
        transport = pool.transport
        collected: list[Verdict] = []
        t_url, t_col = REQUEST_URL.set(str(request.url)), _COLLECTOR.set(collected)
        try:
            try:
                response: httpx.Response = await transport.handle_async_request(request)
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
        except BaseException:
            await self._release(pool)
            raise
        finally:
            _COLLECTOR.reset(t_col)
            REQUEST_URL.reset(t_url)
        response.stream = _AsyncTrackedStream(response.stream, lambda: self._release(pool))
        response.extensions["certpolicy_verdict"] = collected[-1] if collected else None
        return response

    async def aclose(self) -> None:
        for pool in self._pools.take_all():
            await pool.transport.aclose()


def client(policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **client_kwargs: Any) -> httpx.Client:
    """An :class:`httpx.Client` on a :class:`PolicyTransport`."""
    return httpx.Client(transport=PolicyTransport(_context(policy)), **client_kwargs)


def async_client(
    policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **client_kwargs: Any
) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` on an :class:`AsyncPolicyTransport`."""
    return httpx.AsyncClient(transport=AsyncPolicyTransport(_context(policy)), **client_kwargs)
