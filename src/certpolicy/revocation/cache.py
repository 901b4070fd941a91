"""A generic revocation-data cache: bounded in-memory LRU + on-disk store.

The cache holds opaque byte strings (a DER CRL, a DER OCSP response, ...)
under a string key, with an advisory expiry time (the data's nextUpdate) and a
small JSON-able metadata mapping. It knows nothing about CRLs or OCSP: the
callers (:mod:`certpolicy.revocation.crl`, the OCSP check) parse and judge
the bytes. Everything is thread-safe; one :class:`RevocationCache` is meant to
be shared by every connection of a process (one per cache directory).

API (all times are timezone-aware UTC ``datetime`` objects)::

    cache = RevocationCache("/var/cache/certpolicy")   # None: memory only
    entry = cache.get("crl:http://crl.example/ca.crl")  # CacheEntry | None
    entry = cache.put(key, der, expires=next_update, metadata={"crl_number": 7})
    entry = cache.get_or_load(key, loader, accept=is_fresh)   # single flight
    cache.discard(key)

* :meth:`RevocationCache.get` looks in memory, then on disk (a disk hit is
  promoted to memory). It never raises for I/O or data problems.
* :meth:`RevocationCache.put` stores in memory and writes the disk file
  atomically: the bytes go to a temporary file in the same folder, which is
  ``fsync``-ed and then renamed over the old file (``os.replace``), so a crash
  leaves either the old or the new file, never a torn one.
* :meth:`RevocationCache.get_or_load` is the single-flight path: when no
  entry is acceptable (``accept(entry)`` is false or there is none), exactly
  one thread per process runs ``loader(current_entry)``; concurrent callers for
  the same key wait for that result (or the same exception). Across processes
  a lock file (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) is held
  while loading, and the disk file is re-read after the lock is taken, so a
  second process that waited finds the first one's download instead of making
  its own.

Keys are free text; the built-in users prefix them: ``"crl:<url>"`` for CRLs,
``"ocsp:<CertID hash>"`` for OCSP responses. Entries are *not* dropped when
their expiry passes (a stale CRL still proves revocation, SPEC "Checks"); the
caller decides with ``accept`` whether an entry is good enough.

On-disk format (one file per key, named after the SHA-256 of the key)::

    b"CPRCACH1"                 8 bytes magic
    header length               4 bytes, big-endian
    header                      JSON: {"key", "length", "sha256", "expires",
                                       "stored", "metadata"}
    data                        ``length`` bytes whose SHA-256 is ``sha256``

A file whose magic, header, key, length or digest does not match (cut short,
filled with garbage, written by another program) is logged, deleted and
treated as a miss: it is never trusted and never crashes the caller.

Bounds: ``memory_entries`` entries and ``memory_bytes`` bytes in memory (least
recently used evicted first); ``disk_entries`` files on disk (oldest
modification time removed first).

Shared store (a fleet): with ``shared=`` (a :class:`SharedStore`, such as
:class:`certpolicy.revocation.redis_store.RedisStore`), a miss in memory and
on disk is looked up in the shared store, and every load is written there
too. What comes back from the shared store is never trusted: it must decode
as a cache record for the same key, and then pass the caller's ``verify``
(the CRL and OCSP layers check the signature, issuer and freshness exactly
as for a fresh download); a record that fails is logged, deleted from the
store and replaced by a fresh load. :meth:`RevocationCache.get_or_load` then
single-flights across the fleet: one process takes the store's lock (a
lease shorter than the fetch timeout, renewed while it loads) and loads;
the others wait up to ``shared_wait`` seconds for its result and then load
themselves. Any store error or timeout degrades to the local cache and
direct loading, never to "no data".

Platform notes: on POSIX the cross-process lock is ``fcntl.flock`` on
``<digest>.lock`` next to the data file; on Windows ``msvcrt.locking`` on the
first byte of that file; on a platform with neither, only the in-process
single flight applies (two processes may then both download, which is safe
because writes are atomic).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .lockfile import fsync_dir as _fsync_dir
from .lockfile import lock_file as _lock_file
from .lockfile import unlock_file as _unlock_file

__all__ = [
    "CacheEntry",
    "CacheTimeout",
    "Loaded",
    "RevocationCache",
    "SharedStore",
    "default_cache_dir",
    "shared_store",
]

log = logging.getLogger("certpolicy.revocation.cache")

_MAGIC = b"CPRCACH1"
_MAX_HEADER = 64 * 1024
_SUFFIX = ".rc"


def default_cache_dir() -> Path:
    """Return the platform's default folder for the revocation cache.

    ``%LOCALAPPDATA%\\certpolicy\\revocation`` on Windows,
    ``$XDG_CACHE_HOME/certpolicy/revocation`` (default ``~/.cache``) elsewhere.
    An empty or relative ``XDG_CACHE_HOME`` / ``LOCALAPPDATA`` is ignored (the
    XDG Base Directory specification calls relative paths invalid; honouring
    one would put the cache under the current folder). The folder is not
    created here.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "")
        if not os.path.isabs(base):
            base = str(Path.home() / "AppData" / "Local")
        return Path(base) / "certpolicy" / "revocation"
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = str(Path.home() / ".cache")
    return Path(base) / "certpolicy" / "revocation"


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(_dt.timezone.utc).isoformat()


