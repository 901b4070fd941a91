"""A policy file as a live source: TOML, JSON or an agent ``config.xml``, re-read when its content changes.

:class:`FileSource` is polled by :class:`~certpolicy.sources.PolicySync`
(default every 2 seconds; no busy loop, no extra dependency). A poll costs
one ``stat``; the file is read only when its size or modification time
changed, and the table is rebuilt only when its bytes did.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import PolicyConfigError
from ..midconfig import MidConfig
from ..table import MAX_POLICY_FILE_BYTES, PolicyTable
from ..tablediff import document_digest
from .base import PolicySourceError, SourceResult

__all__ = ["FileSource"]


class FileSource:
    """A policy file watched for changes.

    Args:
        path: the file: ``.toml``, ``.json`` (:meth:`PolicyTable.load`) or an
            agent ``config.xml`` (:meth:`MidConfig.load` then ``.table()``).
        interval: seconds between two polls (default 2.0).
        max_bytes: largest accepted file, in bytes (default 64 MiB).

    A local file is not copied to the last-known-good file (``remote`` is
    ``False``): it is its own last known good.
    """

    remote = False

    def __init__(self, path: str | os.PathLike[str], *, interval: float = 2.0, max_bytes: int = MAX_POLICY_FILE_BYTES) -> None:
        self.path = os.fspath(path)
        self.name = self.path
        self.default_interval = float(interval)
        self.max_bytes = max_bytes
        self._stamp: tuple[int, int] | None = None
        self._digest: str | None = None

    def __repr__(self) -> str:
        return f"FileSource({self.path!r})"

    def fetch(self) -> SourceResult:
        """Re-read the file when it changed.

        Returns:
            :class:`SourceResult` (``changed`` is ``False`` when the size,
            modification time or bytes are those of the last answer).

        Raises:
            PolicySourceError: the file cannot be read.
            PolicyConfigError: it holds an invalid table.
        """
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise PolicySourceError(self.name, f"cannot read the policy file: {e.strerror or e}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return SourceResult(changed=False, digest=self._digest or "")
        try:
            with open(self.path, "rb") as f:
                raw = f.read(self.max_bytes + 1)
        except OSError as e:
            raise PolicySourceError(self.name, f"cannot read the policy file: {e.strerror or e}") from None
        if len(raw) > self.max_bytes:
            raise PolicySourceError(self.name, f"the policy file is larger than {self.max_bytes} bytes")
        digest = document_digest(raw)
        if digest == self._digest:
            self._stamp = stamp
            return SourceResult(changed=False, digest=digest)
        table = self._load()
        return SourceResult(changed=True, table=table, digest=digest, state=(stamp, digest))

    def commit(self, result: SourceResult) -> None:
        """Remember the file's stamp and digest once its table is in force (a
        refused table is re-read at the next poll, e.g. once the trust file
        it names exists)."""
        if result.state is not None:
            self._stamp, self._digest = result.state

    def _load(self) -> PolicyTable:
        if self.path.lower().endswith(".xml"):
            return MidConfig.load(self.path).table()
        return PolicyTable.load(self.path, max_bytes=self.max_bytes)

    def load_document(self, document: Any) -> PolicyTable:
        """A local file keeps no last-known-good document.

        Raises:
            PolicyConfigError: always.
        """
        raise PolicyConfigError("a local policy file has no last-known-good copy", source=self.name)
