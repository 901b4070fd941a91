"""urllib3 integration: a pool manager that keys pools by policy.

Example::

    import certpolicy
    from certpolicy.integrations.urllib3 import PolicyPoolManager

    ctx = certpolicy.create_ssl_context(certpolicy.PolicyTable.load("policies.toml"))
    http = PolicyPoolManager(ctx)
    r = http.request("GET", "https://api.example.com/v2/orders")

For every request the manager resolves the host's address (``getaddrinfo``),
resolves the policy from the URL *and* that address, and uses a pool that
belongs to that (policy, address) pair only; its connections connect to that
exact address. Behind a proxy the address is unknown and the policy is chosen
by URL and name (the proxy's address never classifies the target).

After :meth:`PolicySSLContext.replace_table`, the pools of a row that
changed are dropped (their idle connections closed; a request in flight
finishes and its connection is closed, not pooled), so a connection
verified under the old row is never reused; rows that did not change keep
their pools.
"""

from __future__ import annotations

import collections
import socket
import threading
import urllib.parse
from typing import Any

import urllib3
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as _u3conn

from ..context import PolicySSLContext
from ..names import parse_ip
from ..policy import Policy
from ..resolver import Resolution
from ..table import PolicyTable
from ..tablediff import TableDiff
from ._url import REQUEST_URL

__all__ = ["PolicyPoolManager", "PolicyRouter"]

_MAX_MANAGERS = 256


class _PinnedHTTPSConnection(HTTPSConnection):
    """Connects to ``certpolicy_ip`` (when set) while sending SNI for the host name."""

    certpolicy_ip: str | None = None

    def _new_conn(self) -> socket.socket:
        if self.certpolicy_ip is None or self._tunnel_host is not None:
            return super()._new_conn()
        try:
            return _u3conn.create_connection(
                (self.certpolicy_ip, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except OSError as e:
            from urllib3.exceptions import NewConnectionError

            raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e


def _resolve_address(host: str, port: int) -> str | None:
    if parse_ip(host) is not None:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None  # let urllib3 report the name resolution error
    for family, _t, _p, _c, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            return str(sockaddr[0])
    return None


class PolicyRouter:
    """Chooses a urllib3 pool manager per (policy, pinned address).

    Args:
        ctx: the certpolicy SSL context.
        pin_addresses: resolve host names here and connect to that address
            (default ``True``).
        addresses: a static name -> address map consulted before DNS (like
            curl's ``--resolve``), e.g. ``{"api.corp.example": "10.1.2.3"}``.
        **pool_kwargs: passed to every :class:`urllib3.PoolManager`.
    """

    def __init__(
        self,
        ctx: PolicySSLContext,
        *,
        pin_addresses: bool = True,
        addresses: dict[str, str] | None = None,
        **pool_kwargs: Any,
    ) -> None:
        self.ctx = ctx
        self.pin_addresses = pin_addresses
        self.addresses = {k.lower().rstrip("."): v for k, v in (addresses or {}).items()}
        self.pool_kwargs = pool_kwargs
        self._managers: collections.OrderedDict[tuple[str, str | None], tuple[Policy, urllib3.PoolManager]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        ctx.add_replace_listener(self._on_replace)

    def _on_replace(self, table: PolicyTable, diff: TableDiff) -> None:
        """Drop the pool managers of rows that are no longer in force."""
        current = {id(p) for p in table.policies}
        with self._lock:
            stale = [k for k, (policy, _m) in self._managers.items() if id(policy) not in current]
            dropped = [self._managers.pop(k)[1] for k in stale]
        for m in dropped:
            m.clear()

    def route(self, url: str, *, proxied: bool = False) -> tuple[urllib3.PoolManager, Resolution]:
        """The pool manager for ``url`` and the resolution it stands for."""
        u = urllib.parse.urlsplit(url)
        host = u.hostname or ""
        port = u.port or (443 if u.scheme == "https" else 80)
        pinned = None
        if u.scheme == "https" and self.pin_addresses and not proxied:
            pinned = self.addresses.get(host.lower().rstrip(".")) or _resolve_address(host, port)
        res = self.ctx.resolver.resolve(url=url, peer_ip=pinned if pinned else None)
        key = (res.policy.name, pinned)
        policy = res.policy
        with self._lock:
            entry = self._managers.get(key)
            if entry is not None and entry[0] is policy:
                self._managers.move_to_end(key)
                return entry[1], res
        manager = self._new_manager(pinned)
        dropped: list[urllib3.PoolManager] = []
        with self._lock:
            entry = self._managers.get(key)
            if entry is not None and entry[0] is not policy:
                dropped.append(self._managers.pop(key)[1])  # verified under a row that changed
            existing = self._managers.setdefault(key, (policy, manager))[1]
            self._managers.move_to_end(key)
            while len(self._managers) > _MAX_MANAGERS:
                dropped.append(self._managers.popitem(last=False)[1][1])
        if existing is not manager:
            dropped.append(manager)
        for m in dropped:
            m.clear()
        return existing, res

    def _new_manager(self, pinned: str | None) -> urllib3.PoolManager:
        manager = urllib3.PoolManager(ssl_context=self.ctx, **self.pool_kwargs)
        conn_cls = type("CertpolicyHTTPSConnection", (_PinnedHTTPSConnection,), {"certpolicy_ip": pinned})
        pool_cls = type("CertpolicyHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": conn_cls})
        manager.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": pool_cls}
        return manager

    def clear(self) -> None:
        with self._lock:
            managers = [m for _p, m in self._managers.values()]
            self._managers.clear()
        for m in managers:
            m.clear()


class PolicyPoolManager:
    """A drop-in for :class:`urllib3.PoolManager` (``request``/``urlopen``)
    whose pools are keyed by certpolicy policy; see the module docstring."""

    def __init__(self, ctx: PolicySSLContext, **pool_kwargs: Any) -> None:
        self.router = PolicyRouter(ctx, **pool_kwargs)

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        manager, _res = self.router.route(url)
        token = REQUEST_URL.set(url)
        try:
            return manager.urlopen(method, url, redirect=False, **kw) if not redirect else self._follow(manager, method, url, **kw)
        finally:
            REQUEST_URL.reset(token)

    def _follow(self, manager: urllib3.PoolManager, method: str, url: str, **kw: Any) -> Any:
        retries = kw.pop("retries", None)
        response = manager.urlopen(method, url, redirect=False, retries=retries, **kw)
        for _ in range(10):
            location = response.get_redirect_location()
            if not location:
                return response
            response.drain_conn()
            url = urllib.parse.urljoin(url, location)
            if response.status == 303:
                method = "GET"
            manager, _res = self.router.route(url)
            token = REQUEST_URL.set(url)
            try:
                response = manager.urlopen(method, url, redirect=False, **kw)
            finally:
                REQUEST_URL.reset(token)
        return response

    def request(self, method: str, url: str, **kw: Any) -> Any:
        """As :meth:`urllib3.PoolManager.request`."""
        manager, _res = self.router.route(url)
        token = REQUEST_URL.set(url)
        try:
            return manager.request(method, url, **kw)
        finally:
            REQUEST_URL.reset(token)

    def clear(self) -> None:
        self.router.clear()

    def __enter__(self) -> PolicyPoolManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()
