"""A private PKI in a few lines: root and intermediate CAs, server, client and
OCSP-responder certificates, CRLs and OCSP responses, built with
:mod:`cryptography`.

The API follows trustme's shape (one obvious call with good defaults, nouns
``CA`` and ``IssuedCert``, adapters that configure an :class:`ssl.SSLContext`
rather than wrap it), but the certificates follow the RFC 5280 / CA/Browser
Forum profiles closely enough that :mod:`cryptography.x509.verification`
(``ServerVerifier`` / ``ClientVerifier``), OpenSSL and Java accept them::

    from certpolicy.pki import CA

    root = CA.create("Acme Root CA")                    # EC P-256, 10 years
    issuing = root.create_intermediate("Acme Issuing CA")
    server = issuing.issue_server("api.acme.example", "10.0.0.5")
    client = issuing.issue_client("mid-01.acme.example")

    server.configure_cert(server_ctx)   # cert chain (leaf + intermediate) + key
    root.configure_trust(client_ctx)    # the root as trust anchor

Profiles (RFC 5280 §4.2.1):

* CA certificates: basicConstraints ``cA=TRUE`` (critical, optional
  pathLenConstraint), keyUsage ``keyCertSign, cRLSign`` (critical), subject key
  identifier, authority key identifier (intermediates), optional
  nameConstraints (critical), optional CRL distribution point and authority
  information access (OCSP, caIssuers) pointing at the *parent's* services.
* Leaves: basicConstraints ``cA=FALSE`` (critical), keyUsage
  ``digitalSignature`` (+ ``keyEncipherment`` for RSA keys) (critical),
  extendedKeyUsage (``serverAuth`` / ``clientAuth`` / ``OCSPSigning``), SKI, AKI,
  subjectAltName (dNSName / iPAddress / rfc822Name / uniformResourceIdentifier),
  optional CRL distribution point, AIA, OCSP must-staple, id-pkix-ocsp-nocheck.
* Serial numbers are random positive 159-bit integers (CA/B BR §7.1).

Times are timezone-aware :class:`datetime.datetime` objects; a naive datetime
is refused with :class:`ValueError` rather than guessed.
"""

from .ca import CA
from .keys import (
    KeyType,
    PrivateKey,
    generate_key,
    load_private_key,
    private_key_pem,
    write_private_file,
)
from .leaf import IssuedCert, PemPaths
from .profiles import EKU_NAMES, eku_oid
from .revocation import RevokedEntry as RevokedEntry
from .revocation import reason_flag as reason_flag

__all__ = [
    "CA",
    "EKU_NAMES",
    "IssuedCert",
    "KeyType",
    "PemPaths",
    "PrivateKey",
    "eku_oid",
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "write_private_file",
]
