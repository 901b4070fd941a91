"""Retrying downloads and refreshing revocation data in the background.

Two pieces, both independent of CRL or OCSP details:

* :func:`call_with_retry` runs one download attempt after another under a
  :class:`certpolicy.policy.RetryPolicy`: at most ``attempts`` attempts, waits
  of ``backoff * 2**n`` seconds (capped at ``max_backoff``) with up to
  ``jitter`` of random extra time, and a total ``deadline`` (seconds) for all
  attempts and waits together. The attempt function receives the absolute
  ``time.monotonic()`` deadline so it can bound its own fetch.
* :class:`BackgroundRefresher` runs refresh jobs in a few daemon threads at a
  given time (e.g. nextUpdate minus ``RevocationSettings.refresh_margin``),
  one pending job per key, at most ``max_pending`` jobs: bounded threads,
  bounded memory. Used so that a handshake finds fresh data in the cache, and
  so that an asyncio handshake (which must not block on the network) can ask
  for a download without waiting for it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..policy import RetryPolicy

__all__ = ["BackgroundRefresher", "backoff_delay", "call_with_retry"]

log = logging.getLogger("certpolicy.revocation.refresh")

T = TypeVar("T")


def backoff_delay(policy: RetryPolicy, retry: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1 = the first retry).

    ``min(backoff * 2**(retry-1), max_backoff) * (1 + jitter * rng())``.
    """
    base = min(policy.backoff * (2.0 ** max(retry - 1, 0)), policy.max_backoff)
    return max(0.0, base * (1.0 + policy.jitter * rng()))


def call_with_retry(
    attempt: Callable[[float], T],
    policy: RetryPolicy,
    *,
    retry_if: Callable[[BaseException], bool] = lambda e: True,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
    describe: str = "download",
) -> T:
    """Call ``attempt(deadline)`` until it succeeds, under ``policy``.

    Args:
        attempt: one try; receives the absolute ``monotonic()`` deadline of the
            whole sequence (seconds) and returns the result or raises.
        policy: attempts, backoff (seconds), max_backoff, jitter (0..1) and
            deadline (seconds for everything).
        retry_if: ``retry_if(exc)`` says whether an exception is worth a retry
            (e.g. not for an oversized body); other exceptions propagate at once.
        deadline: an absolute ``monotonic()`` deadline that further bounds the
            sequence (e.g. the connection's); the earlier one applies.
        sleep, monotonic, rng: injectable for tests.
        describe: text for the log lines.

    Returns:
        what the first successful ``attempt`` returned.

    Raises:
        Exception: the last attempt's exception when attempts or time run out,
            or the first one that ``retry_if`` rejects.
    """
    end = monotonic() + policy.deadline
    if deadline is not None:
        end = min(end, deadline)
    tries = max(1, policy.attempts)
    for n in range(1, tries + 1):
        try:
            return attempt(end)
        except Exception as e:
            if n >= tries or not retry_if(e):
                raise
            wait = backoff_delay(policy, n, rng)
            left = end - monotonic()
            if left <= wait:
                log.info("%s failed (%s); no time left for retry %d of %d", describe, e, n, tries - 1)
                raise
            log.info("%s failed (%s); retry %d of %d in %.2f s", describe, e, n, tries - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class BackgroundRefresher:
    """Run keyed jobs later, in a few daemon threads.

    Args:
        workers: number of worker threads (started on first use).
        max_pending: most jobs waiting at once; :meth:`schedule` refuses more.
        name: thread name prefix.

    Jobs are deduplicated by key: scheduling a key that is already pending
    keeps the earlier due time. A job's exceptions are logged, never raised.
    Call :meth:`close` to stop the threads (they are daemons, so a process
    also exits without it).
    """

    def __init__(self, *, workers: int = 2, max_pending: int = 256, name: str = "certpolicy-refresh") -> None:
        if workers < 1 or max_pending < 1:
            raise ValueError("workers and max_pending must be positive")
        self.workers = workers
        self.max_pending = max_pending
        self.name = name
        self._cond = threading.Condition()
        self._jobs: dict[str, tuple[float, Callable[[], object]]] = {}
        self._running: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.completed = 0
        self.failed = 0

    def schedule(self, key: str, job: Callable[[], object], *, delay: float = 0.0) -> bool:
        """Run ``job()`` in ``delay`` seconds (at once for ``delay <= 0``).

        Returns:
            ``True`` when the job is (or already was) pending or running;
            ``False`` when the refresher is closed or ``max_pending`` jobs wait.
        """
        due = time.monotonic() + max(0.0, delay)
        with self._cond:
            if self._closed:
                return False
            current = self._jobs.get(key)
            if current is not None:
                if due < current[0]:
                    self._jobs[key] = (due, job)
                    self._cond.notify_all()
                return True
            if len(self._jobs) >= self.max_pending:
                log.warning("background refresh queue full (%d jobs); %r not scheduled", self.max_pending, key)
                return False
            self._jobs[key] = (due, job)
            self._start_threads()
            self._cond.notify_all()
            return True

    def pending(self) -> int:
        """Number of jobs waiting (not counting running ones)."""
        with self._cond:
            return len(self._jobs)

    def is_pending(self, key: str) -> bool:
        """``True`` while a job for ``key`` waits or runs."""
        with self._cond:
            return key in self._jobs or key in self._running

    def cancel(self, key: str) -> None:
        """Drop the pending job of ``key`` (a running one finishes)."""
        with self._cond:
            self._jobs.pop(key, None)

    def wait_idle(self, timeout: float = 10.0, *, due_within: float = 0.0) -> bool:
        """Wait until no job is running and none is due within ``due_within``
        seconds. Returns ``False`` on timeout (tests use this)."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                due = [d for d, _ in self._jobs.values() if d <= now + due_within]
                if not self._running and not due:
                    return True
                if now >= end:
                    return False
                self._cond.wait(min(0.05, end - now))

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting jobs, drop pending ones and join the threads."""
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)

    # -- internals -----------------------------------------------------------

    def _start_threads(self) -> None:
        # caller holds self._cond
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            t = threading.Thread(
                target=self._worker, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(t)
            t.start()

    def _next_job(self) -> tuple[str, Callable[[], object]] | None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                ready = [(d, k) for k, (d, _) in self._jobs.items() if k not in self._running]
                if ready:
                    due, key = min(ready)
                    if due <= now:
                        _, job = self._jobs.pop(key)
                        self._running.add(key)
                        return key, job
                    wait = max(0.01, min(due - now, 60.0))
                else:
                    wait = 60.0
                self._cond.wait(wait)
            return None

    def _worker(self) -> None:
        while True:
            item = self._next_job()
            if item is None:
                return
            key, job = item
            try:
                job()
                ok = True
            except Exception:
                log.exception("background refresh %r failed", key)
                ok = False
            with self._cond:
                self._running.discard(key)
                if ok:
                    self.completed += 1
                else:
                    self.failed += 1
                self._cond.notify_all()
