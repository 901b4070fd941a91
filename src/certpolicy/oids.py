"""RFC 5280 names of object identifiers: the extended key usages (pure, I/O free)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = ["EKU_NAMES", "eku_name"]

EKU_NAMES: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "anyExtendedKeyUsage": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}
"""RFC 5280 §4.2.1.12 short names of the extended key usages, and their OIDs."""

_NAME_OF = {oid: name for name, oid in EKU_NAMES.items()}


def eku_name(oid: x509.ObjectIdentifier) -> str:
    """The RFC 5280 §4.2.1.12 name of an extended key usage (``"serverAuth"``),
    else its dotted OID (``"1.3.6.1.5.5.7.3.17"``)."""
    return _NAME_OF.get(oid, oid.dotted_string)
