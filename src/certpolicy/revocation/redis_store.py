"""The shared revocation store on Redis (or Valkey): one copy of each CRL and OCSP answer for a whole fleet, with fleet-wide single flight.

Optional: needs the ``redis`` package (``pip install 'certpolicy[redis]'``)
and is imported only when a policy names a ``revocation_cache`` URL.
:class:`RedisStore` implements :class:`certpolicy.revocation.cache.SharedStore`.

What it guarantees:

* **Bounded**: every call has a socket timeout (default 0.2 s, connect and
  read); after a failure the store is considered down for ``retry_after``
  seconds (default 5 s) and every call returns at once as a miss, so a dead
  Redis costs one timeout per interval, not one per handshake. Recovery is
  automatic.
* **Never trusted**: values are certpolicy's cache records (magic, header
  with key, length and SHA-256, then the data, zlib-compressed) and a record
  that does not decode is a miss; the caller then re-verifies what decodes
  (signature, issuer, thisUpdate/nextUpdate) exactly as a fresh download.
* **Keys** are ``<namespace><sha256 of the cache key>``: never built from
  unescaped input.
* **Fleet single flight**: :meth:`RedisStore.acquire` is ``SET NX PX`` with a
  random token and a lease; :class:`Lease` renews it while the holder fetches
  and releases it only if it still holds it (compare-and-delete in Lua).

URLs: ``redis://[user:password@]host:6379/0``, ``rediss://...`` (TLS),
``unix:///path/redis.sock``, ``redis+sentinel://host:26379[,host2:26379]/<service>/0``
(also ``rediss+sentinel``), ``redis+cluster://host:7000`` (also
``rediss+cluster``). An ACL user and password come from the URL, or the
password from the environment variable named by ``password_env`` (default
``CERTPOLICY_REDIS_PASSWORD``) when the URL has none.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import urllib.parse
import zlib
from typing import Any

__all__ = ["DEFAULT_NAMESPACE", "Lease", "RedisStore", "StoreUnavailable"]

log = logging.getLogger("certpolicy.revocation.cache")

DEFAULT_NAMESPACE = "certpolicy:rc:v1:"
#: The environment variable read for the password when the URL has none.
PASSWORD_ENV = "CERTPOLICY_REDIS_PASSWORD"
_COMPRESSED = b"CPZ1"
#: Largest record accepted from the store, in bytes (compressed and not).
MAX_RECORD = 64 * 1024 * 1024

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class StoreUnavailable(Exception):
    """The shared store could not be reached (or is in its back-off window)."""


class Lease:
    """A fleet-wide lock on one cache key, held while its holder fetches.

    The lease lasts ``lease`` seconds and is renewed every ``lease / 3``
    seconds by a daemon thread until :meth:`release`; if the holder dies, it
    expires by itself. Use as a context manager.
    """

    def __init__(self, store: RedisStore, name: str, token: str, lease: float) -> None:
        self._store = store
        self._name = name
        self._token = token
        self._lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="certpolicy-redis-lease")
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self._lease / 3):
            if not self._store._call(lambda c: c.eval(_RENEW, 1, self._name, self._token, int(self._lease * 1000))):
                return  # lost (expired or store down): the waiters will fetch themselves

    def release(self) -> None:
        """Give the lock back (only if this lease still holds it)."""
        self._stop.set()
        self._store._call(lambda c: c.eval(_RELEASE, 1, self._name, self._token))

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RedisStore:
    """A :class:`~certpolicy.revocation.cache.SharedStore` on Redis ≥ 6 or Valkey.

    Args:
        url: the server (see the module docstring for the forms).
        namespace: prefix of every key (default :data:`DEFAULT_NAMESPACE`).
        timeout: seconds per call, connect and read (default 0.2).
        retry_after: seconds the store stays "down" after a failure (default 5).
        password_env: environment variable holding the password when the URL
            has none (default ``CERTPOLICY_REDIS_PASSWORD``).
        ttl_margin: seconds an entry outlives its expiry in the store (a stale
            CRL still proves revocation; default 7 days).

    Raises:
        ImportError: the ``redis`` package is not installed (the message says
            which extra to install).
        ValueError: an unsupported URL.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        timeout: float = 0.2,
        retry_after: float = 5.0,
        password_env: str = PASSWORD_ENV,
        ttl_margin: float = 7 * 86400.0,
    ) -> None:
        try:
            import redis  # noqa: F401
        except ImportError as e:  # pragma: no cover - the extra is installed in tests
            raise ImportError("a redis revocation cache needs the redis package: pip install 'certpolicy[redis]'") from e
        self.url = url
        self.namespace = namespace
        self.timeout = float(timeout)
        self.retry_after = float(retry_after)
        self.ttl_margin = float(ttl_margin)
        self._password = os.environ.get(password_env) if password_env else None
        self._client = self._connect(url)
        self._down_until = 0.0
        self._lock = threading.Lock()
        self.stats: dict[str, int] = {"errors": 0, "hits": 0, "misses": 0, "puts": 0, "corrupt": 0}

    def __repr__(self) -> str:
        return f"RedisStore({_redacted(self.url)!r})"

    # -- connection --------------------------------------------------------------

    def _connect(self, url: str) -> Any:
        import redis

        u = urllib.parse.urlsplit(url)
        scheme = u.scheme.lower()
        common: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry_on_timeout": False,
        }
        if self._password and not u.password:
            common["password"] = self._password
        if scheme in ("redis", "rediss", "unix"):
            return redis.Redis.from_url(url, **common)
        if scheme in ("redis+sentinel", "rediss+sentinel"):
            from redis.sentinel import Sentinel

            parts = [p for p in u.path.split("/") if p]
            if not parts:
                raise ValueError("a sentinel URL names its service: redis+sentinel://host:26379/<service>/0")
            service, db = parts[0], int(parts[1]) if len(parts) > 1 else 0
            hosts = []
            for item in u.netloc.rsplit("@", 1)[-1].split(","):
                host, _, port = item.rpartition(":")
                hosts.append((host or item, int(port) if host else 26379))
            kwargs = dict(common, db=db, ssl=scheme.startswith("rediss"))
            if u.username:
                kwargs["username"] = urllib.parse.unquote(u.username)
            if u.password:
                kwargs["password"] = urllib.parse.unquote(u.password)
            sentinel = Sentinel(hosts, socket_timeout=self.timeout, sentinel_kwargs={"socket_timeout": self.timeout})
            return sentinel.master_for(service, **kwargs)
        if scheme in ("redis+cluster", "rediss+cluster"):
            from redis.cluster import RedisCluster

            plain = url.replace("+cluster", "", 1)
            return RedisCluster.from_url(plain, **common)
        raise ValueError(f"unsupported revocation cache URL scheme {u.scheme!r} (redis, rediss, unix, redis+sentinel, redis+cluster)")

    def _call(self, fn: Any) -> Any:
        """Run ``fn(client)``; ``None`` on any error (logged, store marked down)."""
        now = time.monotonic()
        if now < self._down_until:
            return None
        try:
            return fn(self._client)
        except Exception as e:  # every Redis failure degrades to "not shared"
            with self._lock:
                self.stats["errors"] += 1
                first = self._down_until <= now
                self._down_until = time.monotonic() + self.retry_after
            if first:
                log.warning(
                    "shared revocation cache %s unavailable (%s: %s); using the local cache for %.0f s",
                    _redacted(self.url), type(e).__name__, e, self.retry_after,
                    extra={"event": "shared-cache-down", "url": _redacted(self.url)},
                )
            return None

    @property
    def available(self) -> bool:
        """``False`` while the store is in its back-off window after a failure."""
        return time.monotonic() >= self._down_until

    def name_of(self, key: str) -> str:
        """The Redis key of cache key ``key`` (namespace + SHA-256, hex)."""
        import hashlib

        return self.namespace + hashlib.sha256(key.encode("utf-8")).hexdigest()

    # -- records -------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The record stored under ``key``, decompressed, or ``None`` (a miss,
        the store down, or a record that is not certpolicy's)."""
        raw = self._call(lambda c: c.get(self.name_of(key)))
        if raw is None:
            self.stats["misses"] += 1
            return None
        record = _decompress(bytes(raw))
        if record is None:
            self.stats["corrupt"] += 1
            log.warning("shared revocation cache: discarding an undecodable record for %r", key)
            return None
        self.stats["hits"] += 1
        return record

    def put(self, key: str, record: bytes, *, ttl: float) -> bool:
        """Store ``record`` (compressed) for ``ttl`` seconds plus ``ttl_margin``.

        Returns:
            ``True`` when stored.
        """
        blob = _COMPRESSED + zlib.compress(record, 1)  # fast: a 2.6 MB CRL in about 6 ms, to 0.2 MB
        seconds = max(1, int(ttl + self.ttl_margin))
        ok = self._call(lambda c: c.set(self.name_of(key), blob, ex=seconds))
        if ok:
            self.stats["puts"] += 1
        return bool(ok)

    def delete(self, key: str) -> None:
        """Forget ``key`` in the store."""
        self._call(lambda c: c.delete(self.name_of(key)))

    # -- fleet single flight ---------------------------------------------------------

    def acquire(self, key: str, lease: float) -> Lease | None:
        """Try to take the fleet-wide lock of ``key`` for ``lease`` seconds.

        Returns:
            a :class:`Lease` (renewed until released), or ``None`` when another
            process holds it or the store is down.
        """
        name = self.name_of(key) + ":lock"
        token = secrets.token_hex(16)
        ok = self._call(lambda c: c.set(name, token, nx=True, px=max(1, int(lease * 1000))))
        if not ok:
            return None
        return Lease(self, name, token, lease)

    def locked(self, key: str) -> bool:
        """Whether some process holds the lock of ``key`` (``False`` when down)."""
        return bool(self._call(lambda c: c.exists(self.name_of(key) + ":lock")))

    def close(self) -> None:
        """Close the connections."""
        try:
            self._client.close()
        except Exception:  # pragma: no cover - closing a dead connection
            pass


def _decompress(raw: bytes) -> bytes | None:
    if len(raw) > MAX_RECORD or not raw.startswith(_COMPRESSED):
        return None
    try:
        d = zlib.decompressobj()
        out = d.decompress(raw[len(_COMPRESSED) :], MAX_RECORD + 1)
        if len(out) > MAX_RECORD or d.unconsumed_tail or not d.eof:
            return None
        return out
    except zlib.error:
        return None


def _redacted(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    if u.password:
        netloc = u.netloc.replace(":" + u.password + "@", ":***@")
        return urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))
    return url
