"""Reading a certificate's presented identifiers (subjectAltName, subject CN) and the issuers' name constraints.

The adapter between :mod:`cryptography.x509` and the pure matching in
:mod:`certpolicy.checks.hostname.match`, as service_identity's
``cryptography`` module is for its ``hazmat``: it only extracts names and
calls the matching rules.

* :func:`presented_identifiers` reads every subjectAltName dNSName and
  iPAddress entry and the subject commonName into a
  :class:`~certpolicy.checks.hostname.match.PresentedIdentifiers`;
* ``_fast_dns_san_match`` is the common success case that validates only the
  dNSName entries that can match (their index is memoised per certificate in
  :data:`certpolicy._memo.CERTIFICATE_FACTS`);
* ``_cn_name_constraint_violation`` applies the issuers' dNSName name
  constraints (RFC 5280 §4.2.1.10) to a name taken from the legacy CN
  fallback, which path validation never checks.

No I/O: the certificates are already parsed, and the chain check has bounded
their size (:data:`certpolicy.checks.chain.MAX_CERT_BYTES`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from ..._memo import CERTIFICATE_FACTS
from ...errors import MalformedInput
from ...names import InvalidName, IPAddress, normalize_ip
from .match import PresentedIdentifiers, _normalize_presented_dns, dns_pattern_matches

__all__ = ["presented_identifiers"]


# ---------------------------------------------------------------------------
# Presented identifiers (what the certificate carries)
# ---------------------------------------------------------------------------


def _read_common_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ()
    return tuple(a.value for a in attrs if isinstance(a.value, str))


def presented_identifiers(cert: x509.Certificate) -> PresentedIdentifiers:
    """Read the subjectAltName dNSName and iPAddress entries and the subject CN.

    Args:
        cert: the end-entity certificate.

    Returns:
        a :class:`PresentedIdentifiers`.

    Raises:
        certpolicy.MalformedInput: (``check="hostname"``, ``outcome="malformed"``)
            the extensions cannot be read: a duplicate extension (RFC 5280 §4.2
            allows each extension once), an unparseable subjectAltName, an
            iPAddress entry of the wrong length.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return PresentedIdentifiers(has_san=False, common_names=_read_common_names(cert))
    except x509.DuplicateExtension as e:
        oid_name = getattr(e.oid, "_name", None) or e.oid.dotted_string
        raise MalformedInput(
            f"the certificate carries the {oid_name} extension more than once "
            "(RFC 5280 §4.2), so its subjectAltName cannot be trusted",
            check="hostname",
            outcome="malformed",
            certificate=cert,
            details={"duplicate_extension": e.oid.dotted_string},
        ) from None
    except ValueError as e:
        raise MalformedInput(
            f"the certificate's extensions cannot be parsed, so its subjectAltName "
            f"cannot be read: {e}",
            check="hostname",
            outcome="malformed",
            certificate=cert,
        ) from None
    san = ext.value
    if not isinstance(san, x509.SubjectAlternativeName):  # pragma: no cover - defensive
        raise MalformedInput(
            "the subjectAltName extension has an unexpected value",
            check="hostname",
            outcome="malformed",
            certificate=cert,
        )
    dns_names: list[str] = []
    patterns: list[tuple[str, str]] = []
    addresses: list[IPAddress] = []
    skipped: list[tuple[str, str]] = []
    for gn in san:
        if isinstance(gn, x509.DNSName):
            raw = gn.value
            dns_names.append(raw)
            try:
                patterns.append((raw, _normalize_presented_dns(raw)))
            except InvalidName as e:
                skipped.append((f"DNS:{raw}", str(e)))
        elif isinstance(gn, x509.IPAddress):
            value = gn.value
            if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                addresses.append(normalize_ip(value))
            else:
                skipped.append((f"IP:{value}", "an address block, not an address"))
    return PresentedIdentifiers(
        has_san=True,
        dns_names=tuple(dns_names),
        dns_patterns=tuple(patterns),
        ip_addresses=tuple(addresses),
        skipped=tuple(skipped),
        common_names=_read_common_names(cert),
    )


# ---------------------------------------------------------------------------
# The fast path: only the dNSName entries that can match
# ---------------------------------------------------------------------------


def _dns_san_index(cert: x509.Certificate) -> dict[str, tuple[tuple[int, str], ...]] | None:
    """``{entry lower-cased without a trailing dot: ((position, entry as
    written), ...)}`` for the certificate's dNSName SAN entries; ``None`` when
    the subjectAltName is absent or unreadable. Entries are validated only
    when they are looked up."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return None
    index: dict[str, tuple[tuple[int, str], ...]] = {}
    for position, raw in enumerate(san.get_values_for_type(x509.DNSName)):
        key = raw.lower().removesuffix(".")
        index[key] = (*index.get(key, ()), (position, raw))
    return index


def _fast_dns_san_match(cert: x509.Certificate, hostname: str) -> str | None:
    """The common success case without validating every SAN entry: take the
    entries that can match ``hostname`` (itself, or ``*.`` and its parent),
    in certificate order, validate only those, and return the first that
    matches, as written. ``None`` sends the caller down the complete path
    (which also explains a mismatch and handles every unusual entry). A
    certificate seen before has its entries indexed (memoised); on first
    sight one pass over them finds the candidates."""
    dot = hostname.find(".")
    wildcard = "*" + hostname[dot:] if dot > 0 else ""
    candidates: Iterable[str]
    if CERTIFICATE_FACTS.seen_before(cert):
        index = CERTIFICATE_FACTS(cert, _dns_san_index)
        if not index:
            return None
        exact, wild = index.get(hostname, ()), index.get(wildcard, ())
        candidates = [raw for _, raw in (sorted((*exact, *wild)) if exact and wild else exact or wild)]
    else:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
            return None
        candidates = (
            raw
            for raw in san.get_values_for_type(x509.DNSName)
            if (key := raw.lower().removesuffix(".")) == hostname or key == wildcard
        )
    for raw in candidates:
        try:
            pattern = _normalize_presented_dns(raw)
        except InvalidName:
            continue
        if dns_pattern_matches(pattern, hostname):
            return raw
    return None


# ---------------------------------------------------------------------------
# Name constraints on a name from the legacy CN fallback
# ---------------------------------------------------------------------------


def _dns_constraint_matches(name: str, constraint: str) -> bool:
    """RFC 5280 §4.2.1.10 for dNSName: ``corp.example`` covers itself and every
    name below it; ``.corp.example`` only the names below it; ``""`` everything."""
    c = constraint.lower().rstrip(".")
    if not c:
        return True
    if c.startswith("."):
        return name.endswith(c)
    return name == c or name.endswith("." + c)


def _cn_name_constraint_violation(cn: str, issuers: Sequence[x509.Certificate]) -> str | None:
    """The CA whose dNSName constraints ``cn`` violates (as a description), or ``None``."""
    name = cn.lower().rstrip(".")
    for ca in issuers:
        try:
            nc = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        except ValueError:
            return f"{ca.subject.rfc4514_string()!r} (unreadable nameConstraints)"
        permitted = [g.value for g in (nc.permitted_subtrees or ()) if isinstance(g, x509.DNSName)]
        excluded = [g.value for g in (nc.excluded_subtrees or ()) if isinstance(g, x509.DNSName)]
        if any(_dns_constraint_matches(name, c) for c in excluded):
            return f"{ca.subject.rfc4514_string()!r} (excluded)"
        if permitted and not any(_dns_constraint_matches(name, c) for c in permitted):
            return f"{ca.subject.rfc4514_string()!r} (not permitted)"
    return None