def _from_iso(value: Any) -> _dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    parsed = _dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    return parsed


@dataclass(frozen=True)
class CacheEntry:
    """One cached item.

    Attributes:
        key: the cache key (``str``).
        data: the cached bytes.
        expires: advisory expiry (the data's nextUpdate), UTC, or ``None``.
        stored: when the entry was stored (wall clock, UTC).
        metadata: JSON-able facts kept with the data (``{"crl_number": 7, ...}``).
        sha256: hex SHA-256 of ``data``.
        origin: ``"memory"``, ``"disk"`` or ``"loaded"`` (how this lookup found it).
    """

    key: str
    data: bytes
    expires: _dt.datetime | None
    stored: _dt.datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    sha256: str = ""
    origin: str = "memory"


@dataclass(frozen=True)
class Loaded:
    """What a loader passed to :meth:`RevocationCache.get_or_load` returns to
    have new data stored: ``data`` bytes, ``expires`` (UTC or ``None``) and
    ``metadata`` (JSON-able)."""

    data: bytes
    expires: _dt.datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


#: ``loader(current)`` -> new data to store (:class:`Loaded`), or an existing
#: :class:`CacheEntry` to keep (e.g. when the download is older than the cache).
Loader = Callable[[CacheEntry | None], "Loaded | CacheEntry"]


class SharedLease(Protocol):
    """A held fleet-wide lock (:meth:`SharedStore.acquire`)."""

    def release(self) -> None:
        """Give the lock back."""
        ...


class SharedStore(Protocol):
    """A store shared by many processes (the fleet's revocation cache).

    Every method is bounded in time and never raises: a failure is a miss
    (``None`` / ``False``). Records are opaque bytes (certpolicy's cache
    record of one entry); keys are cache keys, which the store hashes.
    """

    def get(self, key: str) -> bytes | None:
        """The record of ``key``, or ``None``."""
        ...

    def put(self, key: str, record: bytes, *, ttl: float) -> bool:
        """Store ``record`` for about ``ttl`` seconds; ``True`` when stored."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...

    def acquire(self, key: str, lease: float) -> SharedLease | None:
        """Take the fleet-wide lock of ``key`` for ``lease`` seconds (renewed
        while held), or ``None`` when another process holds it."""
        ...

    def locked(self, key: str) -> bool:
        """Whether another process holds the lock of ``key``."""
        ...


#: ``verify(entry) -> bool``: whether an entry read from the shared store may
#: be used (signature, issuer and freshness checked as for a download).
Verify = Callable[[CacheEntry], bool]


class CacheTimeout(TimeoutError):
    """Waiting for another thread's load of the same key took longer than allowed."""


