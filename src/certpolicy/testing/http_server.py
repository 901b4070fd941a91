"""A small loopback HTTP server for tests: CRL distribution points, OCSP
responders and caIssuers URLs, with fault knobs.

It binds to 127.0.0.1 (or ::1) on a free port only, runs in a daemon thread,
counts requests per path, and can be told per route to answer with a status
code, garbage, an oversized body, or to stall. It speaks the fault vocabulary
of :mod:`certpolicy.testing.faults` (``srv.fault("http_500", path="/ca.crl")``)
and records what it was asked (``srv.count``, ``srv.paths``, ``srv.timestamps``).

Example::

    with LoopbackHTTPServer() as srv:
        srv.route("/ca.crl", crl.public_bytes(Encoding.DER), "application/pkix-crl")
        url = srv.url("/ca.crl")
        ...
        assert srv.hits("/ca.crl") == 1
"""

from __future__ import annotations

import collections
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .faults import CONTENT_FAULTS, FAULTS, Fault, FaultInjectable, garbage_bytes, wait_while

__all__ = ["LoopbackHTTPServer", "Request", "Route"]


@dataclass(frozen=True)
class Request:
    """A request as the route handler sees it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


#: A dynamic handler: request -> (status, content type, body).
Handler = Callable[[Request], tuple[int, str, bytes]]


@dataclass
class Route:
    """What the server answers on one path.

    Attributes:
        body: static body bytes (ignored when ``handler`` is set).
        content_type: ``Content-Type`` of the answer.
        status: HTTP status code.
        handler: a callable computing ``(status, content_type, body)`` per request.
        stall: seconds to wait before answering (a stalled server).
        drip: when set, send the body one byte every ``drip`` seconds.
        fail_first: answer ``fail_status`` to the first N requests, then normally.
        fail_status: the status used while ``fail_first`` lasts.
        headers: extra response headers.
        omit_length: do not send ``Content-Length`` (forces counting on the client).
        faults: another fault source for this route (the OCSP responder or
            CRL server that owns it): its faults apply to the route's requests,
            and it records them too.
    """

    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    handler: Handler | None = None
    stall: float = 0.0
    drip: float | None = None
    fail_first: int = 0
    fail_status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    omit_length: bool = False
    faults: FaultInjectable | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LoopbackHTTPServer


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
        with owner._lock:
            owner._hits[path] += 1
            owner.requests.append(req)
            count = owner._hits[path]
            route = owner._routes.get(path)
            if route is None:
                route = next(
                    (r for p, r in owner._routes.items() if p.endswith("*") and path.startswith(p[:-1])),
                    None,
                )
        sources: list[FaultInjectable] = [owner]
        owner._record(self.command, path, self.client_address)
        if route is not None and route.faults is not None:
            sources.append(route.faults)
            route.faults._record(self.command, path, self.client_address)

        def active(*names: str) -> Fault | None:
            for src in reversed(sources):
                f = src.active_fault(*names, path=path)
                if f is not None:
                    return f
            return None

        if active("reset") is not None:
            self._reset()
            return
        stall = active("stall")
        if stall is not None:
            wait_while(lambda: active("stall") is not None, float(stall.get("seconds", 60.0)), owner._stopping)
            self.close_connection = True
            return
        slow = active("slow")
        if slow is not None:
            wait_while(lambda: True, float(slow.get("seconds", 1.0)), owner._stopping)
        if route is None:
            route = Route()
            status, ctype, payload = 404, "text/plain", b"not found"
        else:
            if route.stall:
                end = time.monotonic() + route.stall
                while time.monotonic() < end and not owner._stopping.is_set():
                    time.sleep(0.02)
            if count <= route.fail_first:
                self._send(route.fail_status, "text/html", b"<html><body>Service Unavailable</body></html>", route)
                return
            if route.handler is not None:
                status, ctype, payload = route.handler(req)
            else:
                status, ctype, payload = route.status, route.content_type, route.body
        omit_length = route.omit_length
        err = active("http_500")
        if err is not None:
            status, ctype, payload = int(err.get("status", 500)), "text/html", b"<html><body>Internal Server Error</body></html>"
        garbage = active("garbage")
        if garbage is not None:
            payload = garbage_bytes(int(garbage.get("size", 256)))
        big = active("oversized")
        if big is not None:
            size = int(big.get("size", 21_000_000))
            payload = (payload + b"\x00" * size)[:size]
            omit_length = omit_length or big.get("length", True) is False
        drip = active("drip")
        self._send(
            status, ctype, payload, route,
            drip=float(drip.get("interval", 0.05)) if drip is not None else None,
            omit_length=omit_length,
        )

    def _reset(self) -> None:
        """Close with an RST (SO_LINGER 0): the client sees "connection reset"."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _send(
        self, status: int, ctype: str, payload: bytes, route: Route, *,
        drip: float | None = None, omit_length: bool | None = None,
    ) -> None:
        drip = drip if drip is not None else route.drip
        omit_length = route.omit_length if omit_length is None else omit_length
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            if not omit_length:
                self.send_header("Content-Length", str(len(payload)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            for k, v in route.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if drip:
                for i in range(len(payload)):
                    if self.server.owner._stopping.is_set():
                        return
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(drip)
            else:
                view = memoryview(payload)
                for off in range(0, len(payload), 1 << 16):
                    self.wfile.write(view[off : off + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve


class LoopbackHTTPServer(FaultInjectable):
    """A threaded HTTP server on loopback with per-route fault knobs and the
    fault vocabulary of :mod:`certpolicy.testing.faults` (the transport
    faults: ``slow``, ``stall``, ``drip``, ``http_500``, ``oversized``,
    ``garbage``, ``refuse``, ``reset``; each takes ``path=`` to hit one route).

    Args:
        host: ``"127.0.0.1"`` (default) or ``"::1"``; any other address is refused.

    Raises:
        ValueError: a host that is not loopback.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    supported_faults = frozenset(FAULTS) - CONTENT_FAULTS

    def __init__(self, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("LoopbackHTTPServer binds to loopback only")
        self.host = "127.0.0.1" if host == "localhost" else host
        self._init_faults()
        self._routes: dict[str, Route] = {}
        self._hits: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[Request] = []
        self._sources: list[FaultInjectable] = []
        self._server = self._bind(0)
        self._port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None
        self._running = False
        self._refusing = False
        self._listening = False
        self._closed = False

    def _bind(self, port: int) -> _Server:
        cls = _IPv6Server if ":" in self.host else _Server
        server = cls((self.host, port), _Handler)
        server.owner = self
        return server

    @property
    def port(self) -> int:
        """The TCP port (fixed for the server's life, ``refuse`` included)."""
        return self._port

    def url(self, path: str = "/") -> str:
        """Absolute ``http://`` URL of ``path`` on this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, body: bytes = b"", content_type: str = "application/octet-stream", **knobs: Any) -> Route:
        """Serve ``body`` on ``path`` (a trailing ``*`` matches a prefix); knobs
        are :class:`Route` fields. Returns the route (mutable)."""
        r = Route(body=body, content_type=content_type, **knobs)
        with self._lock:
            self._routes[path] = r
            if r.faults is not None and r.faults not in self._sources:
                self._sources.append(r.faults)
        return r

    def hits(self, path: str) -> int:
        """Number of requests received for ``path``."""
        with self._lock:
            return self._hits[path]

    def reset_hits(self) -> None:
        """Forget the requests received (:meth:`hits`, :attr:`requests` and the record)."""
        with self._lock:
            self._hits.clear()
            self.requests.clear()
        self.reset_record()

    def start(self) -> LoopbackHTTPServer:
        """Start serving in a daemon thread; returns ``self``."""
        with self._lock:
            self._running = True
            self._stopping.clear()
            self._apply_listening()
        return self

    def _serve_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"certpolicy-http-{self._port}",
        )
        self._thread.start()

    def _faults_changed(self) -> None:
        want = any(src.active_fault("refuse") is not None for src in [self, *self._sources])
        with self._lock:
            self._refusing = want
            self._apply_listening()

    def _apply_listening(self) -> None:
        """Listen exactly when running and not refusing (called under ``_lock``)."""
        listen = self._running and not self._refusing
        if listen and not self._listening:
            if self._closed:
                self._server = self._bind(self._port)
                self._closed = False
            self._serve_thread()
            self._listening = True
        elif not listen and self._listening:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._listening = False
            self._closed = True

    def stop(self) -> None:
        """Stop serving and close the port (stalled answers end at once)."""
        self._stopping.set()
        with self._lock:
            self._running = False
            self._apply_listening()
            if not self._closed:
                self._server.server_close()
                self._closed = True

    def __enter__(self) -> LoopbackHTTPServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
