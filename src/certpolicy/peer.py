"""Finding the connected peer's address for a TLS connection.

The policy depends on the peer address (intranet ranges, CIDR overrides), but
the TLS layer does not always know it. In order, certpolicy tries:

1. the :data:`PEER` context variable, set by the integrations (they know the
   target address, also behind a CONNECT proxy, or mark it unknown);
2. for sockets, ``getpeername()`` — unless the caller is tunnelling through a
   CONNECT proxy (``http.client`` / urllib3 ``_tunnel_host``), in which case
   the socket's peer is the proxy and must never classify the target;
3. for ``SSLObject`` (asyncio and friends), the transport found by inspecting
   the calling frames (CPython/PyPy asyncio ``SSLProtocol``; best effort);
4. an IP-literal server name;
5. nothing: the policy is chosen by name only (SPEC), and ``explain`` says so.
"""

from __future__ import annotations

import contextvars
import http.client
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from .names import IPAddress, parse_ip

__all__ = ["PEER", "Peer", "peer_from_frames", "peer_from_socket", "set_peer"]


@dataclass(frozen=True)
class Peer:
    """A peer address: ``ip`` and ``port`` (either may be ``None``), where it
    came from (``source``) and whether a proxy hides it (``proxied``)."""

    ip: IPAddress | None
    port: int | None
    source: str
    proxied: bool = False


#: Set by integrations around a connection attempt: a :class:`Peer`, or ``None``.
PEER: contextvars.ContextVar[Peer | None] = contextvars.ContextVar("certpolicy_peer", default=None)


def set_peer(ip: str | None, port: int | None = None, *, proxied: bool = False) -> contextvars.Token[Peer | None]:
    """Tell certpolicy the target's address for connections made in this context.

    Returns the token for ``PEER.reset(token)``. ``ip=None`` with ``proxied=True``
    marks the address unknown (behind a proxy).
    """
    return PEER.set(Peer(parse_ip(ip) if ip else None, port, "integration", proxied))


def _from_sockaddr(addr: Any, source: str) -> Peer | None:
    if isinstance(addr, tuple) and addr and isinstance(addr[0], str):
        ip = parse_ip(addr[0])
        if ip is not None:
            port = addr[1] if len(addr) > 1 and isinstance(addr[1], int) else None
            return Peer(ip, port, source)
    return None


def peer_from_socket(sock: socket.socket) -> Peer | None:
    """``getpeername()`` of a connected inet socket, or ``None``."""
    try:
        return _from_sockaddr(sock.getpeername(), "socket")
    except OSError:
        return None


_MAX_FRAMES = 12


def _tunnelled(obj: Any) -> bool:
    # http.client.HTTPConnection.set_tunnel / urllib3 HTTPConnection: the
    # socket is connected to a proxy, the TLS session to the tunnel's host.
    return isinstance(obj, http.client.HTTPConnection) and bool(getattr(obj, "_tunnel_host", None))


def _callers(start: int) -> Iterator[Any]:
    """The ``self`` of up to :data:`_MAX_FRAMES` calling frames, from ``start``
    frames above the caller of this function."""
    try:
        frame: FrameType | None = sys._getframe(start + 1)
    except ValueError:
        return
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return
        obj = frame.f_locals.get("self")
        if obj is not None:
            yield obj
        frame = frame.f_back


def proxy_in_frames(start: int = 2) -> bool:
    """``True`` when a calling frame belongs to a connection that tunnels
    through a CONNECT proxy (http.client and urllib3 wrap the socket from
    their ``connect()`` method; only those frames' locals are read)."""
    try:
        frame: FrameType | None = sys._getframe(start)
    except ValueError:
        return False
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return False
        if frame.f_code.co_name == "connect":
            obj = frame.f_locals.get("self")
            if obj is not None and _tunnelled(obj):
                return True
        frame = frame.f_back
    return False


def _anyio_peer(obj: Any) -> Peer | None:
    """The remote address of an anyio stream (``TLSStream`` forwards its
    transport's typed attributes), when anyio is in use."""
    anyio = sys.modules.get("anyio")
    extra = getattr(obj, "extra", None)
    if anyio is None or not callable(extra) or not hasattr(obj, "transport_stream"):
        return None
    try:
        return _from_sockaddr(extra(anyio.abc.SocketAttribute.remote_address), "anyio")
    except Exception:
        return None


def peer_from_frames(start: int = 2) -> Peer | None:
    """Look for an asyncio transport in the calling frames (best effort).

    Finds ``asyncio.sslproto.SSLProtocol`` (whose ``_transport`` knows the
    peer) and objects exposing ``get_extra_info("peername")``.
    """
    for obj in _callers(start):
        peer = _anyio_peer(obj)
        if peer is not None:
            return peer
        for candidate in (getattr(obj, "_transport", None), obj):
            get = getattr(candidate, "get_extra_info", None)
            if callable(get):
                try:
                    peer = _from_sockaddr(get("peername"), "transport")
                except Exception:
                    peer = None
                if peer is not None:
                    return peer
    return None
