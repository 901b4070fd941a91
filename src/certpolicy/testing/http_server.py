"""A small loopback HTTP server for tests: CRL distribution points, OCSP
responders and caIssuers URLs, with fault knobs.

It binds to 127.0.0.1 (or ::1) on a free port only, runs in a daemon thread,
counts requests per path, and can be told per route to answer with a status
code, garbage, an oversized body, or to stall.

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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

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
        if route is None:
            self._send(404, "text/plain", b"not found", Route())
            return
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
        self._send(status, ctype, payload, route)

    def _send(self, status: int, ctype: str, payload: bytes, route: Route) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            if not route.omit_length:
                self.send_header("Content-Length", str(len(payload)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            for k, v in route.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if route.drip:
                for i in range(len(payload)):
                    if self.server.owner._stopping.is_set():
                        return
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(route.drip)
            else:
                view = memoryview(payload)
                for off in range(0, len(payload), 1 << 16):
                    self.wfile.write(view[off : off + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve


class LoopbackHTTPServer:
    """A threaded HTTP server on loopback with per-route fault knobs.

    Args:
        host: ``"127.0.0.1"`` (default) or ``"::1"``; any other address is refused.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("LoopbackHTTPServer binds to loopback only")
        self.host = "127.0.0.1" if host == "localhost" else host
        self._routes: dict[str, Route] = {}
        self._hits: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[Request] = []
        cls = _IPv6Server if ":" in self.host else _Server
        self._server = cls((self.host, 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

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
        return r

    def hits(self, path: str) -> int:
        """Number of requests received for ``path``."""
        with self._lock:
            return self._hits[path]

    def reset_hits(self) -> None:
        with self._lock:
            self._hits.clear()
            self.requests.clear()

    def start(self) -> LoopbackHTTPServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackHTTPServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
