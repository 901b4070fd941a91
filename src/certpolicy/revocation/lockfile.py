"""Cross-process lock files and directory fsync for the on-disk revocation cache (fcntl.flock on POSIX, msvcrt.locking on Windows).

:data:`lock_file` ``(fd, timeout) -> bool`` takes an exclusive lock on an
open file within ``timeout`` seconds; :data:`unlock_file` ``(fd)`` gives it
back; both are ``None`` on a platform with neither API (the cache then
single-flights within the process only). :func:`fsync_dir` makes a rename
durable.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_dir", "lock_file", "unlock_file"]


def fsync_dir(directory: Path) -> None:
    """``fsync`` a folder so a rename in it survives a crash (no-op on Windows)."""
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

lock_file: Callable[[int, float], bool] | None
unlock_file: Callable[[int], None] | None

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

        lock_file, unlock_file = _win_lock, _win_unlock
    except ImportError:
        lock_file = unlock_file = None
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

        lock_file, unlock_file = _posix_lock, _posix_unlock
    except ImportError:  # pragma: no cover
        lock_file = unlock_file = None
