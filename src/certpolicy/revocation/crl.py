"""CRLs: fetch, parse, verify and evaluate (RFC 5280 §5 and §6.3).

Layers, from pure to I/O:

* :func:`load_crls` / :func:`load_crl` turn bytes into
  :class:`cryptography.x509.CertificateRevocationList` objects, sniffing DER
  or PEM from the body (never from the ``Content-Type``): an empty body, an
  HTML error page or garbage is a :class:`CrlProblem` with outcome
  ``malformed``, never an empty CRL (bug case BR-19).
* :class:`ParsedCrl` wraps one CRL, read once: issuer, thisUpdate, nextUpdate,
  CRL number, issuingDistributionPoint, delta indicator, and an index of the
  revoked serial numbers built once (``dict``), so that a lookup is O(1) even
  for a CRL of 100,000 entries; signature checks are memoised per key.
* :func:`authorise_crl` and :func:`evaluate_crl` are pure functions of their
  inputs (no clock, no network): they decide which certificate signed the CRL
  (the certificate's issuer, or an indirect CRL issuer that the issuer or a
  certificate above it issued, with ``cRLSign``), verify the signature, check
  the scope, apply delta CRLs and the time window, and return a
  :class:`certpolicy.checks.RevocationStatus`.
* :class:`CrlSource` is the stateful part shared by all connections of one
  :class:`certpolicy.CrlCheck`: static CRLs, distribution point URLs, the
  :class:`~certpolicy.revocation.cache.RevocationCache`, single-flight bounded
  downloads retried under the policy's :class:`~certpolicy.policy.RetryPolicy`,
  background refresh before nextUpdate, and a short memory of failed
  downloads so a dead distribution point is not hammered.

Outcomes (SPEC taxonomy): ``good``; ``revoked`` (with reason and revocation
date; a stale or not-yet-valid CRL still proves it, BR-18); ``unreachable``
(timeout, refused, HTTP error, or no network allowed and nothing cached);
``stale`` (past nextUpdate + clock_skew + crl_grace, or thisUpdate later than
the validation time + clock_skew: a CRL outside its validity window proves
revocation but never good standing); ``bad-signature``;
``unauthorised-signer`` (the CRL issuer is not the certificate's issuer nor an
authorised indirect CRL issuer, or lacks ``cRLSign``); ``no-revocation-info``
(no distribution point, only LDAP / other schemes, fetching off and no static
CRL, or a CRL whose scope does not cover the certificate); ``unknown`` (a
partial CRL that covers only some reasons does not list the serial);
``oversized``; ``malformed`` (not a CRL, or a CRL without the CRLNumber that
RFC 5280 §5.2.3 requires, or with an unsupported critical extension).
"""

from __future__ import annotations

import collections
import datetime as _dt
import hashlib
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from ..checks.base import CheckContext, RevocationStatus
from ..fetch import FetchError, FetchResponse, FetchTooLarge, fetch
from ..policy import FetchLimits, Outcome, RevocationSettings
from .cache import CacheEntry, CacheTimeout, Loaded, RevocationCache, default_cache_dir
from .refresh import BackgroundRefresher, call_with_retry

__all__ = [
    "CrlProblem",
    "CrlSource",
    "DistributionPoints",
    "ParsedCrl",
    "RevokedInfo",
    "authorise_crl",
    "distribution_points",
    "evaluate_crl",
    "load_crl",
    "load_crl_files",
    "load_crls",
]

log = logging.getLogger("certpolicy.revocation.crl")
#: Structured events (revoked certificates) go to the package logger.
event_log = logging.getLogger("certpolicy")

Fetcher = Callable[..., FetchResponse]
Clock = Callable[[], _dt.datetime]

_PEM_CRL = re.compile(
    rb"-----BEGIN X509 CRL-----\s*(.+?)\s*-----END X509 CRL-----", re.DOTALL
)
_ACCEPT = "application/pkix-crl, application/x-pkcs7-crl;q=0.5, */*;q=0.1"
#: CRL extensions this module processes (RFC 5280 §5.2); any other critical
#: extension makes the CRL unusable (§5.2: MUST NOT use it).
_KNOWN_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.DELTA_CRL_INDICATOR,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
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


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


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


def _der_name(name: x509.Name) -> bytes:
    return name.public_bytes()


