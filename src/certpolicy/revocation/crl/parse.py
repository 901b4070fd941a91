"""CRL parsing: bytes to CRLs, and :class:`ParsedCrl`, a CRL read once (RFC 5280 §5).

* :func:`load_crls` / :func:`load_crl` sniff DER or PEM from the body (never
  from the ``Content-Type``); anything else is a :class:`CrlProblem` with
  outcome ``malformed`` (bug case BR-19).
* :class:`ParsedCrl` reads issuer, thisUpdate, nextUpdate, CRL number,
  issuingDistributionPoint, delta indicator and freshestCRL once, flags
  unsupported critical extensions, and indexes the revoked serials for O(1)
  lookups; entry details and signature checks are memoised (bounded).
* :func:`load_crl_files` reads static CRL files and folders, skipping files
  over a byte limit.

Pure: no clock, no network.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ...policy import Outcome
from .rules import crl_problems, entry_problems

_PEM_CRL = re.compile(
    rb"-----BEGIN X509 CRL-----\s*(.+?)\s*-----END X509 CRL-----", re.DOTALL
)
#: Revoked entries whose reason and date are kept once read, per CRL.
_ENTRY_MEMO = 4096


class CrlProblem(Exception):
    """A CRL could not be used. ``outcome`` is the taxonomy word
    (:class:`~certpolicy.policy.Outcome`), ``detail`` one sentence."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail
        super().__init__(detail)


