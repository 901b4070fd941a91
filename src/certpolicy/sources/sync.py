"""PolicySync: runs a policy source on an interval (or on demand) and puts each new table in force in a running SSL context.

Each sync asks the source for its table, and

* *unchanged*: nothing happens;
* *replaced*: :meth:`~certpolicy.context.PolicySSLContext.replace_table`
  puts the new table in force, the document is saved to the last-known-good
  file (remote sources), and the source's ``commit`` hook runs (the instance
  source writes ``config.xml`` back there);
* *rejected*: the source could not be read, or its table is invalid, or it
  names files that cannot be read: the table in force stays, the error is
  logged.

One ``logging`` record per sync on logger ``certpolicy.sync`` (INFO; WARNING
when rejected, INFO again while the same rejection repeats) names the source, the outcome and why, and the digest of what
the source holds (``extra``: ``certpolicy_event="policy-sync"``,
``source``, ``outcome``, ``digest``). At :meth:`PolicySync.start`, a source
that cannot be read is replaced by the last-known-good file when there is one.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ClientCertificateError, PolicyConfigError
from ..tablediff import TableDiff
from .base import PolicySource, PolicySourceError, SourceResult
from .lastgood import LastKnownGood

__all__ = ["PolicySync", "SyncOutcome"]

logger = logging.getLogger("certpolicy.sync")

#: Shortest and longest accepted intervals, in seconds.
MIN_INTERVAL = 0.05
MAX_INTERVAL = 7 * 86400.0


@dataclass(frozen=True)
class SyncOutcome:
    """The result of one sync.

    Attributes:
        source: the source's name.
        outcome: ``"unchanged"``, ``"replaced"``, ``"rejected"`` or
            ``"last-known-good"`` (the saved table was put in force).
        reason: why, as a sentence (the error for ``"rejected"``).
        digest: the digest of what the source (or the saved file) holds; ""
            when unknown.
        diff: the :class:`~certpolicy.tablediff.TableDiff` of a replacement.
    """

    source: str
    outcome: str
    reason: str = ""
    digest: str = ""
    diff: TableDiff | None = None


class PolicySync:
    """Keep a context's table in step with a policy source.

    Args:
        ctx: the :class:`~certpolicy.context.PolicySSLContext` to update.
        source: a :class:`~certpolicy.sources.PolicySource`.
        interval: seconds between two syncs (default: the source's
            ``default_interval``, 300 s for remote sources, 2 s for files).
        jitter: each wait is ``interval`` times a random factor in
            ``[1 - jitter, 1 + jitter]`` (default 0.1), so a fleet does not
            poll the instance in step.
        last_known_good: a path or :class:`LastKnownGood`: where accepted
            remote tables are saved and read at :meth:`start` when the source
            is unreachable; ``None`` keeps none.
        on_sync: ``callback(SyncOutcome)`` after every sync (exceptions logged).

    Raises:
        ValueError: an interval outside [0.05 s, 7 days] or a jitter outside [0, 0.5].
    """

    def __init__(
        self,
        ctx: Any,
        source: PolicySource,
        *,
        interval: float | None = None,
        jitter: float = 0.1,
        last_known_good: str | os.PathLike[str] | LastKnownGood | None = None,
        on_sync: Callable[[SyncOutcome], None] | None = None,
    ) -> None:
        chosen = float(source.default_interval if interval is None else interval)
        if not MIN_INTERVAL <= chosen <= MAX_INTERVAL:
            raise ValueError(f"interval must be between {MIN_INTERVAL} and {MAX_INTERVAL} seconds, got {chosen}")
        if not 0.0 <= jitter <= 0.5:
            raise ValueError(f"jitter must be between 0 and 0.5, got {jitter}")
        self.ctx = ctx
        self.source = source
        self.interval = chosen
        self.jitter = jitter
        self.last_known_good = (
            last_known_good
            if isinstance(last_known_good, LastKnownGood) or last_known_good is None
            else LastKnownGood(last_known_good)
        )
        self.on_sync = on_sync
        self.last: SyncOutcome | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PolicySync({self.source!r}, interval={self.interval})"

    # -- one sync ---------------------------------------------------------------

    def sync_once(self) -> SyncOutcome:
        """Ask the source once and put a new table in force. Never raises: a
        failure is a ``"rejected"`` outcome and the table in force stays.

        Returns:
            the :class:`SyncOutcome` (also in :attr:`last`).
        """
        with self._lock:
            try:
                result = self.source.fetch()
                outcome = self._apply(result)
            except (PolicySourceError, PolicyConfigError, ClientCertificateError) as e:
                outcome = SyncOutcome(self.source.name, "rejected", str(e))
            except Exception as e:  # a bug in a source: reported, the table in force stays
                logger.debug("policy source raised", exc_info=True)
                outcome = SyncOutcome(self.source.name, "rejected", f"internal error: {type(e).__name__}: {e}")
            self._report(outcome)
            return outcome

    def _apply(self, result: SourceResult) -> SyncOutcome:
        name = self.source.name
        if not result.changed or result.table is None:
            return SyncOutcome(name, "unchanged", result.detail or "the source holds the table in force", result.digest)
        diff = self.ctx.replace_table(result.table)
        commit = getattr(self.source, "commit", None)
        if callable(commit):
            commit(result)
        if self.source.remote and self.last_known_good is not None and result.document is not None:
            try:
                self.last_known_good.save(name, result.document)
            except OSError as e:
                logger.warning("certpolicy: cannot write the last-known-good file %s: %s", self.last_known_good.path, e)
        if not diff.changed:
            return SyncOutcome(name, "unchanged", "a new document with the same rows", result.digest, diff)
        if not diff.rows and not diff.ranges_changed:
            return SyncOutcome(name, "unchanged", "; ".join(diff.notes) or "no row changed", result.digest, diff)
        return SyncOutcome(name, "replaced", "; ".join(diff.lines()), result.digest, diff)

    def use_last_known_good(self) -> SyncOutcome:
        """Put the last-known-good table in force (what :meth:`start` does
        when the source cannot be read). Never raises.

        Returns:
            ``"last-known-good"``, or ``"rejected"`` when there is no usable file.
        """
        lkg = self.last_known_good
        name = self.source.name
        saved = lkg.load(name) if lkg is not None else None
        if lkg is None or saved is None:
            outcome = SyncOutcome(name, "rejected", "no usable last-known-good file")
        else:
            try:
                diff = self.ctx.replace_table(self.source.load_document(saved.document))
                outcome = SyncOutcome(name, "last-known-good", f"{lkg.path} saved at {saved.saved_at}", saved.digest, diff)
            except (PolicyConfigError, ClientCertificateError) as e:
                outcome = SyncOutcome(name, "rejected", f"the last-known-good file {lkg.path} is not usable: {e}")
        self._report(outcome)
        return outcome

    def _report(self, outcome: SyncOutcome) -> None:
        previous, self.last = self.last, outcome
        repeated = previous is not None and previous.outcome == "rejected" and previous.reason == outcome.reason
        level = logging.WARNING if outcome.outcome == "rejected" and not repeated else logging.INFO
        logger.log(
            level,
            "certpolicy policy sync from %s: %s (%s) digest=%s",
            outcome.source,
            outcome.outcome,
            outcome.reason,
            outcome.digest or "-",
            extra={
                "certpolicy_event": "policy-sync",
                "source": outcome.source,
                "outcome": outcome.outcome,
                "digest": outcome.digest,
            },
        )
        if self.on_sync is not None:
            try:
                self.on_sync(outcome)
            except Exception:
                logger.exception("certpolicy: on_sync callback raised")

    # -- background ---------------------------------------------------------------

    def start(self) -> PolicySync:
        """Sync once now (falling back to the last-known-good file when the
        source cannot be read), then keep syncing in a daemon thread.

        Returns:
            ``self`` (also a context manager that stops it).
        """
        first = self.sync_once()
        if first.outcome == "rejected" and self.last_known_good is not None:
            self.use_last_known_good()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="certpolicy-policy-sync", daemon=True)
            self._thread.start()
        return self

    def next_wait(self) -> float:
        """The next wait in seconds (``interval`` with its jitter)."""
        return self.interval * random.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def _run(self) -> None:
        while not self._stop.wait(self.next_wait()):
            self.sync_once()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread (waits up to ``timeout`` seconds for a
        sync in progress, which its fetch limits bound)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> PolicySync:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
