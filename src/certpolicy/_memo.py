"""Memoisation by object identity, for facts about a certificate object.

``functools.lru_cache`` keys on ``hash(cert)``, and cryptography hashes a
certificate by its whole DER encoding on every call (about 1.2 µs for a 1 KB
certificate, more for a large one): more than most per-certificate rules cost.
A server's certificates come back on every connection as the *same* objects
(:func:`certpolicy.checks.chain.parse_chain` reuses parsed certificates by
their DER), so their identity is a cheaper key.

One table serves every rule (:data:`CERTIFICATE_FACTS`), so that the number of
certificates kept alive by memoisation has one bound: a kept certificate holds
its parsed extensions, and many live objects make every garbage collection
slower.

An entry holds a strong reference to its object, so the object's ``id`` cannot
be reused while the entry lives; a lookup also checks ``entry[0] is obj``.
When the table is full it is emptied (the facts are cheap to recompute). Plain
dict operations are atomic under the GIL, so the table is safe to share
between threads without a lock; a lost race recomputes a fact.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["CERTIFICATE_FACTS", "IdentityMemo"]

T = TypeVar("T")
V = TypeVar("V")


class IdentityMemo(Generic[T]):
    """Facts computed from objects, keyed by the object's identity and by the
    function (and arguments) that computes the fact.

    Args:
        maxsize: most objects kept (a full table is emptied).
    """

    __slots__ = ("_data", "_maxsize")

    def __init__(self, maxsize: int = 512) -> None:
        self._maxsize = maxsize
        self._data: dict[int, tuple[T, dict[Hashable, Any]]] = {}

    def _facts(self, obj: T) -> dict[Hashable, Any]:
        """The fact dict of ``obj``, created (and the table bounded) on first use."""
        entry = self._data.get(id(obj))
        if entry is None or entry[0] is not obj:
            if len(self._data) >= self._maxsize:
                self._data.clear()
            entry = (obj, {})
            self._data[id(obj)] = entry
        return entry[1]

    def __call__(self, obj: T, compute: Callable[..., V], *args: Hashable) -> V:
        """``compute(obj, *args)``, computed once per object (exceptions
        propagate and nothing is stored)."""
        facts = self._facts(obj)
        key: Hashable = (compute, *args) if args else compute
        try:
            value: V = facts[key]
        except KeyError:
            value = facts[key] = compute(obj, *args)
        return value

    def remember(self, obj: T, compute: Callable[..., V], value: V) -> None:
        """Store ``value`` as the fact ``compute(obj)``, known without computing
        it (for example a certificate's DER size, from the bytes it was parsed
        from)."""
        self._facts(obj)[compute] = value

    def known(self, obj: T, compute: Callable[..., Any], *args: Hashable) -> bool:
        """Whether the fact is stored (nothing is computed)."""
        entry = self._data.get(id(obj))
        if entry is None or entry[0] is not obj:
            return False
        return ((compute, *args) if args else compute) in entry[1]

    def seen_before(self, obj: T) -> bool:
        """Whether ``obj`` was passed here before (while its entry lived);
        records it. Lets a caller keep one-off objects on a path that builds
        no per-object index, and index the objects that come back."""
        if self.known(obj, _sighting):
            return True
        self(obj, _sighting)
        return False

    def was_seen(self, obj: T) -> bool:
        """Whether ``obj`` was passed to :meth:`seen_before` (records nothing)."""
        return self.known(obj, _sighting)

    def clear(self) -> None:
        """Forget every object."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def _sighting(_obj: object) -> bool:
    return True


#: The facts of certificate objects: rule outcomes of chain.py, the dNSName
#: index of hostname/presented.py. At most 512 certificates (the size of chain.py's
#: parsed-DER cache).
CERTIFICATE_FACTS: IdentityMemo[Any] = IdentityMemo(512)
