"""requests integration: an adapter whose pools are keyed by policy.

Example::

    import certpolicy
    from certpolicy.integrations.requests import session

    s = session(certpolicy.PolicyTable.load("policies.toml"))
    s.get("https://acme.service-now.com/api/now/table/incident")

:class:`PolicyAdapter` routes every request through
:class:`certpolicy.integrations.urllib3.PolicyRouter`: the host's address is
resolved first, the policy is chosen from the URL (path rules included) and
that address, and the request goes to a pool that belongs to that policy and
address only (a connection verified under one policy is never reused under
another: the CVE-2024-35195 kind of fault). ``verify=``, ``REQUESTS_CA_BUNDLE``
and ``CURL_CA_BUNDLE`` cannot switch certpolicy's checks off: the policy table
decides. ``response.certpolicy_verdict`` holds the connection's verdict when
a new connection was made (``None`` when a pooled one was reused).
After :meth:`PolicySSLContext.replace_table` the pools of changed rows,
and every proxy pool, are dropped.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..context import PolicySSLContext, create_ssl_context
from ..engine import Verdict
from ..peer import PEER, Peer
from ..resolver import PolicyResolver
from ..table import PolicyTable
from ..tablediff import TableDiff
from ._url import REQUEST_URL
from .urllib3 import PolicyRouter

__all__ = ["PolicyAdapter", "session"]


class PolicyAdapter(HTTPAdapter):
    """A :class:`requests.adapters.HTTPAdapter` for a certpolicy context.

    Args:
        ctx: the :class:`~certpolicy.context.PolicySSLContext`.
        pin_addresses: resolve and pin the peer address per request (default ``True``).
        addresses: static name -> address map used before DNS (curl ``--resolve``).
        **kwargs: :class:`HTTPAdapter` arguments (``pool_connections``, ``max_retries`` ...).
    """

    def __init__(
        self,
        ctx: PolicySSLContext,
        *,
        pin_addresses: bool = True,
        addresses: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.certpolicy_context = ctx
        self._pin = pin_addresses
        super().__init__(**kwargs)
        self.router = PolicyRouter(
            ctx,
            pin_addresses=pin_addresses,
            addresses=addresses,
            maxsize=getattr(self, "_pool_maxsize", 10),
            block=getattr(self, "_pool_block", False),
        )
        ctx.add_replace_listener(self._on_replace)

    def _on_replace(self, table: PolicyTable, diff: TableDiff) -> None:
        """Drop the proxy pools (their policy is chosen per request, so any
        change may concern them); the router drops its own."""
        managers = list(self.proxy_manager.values())
        self.proxy_manager.clear()
        for m in managers:
            m.clear()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["ssl_context"] = self.certpolicy_context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self.certpolicy_context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # verify=False / a CA bundle path would set urllib3's cert_reqs and
        # ca_certs: the policy table decides instead. Client certificates
        # (cert=) still pass through.
        super().cert_verify(conn, url, True, cert)  # type: ignore[no-untyped-call]
        conn.ca_certs = None
        conn.ca_cert_dir = None
        conn.cert_reqs = "CERT_REQUIRED"

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        return super().build_connection_pool_key_attributes(request, True, cert)

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        from requests.utils import select_proxy

        if select_proxy(request.url, proxies):
            return super().get_connection_with_tls_context(request, True, proxies, cert)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, True, cert)
        manager, _res = self.router.route(request.url)
        return manager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        from requests.utils import select_proxy

        collected: list[Verdict] = []
        token_url = REQUEST_URL.set(request.url)
        token_peer = PEER.set(Peer(None, None, "proxy", proxied=True)) if select_proxy(request.url, proxies) else None
        token_col = _COLLECTOR.set(collected)
        try:
            response = super().send(request, stream=stream, timeout=timeout, verify=True, cert=cert, proxies=proxies)
        finally:
            _COLLECTOR.reset(token_col)
            if token_peer is not None:
                PEER.reset(token_peer)
            REQUEST_URL.reset(token_url)
        response.certpolicy_verdict = collected[-1] if collected else None  # type: ignore[attr-defined]
        return response

    def close(self) -> None:
        super().close()
        self.router.clear()


from ..context import _COLLECTOR  # noqa: E402


def session(
    policy: PolicySSLContext | PolicyResolver | PolicyTable | None = None, **adapter_kwargs: Any
) -> requests.Session:
    """A :class:`requests.Session` whose HTTPS requests go through certpolicy.

    Args:
        policy: a context, resolver or table (``None``: the default table).

    Returns:
        the session (``https://`` mounted on a :class:`PolicyAdapter`).
    """
    ctx = policy if isinstance(policy, PolicySSLContext) else create_ssl_context(policy)
    s = requests.Session()
    s.mount("https://", PolicyAdapter(ctx, **adapter_kwargs))
    return s
