"""The last-known-good file: the last table accepted from a remote source, kept on disk for the next start.

Written atomically (a temporary file in the same folder, ``fsync``, then
``os.replace``) with mode ``0600`` (it may name internal hosts), as one JSON
object::

    {"format": "certpolicy-last-known-good/1", "source": "https://...",
     "digest": "sha256:...", "saved_at": "2026-12-04T21:00:00+00:00",
     "document": <the table document the source returned>}
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import Any

from ..tablediff import document_digest

__all__ = ["FORMAT", "LastKnownGood", "SavedTable"]

log = logging.getLogger("certpolicy.sync")

FORMAT = "certpolicy-last-known-good/1"
#: Largest last-known-good file read, in bytes.
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SavedTable:
    """What the file holds: the ``source`` name, the ``digest`` and
    ``saved_at`` time of the save, and the ``document``."""

    source: str
    digest: str
    saved_at: str
    document: Any


class LastKnownGood:
    """One last-known-good file.

    Args:
        path: the file (its folder is created, mode 0700, when missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"LastKnownGood({self.path!r})"

    def save(self, source: str, document: Any) -> None:
        """Replace the file with ``document`` (atomically, mode 0600).

        Raises:
            OSError: the file cannot be written (the old one is left as it was).
        """
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, mode=0o700, exist_ok=True)
        data = {
            "format": FORMAT,
            "source": source,
            "digest": document_digest(document),
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "document": document,
        }
        fd, tmp = tempfile.mkstemp(prefix=".certpolicy-lkg-", dir=folder)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def load(self, source: str | None = None) -> SavedTable | None:
        """The saved table, or ``None`` when there is no usable file: missing,
        unreadable, not this format, a digest that does not match its
        document (a damaged file is never used), saved from another source
        than ``source``, or (POSIX) a symbolic link, a file another user owns
        or one that others may write (a planted table is never used).

        Args:
            source: the name of the source asking (``None``: any).
        """
        why = self._unsafe()
        if why is not None:
            log.warning("certpolicy: the last-known-good file %s is not used: %s", self.path, why)
            return None
        try:
            with open(self.path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        except OSError:
            return None
        if len(raw) > MAX_BYTES:
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT or "document" not in data:
            return None
        document = data["document"]
        if data.get("digest") != document_digest(document):
            log.warning("certpolicy: the last-known-good file %s is damaged (digest mismatch); not used", self.path)
            return None
        if source is not None and data.get("source") != source:
            log.warning("certpolicy: the last-known-good file %s was saved from %r, not %r; not used", self.path, data.get("source"), source)
            return None
        return SavedTable(str(data.get("source", "")), str(data["digest"]), str(data.get("saved_at", "")), document)

    def _unsafe(self) -> str | None:
        if os.name != "posix":  # pragma: no cover - POSIX permissions only
            return None
        try:
            st = os.lstat(self.path)
        except OSError:
            return None  # missing: reported by the read
        if stat.S_ISLNK(st.st_mode):
            return "it is a symbolic link"
        if not stat.S_ISREG(st.st_mode):
            return "it is not a regular file"
        if st.st_uid != os.geteuid():
            return f"it is owned by uid {st.st_uid}, not by this process's user"
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"others may write it (mode {stat.S_IMODE(st.st_mode):o})"
        return None
