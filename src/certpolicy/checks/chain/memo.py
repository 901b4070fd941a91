"""The path memo: certification paths already validated, by presented chain and validation parameters, reused while every certificate of the path is within its validity period.

Path validation is a pure function of the presented certificates, the trust
anchors, the reference identity (the host name, which cryptography's
ServerVerifier matches under the CAs' name constraints), the maximum depth,
the required extended key usage, the validation profile, the certificate
policy inputs and the validation time. For a fixed set of the others, the
answer only changes with the time when the time crosses the notBefore or
notAfter of a certificate on the path. So a path that cryptography's
verifier built and certpolicy's rules accepted at time *t* is the answer at
any time inside ``[max(notBefore), min(notAfter)]`` of that path, and the
memo returns it without running the verifier again (the handshake then pays
a dictionary lookup instead of two signature checks in Rust and the rules in
Python).

What is memoised: successful validations only (a failure is always
re-validated and explained), of paths that the verifier built from the
presented certificates alone (no intermediate fetched through caIssuers, no
pyhanko-certvalidator path). The memo lives on the
:class:`~certpolicy.trust.TrustAnchors` object, so it goes with the trust
store: a reloaded trust file is a new store and starts empty. Bounded:
:data:`MEMO_SIZE` entries per trust store, least recently used dropped.
"""

from __future__ import annotations

import collections
import datetime as _dt
import threading
from collections.abc import Hashable, Sequence

from cryptography import x509

from ...trust import TrustAnchors
from .rules import EXTRAS_LOCK

__all__ = ["MEMO_SIZE", "PathMemo", "path_memo"]

#: Paths kept per trust store.
MEMO_SIZE = 4096
_KEY = "certpolicy.chain.path-memo"


class PathMemo:
    """Validated paths of one trust store (see the module docstring)."""

    __slots__ = ("_entries", "_lock", "hits", "size")

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._entries: collections.OrderedDict[Hashable, tuple[list[x509.Certificate], _dt.datetime, _dt.datetime]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self.size = size
        self.hits = 0

    def get(self, key: Hashable, at: _dt.datetime) -> list[x509.Certificate] | None:
        """The path validated under ``key`` when ``at`` (aware UTC) is inside
        its validity window, else ``None``."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=_dt.timezone.utc)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            path, start, end = entry
            if not start <= at <= end:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return list(path)

    def put(self, key: Hashable, path: Sequence[x509.Certificate]) -> None:
        """Remember a path validated under ``key``."""
        start = max(c.not_valid_before_utc for c in path)
        end = min(c.not_valid_after_utc for c in path)
        with self._lock:
            self._entries[key] = (list(path), start, end)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def path_memo(anchors: TrustAnchors) -> PathMemo:
    """The :class:`PathMemo` of a trust store (made on first use)."""
    memo = anchors.extras.get(_KEY)
    if isinstance(memo, PathMemo):
        return memo
    with EXTRAS_LOCK:
        made = anchors.extras.setdefault(_KEY, PathMemo())
    assert isinstance(made, PathMemo)
    return made
