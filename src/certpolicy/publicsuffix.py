"""The Public Suffix List: is a DNS name a public suffix (``co.uk``, ``s3.amazonaws.com``)?

The list comes from the maintained ``publicsuffixlist`` package (its ICANN
and private sections both count, as browsers do; an unknown top-level label
counts as a public suffix). It is parsed on first use (about 70 ms), never
at import, and answers are memoised (bounded).

Updating the list: upgrade the package (``pip install -U publicsuffixlist``),
or run ``python -m publicsuffixlist.update`` to fetch the current list into
the installed package; call :func:`reload` in a running process.

Used by the hostname check's Web PKI profile: a wildcard directly under a
public suffix (``*.co.uk``) never matches (CA/B BR 3.2.2.6).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

__all__ = ["is_public_suffix", "reload"]

_LOCK = threading.Lock()
_PSL: Any = None


def _list() -> Any:
    global _PSL
    psl = _PSL
    if psl is None:
        with _LOCK:
            if _PSL is None:
                from publicsuffixlist import PublicSuffixList

                _PSL = PublicSuffixList()
            psl = _PSL
    return psl


@functools.lru_cache(maxsize=4096)
def is_public_suffix(name: str) -> bool:
    """Whether ``name`` is a public suffix.

    Args:
        name: a normalised DNS name (lower-case A-labels, no trailing dot).

    Returns:
        ``True`` for a suffix of the list's ICANN or private section, or a
        single unknown top-level label; ``False`` for a registrable name or
        a name below one.
    """
    return bool(_list().is_public(name))


def reload() -> None:
    """Parse the list again (after ``python -m publicsuffixlist.update``) and
    forget the memoised answers."""
    global _PSL
    with _LOCK:
        _PSL = None
    is_public_suffix.cache_clear()
