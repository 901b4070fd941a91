"""A loopback HTTPS server standing in for a policy server and for the instance's REST Table API.

Shape of the Table API answer it serves (``GET /api/now/table/<table>``), as
ServiceNow's Table API gives it::

    {"result": [
        {"sys_id": "...", "name": "instance", "type": "instance",
         "target": "127.0.0.1", "active": "true", "order": "100",
         "check_cert_chain": "true", "check_cert_hostname": "true",
         "check_cert_ocsp": "false", "check_cert_crl": "false"},
        ...]}

Values are strings, as the Table API returns them. Paging honours
``sysparm_limit`` / ``sysparm_offset``; ``Authorization`` is checked when
``credentials`` is set; ``ETag`` / ``If-None-Match`` on the document route.
``mode`` switches faults on: ``"500"``, ``"garbage"``, ``"huge"`` (50 MB),
``"slow"`` (stalls ``slow_seconds``), ``"redirect"`` (302 to ``redirect_to``);
``raw_body`` (with ``content_type``) is served as is.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from certpolicy.testing.tls_server import _write_identity


class PolicyServer:
    """The server. ``rows`` (Table API rows) and ``document`` (a table
    document served at ``/policy.json``) may be changed at any time."""

    def __init__(self, identity: Any, tmp: Any, *, credentials: str | None = None) -> None:
        cert, key = _write_identity(tmp, identity.chain, identity.key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.rows: list[dict[str, Any]] = []
        self.document: Any = {}
        self.mode = "ok"
        self.redirect_to = ""
        self.raw_body: bytes | None = None
        self.content_type = "application/json"
        self.slow_seconds = 3.0
        self.credentials = credentials
        self.requests: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if owner.credentials is not None and self.headers.get("Authorization") != owner.credentials:
                    self._send(401, b'{"error": "unauthorised"}')
                    return
                if owner.mode == "slow":
                    time.sleep(owner.slow_seconds)
                if owner.mode == "500":
                    self._send(500, b"internal error")
                    return
                if owner.mode == "garbage":
                    self._send(200, b"\x00\xff<html>not json")
                    return
                if owner.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if owner.raw_body is not None:
                    self._send(200, owner.raw_body)
                    return
                if owner.mode == "huge":
                    self._send(200, b" " * (50 * 1024 * 1024))
                    return
                u = urllib.parse.urlsplit(self.path)
                if u.path.startswith("/api/now/table/"):
                    q = urllib.parse.parse_qs(u.query)
                    limit = int(q.get("sysparm_limit", ["10000"])[0])
                    offset = int(q.get("sysparm_offset", ["0"])[0])
                    body = json.dumps({"result": owner.rows[offset : offset + limit]}).encode()
                    self._send(200, body)
                    return
                body = json.dumps(owner.document).encode()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", etag=etag)
                    return
                self._send(200, body, etag=etag)

            def _send(self, status: int, body: bytes, etag: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    @property
    def instance(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> PolicyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def api_row(name: str, kind: str, target: str, *, chain: bool = True, hostname: bool = True, order: int = 100) -> dict[str, str]:
    """One Table API row, values as strings."""
    return {
        "sys_id": hashlib.sha256(name.encode()).hexdigest()[:32],
        "name": name,
        "type": kind,
        "target": target,
        "active": "true",
        "order": str(order),
        "check_cert_chain": "true" if chain else "false",
        "check_cert_hostname": "true" if hostname else "false",
        "check_cert_ocsp": "false",
        "check_cert_crl": "false",
    }
