"""nginx as a real mTLS server for tests (``ssl_verify_client on``).

It answers like the agent's instance does when a client certificate is
unusable: ``400 Bad Request`` with "The SSL certificate error" (or "No
required SSL certificate was sent"). nginx runs as a child process (not a
daemon) on 127.0.0.1 with its prefix, config, pid and logs in a temporary
folder, and is killed by :meth:`NginxMtlsServer.stop`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["NGINX_CONF", "NginxMtlsServer", "nginx_binary"]

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {prefix}/server.chain.pem;
        ssl_certificate_key {prefix}/server.key;
        ssl_client_certificate {prefix}/trusted-cas.pem;
        ssl_verify_client on;
        ssl_verify_depth 3;
        location / {{ default_type text/plain; return 200 "hello $ssl_client_s_dn\\n"; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """Path of the nginx program, or ``None``."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxMtlsServer:
    """nginx requiring client certificates that chain to ``client_cas``.

    Args:
        server_chain: the server certificate chain (leaf first).
        server_key: its private key.
        client_cas: the trusted CA list for client certificates (e.g. the root only).

    Raises:
        RuntimeError: nginx is not installed or did not start.
    """

    def __init__(self, server_chain: Sequence[x509.Certificate], server_key: Any, client_cas: Sequence[x509.Certificate]) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install -y nginx-light)")
        self._binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="certpolicy-nginx-")
        self.prefix = Path(self._tmp.name)
        (self.prefix / "tmp").mkdir()
        pem = serialization.Encoding.PEM
        (self.prefix / "server.chain.pem").write_bytes(b"".join(c.public_bytes(pem) for c in server_chain))
        fd = os.open(self.prefix / "server.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (self.prefix / "trusted-cas.pem").write_bytes(b"".join(c.public_bytes(pem) for c in client_cas))
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    @property
    def trusted_cas_file(self) -> Path:
        return self.prefix / "trusted-cas.pem"

    def start(self) -> NginxMtlsServer:
        for _attempt in range(5):
            port = _free_port()
            (self.prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=self.prefix, port=port))
            proc = subprocess.Popen(
                [self._binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-e", str(self.prefix / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    self._proc, self.port = proc, port
                    return self
                except OSError:
                    time.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        log = (self.prefix / "error.log").read_text(errors="replace")[-2000:] if (self.prefix / "error.log").exists() else ""
        raise RuntimeError(f"nginx did not start: {log}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None
        self._tmp.cleanup()

    def __enter__(self) -> NginxMtlsServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
