"""``getpeercert()`` in the dict form CPython returns for a verified peer.

OpenSSL's own verification is off on a certpolicy context, so CPython would
return ``{}``; callers (``ssl.match_hostname``-style code, logging, Tornado,
urllib3 with ``assert_hostname``) expect the usual dict. It is built here
from the DER leaf with ``cryptography``, with OpenSSL's long attribute names.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

_LONG_NAMES = {
    NameOID.COMMON_NAME: "commonName",
    NameOID.COUNTRY_NAME: "countryName",
    NameOID.LOCALITY_NAME: "localityName",
    NameOID.STATE_OR_PROVINCE_NAME: "stateOrProvinceName",
    NameOID.STREET_ADDRESS: "streetAddress",
    NameOID.ORGANIZATION_NAME: "organizationName",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organizationalUnitName",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "surname",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.TITLE: "title",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.DOMAIN_COMPONENT: "domainComponent",
    NameOID.USER_ID: "userId",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
}


def _name(name: x509.Name) -> tuple[tuple[tuple[str, str], ...], ...]:
    out = []
    for rdn in name.rdns:
        out.append(
            tuple(
                (_LONG_NAMES.get(a.oid, a.oid.dotted_string), a.value if isinstance(a.value, str) else a.value.hex())
                for a in rdn
            )
        )
    return tuple(out)


def _time(value: Any) -> str:
    # CPython: ASN1_TIME_print, e.g. 'Nov 29 08:20:22 2027 GMT' (day padded with a space).
    return str(value.strftime("%b ")) + f"{value.day:2d}" + str(value.strftime(" %H:%M:%S %Y GMT"))


def _san(gn: x509.GeneralName) -> tuple[str, str] | None:
    if isinstance(gn, x509.DNSName):
        return ("DNS", gn.value)
    if isinstance(gn, x509.IPAddress):
        v = gn.value
        text = str(v)
        if isinstance(v, ipaddress.IPv6Address):
            text = ":".join(f"{int.from_bytes(v.packed[i:i + 2], 'big'):X}" for i in range(0, 16, 2))
        return ("IP Address", text)
    if isinstance(gn, x509.RFC822Name):
        return ("email", gn.value)
    if isinstance(gn, x509.UniformResourceIdentifier):
        return ("URI", gn.value)
    if isinstance(gn, x509.DirectoryName):
        return ("DirName", str(_name(gn.value)))
    if isinstance(gn, x509.RegisteredID):
        return ("Registered ID", gn.value.dotted_string)
    return ("othername", "<unsupported>")


@functools.lru_cache(maxsize=256)
def peercert_dict(der: bytes) -> dict[str, Any]:
    """The ``ssl.SSLSocket.getpeercert()`` dict for the DER certificate ``der``.

    Returns:
        ``{"subject", "issuer", "version", "serialNumber", "notBefore",
        "notAfter", "subjectAltName"?, "OCSP"?, "caIssuers"?,
        "crlDistributionPoints"?}`` as CPython builds it. Extensions that cannot
        be parsed are left out (the certificate was verified by then).
    """
    cert = x509.load_der_x509_certificate(der)
    result: dict[str, Any] = {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "version": cert.version.value + 1,
        "serialNumber": f"{cert.serial_number:X}".rjust(2, "0"),
        "notBefore": _time(cert.not_valid_before_utc),
        "notAfter": _time(cert.not_valid_after_utc),
    }
    if len(result["serialNumber"]) % 2:
        result["serialNumber"] = "0" + result["serialNumber"]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        result["subjectAltName"] = tuple(x for x in (_san(g) for g in san) if x is not None)
    except (x509.ExtensionNotFound, ValueError):
        pass
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp = tuple(d.access_location.value for d in aia if d.access_method.dotted_string == "1.3.6.1.5.5.7.48.1" and isinstance(d.access_location, x509.UniformResourceIdentifier))
        ca = tuple(d.access_location.value for d in aia if d.access_method.dotted_string == "1.3.6.1.5.5.7.48.2" and isinstance(d.access_location, x509.UniformResourceIdentifier))
        if ocsp:
            result["OCSP"] = ocsp
        if ca:
            result["caIssuers"] = ca
    except (x509.ExtensionNotFound, ValueError):
        pass
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        urls = tuple(
            n.value for dp in cdp for n in (dp.full_name or ()) if isinstance(n, x509.UniformResourceIdentifier)
        )
        if urls:
            result["crlDistributionPoints"] = urls
    except (x509.ExtensionNotFound, ValueError):
        pass
    return result
