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
from typing import Any

__all__ = [
    "CacheEntry",
    "CacheTimeout",
    "Loaded",
    "RevocationCache",
    "default_cache_dir",
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
    ) -> None:
        if memory_entries < 1 or memory_bytes < 1 or disk_entries < 1:
            raise ValueError("cache bounds must be positive")
        self.directory: Path | None = Path(directory) if directory is not None else None
        self.memory_entries = memory_entries
        self.memory_bytes = memory_bytes
        self.disk_entries = disk_entries
        self.lock_timeout = lock_timeout
        self.flight_timeout = flight_timeout
        self._lock = threading.Lock()
        self._mem: collections.OrderedDict[str, CacheEntry] = collections.OrderedDict()
        self._mem_size = 0
        self._flights: dict[str, _Flight] = {}
        self.stats: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        return f"RevocationCache(directory={str(self.directory) if self.directory else None!r}, entries={len(self._mem)})"

    # -- lookups -------------------------------------------------------------

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry for ``key`` (memory first, then disk), or ``None``.

        Never raises for I/O or corrupt files (a corrupt file is deleted).
        """
        with self._lock:
            entry = self._mem.get(key)
            if entry is not None:
                self._mem.move_to_end(key)
                self.stats["memory_hits"] += 1
                return entry
        entry = self._read_disk(key)
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
    ) -> CacheEntry:
        """Return an acceptable entry for ``key``, loading it at most once.

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

        Returns:
            the :class:`CacheEntry`.

        Raises:
            CacheTimeout: another thread's load did not finish in time.
            Exception: whatever ``loader`` raised.
        """
        ok = accept or _not_expired
        entry = self.get(key)
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
            result = self._lead(key, loader, ok, entry)
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
            self.stats["loads"] += 1
            result = loader(entry)
            if isinstance(result, CacheEntry):
                return result
            return self.put(key, result.data, expires=result.expires, metadata=result.metadata)

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


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


# -- cross-process file locks, chosen once at import ------------------------

_lock_file: Callable[[int, float], bool] | None
_unlock_file: Callable[[int], None] | None

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    try:
        import msvcrt

        def _win_lock(fd: int, timeout: float) -> bool:
            end = time.monotonic() + timeout
            while True:
                try:
                    os.lseek(fd, 0, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    return True
                except OSError:
                    if time.monotonic() >= end:
                        return False
                    time.sleep(0.05)

        def _win_unlock(fd: int) -> None:
            with contextlib.suppress(OSError):
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

        _lock_file, _unlock_file = _win_lock, _win_unlock
    except ImportError:
        _lock_file = _unlock_file = None
else:
    try:
        import fcntl

        def _posix_lock(fd: int, timeout: float) -> bool:
            end = time.monotonic() + timeout
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= end:
                        return False
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
                except OSError:  # pragma: no cover - e.g. NFS without locks
                    return False

        def _posix_unlock(fd: int) -> None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)

        _lock_file, _unlock_file = _posix_lock, _posix_unlock
    except ImportError:  # pragma: no cover
        _lock_file = _unlock_file = None
