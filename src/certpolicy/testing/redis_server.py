"""A throwaway ``redis-server`` on a free loopback port, for tests of the shared revocation cache.

No persistence (``--save ""``, no AOF), bound to 127.0.0.1 only, started in
well under a second, stopped (or killed and restarted, to test an outage)
by the test. Needs the ``redis-server`` program (``.ci/run`` installs it).

Example::

    with RedisServer() as srv:
        store = RedisStore(srv.url)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

from .tls_server import free_port

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` (or ``valkey-server``) program, or ``None``."""
    return shutil.which("redis-server") or shutil.which("valkey-server")


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port.

    Args:
        password: require this password (``requirepass``), or ``None``.

    Raises:
        RuntimeError: no ``redis-server`` program, or it did not start.
    """

    def __init__(self, *, password: str | None = None) -> None:
        exe = redis_server_binary()
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self._exe = exe
        self.password = password
        self.host = "127.0.0.1"
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="certpolicy-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (with the password when set)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart on the same port) and wait until it answers."""
        args = [self._exe, "--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no",
                "--dir", self._dir.name, "--protected-mode", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"redis-server exited: {err}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """Kill the server at once (an outage); :meth:`start` brings it back."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop the server."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._dir.cleanup()