class ParsedCrl:
    """A CRL read once, with an O(1) serial index.

    Args:
        crl: the parsed CRL.
        source: where it came from (URL or file), for messages.
        der: the DER bytes ``crl`` was parsed from, if at hand (saves a copy).

    Attributes:
        crl, der (bytes), sha256 (hex), source, issuer (:class:`x509.Name`),
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
            if ext.critical and ext.oid not in _KNOWN_CRL_EXTENSIONS:
                self.problems.append(f"unsupported critical CRL extension {ext.oid.dotted_string}")
        self.indirect = bool(self.idp is not None and self.idp.indirect_crl)
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
            for ext in entry.extensions:
                value = ext.value
                if isinstance(value, x509.CRLReason):
                    reason = value.reason.value
                elif isinstance(value, x509.InvalidityDate):
                    invalidity = value.invalidity_date_utc
                elif ext.critical and not isinstance(value, x509.CertificateIssuer):
                    raise CrlProblem(
                        Outcome.MALFORMED,
                        f"CRL entry for serial {serial:#x} has an unsupported critical extension {ext.oid.dotted_string}",
                    )
        except ValueError as e:
            raise CrlProblem(Outcome.MALFORMED, f"CRL entry extension does not parse: {e}") from None
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


# ---------------------------------------------------------------------------
# Distribution points
# ---------------------------------------------------------------------------


def _http_urls(points: Iterable[x509.DistributionPoint]) -> list[str]:
    urls = []
    for dp in points:
        for gn in dp.full_name or ():
            if isinstance(gn, x509.UniformResourceIdentifier):
                if urllib.parse.urlsplit(gn.value).scheme.lower() in ("http", "https"):
                    urls.append(gn.value)
    return urls


@dataclass(frozen=True)
class DistributionPoints:
    """The cRLDistributionPoints of a certificate (RFC 5280 §4.2.1.13).

    Attributes:
        points: the raw distribution points.
        urls: ``(url, point)`` pairs for ``http``/``https`` full names, in order.
        unsupported: other names (``ldap://...``, directory names, ...), as text.
        present: the extension exists.
    """

    points: tuple[x509.DistributionPoint, ...] = ()
    urls: tuple[tuple[str, x509.DistributionPoint], ...] = ()
    unsupported: tuple[str, ...] = ()
    present: bool = False

    def crl_issuers(self) -> list[x509.Name]:
        """Directory names in the points' cRLIssuer fields (indirect CRLs)."""
        out = []
        for dp in self.points:
            for gn in dp.crl_issuer or ():
                if isinstance(gn, x509.DirectoryName):
                    out.append(gn.value)
        return out


def distribution_points(cert: x509.Certificate) -> DistributionPoints:
    """Read ``cert``'s cRLDistributionPoints.

    Raises:
        CrlProblem: (``malformed``) the extension does not parse.
    """
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return DistributionPoints()
    except ValueError as e:
        raise CrlProblem(Outcome.MALFORMED, f"cRLDistributionPoints does not parse: {e}") from None
    urls: list[tuple[str, x509.DistributionPoint]] = []
    unsupported: list[str] = []
    for dp in ext:
        for gn in dp.full_name or ():
            if isinstance(gn, x509.UniformResourceIdentifier):
                scheme = urllib.parse.urlsplit(gn.value).scheme.lower()
                if scheme in ("http", "https"):
                    if all(u != gn.value for u, _ in urls):
                        urls.append((gn.value, dp))
                    continue
                unsupported.append(gn.value)
            elif isinstance(gn, x509.DirectoryName):
                unsupported.append(f"directory name {gn.value.rfc4514_string()}")
            else:
                unsupported.append(str(gn.value))
        if dp.relative_name is not None:
            unsupported.append("a name relative to the CRL issuer")
    return DistributionPoints(tuple(ext), tuple(urls), tuple(unsupported), True)


# ---------------------------------------------------------------------------
# Pure evaluation
# ---------------------------------------------------------------------------


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _crl_sign_allowed(cert: x509.Certificate) -> bool:
    """RFC 5280 §4.2.1.3 / §6.3.3(f): when keyUsage is present, cRLSign must be set."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return False
    return bool(ku.crl_sign)


def _valid_at(cert: x509.Certificate, at: _dt.datetime, skew: _dt.timedelta) -> bool:
    return cert.not_valid_before_utc - skew <= at <= cert.not_valid_after_utc + skew


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string() or "<empty name>"
    except ValueError:  # pragma: no cover
        return "<unprintable name>"


def authorise_crl(
    crl: ParsedCrl,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    dps: DistributionPoints | None = None,
    candidates: Sequence[x509.Certificate] = (),
    above: Sequence[x509.Certificate] = (),
    clock_skew: float = 900.0,
) -> x509.Certificate:
    """Find the certificate that signed ``crl`` for ``cert`` and verify the signature.

    A direct CRL (its issuer is ``cert``'s issuer) must be signed by ``issuer``
    (or by another certificate with that name, e.g. after a key rollover,
    issued by a certificate in ``above``) and ``issuer`` must allow
    ``cRLSign``. An indirect CRL (issuingDistributionPoint ``indirectCRL``) is
    accepted only when ``cert``'s distribution point names its issuer in
    cRLIssuer, and is verified with a certificate from ``candidates`` with
    that subject, valid at ``at``, allowed ``cRLSign`` and issued by
    ``issuer`` or a certificate in ``above`` (RFC 5280 §6.3.3(f): the CRL
    issuer chains to the same trust anchor).

    Args:
        crl, cert, issuer: the CRL, the certificate, and its issuer.
        at: validation time (UTC).
        dps: ``cert``'s distribution points (default: read from ``cert``).
        candidates: other certificates that may have signed the CRL.
        above: ``issuer`` and the certificates above it on the path.
        clock_skew: seconds of tolerance on candidate validity.

    Returns:
        the signing certificate.

    Raises:
        CrlProblem: ``unauthorised-signer`` or ``bad-signature``.
    """
    skew = _dt.timedelta(seconds=clock_skew)
    above = list(above) or [issuer]
    cert_issuer = cert.issuer
    if crl.issuer_der == _der_name(cert_issuer):
        if not _crl_sign_allowed(issuer):
            raise CrlProblem(
                Outcome.UNAUTHORISED_SIGNER,
                f"the CRL issuer {_name_text(issuer.subject)} has a keyUsage without cRLSign (RFC 5280 §4.2.1.3)",
            )
        if crl.signature_valid(issuer):
            return issuer
        for cand in candidates:
            if (
                cand.subject == crl.issuer
                and cand != issuer
                and _valid_at(cand, at, skew)
                and _crl_sign_allowed(cand)
                and any(_issued_by(cand, a) for a in above)
                and crl.signature_valid(cand)
            ):
                return cand
        raise CrlProblem(
            Outcome.BAD_SIGNATURE,
            f"the CRL signature does not verify with the key of its issuer {_name_text(issuer.subject)}",
        )
    dps = dps if dps is not None else distribution_points(cert)
    named = [_der_name(n) for n in dps.crl_issuers()]
    if not crl.indirect or crl.issuer_der not in named:
        raise CrlProblem(
            Outcome.UNAUTHORISED_SIGNER,
            f"the CRL is issued by {_name_text(crl.issuer)}, not by the certificate's issuer "
            f"{_name_text(cert_issuer)}"
            + (
                ""
                if not crl.indirect
                else ", and the certificate's cRLDistributionPoints do not name it as cRLIssuer"
            ),
        )
    reasons = []
    for cand in candidates:
        if cand.subject != crl.issuer:
            continue
        if not _valid_at(cand, at, skew):
            reasons.append("its certificate is not valid at the validation time")
            continue
        if not any(_issued_by(cand, a) for a in above):
            reasons.append("its certificate was not issued by a certificate of the path")
            continue
        if not _crl_sign_allowed(cand):
            reasons.append("its certificate has a keyUsage without cRLSign")
            continue
        if crl.signature_valid(cand):
            return cand
        reasons.append("the signature does not verify with its key")
    if reasons and all(r.startswith("the signature") for r in reasons):
        raise CrlProblem(Outcome.BAD_SIGNATURE, f"indirect CRL of {_name_text(crl.issuer)}: {reasons[0]}")
    raise CrlProblem(
        Outcome.UNAUTHORISED_SIGNER,
        f"indirect CRL issuer {_name_text(crl.issuer)} could not be authorised: "
        + ("; ".join(sorted(set(reasons))) if reasons else "its certificate is not available"),
    )


def _scope_problem(crl: ParsedCrl, cert: x509.Certificate, dps: DistributionPoints) -> str | None:
    """RFC 5280 §6.3.3(b): does the CRL's scope cover ``cert``? Returns why not."""
    idp = crl.idp
    if idp is None:
        return None
    if idp.only_contains_attribute_certs:
        return "the CRL covers only attribute certificates"
    is_ca = _is_ca(cert)
    if idp.only_contains_user_certs and is_ca:
        return "the CRL covers only end-entity certificates and this is a CA certificate"
    if idp.only_contains_ca_certs and not is_ca:
        return "the CRL covers only CA certificates and this is an end-entity certificate"
    if idp.full_name:
        wanted = list(idp.full_name)
        for dp in dps.points:
            names = list(dp.full_name or ()) or list(dp.crl_issuer or ())
            if any(n in wanted for n in names):
                return None
        shown = ", ".join(str(getattr(n, "value", n)) for n in wanted)
        return f"the CRL's issuingDistributionPoint ({shown}) is not one of the certificate's distribution points"
    if idp.relative_name is not None:
        if any(dp.relative_name == idp.relative_name for dp in dps.points):
            return None
        return "the CRL's issuingDistributionPoint relative name does not match the certificate's distribution points"
    return None


def _partial_reasons(crl: ParsedCrl, dps: DistributionPoints) -> frozenset[x509.ReasonFlags] | None:
    reasons: frozenset[x509.ReasonFlags] | None = crl.idp.only_some_reasons if crl.idp else None
    return reasons or None


def _status(
    outcome: Outcome, detail: str, crl: ParsedCrl | None, url: str | None, **kw: Any
) -> RevocationStatus:
    return RevocationStatus(
        outcome=outcome,
        source="crl",
        detail=detail,
        url=url,
        this_update=crl.this_update if crl is not None else None,
        next_update=crl.next_update if crl is not None else None,
        crl_number=crl.number if crl is not None else None,
        **kw,
    )


def evaluate_crl(
    crl: ParsedCrl,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    settings: RevocationSettings,
    dps: DistributionPoints | None = None,
    candidates: Sequence[x509.Certificate] = (),
    above: Sequence[x509.Certificate] = (),
    deltas: Sequence[ParsedCrl] = (),
    url: str | None = None,
) -> RevocationStatus:
    """Decide ``cert``'s status from ``crl`` (and applicable ``deltas``) at ``at``.

    Pure: no clock, no network. Follows RFC 5280 §6.3.3: the signer is
    authorised and the signature verified (:func:`authorise_crl`); a listed
    serial is ``revoked`` whatever the CRL's age (a stale or not-yet-valid CRL
    still proves revocation, BR-18; revocation is permanent, §3.3); a CRL
    without CRLNumber is ``malformed`` (§5.2.3); a CRL whose scope does not
    cover the certificate is ``no-revocation-info``; a partial CRL (only some
    reasons) that does not list the serial is ``unknown``; a CRL past
    nextUpdate + ``clock_skew`` + ``crl_grace``, or whose thisUpdate is later
    than ``at`` + ``clock_skew``, is ``stale``; otherwise ``good``. A CRL
    without nextUpdate is treated as valid for ``ocsp_max_age`` after its
    thisUpdate (the same rule as OCSP responses without nextUpdate).

    Delta CRLs (§5.2.4) are applied when issued by the same issuer with the
    same signer, with ``BaseCRLNumber <= number < delta number``: an entry
    with reason ``removeFromCRL`` lifts a ``certificateHold`` of the base CRL,
    any other entry revokes. Good standing still requires the complete CRL
    to be within its own validity window.

    Returns:
        :class:`~certpolicy.checks.RevocationStatus` (``source="crl"``).
    """
    where = url or crl.source
    dps = dps if dps is not None else distribution_points(cert)
    try:
        signer = authorise_crl(
            crl, cert, issuer, at=at, dps=dps, candidates=candidates, above=above,
            clock_skew=settings.clock_skew,
        )
    except CrlProblem as e:
        return _status(e.outcome, f"CRL from {where}: {e.detail}", crl, url)
    if crl.problems:
        return _status(Outcome.MALFORMED, f"CRL from {where} cannot be used: {'; '.join(crl.problems)}", crl, url)
    if crl.is_delta:
        return _status(
            Outcome.NO_REVOCATION_INFO,
            f"{where} serves a delta CRL (base CRL number {crl.delta_base}); the complete CRL is needed",
            crl,
            url,
        )
    scope = _scope_problem(crl, cert, dps)
    if scope is not None:
        return _status(Outcome.NO_REVOCATION_INFO, f"CRL from {where} does not apply: {scope}", crl, url)

    serial = cert.serial_number
    try:
        entry = crl.lookup(serial, cert.issuer)
        used_delta: ParsedCrl | None = None
        for delta in sorted(deltas, key=lambda d: d.number or 0, reverse=True):
            if _delta_applies(delta, crl, signer):
                used_delta = delta
                d_entry = delta.lookup(serial, cert.issuer)
                if d_entry is not None:
                    entry = None if d_entry.reason == x509.ReasonFlags.remove_from_crl.value else d_entry
                break
    except CrlProblem as e:
        return _status(e.outcome, f"CRL from {where}: {e.detail}", crl, url)

    number_text = f"number {crl.number}" if crl.number is not None else "without CRL number"
    if used_delta is not None:
        number_text += f", delta CRL number {used_delta.number}"
    if entry is not None:
        return _status(
            Outcome.REVOKED,
            f"serial {serial:#x} is revoked since {entry.revocation_date.isoformat()}"
            f" (reason {entry.reason or 'unspecified'}) according to the CRL of "
            f"{_name_text(crl.issuer)} ({number_text}) from {where}",
            crl,
            url,
            revocation_time=entry.revocation_date,
            revocation_reason=entry.reason,
        )
    if crl.number is None:
        return _status(
            Outcome.MALFORMED,
            f"CRL from {where} lacks the CRLNumber extension that RFC 5280 §5.2.3 requires",
            crl,
            url,
        )
    skew = _dt.timedelta(seconds=settings.clock_skew)
    if crl.this_update > at + skew:
        return _status(
            Outcome.STALE,
            f"CRL from {where} ({number_text}) is not yet valid: thisUpdate {crl.this_update.isoformat()} "
            f"is later than the validation time {at.isoformat()} plus {settings.clock_skew:g} s of clock skew",
            crl,
            url,
        )
    limit = usable_until(crl, settings)
    if at > limit:
        return _status(
            Outcome.STALE,
            f"CRL from {where} ({number_text}) is stale: nextUpdate "
            f"{(crl.next_update or limit).isoformat()} has passed (validation time {at.isoformat()}); "
            "a stale CRL proves revocation but not good standing",
            crl,
            url,
        )
    partial = _partial_reasons(crl, dps)
    if partial:
        names = ", ".join(sorted(r.value for r in partial))
        return _status(
            Outcome.UNKNOWN,
            f"CRL from {where} covers only the reasons {names}; it does not show good standing",
            crl,
            url,
        )
    return _status(
        Outcome.GOOD,
        f"serial {serial:#x} is not on the CRL of {_name_text(crl.issuer)} ({number_text}) from {where}",
        crl,
        url,
    )


def _delta_applies(delta: ParsedCrl, base: ParsedCrl, signer: x509.Certificate) -> bool:
    if not delta.is_delta or delta.issuer_der != base.issuer_der or delta.problems:
        return False
    if base.number is None or delta.number is None or delta.delta_base is None:
        return False
    if not (delta.delta_base <= base.number < delta.number):
        return False
    if delta.idp != base.idp:
        return False
    return delta.signature_valid(signer)


def usable_until(crl: ParsedCrl, settings: RevocationSettings) -> _dt.datetime:
    """The last validation time at which ``crl`` still proves good standing:
    nextUpdate (or thisUpdate + ``ocsp_max_age`` without one) + ``clock_skew``
    + ``crl_grace``."""
    base = crl.next_update or (crl.this_update + _dt.timedelta(seconds=settings.ocsp_max_age))
    return base + _dt.timedelta(seconds=settings.clock_skew + settings.crl_grace)


def _refresh_due(crl: ParsedCrl, settings: RevocationSettings) -> _dt.datetime:
    base = crl.next_update or (crl.this_update + _dt.timedelta(seconds=settings.ocsp_max_age))
    return base - _dt.timedelta(seconds=settings.refresh_margin)


# ---------------------------------------------------------------------------
# The stateful source
# ---------------------------------------------------------------------------


def _error_outcome(e: BaseException) -> tuple[Outcome, str]:
    if isinstance(e, CrlProblem):
        return e.outcome, e.detail
    if isinstance(e, FetchTooLarge):
        return Outcome.OVERSIZED, f"download refused: {e.reason}"
    if isinstance(e, FetchError):
        return Outcome.UNREACHABLE, f"download failed: {e.reason}"
    if isinstance(e, CacheTimeout):
        return Outcome.UNREACHABLE, "timed out waiting for a concurrent download"
    return Outcome.UNREACHABLE, f"download failed: {e}"  # pragma: no cover


def _retryable(e: BaseException) -> bool:
    # An oversized body or a CRL from the wrong signer will not change on retry.
    if isinstance(e, FetchTooLarge):
        return False
    if isinstance(e, CrlProblem):
        return e.outcome is Outcome.MALFORMED
    return isinstance(e, FetchError)


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class _Attempt:
    """The latest download attempt of one URL: monotonic time, validation
    time, and the failure (``outcome`` ``None`` when it succeeded)."""

    when: float
    at: _dt.datetime
    outcome: Outcome | None
    detail: str


class CrlSource:
    """CRL-based revocation status for certificates, shared by all connections.

    Args:
        cache: the :class:`RevocationCache` to use for every policy; ``None``:
            one cache per policy ``cache_dir`` (the platform default when that
            is ``None``).
        fetcher: the bounded fetch function (signature of
            :func:`certpolicy.fetch.fetch`).
        clock: wall clock (``() -> aware datetime``) used only to schedule
            background refreshes; validation uses ``ctx.at``.
        crls: static CRLs (objects, DER/PEM bytes, or :class:`ParsedCrl`)
            used for every policy, before fetching (e.g. limbo's in-memory CRLs).
        extra_certs: certificates that may sign indirect CRLs (besides the
            presented chain).
        refresher: background job runner (default: a private one, created on
            first use).
        failure_ttl: seconds during which a failed download of a URL is not
            retried (its outcome is reused).
        timed_refresh: plan a background refresh at nextUpdate minus
            ``refresh_margin`` (wall clock) for every CRL in use.
        parsed_entries / parsed_bytes: bounds of the parsed-CRL memory (count,
            DER bytes).
        static_recheck: seconds between checks of static CRL files for changes.

    Thread-safe. All methods return outcomes instead of raising for network
    or data problems.
    """

    def __init__(
        self,
        *,
        cache: RevocationCache | None = None,
        fetcher: Fetcher = fetch,
        clock: Clock | None = None,
        crls: Iterable[x509.CertificateRevocationList | bytes | ParsedCrl] = (),
        extra_certs: Iterable[x509.Certificate] = (),
        refresher: BackgroundRefresher | None = None,
        failure_ttl: float = 30.0,
        timed_refresh: bool = True,
        parsed_entries: int = 32,
        parsed_bytes: int = 256 * 1024 * 1024,
        static_recheck: float = 30.0,
    ) -> None:
        self._cache = cache
        self._fetcher = fetcher
        self._clock: Clock = clock or _utcnow
        self._extra_certs = list(extra_certs)
        self._refresher = refresher
        self._own_refresher = refresher is None
        self.failure_ttl = failure_ttl
        self.timed_refresh = timed_refresh
        self._parsed_entries = parsed_entries
        self._parsed_bytes = parsed_bytes
        self._static_recheck = static_recheck
        self._lock = threading.RLock()
        self._caches: collections.OrderedDict[str, RevocationCache] = collections.OrderedDict()
        self._parsed: collections.OrderedDict[str, ParsedCrl] = collections.OrderedDict()
        self._parsed_size = 0
        self._attempts: collections.OrderedDict[str, _Attempt] = collections.OrderedDict()
        self._planned: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._static_files: collections.OrderedDict[
            tuple[str, ...], tuple[float, tuple[Any, ...], list[ParsedCrl], list[str]]
        ] = collections.OrderedDict()
        self.downloads = 0
        self._static: list[ParsedCrl] = []
        for item in crls:
            if isinstance(item, ParsedCrl):
                self._static.append(item)
            elif isinstance(item, (bytes, bytearray)):
                self._static.extend(ParsedCrl(c, "<static>") for c in load_crls(bytes(item)))
            else:
                self._static.append(ParsedCrl(item, "<static>"))

    # -- public --------------------------------------------------------------

    def status(self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext) -> RevocationStatus:
        """Return ``cert``'s CRL status at ``ctx.at`` under ``ctx.policy``.

        Static CRLs (constructor ``crls`` and the policy's ``static_crls``)
        are consulted first; then, when the policy's ``fetch_crls`` is on, each
        ``http``/``https`` distribution point in order, through the cache. The
        first definite answer (good or revoked) wins; otherwise the first
        non-definite outcome is returned, with the details of every source.
        """
        settings = ctx.policy.revocation
        try:
            dps = distribution_points(cert)
        except CrlProblem as e:
            return _status(e.outcome, e.detail, None, None)
        path = list(ctx.verified_path or [])
        above = _above(path, issuer)
        candidates = _dedupe([*ctx.chain, *path, *self._extra_certs])
        tried: list[RevocationStatus] = []

        static_status = self._from_static(cert, issuer, ctx, settings, dps, candidates, above)
        if static_status is not None:
            if static_status.outcome.definite:
                return self._finish(static_status, cert)
            tried.append(static_status)

        if settings.fetch_crls:
            for url, _dp in dps.urls:
                st = self._from_url(url, cert, issuer, ctx, settings, dps, candidates, above)
                if st.outcome.definite:
                    return self._finish(st, cert)
                tried.append(st)

        if tried:
            first = tried[0]
            if len(tried) > 1:
                others = "; ".join(f"{t.outcome.value}: {t.detail}" for t in tried[1:])
                return _replace_detail(first, f"{first.detail} (also tried: {others})")
            return first
        return _status(Outcome.NO_REVOCATION_INFO, self._no_info_detail(cert, dps, settings), None, None)

    def close(self) -> None:
        """Stop the private background refresher (if one was started)."""
        if self._own_refresher and self._refresher is not None:
            self._refresher.close()

    @property
    def refresher(self) -> BackgroundRefresher:
        """The background job runner (created on first use)."""
        with self._lock:
            if self._refresher is None:
                self._refresher = BackgroundRefresher(name="certpolicy-crl")
            return self._refresher

    def cache_for(self, settings: RevocationSettings) -> RevocationCache:
        """The cache used under ``settings`` (the constructor's, or one per ``cache_dir``)."""
        if self._cache is not None:
            return self._cache
        directory = settings.cache_dir or str(default_cache_dir())
        with self._lock:
            cache = self._caches.get(directory)
            if cache is None:
                cache = self._caches[directory] = RevocationCache(directory)
                while len(self._caches) > 8:
                    self._caches.popitem(last=False)
            else:
                self._caches.move_to_end(directory)
            return cache

    def parse_entry(self, entry: CacheEntry) -> ParsedCrl | None:
        """Return the parsed CRL of a cache entry (memoised by SHA-256), or
        ``None`` when the bytes are not a usable CRL."""
        with self._lock:
            parsed = self._parsed.get(entry.sha256)
            if parsed is not None:
                self._parsed.move_to_end(entry.sha256)
                return parsed
        try:
            parsed = ParsedCrl(load_crl(entry.data), str(entry.metadata.get("url") or entry.key), der=entry.data)
        except CrlProblem as e:
            log.warning("cached CRL %r is unusable (%s); discarding it", entry.key, e.detail)
            return None
        self._remember_parsed(parsed)
        return parsed

    # -- static CRLs ---------------------------------------------------------

    def _static_for(self, settings: RevocationSettings) -> tuple[list[ParsedCrl], list[str]]:
        crls = list(self._static)
        if not settings.static_crls:
            return crls, []
        key = tuple(settings.static_crls)
        now = time.monotonic()
        with self._lock:
            cached = self._static_files.get(key)
        if cached is not None and now - cached[0] < self._static_recheck:
            return crls + cached[2], cached[3]
        stamp = _stamp(key)
        if cached is not None and cached[1] == stamp:
            with self._lock:
                self._static_files[key] = (now, stamp, cached[2], cached[3])
            return crls + cached[2], cached[3]
        loaded, problems = load_crl_files(key, max_bytes=max(settings.crl_limits.max_bytes, 1))
        for p in problems:
            log.warning("static CRL problem: %s", p)
        with self._lock:
            self._static_files[key] = (now, stamp, loaded, problems)
            while len(self._static_files) > 16:
                self._static_files.popitem(last=False)
        return crls + loaded, problems

    def _from_static(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> RevocationStatus | None:
        crls, problems = self._static_for(settings)
        if not crls and not problems:
            return None
        direct = _der_name(cert.issuer)
        indirect = {_der_name(n) for n in dps.crl_issuers()}
        relevant = [
            c for c in crls
            if not c.is_delta and (c.issuer_der == direct or (c.indirect and c.issuer_der in indirect))
        ]
        deltas = [c for c in crls if c.is_delta and c.issuer_der in ({direct} | indirect)]
        if not relevant:
            if problems:
                return _status(
                    Outcome.MALFORMED,
                    f"no usable static CRL for issuer {_name_text(cert.issuer)}; unreadable static CRLs: "
                    + "; ".join(problems),
                    None,
                    None,
                )
            return None
        results = [
            evaluate_crl(
                c, cert, issuer, at=ctx.at, settings=settings, dps=dps, candidates=candidates,
                above=above, deltas=deltas,
            )
            for c in sorted(relevant, key=lambda c: (c.number or -1, c.this_update), reverse=True)
        ]
        for wanted in (Outcome.REVOKED, Outcome.GOOD):
            for r in results:
                if r.outcome is wanted:
                    return r
        return results[0]

    # -- distribution points -------------------------------------------------

    def _from_url(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> RevocationStatus:
        parsed, problem = self._obtain(url, cert, issuer, ctx, settings, dps, candidates, above)
        if parsed is None:
            assert problem is not None
            return _status(problem[0], f"CRL from {url}: {problem[1]}", None, url)
        deltas = self._deltas(parsed, cert, issuer, ctx, settings, dps, candidates, above)
        st = evaluate_crl(
            parsed, cert, issuer, at=ctx.at, settings=settings, dps=dps, candidates=candidates,
            above=above, deltas=deltas, url=url,
        )
        if problem is not None and not st.outcome.definite:
            st = _replace_detail(st, f"{st.detail}; refresh failed: {problem[1]}")
        return st

    def _obtain(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> tuple[ParsedCrl | None, tuple[Outcome, str] | None]:
        """Return (CRL to evaluate or None, problem of the latest refresh or None)."""
        key = "crl:" + url
        cache = self.cache_for(settings)
        at = ctx.at
        skew = _dt.timedelta(seconds=settings.clock_skew)

        def good_enough(e: CacheEntry) -> bool:
            p = self.parse_entry(e)
            return p is not None and p.this_update <= at + skew and at <= usable_until(p, settings)

        entry = cache.get(key)
        parsed = self.parse_entry(entry) if entry is not None else None
        if entry is not None and parsed is None:
            cache.discard(key)
            entry = None
        loader = self._loader(url, cert, issuer, at, settings, dps, candidates, above, deadline=ctx.deadline)

        if entry is not None and parsed is not None and good_enough(entry):
            if at >= _refresh_due(parsed, settings):
                bg_loader = self._loader(url, cert, issuer, at, settings, dps, candidates, above)
                self._background_load(key, at, cache, bg_loader, lambda e: not _due(self.parse_entry(e), at, settings))
            else:
                self._plan_timed_refresh(key, parsed, cache, settings, url, cert, issuer, dps, candidates, above)
            return parsed, None

        recent = self._recent_attempt(key, at)
        if not ctx.allow_network:
            if recent is not None and recent.outcome is not None:
                note = f"the last download failed: {recent.detail}"
            else:
                bg_loader = self._loader(url, cert, issuer, at, settings, dps, candidates, above)
                started = self._background_load(key, at, cache, bg_loader, good_enough)
                note = "a download was started in the background" if started else "the background queue is full"
            if parsed is not None:
                return parsed, (Outcome.STALE, f"cached CRL is out of date and no network I/O is allowed here; {note}")
            return None, (
                Outcome.UNREACHABLE,
                f"the CRL is not cached yet and no network I/O is allowed here (asyncio handshake); {note}",
            )

        if recent is not None and (recent.outcome is not None or parsed is not None):
            ago = time.monotonic() - recent.when
            if recent.outcome is None:
                # Downloaded moments ago and still not usable: do not download again.
                return parsed, None
            return parsed, (
                recent.outcome,
                f"{recent.detail} ({ago:.0f} s ago; not retried for {self.failure_ttl:g} s)",
            )
        try:
            entry = cache.get_or_load(key, loader, accept=good_enough, timeout=_wait_budget(ctx))
        except (FetchError, CrlProblem, CacheTimeout) as e:
            outcome, detail = _error_outcome(e)
            self._note_attempt(key, at, outcome, detail)
            log.warning(
                "CRL download from %s failed: %s", url, detail,
                extra={"event": "crl-fetch-failed", "url": url, "outcome": outcome.value},
            )
            return parsed, (outcome, detail)
        fresh = self.parse_entry(entry)
        if fresh is None:  # pragma: no cover - the loader validated it
            return parsed, (Outcome.MALFORMED, "the downloaded CRL could not be parsed")
        if good_enough(entry):
            self._plan_timed_refresh(key, fresh, cache, settings, url, cert, issuer, dps, candidates, above)
        return fresh, None

    def _loader(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: _dt.datetime,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
        *,
        deadline: float | None = None,
        expect_delta: bool = False,
    ) -> Callable[[CacheEntry | None], Loaded | CacheEntry]:
        limits: FetchLimits = settings.crl_limits

        def attempt(end: float) -> ParsedCrl:
            with self._lock:
                self.downloads += 1
            resp = self._fetcher(url, limits=limits, accept=_ACCEPT, deadline=end)
            parsed = ParsedCrl(load_crl(resp.body), url, der=resp.body)
            # Validate before caching: a CRL of the wrong issuer or with a bad
            # signature must never displace a good cached one (or be served).
            authorise_crl(
                parsed, cert, issuer, at=at, dps=dps, candidates=candidates, above=above,
                clock_skew=settings.clock_skew,
            )
            if parsed.is_delta != expect_delta:
                what = "a delta CRL" if parsed.is_delta else "a complete CRL"
                raise CrlProblem(Outcome.MALFORMED, f"{url} served {what} where {'a delta' if expect_delta else 'a complete'} CRL was expected")
            return parsed

        def load(current: CacheEntry | None) -> Loaded | CacheEntry:
            parsed = call_with_retry(
                attempt, settings.retry, retry_if=_retryable, deadline=deadline,
                describe=f"CRL download from {url}",
            )
            # Remember the download (successful, whatever it brought) so that a
            # CRL that is still out of date is not downloaded again at once.
            self._note_attempt("crl:" + url, at, None)
            old = self.parse_entry(current) if current is not None else None
            if (
                current is not None
                and old is not None
                and old.number is not None
                and parsed.number is not None
                and parsed.number < old.number
            ):
                log.warning(
                    "CRL from %s has number %d, lower than the cached %d; keeping the cached CRL",
                    url, parsed.number, old.number,
                    extra={"event": "crl-number-rollback", "url": url},
                )
                return current
            self._remember_parsed(parsed)
            log.info(
                "CRL from %s: number %s, %d entries, nextUpdate %s", url, parsed.number, len(parsed),
                parsed.next_update.isoformat() if parsed.next_update else None,
                extra={"event": "crl-downloaded", "url": url, "crl_number": parsed.number},
            )
            return Loaded(
                parsed.der,
                parsed.next_update,
                {
                    "url": url,
                    "crl_number": parsed.number,
                    "issuer": _name_text(parsed.issuer),
                    "this_update": parsed.this_update.isoformat(),
                    "entries": len(parsed),
                },
            )

        return load

    def _deltas(
        self,
        base: ParsedCrl,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        ctx: CheckContext,
        settings: RevocationSettings,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> list[ParsedCrl]:
        """Delta CRLs for ``base``: static ones, and (best effort) the
        freshestCRL locations of the base CRL or the certificate."""
        out = [c for c in self._static_for(settings)[0] if c.is_delta and c.issuer_der == base.issuer_der]
        urls = list(base.freshest_urls)
        try:
            fresh_ext = cert.extensions.get_extension_for_class(x509.FreshestCRL).value
            urls += [u for u in _http_urls(fresh_ext) if u not in urls]
        except (x509.ExtensionNotFound, ValueError):
            pass
        if not urls or not settings.fetch_crls:
            return out
        cache = self.cache_for(settings)
        at = ctx.at

        def fresh_delta(e: CacheEntry) -> bool:
            p = self.parse_entry(e)
            return p is not None and at <= usable_until(p, settings)

        for url in urls[:2]:
            key = "crl:" + url
            entry = cache.get(key)
            parsed = self.parse_entry(entry) if entry is not None else None
            if entry is not None and parsed is not None and fresh_delta(entry):
                out.append(parsed)
                continue
            loader = self._loader(
                url, cert, issuer, at, settings, dps, candidates, above, deadline=ctx.deadline, expect_delta=True
            )
            if not ctx.allow_network:
                self._background_load(key, at, cache, loader, fresh_delta)
            elif self._recent_attempt(key, at) is None:
                try:
                    got = cache.get_or_load(key, loader, accept=fresh_delta, timeout=_wait_budget(ctx))
                    parsed = self.parse_entry(got) or parsed
                except (FetchError, CrlProblem, CacheTimeout) as e:
                    outcome, detail = _error_outcome(e)
                    self._note_attempt(key, at, outcome, detail)
                    log.warning("delta CRL from %s unavailable: %s", url, detail)
            if parsed is not None:
                out.append(parsed)
        return out

    # -- background work -----------------------------------------------------

    def _background_load(
        self,
        key: str,
        at: _dt.datetime,
        cache: RevocationCache,
        loader: Callable[[CacheEntry | None], Loaded | CacheEntry],
        accept: Callable[[CacheEntry], bool],
        *,
        delay: float = 0.0,
    ) -> bool:
        """Schedule a single-flight load of ``key`` in the background."""
        if delay <= 0 and self._recent_attempt(key, at) is not None:
            return True  # tried moments ago; the cache holds its result

        def job() -> None:
            run_at = at if delay <= 0 else self._clock()
            if delay > 0:
                # A timed refresh: whatever it finds, the CRL in use next gets a new plan.
                with self._lock:
                    self._planned.pop(key, None)
            if delay <= 0 and self._recent_attempt(key, run_at) is not None:
                return
            try:
                cache.get_or_load(key, loader, accept=accept)
            except (FetchError, CrlProblem, CacheTimeout) as e:
                outcome, detail = _error_outcome(e)
                self._note_attempt(key, run_at, outcome, detail)
                log.warning(
                    "background CRL download from %s failed: %s", key[4:], detail,
                    extra={"event": "crl-fetch-failed", "url": key[4:], "outcome": outcome.value},
                )

        return self.refresher.schedule(key, job, delay=delay)

    def _plan_timed_refresh(
        self,
        key: str,
        parsed: ParsedCrl,
        cache: RevocationCache,
        settings: RevocationSettings,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        dps: DistributionPoints,
        candidates: Sequence[x509.Certificate],
        above: Sequence[x509.Certificate],
    ) -> None:
        """Schedule one refresh at nextUpdate - refresh_margin (wall clock) per CRL."""
        if not self.timed_refresh:
            return
        with self._lock:
            if self._planned.get(key) == parsed.sha256:
                return
            self._planned[key] = parsed.sha256
            self._planned.move_to_end(key)
            while len(self._planned) > 1024:
                self._planned.popitem(last=False)
        now = self._clock()
        delay = (_refresh_due(parsed, settings) - now).total_seconds()
        if delay <= 0:
            # Due by the wall clock although fresh at ctx.at: the caller
            # validates at another time (history, tests); nothing to refresh.
            return
        clock = self._clock
        loader = self._loader(url, cert, issuer, now, settings, dps, candidates, above)
        self._background_load(
            key, now, cache, loader, lambda e: not _due(self.parse_entry(e), clock(), settings), delay=delay
        )

    # -- bookkeeping ---------------------------------------------------------

    def _remember_parsed(self, parsed: ParsedCrl) -> None:
        with self._lock:
            if parsed.sha256 in self._parsed:
                self._parsed.move_to_end(parsed.sha256)
                return
            self._parsed[parsed.sha256] = parsed
            self._parsed_size += parsed.size
            while len(self._parsed) > 1 and (
                len(self._parsed) > self._parsed_entries or self._parsed_size > self._parsed_bytes
            ):
                _, old = self._parsed.popitem(last=False)
                self._parsed_size -= old.size

    def _recent_attempt(self, key: str, at: _dt.datetime) -> _Attempt | None:
        """The latest attempt for ``key`` if it is younger than ``failure_ttl``
        both by the monotonic clock and by validation time."""
        with self._lock:
            a = self._attempts.get(key)
            if a is None:
                return None
            if time.monotonic() - a.when >= self.failure_ttl:
                del self._attempts[key]
                return None
            if abs((at - a.at).total_seconds()) >= self.failure_ttl:
                return None
            return a

    def _note_attempt(self, key: str, at: _dt.datetime, outcome: Outcome | None, detail: str = "") -> None:
        with self._lock:
            self._attempts[key] = _Attempt(time.monotonic(), at, outcome, detail)
            self._attempts.move_to_end(key)
            while len(self._attempts) > 1024:
                self._attempts.popitem(last=False)

    def _finish(self, st: RevocationStatus, cert: x509.Certificate) -> RevocationStatus:
        if st.outcome is Outcome.REVOKED:
            event_log.warning(
                "certificate revoked (CRL): serial %#x, issuer %s, reason %s, CRL number %s, source %s",
                cert.serial_number,
                _name_text(cert.issuer),
                st.revocation_reason or "unspecified",
                st.crl_number,
                st.url or "static CRL",
                extra={
                    "event": "certificate-revoked",
                    "check": "crl",
                    "serial": f"{cert.serial_number:#x}",
                    "issuer": _name_text(cert.issuer),
                    "reason": st.revocation_reason,
                    "revocation_date": st.revocation_time.isoformat() if st.revocation_time else None,
                    "crl_number": st.crl_number,
                    "source_url": st.url,
                },
            )
        return st

    def _no_info_detail(self, cert: x509.Certificate, dps: DistributionPoints, settings: RevocationSettings) -> str:
        issuer = _name_text(cert.issuer)
        if not dps.present:
            base = "the certificate has no cRLDistributionPoints extension"
        elif not dps.urls and dps.unsupported:
            base = (
                "the certificate's CRL distribution points use only schemes certpolicy does not fetch ("
                + ", ".join(dps.unsupported)
                + "; LDAP is not supported, only http and https)"
            )
        elif not dps.urls:
            base = "the certificate's cRLDistributionPoints name no location"
        else:
            base = "CRL fetching is off in this policy (fetch_crls = false)"
        return f"{base}, and no static CRL of issuer {issuer} is configured"


def _wait_budget(ctx: CheckContext) -> float | None:
    """Seconds a connection may wait for another thread's download (its deadline)."""
    if ctx.deadline is None:
        return None
    return max(0.05, ctx.deadline - time.monotonic())


def _due(parsed: ParsedCrl | None, at: _dt.datetime, settings: RevocationSettings) -> bool:
    return parsed is None or at >= _refresh_due(parsed, settings)


def _stamp(paths: Sequence[str]) -> tuple[Any, ...]:
    out: list[Any] = []
    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
            out.append((raw, st.st_mtime_ns, st.st_size))
            if p.is_dir():
                for c in sorted(p.iterdir()):
                    cs = c.stat()
                    out.append((c.name, cs.st_mtime_ns, cs.st_size))
        except OSError:
            out.append((raw, None))
    return tuple(out)


def _above(path: Sequence[x509.Certificate], issuer: x509.Certificate) -> list[x509.Certificate]:
    for i, c in enumerate(path):
        if c == issuer:
            return list(path[i:])
    return [issuer]


def _dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    # Certificates hash and compare by their DER encoding.
    return list(dict.fromkeys(certs))


def _replace_detail(st: RevocationStatus, detail: str) -> RevocationStatus:
    return replace(st, detail=detail)


#: Build a CRL :class:`RevocationStatus` (for callers outside this module).
status_for = _status
