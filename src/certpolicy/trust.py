"""Trust anchors: which certificates end a certification path (RFC 5280 §6.1.1(d)).

A policy's :class:`~certpolicy.policy.TrustSpec` says where its trust anchors
come from: the operating system's store (``system = true``), extra PEM files or
folders (``extra = [...]``), or both. An extra anchor may be a private root, a
private intermediate CA used as the anchor (the path then ends there), or a
self-signed endpoint certificate, which is its own anchor (the agent's
trust-store import does the same).

:func:`trust_anchors` turns a spec into a :class:`TrustAnchors`: the parsed
certificates plus a ready :class:`cryptography.x509.verification.Store`. It is
built **once** per spec and kept in a bounded, thread-safe cache; the files
behind it are re-read only when they change (checked at most every
:data:`REFRESH_INTERVAL` seconds), never per connection.

The system store is read from (DESIGN pitfall 17):

* ``ssl.get_default_verify_paths()``: the CA file and the hashed CA folder of
  the OpenSSL that Python links (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are
  honoured there; on python.org macOS builds the CA file is the bundle that
  "Install Certificates" links);
* on Windows, ``ssl.enum_certificates("ROOT")`` (certificates trusted for
  serverAuth or for every purpose).

Example::

    from certpolicy.policy import TrustSpec
    from certpolicy.trust import trust_anchors

    anchors = trust_anchors(TrustSpec(system=False, extra=("certs/corp-root.pem",)))
    print(len(anchors), anchors.sources)
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import ssl
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import Store

from .errors import PolicyConfigError
from .policy import TrustSpec

__all__ = [
    "MAX_TRUST_FILE_BYTES",
    "REFRESH_INTERVAL",
    "TrustAnchors",
    "anchors_fingerprint",
    "clear_trust_cache",
    "load_certificates_from_path",
    "system_trust_anchors",
    "trust_anchors",
]

log = logging.getLogger("certpolicy.trust")

# Some roots in common trust stores have a serial number of zero; reading them
# (here, and their extensions in certpolicy.checks.chain) is fine
# (cryptography's path builder accepts them) and the deprecation warning would
# only alarm users at every store load.
warnings.filterwarnings(
    "ignore",
    message="Parsed a serial number which wasn't positive",
    category=CryptographyDeprecationWarning,
    module=r"certpolicy\.(trust|checks\.chain)",
)

#: Seconds between two checks whether the files behind a cached store changed.
REFRESH_INTERVAL = 60.0
#: Largest trust file read, in bytes (a system bundle is ~200 KB).
MAX_TRUST_FILE_BYTES = 16 * 1024 * 1024
#: Number of distinct trust specs kept in the cache.
CACHE_SIZE = 32

_HASHED_NAME = re.compile(r"^[0-9a-f]{8}\.\d+$")
_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".cert", ".der")
_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"


class TrustAnchors:
    """A set of trust anchors, ready for path validation. Immutable once built.

    Attributes:
        certificates: the anchors (deduplicated, in load order).
        store: a :class:`cryptography.x509.verification.Store` holding them
            (``None`` when there is none); safe to share between threads.
        sources: where they came from (file names, ``"windows:ROOT"``,
            ``"<anchors>"``), for messages.
    """

    __slots__ = ("_members", "_subjects", "certificates", "extras", "sources", "store")

    def __init__(
        self,
        certificates: Sequence[x509.Certificate],
        sources: Sequence[str] = ("<anchors>",),
    ) -> None:
        self.certificates: tuple[x509.Certificate, ...] = tuple(certificates)
        self.store: Store | None = Store(list(self.certificates)) if self.certificates else None
        self.sources: tuple[str, ...] = tuple(sources)
        self._members: frozenset[x509.Certificate] = frozenset(self.certificates)
        self._subjects: frozenset[bytes] | None = None
        #: per-use derived objects (e.g. extension policies), filled lazily by
        #: their users under their own keys; never part of equality.
        self.extras: dict[object, object] = {}

    def __repr__(self) -> str:
        return f"TrustAnchors(<{len(self.certificates)} certificates>, sources={self.sources!r})"

    def __len__(self) -> int:
        return len(self.certificates)

    def contains(self, cert: x509.Certificate) -> bool:
        """``True`` when ``cert`` (byte for byte) is one of the anchors."""
        return cert in self._members

    @property
    def members(self) -> frozenset[x509.Certificate]:
        """The anchors as a set (for membership tests in objects that must
        not hold a reference to this one, such as the Python callbacks of a
        cryptography extension policy kept in :attr:`extras`: cryptography's
        objects are invisible to the garbage collector, so such a cycle would
        never be freed)."""
        return self._members

    def may_issue(self, cert: x509.Certificate) -> bool:
        """``True`` when some anchor's subject equals ``cert``'s issuer name."""
        subjects = self._subjects
        if subjects is None:
            found = set()
            for c in self.certificates:
                try:
                    found.add(c.subject.public_bytes())
                except Exception:  # pragma: no cover - unparseable name
                    continue
            subjects = self._subjects = frozenset(found)
        try:
            return cert.issuer.public_bytes() in subjects
        except Exception:  # pragma: no cover - unparseable name
            return False

    @classmethod
    def from_certificates(
        cls, certs: Iterable[x509.Certificate], sources: Sequence[str] = ("<anchors>",)
    ) -> TrustAnchors:
        """Build from certificate objects (duplicates, equal DER, are dropped).

        An empty set gives ``store=None``: nothing can be validated against it.
        """
        seen: dict[x509.Certificate, None] = {}
        for c in certs:
            seen.setdefault(c, None)
        return cls(tuple(seen), sources)


# ---------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------


def _read_limited(path: str) -> bytes:
    size = os.path.getsize(path)
    if size > MAX_TRUST_FILE_BYTES:
        raise PolicyConfigError(
            f"{path}: {size} bytes is larger than the limit of {MAX_TRUST_FILE_BYTES} bytes",
            field="trust.extra",
        )
    with open(path, "rb") as f:
        return f.read(MAX_TRUST_FILE_BYTES + 1)


def _parse_file(path: str, data: bytes, *, strict: bool) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        if b"CERTIFICATE-----" not in data:
            if strict:
                raise PolicyConfigError(f"{path}: no PEM CERTIFICATE block", field="trust.extra")
            return []
        try:
            return x509.load_pem_x509_certificates(data)
        except (ValueError, x509.InvalidVersion) as e:
            if strict:
                raise PolicyConfigError(
                    f"{path}: unreadable PEM certificate ({e})", field="trust.extra"
                ) from None
            # Tolerant mode (system folders): keep the blocks that do parse.
            out: list[x509.Certificate] = []
            for block in re.findall(
                rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S
            ):
                try:
                    out.append(x509.load_pem_x509_certificate(block))
                except (ValueError, x509.InvalidVersion):
                    continue
            return out
    try:
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, x509.InvalidVersion):
        if strict:
            raise PolicyConfigError(
                f"{path}: neither a PEM nor a DER certificate", field="trust.extra"
            ) from None
        return []


def load_certificates_from_path(path: str) -> list[x509.Certificate]:
    """Read the certificates of a PEM (or DER) file, or of every certificate file
    in a folder (``*.pem``, ``*.crt``, ``*.cer``, ``*.cert``, ``*.der`` and
    OpenSSL hashed names such as ``a1b2c3d4.0``; not recursive).

    Args:
        path: a file or folder name.

    Returns:
        the certificates, in file order (folders: sorted by file name).

    Raises:
        PolicyConfigError: the path does not exist, cannot be read, a file is not
            a certificate, or a folder holds no certificate at all.
    """
    try:
        if os.path.isdir(path):
            certs: list[x509.Certificate] = []
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if not os.path.isfile(full):
                    continue
                if not (name.lower().endswith(_CERT_SUFFIXES) or _HASHED_NAME.match(name)):
                    continue
                certs.extend(_parse_file(full, _read_limited(full), strict=True))
            if not certs:
                raise PolicyConfigError(f"{path}: folder holds no certificate", field="trust.extra")
            return certs
        data = _read_limited(path)
    except PolicyConfigError:
        raise
    except OSError as e:
        raise PolicyConfigError(
            f"{path}: cannot read trust anchors ({e.strerror or e})", field="trust.extra"
        ) from None
    certs = _parse_file(path, data, strict=True)
    if not certs:  # pragma: no cover - strict parsing raises first
        raise PolicyConfigError(f"{path}: no certificate found", field="trust.extra")
    return certs


# ---------------------------------------------------------------------------
# The system store
# ---------------------------------------------------------------------------


def _system_paths() -> tuple[list[str], list[str]]:
    paths = ssl.get_default_verify_paths()
    files: list[str] = []
    dirs: list[str] = []
    for f in (paths.cafile, paths.openssl_cafile):
        if f and os.path.isfile(f) and f not in files:
            files.append(f)
    for d in (paths.capath, paths.openssl_capath):
        if d and os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    return files, dirs


def _signature(files: Sequence[str], dirs: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
    sig: list[tuple[str, int, int]] = []
    for p in (*files, *dirs):
        try:
            st = os.stat(p)
            sig.append((p, st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append((p, -1, -1))
    return tuple(sig)


def system_trust_anchors() -> tuple[list[x509.Certificate], list[str]]:
    """Read the operating system's trust anchors.

    Returns:
        ``(certificates, sources)``; unreadable files and entries are skipped
        (logged at DEBUG). The list may be empty (e.g. a minimal container):
        the chain check then fails with a message naming the places searched.
    """
    files, dirs = _system_paths()
    certs: list[x509.Certificate] = []
    sources: list[str] = []
    for f in files:
        try:
            certs.extend(_parse_file(f, _read_limited(f), strict=False))
            sources.append(f)
        except (OSError, PolicyConfigError) as e:
            log.debug("skipping system trust file %s: %s", f, e)
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            log.debug("skipping system trust folder %s: %s", d, e)
            continue
        found = 0
        for name in names:
            if not _HASHED_NAME.match(name):
                continue
            full = os.path.join(d, name)
            try:
                got = _parse_file(full, _read_limited(full), strict=False)
            except (OSError, PolicyConfigError):
                continue
            certs.extend(got)
            found += len(got)
        if found:
            sources.append(d)
    if sys.platform == "win32":  # pragma: no cover - platform specific
        enum = getattr(ssl, "enum_certificates", None)
        if enum is not None:
            for store_name in ("ROOT",):
                try:
                    entries = enum(store_name)
                except OSError:
                    continue
                for der, encoding, trust in entries:
                    if encoding != "x509_asn":
                        continue
                    if trust is not True and _SERVER_AUTH not in trust:
                        continue
                    try:
                        certs.append(x509.load_der_x509_certificate(der))
                    except (ValueError, x509.InvalidVersion):
                        continue
                sources.append(f"windows:{store_name}")
    return certs, sources


# ---------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------


@dataclass
class _Entry:
    anchors: TrustAnchors
    signature: tuple[tuple[str, int, int], ...]
    checked_at: float


_lock = threading.Lock()
_cache: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()


def clear_trust_cache() -> None:
    """Forget every cached trust store (the next use re-reads the files)."""
    with _lock:
        _cache.clear()


def anchors_fingerprint(certs: Sequence[x509.Certificate]) -> bytes:
    """A cache key for a list of anchor certificates (SHA-256 over their DER)."""
    h = hashlib.sha256()
    for c in certs:
        h.update(hashlib.sha256(c.public_bytes(Encoding.DER)).digest())
    return h.digest() if certs else b""


def _build(
    system: bool, extra: tuple[str, ...], anchors: Sequence[x509.Certificate]
) -> tuple[TrustAnchors, tuple[tuple[str, int, int], ...]]:
    certs: list[x509.Certificate] = []
    sources: list[str] = []
    files: list[str] = []
    dirs: list[str] = []
    if system:
        sys_certs, sys_sources = system_trust_anchors()
        certs.extend(sys_certs)
        sources.extend(sys_sources)
        sf, sd = _system_paths()
        files.extend(sf)
        dirs.extend(sd)
    for path in extra:
        certs.extend(load_certificates_from_path(path))
        sources.append(path)
        (dirs if os.path.isdir(path) else files).append(path)
    if anchors:
        certs.extend(anchors)
        sources.append("<anchors>")
    return TrustAnchors.from_certificates(certs, sources), _signature(files, dirs)


def trust_anchors(
    spec: TrustSpec | None = None,
    anchors: Sequence[x509.Certificate] = (),
    *,
    anchors_key: bytes | None = None,
    now: float | None = None,
) -> TrustAnchors:
    """Return the trust anchors of ``spec`` plus ``anchors``, from the cache.

    Args:
        spec: the policy's :class:`~certpolicy.policy.TrustSpec`; ``None`` means
            no spec (only ``anchors``).
        anchors: extra anchor certificates given as objects.
        anchors_key: :func:`anchors_fingerprint` of ``anchors`` when the caller
            has it already (saves hashing them on every call).
        now: ``time.monotonic()`` value (tests); default: the current one.

    Returns:
        :class:`TrustAnchors` (possibly empty, with ``store=None``).

    Raises:
        PolicyConfigError: an ``extra`` file or folder cannot be read or holds
            no certificate.

    The first call for a spec reads the files (the system store takes a few
    tens of milliseconds); later calls return the cached object and re-read the
    files only when their modification time or size changed, checked at most
    every :data:`REFRESH_INTERVAL` seconds. The cache holds at most
    :data:`CACHE_SIZE` specs (least recently used evicted). No lock is held
    while files are read.
    """
    system = bool(spec.system) if spec is not None else False
    extra = tuple(spec.extra) if spec is not None else ()
    if anchors_key is None:
        anchors_key = anchors_fingerprint(anchors)
    key: tuple[object, ...] = (system, extra, anchors_key)
    t = time.monotonic() if now is None else now
    with _lock:
        entry = _cache.get(key)
        if entry is not None:
            _cache.move_to_end(key)
            if t - entry.checked_at < REFRESH_INTERVAL:
                return entry.anchors
    if entry is not None:
        files = [p for p, _, _ in entry.signature]
        current = _signature(
            [p for p in files if not os.path.isdir(p)], [p for p in files if os.path.isdir(p)]
        )
        if current == entry.signature:
            with _lock:
                entry.checked_at = t
            return entry.anchors
        log.info("trust anchor files changed; reloading %s", ", ".join(entry.anchors.sources))
    built, signature = _build(system, extra, anchors)
    with _lock:
        _cache[key] = _Entry(built, signature, t)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return built