class _Flight:
    __slots__ = ("error", "event", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: CacheEntry | None = None
        self.error: BaseException | None = None


class RevocationCache:
    """A bounded, thread-safe, restart-surviving cache of revocation data.

    Args:
        directory: folder of the on-disk store (created on first write, mode
            0o700); ``None`` keeps entries in memory only.
        memory_entries: most entries kept in memory (LRU).
        memory_bytes: most bytes of data kept in memory (LRU); an entry larger
            than this is still returned but not kept in memory.
        disk_entries: most files kept on disk (oldest removed first).
        lock_timeout: seconds to wait for another process's lock before
            loading without it.
        flight_timeout: seconds a thread waits for another thread's load of the
            same key before giving up with :class:`CacheTimeout`.
        shared: a :class:`SharedStore` shared by the fleet, or ``None``.
        shared_wait: seconds to wait for another process's load through the
            shared store before loading here (default 10).
        shared_lease: seconds of the shared lock's lease, renewed while
            loading (default 5; shorter than any fetch timeout).

    See the module docstring for the full contract.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        memory_entries: int = 128,
        memory_bytes: int = 256 * 1024 * 1024,
        disk_entries: int = 1024,
        lock_timeout: float = 30.0,
        flight_timeout: float = 120.0,
        shared: SharedStore | None = None,
        shared_wait: float = 10.0,
        shared_lease: float = 5.0,
    ) -> None:
        if memory_entries < 1 or memory_bytes < 1 or disk_entries < 1:
            raise ValueError("cache bounds must be positive")
        self.directory: Path | None = Path(directory) if directory is not None else None
        self.memory_entries = memory_entries
        self.memory_bytes = memory_bytes
        self.disk_entries = disk_entries
        self.lock_timeout = lock_timeout
        self.flight_timeout = flight_timeout
        self.shared = shared
        self.shared_wait = shared_wait
        self.shared_lease = shared_lease
        self._lock = threading.Lock()
        self._mem: collections.OrderedDict[str, CacheEntry] = collections.OrderedDict()
        self._mem_size = 0
        self._flights: dict[str, _Flight] = {}
        self.stats: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        shared = f", shared={self.shared!r}" if self.shared is not None else ""
        return f"RevocationCache(directory={str(self.directory) if self.directory else None!r}, entries={len(self._mem)}{shared})"

    # -- lookups -------------------------------------------------------------

    def get(self, key: str, *, verify: Verify | None = None) -> CacheEntry | None:
        """Return the entry for ``key`` (memory first, then disk, then the
        shared store), or ``None``.

        Args:
            key: cache key.
            verify: applied to an entry from the shared store (see
                :data:`Verify`); without it, shared entries are not used here.

        Never raises for I/O or corrupt files (a corrupt file is deleted).
        """
        with self._lock:
            entry = self._mem.get(key)
            if entry is not None:
                self._mem.move_to_end(key)
                self.stats["memory_hits"] += 1
                return entry
        entry = self._read_disk(key)
        if entry is None and verify is not None:
            entry = self._from_shared(key, verify)
            if entry is not None:
                return entry
        if entry is None:
            with self._lock:
                self.stats["misses"] += 1
            return None
        with self._lock:
            current = self._mem.get(key)
            if current is not None and current.stored >= entry.stored:
                return current
            self._remember(entry)
            self.stats["disk_hits"] += 1
        return entry

    def put(
        self,
        key: str,
        data: bytes,
        *,
        expires: _dt.datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CacheEntry:
        """Store ``data`` under ``key`` in memory and (when a directory is set) on disk.

        Args:
            key: cache key.
            data: the bytes to keep.
            expires: advisory expiry (aware ``datetime``) or ``None``.
            metadata: JSON-able mapping (non-JSON values are stored as text).

        Returns:
            the stored :class:`CacheEntry`.

        A failed disk write is logged and leaves the entry in memory only.
        """
        if expires is not None and expires.tzinfo is None:
            raise ValueError("expires must be timezone-aware")
        meta = json.loads(json.dumps(dict(metadata or {}), default=str))
        entry = CacheEntry(
            key=key,
            data=bytes(data),
            expires=expires,
            stored=_utcnow(),
            metadata=meta,
            sha256=hashlib.sha256(data).hexdigest(),
            origin="loaded",
        )
        with self._lock:
            self._remember(entry)
            self.stats["puts"] += 1
        self._write_disk(entry)
        return entry

    def discard(self, key: str) -> None:
        """Forget ``key`` in memory and on disk."""
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._mem_size -= len(old.data)
        path = self._path(key)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def clear_memory(self) -> None:
        """Drop every in-memory entry (disk files stay)."""
        with self._lock:
            self._mem.clear()
            self._mem_size = 0

    def keys(self) -> list[str]:
        """Keys held in memory (most recently used last)."""
        with self._lock:
            return list(self._mem)

    def get_or_load(
        self,
        key: str,
        loader: Loader,
        *,
        accept: Callable[[CacheEntry], bool] | None = None,
        timeout: float | None = None,
        verify: Verify | None = None,
    ) -> CacheEntry:
        """Return an acceptable entry for ``key``, loading it at most once
        per process (and, with a shared store and ``verify``, once per fleet).

        Args:
            key: cache key.
            loader: called as ``loader(current)`` with the current (unacceptable)
                entry or ``None``; returns :class:`Loaded` (stored and returned)
                or a :class:`CacheEntry` (returned as is, not stored again).
                It may raise; the exception reaches this caller and every
                caller that waited for the same load.
            accept: ``accept(entry) -> bool``; an entry it accepts is returned
                without loading. Default: not expired at the wall clock.
            timeout: seconds to wait for another thread's load (default
                ``flight_timeout``).
            verify: applied to entries from the shared store (:data:`Verify`);
                without it the shared store is not used for this key.

        Returns:
            the :class:`CacheEntry`.

        Raises:
            CacheTimeout: another thread's load did not finish in time.
            Exception: whatever ``loader`` raised.
        """
        ok = accept or _not_expired
        entry = self.get(key, verify=verify)
        if entry is not None and _safe_accept(ok, entry):
            return entry
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            self.stats["flight_waits"] += 1
            if not flight.event.wait(self.flight_timeout if timeout is None else timeout):
                raise CacheTimeout(f"timed out waiting for the load of {key!r}")
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        try:
            result = self._lead(key, loader, ok, entry, verify)
            flight.result = result
            return result
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.event.set()

    def _lead(
        self,
        key: str,
        loader: Loader,
        ok: Callable[[CacheEntry], bool],
        entry: CacheEntry | None,
        verify: Verify | None = None,
    ) -> CacheEntry:
        with self._lock:
            mem = self._mem.get(key)
        if mem is not None and mem is not entry and _safe_accept(ok, mem):
            return mem
        with self._process_lock(key):
            # Another process may have stored a newer file while we waited.
            disk = self._read_disk(key)
            if disk is not None:
                if _safe_accept(ok, disk):
                    with self._lock:
                        self._remember(disk)
                    return disk
                if entry is None or disk.stored > entry.stored:
                    entry = disk
            if self.shared is None or verify is None:
                return self._load(key, loader, entry, share=False)
            return self._lead_fleet(key, loader, ok, entry, verify)

    def _load(self, key: str, loader: Loader, entry: CacheEntry | None, *, share: bool) -> CacheEntry:
        self.stats["loads"] += 1
        result = loader(entry)
        if isinstance(result, CacheEntry):
            return result
        stored = self.put(key, result.data, expires=result.expires, metadata=result.metadata)
        if share:
            self._to_shared(stored)
        return stored

    # -- the shared store ------------------------------------------------------

    def _lead_fleet(
        self, key: str, loader: Loader, ok: Callable[[CacheEntry], bool], entry: CacheEntry | None, verify: Verify
    ) -> CacheEntry:
        """One load per fleet: the shared entry if acceptable; else the
        holder of the shared lock loads, the others wait (bounded) for it."""
        store = self.shared
        assert store is not None
        found = self._from_shared(key, verify)
        if found is not None and _safe_accept(ok, found):
            return found
        lease = store.acquire(key, self.shared_lease)
        if lease is None:
            deadline = time.monotonic() + self.shared_wait
            while time.monotonic() < deadline and store.locked(key):
                time.sleep(0.02)
                found = self._from_shared(key, verify)
                if found is not None and _safe_accept(ok, found):
                    self.stats["shared_waits"] += 1
                    return found
            found = self._from_shared(key, verify)
            if found is not None and _safe_accept(ok, found):
                return found
            return self._load(key, loader, found or entry, share=True)
        try:
            found = self._from_shared(key, verify)  # loaded by another process just before
            if found is not None and _safe_accept(ok, found):
                return found
            return self._load(key, loader, found or entry, share=True)
        finally:
            lease.release()

    def _from_shared(self, key: str, verify: Verify) -> CacheEntry | None:
        """The shared store's entry for ``key``, decoded and verified, kept
        in memory and on disk; ``None`` (and the record deleted) otherwise."""
        store = self.shared
        if store is None:
            return None
        record = store.get(key)
        if record is None:
            return None
        try:
            entry = _decode(record, key)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            self._poisoned(key, f"undecodable record ({e})")
            return None
        entry = CacheEntry(entry.key, entry.data, entry.expires, entry.stored, entry.metadata, entry.sha256, "shared")
        try:
            good = bool(verify(entry))
        except Exception as e:  # a verifier bug: the record is not used
            good = False
            log.debug("revocation cache: verify raised %s", e, exc_info=True)
        if not good:
            self._poisoned(key, "it did not verify (signature, issuer or freshness)")
            return None
        with self._lock:
            self.stats["shared_hits"] += 1
            self._remember(entry)
        self._write_disk(entry)
        return entry

    def _poisoned(self, key: str, why: str) -> None:
        log.warning(
            "revocation cache: ignoring the shared store's entry for %r: %s; fetching afresh", key, why,
            extra={"event": "shared-cache-rejected", "cache_key": key},
        )
        with self._lock:
            self.stats["shared_rejected"] += 1
        if self.shared is not None:
            self.shared.delete(key)

    def _to_shared(self, entry: CacheEntry) -> None:
        if self.shared is None:
            return
        ttl = (entry.expires - _utcnow()).total_seconds() if entry.expires is not None else 86400.0
        self.shared.put(entry.key, _encode(entry), ttl=max(ttl, 60.0))

    # -- memory --------------------------------------------------------------

    def _remember(self, entry: CacheEntry) -> None:
        # caller holds self._lock
        old = self._mem.pop(entry.key, None)
        if old is not None:
            self._mem_size -= len(old.data)
        if len(entry.data) > self.memory_bytes:
            return
        self._mem[entry.key] = entry
        self._mem_size += len(entry.data)
        while self._mem and (
            len(self._mem) > self.memory_entries or self._mem_size > self.memory_bytes
        ):
            _, evicted = self._mem.popitem(last=False)
            self._mem_size -= len(evicted.data)
            self.stats["evictions"] += 1

    # -- disk ----------------------------------------------------------------

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return self.directory / (digest + _SUFFIX)

    def _read_disk(self, key: str) -> CacheEntry | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("revocation cache: cannot read %s: %s", path, e)
            return None
        try:
            entry = _decode(raw, key)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            log.warning(
                "revocation cache: discarding corrupt file %s for %r: %s", path, key, e,
                extra={"event": "cache-corrupt", "cache_key": key, "path": str(path)},
            )
            with self._lock:
                self.stats["corrupt"] += 1
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return entry

    def _write_disk(self, entry: CacheEntry) -> None:
        path = self._path(entry.key)
        if path is None:
            return
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            blob = _encode(entry)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=_SUFFIX)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(self.directory)
        except OSError as e:
            log.warning("revocation cache: cannot write %s: %s (kept in memory only)", path, e)
            return
        self._prune_disk()

    def _prune_disk(self) -> None:
        assert self.directory is not None
        try:
            files = [p for p in self.directory.iterdir() if p.suffix == _SUFFIX and not p.name.startswith(".tmp-")]
            if len(files) <= self.disk_entries:
                return
            files.sort(key=lambda p: p.stat().st_mtime)
            for p in files[: len(files) - self.disk_entries]:
                with contextlib.suppress(OSError):
                    p.unlink()
                with contextlib.suppress(OSError):
                    p.with_suffix(".lock").unlink()
        except OSError as e:  # pragma: no cover - racing deletes
            log.debug("revocation cache: prune failed: %s", e)

    @contextlib.contextmanager
    def _process_lock(self, key: str) -> Iterator[None]:
        path = self._path(key)
        if path is None or _lock_file is None:
            yield
            return
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            log.warning("revocation cache: no lock file for %r (%s); loading without it", key, e)
            yield
            return
        try:
            locked = _lock_file(fd, self.lock_timeout)
            if not locked:
                log.warning(
                    "revocation cache: lock for %r still held after %.1f s; loading without it",
                    key, self.lock_timeout,
                )
            try:
                yield
            finally:
                if locked and _unlock_file is not None:
                    _unlock_file(fd)
        finally:
            os.close(fd)


_stores_lock = threading.Lock()
_stores: collections.OrderedDict[str, SharedStore] = collections.OrderedDict()
#: Shared stores kept open at most (one per distinct URL).
MAX_STORES = 16


def shared_store(url: str | None) -> SharedStore | None:
    """The process's :class:`SharedStore` for a ``revocation_cache`` URL (one
    per URL, at most :data:`MAX_STORES`), or ``None`` for ``None``.

    Raises:
        ImportError: the ``redis`` package is missing (``certpolicy[redis]``).
        ValueError: an unsupported URL.
    """
    if not url:
        return None
    with _stores_lock:
        store = _stores.get(url)
        if store is not None:
            _stores.move_to_end(url)
            return store
    from .redis_store import RedisStore  # only when a policy names a shared store

    made = RedisStore(url)
    with _stores_lock:
        store = _stores.setdefault(url, made)
        while len(_stores) > MAX_STORES:
            _stores.popitem(last=False)
    return store


def _not_expired(entry: CacheEntry) -> bool:
    return entry.expires is None or entry.expires > _utcnow()


def _safe_accept(accept: Callable[[CacheEntry], bool], entry: CacheEntry) -> bool:
    return bool(accept(entry))


def _encode(entry: CacheEntry) -> bytes:
    header = json.dumps(
        {
            "key": entry.key,
            "length": len(entry.data),
            "sha256": entry.sha256,
            "expires": _iso(entry.expires),
            "stored": _iso(entry.stored),
            "metadata": dict(entry.metadata),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    return _MAGIC + len(header).to_bytes(4, "big") + header + entry.data


def _decode(raw: bytes, key: str) -> CacheEntry:
    if len(raw) < len(_MAGIC) + 4 or not raw.startswith(_MAGIC):
        raise ValueError("bad magic (not a certpolicy cache file)")
    hlen = int.from_bytes(raw[len(_MAGIC) : len(_MAGIC) + 4], "big")
    if hlen <= 0 or hlen > _MAX_HEADER:
        raise ValueError(f"bad header length {hlen}")
    start = len(_MAGIC) + 4
    header = json.loads(raw[start : start + hlen].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    if header["key"] != key:
        raise ValueError("file belongs to another key")
    data = raw[start + hlen :]
    length = header["length"]
    if not isinstance(length, int) or length != len(data):
        raise ValueError(f"length mismatch: header says {length}, file holds {len(data)} bytes")
    digest = hashlib.sha256(data).hexdigest()
    if digest != header["sha256"]:
        raise ValueError("SHA-256 mismatch")
    stored = _from_iso(header["stored"])
    metadata = header.get("metadata") or {}
    if stored is None or not isinstance(metadata, dict):
        raise ValueError("bad header fields")
    return CacheEntry(
        key=key,
        data=data,
        expires=_from_iso(header.get("expires")),
        stored=stored,
        metadata=metadata,
        sha256=digest,
        origin="disk",
    )
