"""RFC 5280 §5 rules about CRL fields and extensions: what makes a CRL unusable before anything else is read.

A CRL that breaks one of these MUSTs is *not used* (RFC 5280 §5.2, §5.3: a
CRL with a critical extension or entry extension that cannot be processed
MUST NOT be used to determine the status of any certificate); the CRL check
answers ``unknown`` for it (the status is undetermined, RFC 5280 §6.3.3), a
non-definite outcome that the default (hard-fail) outcome map rejects. Each rule gives one sentence naming the
section:

* §5.1.1.2 / §5.1.2.2: the ``signature`` field of tbsCertList equals the
  outer ``signatureAlgorithm`` (cryptography already refuses to load such a
  CRL; checked again for CRLs handed over as objects);
* §5.1.2.1: a CRL with extensions (every CRL of this profile: cRLNumber is
  required) or with entry extensions is version 2;
* §5.1.2.3: the issuer is a non-empty distinguished name;
* §5.1.2.4 / §5.1.2.5: thisUpdate and nextUpdate are UTCTime through 2049
  and GeneralizedTime from 2050;
* §5.2: criticality. cRLNumber (§5.2.3), freshestCRL (§5.2.6) and
  authorityInfoAccess (§5.2.7) are non-critical; deltaCRLIndicator (§5.2.4)
  and issuingDistributionPoint (§5.2.5) are critical. An unknown critical
  extension is refused (:data:`KNOWN_CRL_EXTENSIONS` lists those processed);
* §5.2.3 / §5.2.4: cRLNumber and BaseCRLNumber fit in 20 octets
  (``INTEGER (0..MAX)``: cryptography already refuses a negative one, 0 is
  allowed);
* §5.3: entry extensions. reasonCode (§5.3.1) and invalidityDate (§5.3.2)
  are non-critical; certificateIssuer (§5.3.3) is critical and appears only
  in an indirect CRL; ``removeFromCRL`` appears only in a delta CRL
  (§5.3.1); an unknown critical entry extension is refused, on *any* entry of
  the CRL, not only on the entry looked up.

An empty issuingDistributionPoint and one asserting more than one
``onlyContains...`` flag (§5.2.5) do not parse in cryptography and are
refused as ``malformed`` by :class:`~.parse.ParsedCrl` itself.

Pure: no clock, no network. The fields cryptography does not expose
(version, the inner signature algorithm, the time encodings, the raw
revokedCertificates bytes) are read with asn1crypto, lazily: a CRL of
100,000 entries costs a few milliseconds here, and the entries' extensions
are parsed only when their bytes can hold a critical flag, a
certificateIssuer or a removeFromCRL reason.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

__all__ = ["KNOWN_CRL_EXTENSIONS", "crl_problems", "entry_problems"]

#: CRL extensions certpolicy processes (RFC 5280 §5.2); any other critical
#: extension makes the CRL unusable (§5.2: MUST NOT use it).
KNOWN_CRL_EXTENSIONS = frozenset(
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

#: RFC 5280 §5.2: extensions whose criticality the RFC fixes (True: MUST be critical).
_CRITICALITY: dict[x509.ObjectIdentifier, tuple[bool, str]] = {
    ExtensionOID.CRL_NUMBER: (False, "cRLNumber is a non-critical CRL extension (RFC 5280 §5.2.3)"),
    ExtensionOID.DELTA_CRL_INDICATOR: (True, "deltaCRLIndicator is a critical CRL extension (RFC 5280 §5.2.4)"),
    ExtensionOID.ISSUING_DISTRIBUTION_POINT: (
        True,
        "issuingDistributionPoint is a critical CRL extension (RFC 5280 §5.2.5)",
    ),
    ExtensionOID.FRESHEST_CRL: (False, "freshestCRL MUST be non-critical (RFC 5280 §5.2.6)"),
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: (
        False,
        "authorityInfoAccess in a CRL MUST be non-critical (RFC 5280 §5.2.7)",
    ),
}

#: RFC 5280 §5.3: entry extensions whose criticality the RFC fixes.
_ENTRY_CRITICALITY: dict[x509.ObjectIdentifier, tuple[bool, str]] = {
    CRLEntryExtensionOID.CRL_REASON: (False, "reasonCode is a non-critical CRL entry extension (RFC 5280 §5.3.1)"),
    CRLEntryExtensionOID.INVALIDITY_DATE: (
        False,
        "invalidityDate is a non-critical CRL entry extension (RFC 5280 §5.3.2)",
    ),
    CRLEntryExtensionOID.CERTIFICATE_ISSUER: (
        True,
        "certificateIssuer MUST always be critical (RFC 5280 §5.3.3)",
    ),
}

#: Byte patterns that an entry extension this module refuses must contain:
#: a critical flag (``BOOLEAN TRUE`` before the extnValue OCTET STRING), the
#: certificateIssuer OID, and the reasonCode extnValue removeFromCRL (8).
#: Without any of them in the revokedCertificates bytes, no entry can break
#: an entry rule and the entries are not parsed here (a pattern that occurs
#: by chance, in a serial number, only costs the full scan).
_ENTRY_SUSPECTS = (b"\x01\x01\xff\x04", b"\x06\x03\x55\x1d\x1d", b"\x04\x03\x0a\x01\x08")

#: RFC 5280 §5.2.3: "CRL verifiers MUST be able to handle CRLNumber values up
#: to 20 octets. Conforming CRL issuers MUST NOT use CRLNumber values longer
#: than 20 octets."
_MAX_CRL_NUMBER = 2 ** (8 * 20 - 1) - 1


def _extension_problems(exts: x509.Extensions) -> list[str]:
    problems: list[str] = []
    for ext in exts:
        rule = _CRITICALITY.get(ext.oid)
        if rule is not None and ext.critical is not rule[0]:
            problems.append(f"{rule[1]}, and this CRL marks it {'critical' if ext.critical else 'non-critical'}")
        elif ext.critical and ext.oid not in KNOWN_CRL_EXTENSIONS:
            problems.append(f"unsupported critical CRL extension {ext.oid.dotted_string} (RFC 5280 §5.2)")
        value = ext.value
        if isinstance(value, (x509.CRLNumber, x509.DeltaCRLIndicator)) and value.crl_number > _MAX_CRL_NUMBER:
            what = "cRLNumber" if isinstance(value, x509.CRLNumber) else "BaseCRLNumber"
            problems.append(f"the {what} is longer than 20 octets (RFC 5280 §5.2.3)")
    return problems


def _der_problems(der: bytes, has_extensions: bool) -> tuple[list[str], bytes]:
    """Version, inner signature algorithm and time encodings (asn1crypto);
    returns the problems and the raw revokedCertificates bytes."""
    from asn1crypto import crl as a_crl

    try:
        outer = a_crl.CertificateList.load(der)
        tbs = outer["tbs_cert_list"]
        version = tbs["version"].native
        same_alg = tbs["signature"].dump() == outer["signature_algorithm"].dump()
        times = [("thisUpdate", tbs["this_update"])]
        if tbs["next_update"].native is not None:
            times.append(("nextUpdate", tbs["next_update"]))
        entries = tbs["revoked_certificates"].contents or b""
    except (ValueError, TypeError, KeyError) as e:
        return [f"the CRL structure does not parse: {e}"], b""
    problems: list[str] = []
    if not same_alg:
        problems.append(
            "the tbsCertList signature algorithm differs from the CRL's signatureAlgorithm (RFC 5280 §5.1.1.2)"
        )
    if has_extensions and version != "v2":
        problems.append(
            f"a CRL with extensions must be version 2 (RFC 5280 §5.1.2.1), this one is {version or 'v1'}"
        )
    for label, t in times:
        year = t.native.year
        kind = t.name
        if (year < 2050) != (kind == "utc_time"):
            want = "UTCTime" if year < 2050 else "GeneralizedTime"
            problems.append(f"{label} in {year} must be encoded as {want} (RFC 5280 §5.1.2.4)")
    return problems, entries


def entry_problems(
    entry: x509.RevokedCertificate, *, indirect: bool, delta: bool
) -> list[str]:
    """The RFC 5280 §5.3 problems of one revoked-certificate entry.

    Args:
        entry: the entry.
        indirect: the CRL is indirect (issuingDistributionPoint indirectCRL).
        delta: the CRL is a delta CRL.

    Returns:
        one sentence per problem (empty: the entry is usable).

    Raises:
        ValueError: an entry extension does not parse (cryptography's error).
    """
    problems: list[str] = []
    serial = entry.serial_number
    for ext in entry.extensions:
        rule = _ENTRY_CRITICALITY.get(ext.oid)
        if rule is not None and ext.critical is not rule[0]:
            problems.append(f"entry {serial:#x}: {rule[1]}")
        elif rule is None and ext.critical:
            problems.append(
                f"entry {serial:#x} has an unsupported critical extension {ext.oid.dotted_string} (RFC 5280 §5.3)"
            )
        value = ext.value
        if isinstance(value, x509.CertificateIssuer) and not indirect:
            problems.append(
                f"entry {serial:#x} carries certificateIssuer in a CRL that is not indirect (RFC 5280 §5.3.3)"
            )
        if isinstance(value, x509.CRLReason) and value.reason is x509.ReasonFlags.remove_from_crl and not delta:
            problems.append(
                f"entry {serial:#x} has reason removeFromCRL in a complete CRL; it is for delta CRLs only "
                "(RFC 5280 §5.3.1)"
            )
    return problems


def crl_problems(crl: x509.CertificateRevocationList, der: bytes, *, indirect: bool, delta: bool) -> list[str]:
    """Every RFC 5280 §5 rule that ``crl`` breaks, one sentence each.

    Args:
        crl: the CRL (its extensions already parse).
        der: its DER encoding.
        indirect, delta: the CRL is indirect / a delta CRL.

    Returns:
        the problems; empty when the CRL may be used.

    Raises:
        ValueError: an entry extension does not parse.
    """
    exts = crl.extensions
    problems = _extension_problems(exts)
    if len(crl.issuer) == 0:
        problems.append("the CRL issuer is an empty name (RFC 5280 §5.1.2.3)")
    der_problems, entries = _der_problems(der, len(exts) > 0)
    problems += der_problems
    if entries and any(p in entries for p in _ENTRY_SUSPECTS):
        for entry in crl:
            found = entry_problems(entry, indirect=indirect, delta=delta)
            if found:
                problems += found[:1]
                break  # one entry is enough to refuse the CRL
    return problems
