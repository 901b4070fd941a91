"""The scan's progress bar on standard error, drawn with ``rich`` (the
optional extra ``certpolicy[scan]``).

:func:`progress_bar` returns a :class:`ProgressSink`: a live bar with the
pass/fail/error counts when standard error is a terminal, ``rich`` is
installed and the caller did not ask for quiet; otherwise a sink that does
nothing (output piped to a file or CI log stays clean). ``rich`` is imported
only here, and only when a bar is drawn.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import IO, Any

__all__ = ["ProgressSink", "progress_bar", "wants_bar"]


class ProgressSink:
    """Counts finished endpoints; the base class draws nothing.

    Attributes:
        counts: ``{"pass": int, "fail": int, "error": int}`` so far.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.counts = {"pass": 0, "fail": 0, "error": 0}
        self._lock = threading.Lock()

    def advance(self, status: str) -> None:
        """Record one finished endpoint whose status is ``status`` (thread-safe)."""
        with self._lock:
            self.counts[status] = self.counts.get(status, 0) + 1
            self._draw()

    def _draw(self) -> None:
        """Redraw (called under the lock); nothing here."""

    def __enter__(self) -> ProgressSink:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        return None


class _RichBar(ProgressSink):
    def __init__(self, total: int, stream: IO[str]) -> None:
        super().__init__(total)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=Console(file=stream, force_terminal=True),
            transient=False,
        )
        self._task = self._progress.add_task("scan", total=total, counts=self._text())

    def _text(self) -> str:
        c = self.counts
        return f"[green]pass {c['pass']}[/] [red]fail {c['fail']}[/] [yellow]error {c['error']}[/]"

    def _draw(self) -> None:
        self._progress.update(self._task, advance=1, counts=self._text())

    def __enter__(self) -> ProgressSink:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()


def wants_bar(stream: Any, quiet: bool) -> bool:
    """``True`` when a bar should be drawn on ``stream``: not quiet, the
    stream is a terminal, and ``rich`` can be imported."""
    if quiet:
        return False
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    import importlib.util

    return importlib.util.find_spec("rich") is not None


def progress_bar(total: int, *, quiet: bool = False, stream: IO[str] | None = None) -> ProgressSink:
    """A progress sink for ``total`` endpoints on ``stream`` (default standard error).

    Returns:
        a bar when :func:`wants_bar` says so, else a silent :class:`ProgressSink`.
        Use it as a context manager around the scan and call ``advance``.
    """
    stream = stream if stream is not None else sys.stderr
    if wants_bar(stream, quiet):
        return _RichBar(total, stream)
    return ProgressSink(total)