def _describe_body(data: bytes) -> str:
    head = data[:40].strip()
    if not head:
        return "an empty body"
    lowered = head.lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "an HTML/XML page"
    printable = head.decode("ascii", "replace")
    printable = "".join(c if c.isprintable() else "." for c in printable)
    return f"data starting with {printable!r}"


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """Parse every CRL in ``data``: one DER CRL, or one or more PEM
    ``X509 CRL`` blocks (RFC 7468 §6). The format is sniffed from the bytes.

    Raises:
        CrlProblem: (``malformed``) empty body, HTML page, garbage, or a CRL
            that does not parse.
    """
    stripped = data.lstrip()
    if not stripped:
        raise CrlProblem(Outcome.MALFORMED, "body is empty, not a CRL")
    if stripped.startswith(b"-----BEGIN"):
        blocks = _PEM_CRL.findall(stripped)
        if not blocks:
            raise CrlProblem(Outcome.MALFORMED, "PEM data without an 'X509 CRL' block")
        out = []
        for block in blocks:
            pem = b"-----BEGIN X509 CRL-----\n" + block + b"\n-----END X509 CRL-----\n"
            try:
                out.append(x509.load_pem_x509_crl(pem))
            except ValueError as e:
                raise CrlProblem(Outcome.MALFORMED, f"PEM CRL does not parse: {e}") from None
        return out
    if data[:1] == b"\x30":
        try:
            return [x509.load_der_x509_crl(data)]
        except ValueError as e:
            raise CrlProblem(Outcome.MALFORMED, f"DER CRL does not parse: {e}") from None
    raise CrlProblem(
        Outcome.MALFORMED, f"body is neither a DER nor a PEM CRL ({_describe_body(data)})"
    )


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Parse exactly one CRL (DER or PEM, sniffed) from ``data``.

    Raises:
        CrlProblem: (``malformed``) not a CRL, or more than one PEM block.
    """
    crls = load_crls(data)
    if len(crls) != 1:
        raise CrlProblem(Outcome.MALFORMED, f"expected one CRL, found {len(crls)}")
    return crls[0]


@dataclass(frozen=True)
class RevokedInfo:
    """One revoked-certificate entry: ``serial``, ``revocation_date`` (UTC),
    ``reason`` (CRLReason name such as ``"keyCompromise"``, or ``None``) and
    ``invalidity_date`` (UTC or ``None``)."""

    serial: int
    revocation_date: _dt.datetime
    reason: str | None
    invalidity_date: _dt.datetime | None = None


@functools.lru_cache(maxsize=1024)
def _prepared(der: bytes) -> bytes:
    from asn1crypto import x509 as a_x509

    try:
        key: str = a_x509.Name.load(der).hashable
        return b"N" + key.encode("utf-8")
    except (ValueError, TypeError):  # pragma: no cover - a name cryptography parsed
        return b"D" + der


def _der_name(name: x509.Name) -> bytes:
    """A comparison key of ``name``: equal for names that RFC 5280 §7.1 says
    match (RFC 4518 preparation: case and inner whitespace folded,
    PrintableString and UTF8String compared as text; asn1crypto's
    ``Name.hashable``), so that a CRL issuer, a cRLIssuer or a
    certificateIssuer name matches the certificate issuer it stands for."""
    return _prepared(name.public_bytes())


class ParsedCrl:
    """A CRL read once, with an O(1) serial index.

    Args:
        crl: the parsed CRL.
        source: where it came from (URL or file), for messages.
        der: the DER bytes ``crl`` was parsed from, if at hand (saves a copy).

    Attributes:
        crl, der (bytes), sha256 (hex), source, issuer (:class:`x509.Name`),
        issuer_der (the issuer's comparison key, RFC 5280 §7.1: :func:`_der_name`),
        this_update, next_update (UTC; ``next_update`` may be ``None``),
        number (CRL number or ``None``), delta_base (BaseCRLNumber of a delta
        CRL, else ``None``), idp (:class:`x509.IssuingDistributionPoint` or
        ``None``), freshest_urls (delta CRL locations), size (DER bytes),
        problems (reasons the CRL is unusable, e.g. an unsupported critical
        extension; empty when usable).

    Raises:
        CrlProblem: (``malformed``) an extension that does not parse.
    """

    def __init__(
        self, crl: x509.CertificateRevocationList, source: str = "<memory>", *, der: bytes | None = None
    ) -> None:
        self.crl = crl
        self.source = source
        if der is None or not der.startswith(b"\x30"):
            der = crl.public_bytes(serialization.Encoding.DER)
        self.der = der
        self.sha256 = hashlib.sha256(self.der).hexdigest()
        self.size = len(self.der)
        self.issuer = crl.issuer
        self.issuer_der = _der_name(crl.issuer)
        self.this_update = crl.last_update_utc
        self.next_update = crl.next_update_utc
        self.problems: list[str] = []
        try:
            exts = crl.extensions
        except ValueError as e:
            raise CrlProblem(Outcome.MALFORMED, f"CRL extensions do not parse: {e}") from None
        self.number: int | None = None
        self.delta_base: int | None = None
        self.idp: x509.IssuingDistributionPoint | None = None
        self.freshest_urls: tuple[str, ...] = ()
        for ext in exts:
            value = ext.value
            if isinstance(value, x509.CRLNumber):
                self.number = value.crl_number
            elif isinstance(value, x509.DeltaCRLIndicator):
                self.delta_base = value.crl_number
            elif isinstance(value, x509.IssuingDistributionPoint):
                self.idp = value
            elif isinstance(value, x509.FreshestCRL):
                self.freshest_urls = tuple(_http_urls(value))
        self.indirect = bool(self.idp is not None and self.idp.indirect_crl)
        try:
            self.problems += crl_problems(crl, self.der, indirect=self.indirect, delta=self.delta_base is not None)
        except ValueError as e:
            raise CrlProblem(Outcome.MALFORMED, f"CRL entry extension does not parse: {e}") from None
        self._index: dict[Any, int] = {}
        self._build_index()
        self._verified: dict[bytes, bool] = {}
        self._entries: dict[int, RevokedInfo] = {}
        self._lock = threading.Lock()

    def _build_index(self) -> None:
        index = self._index
        if not self.indirect:
            for i, entry in enumerate(self.crl):
                index.setdefault(entry.serial_number, i)
            return
        # Indirect CRL (RFC 5280 §5.3.3): entries belong to the CRL issuer
        # until a certificateIssuer entry extension names another issuer.
        current = self.issuer_der
        for i, entry in enumerate(self.crl):
            try:
                ci = entry.extensions.get_extension_for_class(x509.CertificateIssuer).value
            except x509.ExtensionNotFound:
                pass
            except ValueError as e:
                raise CrlProblem(Outcome.MALFORMED, f"CRL entry extension does not parse: {e}") from None
            else:
                names = [n.value for n in ci if isinstance(n, x509.DirectoryName)]
                if names:
                    current = _der_name(names[0])
            index.setdefault((current, entry.serial_number), i)

    def __len__(self) -> int:
        """Number of revoked entries."""
        return len(self._index)

    def __bool__(self) -> bool:
        # An empty CRL is still a CRL (never falsy).
        return True

    def __repr__(self) -> str:
        return (
            f"ParsedCrl(issuer={self.issuer.rfc4514_string()!r}, number={self.number}, "
            f"entries={len(self)}, source={self.source!r})"
        )

    @property
    def is_delta(self) -> bool:
        """``True`` for a delta CRL (RFC 5280 §5.2.4)."""
        return self.delta_base is not None

    def contains(self, serial: int, cert_issuer: x509.Name | None = None) -> bool:
        """``True`` when ``serial`` (of a certificate issued by ``cert_issuer``)
        is listed; O(1)."""
        if self.indirect:
            return (_der_name(cert_issuer or self.issuer), serial) in self._index
        return serial in self._index

    def lookup(self, serial: int, cert_issuer: x509.Name | None = None) -> RevokedInfo | None:
        """Return the entry for ``serial`` (issued by ``cert_issuer``) or ``None``; O(1).

        Raises:
            CrlProblem: (``malformed``) the entry has an unsupported critical
                extension or one that does not parse.
        """
        if self.indirect:
            pos = self._index.get((_der_name(cert_issuer or self.issuer), serial))
        else:
            pos = self._index.get(serial)
        if pos is None:
            return None
        known = self._entries.get(pos)
        if known is not None:
            return known
        info = self._read_entry(pos, serial)
        with self._lock:
            if len(self._entries) >= _ENTRY_MEMO:
                self._entries.clear()
            self._entries[pos] = info
        return info

    def _read_entry(self, pos: int, serial: int) -> RevokedInfo:
        entry = self.crl[pos]
        reason: str | None = None
        invalidity: _dt.datetime | None = None
        try:
            problems = entry_problems(entry, indirect=self.indirect, delta=self.is_delta)
            for ext in entry.extensions:
                value = ext.value
                if isinstance(value, x509.CRLReason):
                    reason = value.reason.value
                elif isinstance(value, x509.InvalidityDate):
                    invalidity = value.invalidity_date_utc
        except ValueError as e:
            raise CrlProblem(Outcome.MALFORMED, f"CRL entry extension does not parse: {e}") from None
        if problems:
            raise CrlProblem(Outcome.UNKNOWN, f"the CRL cannot be used: {problems[0]}")
        return RevokedInfo(serial, entry.revocation_date_utc, reason, invalidity)

    def signature_valid(self, issuer: x509.Certificate) -> bool:
        """``True`` when ``issuer``'s public key verifies the CRL signature
        (memoised per key, thread-safe)."""
        try:
            key = issuer.public_key()
            spki = key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return False  # a key cryptography cannot use verifies nothing
        with self._lock:
            known = self._verified.get(spki)
        if known is not None:
            return known
        try:
            ok = bool(self.crl.is_signature_valid(key))  # type: ignore[arg-type]
        except (TypeError, ValueError, InvalidSignature, UnsupportedAlgorithm):
            ok = False
        with self._lock:
            self._verified[spki] = ok
        return ok


def load_crl_files(
    paths: Iterable[str | os.PathLike[str]], *, max_bytes: int = 50_000_000
) -> tuple[list[ParsedCrl], list[str]]:
    """Load static CRLs from files and folders (for air-gapped networks).

    Args:
        paths: files (DER, or PEM with one or more CRLs) or folders of such
            files (every regular file not starting with ``.``, e.g. OpenSSL's
            ``<hash>.r0`` files).
        max_bytes: larger files are skipped (bytes).

    Returns:
        ``(crls, problems)``: the parsed CRLs and one sentence per file that
        could not be read or parsed. Never raises for file problems.
    """
    crls: list[ParsedCrl] = []
    problems: list[str] = []
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            try:
                files.extend(sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith(".")))
            except OSError as e:
                problems.append(f"{p}: cannot list folder: {e}")
        else:
            files.append(p)
    for f in files:
        try:
            size = f.stat().st_size
            if size > max_bytes:
                problems.append(f"{f}: {size} bytes exceeds the limit of {max_bytes} bytes")
                continue
            data = f.read_bytes()
            for crl in load_crls(data):
                crls.append(ParsedCrl(crl, str(f)))
        except OSError as e:
            problems.append(f"{f}: cannot read: {e.strerror or e}")
        except CrlProblem as e:
            problems.append(f"{f}: {e.detail}")
    return crls, problems


def _http_urls(points: Iterable[x509.DistributionPoint]) -> list[str]:
    urls = []
    for dp in points:
        for gn in dp.full_name or ():
            if isinstance(gn, x509.UniformResourceIdentifier):
                if urllib.parse.urlsplit(gn.value).scheme.lower() in ("http", "https"):
                    urls.append(gn.value)
    return urls
