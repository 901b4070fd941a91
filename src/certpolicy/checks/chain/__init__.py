"""The chain check: does the presented chain lead to a trust anchor? (parse, rules, verifiers, explain, check)

Certification path building and validation (RFC 5280 §6.1, RFC 4158) are done
by :mod:`cryptography.x509.verification`: a fast, DoS-hardened path builder that
tries alternative paths (backtracking), checks every certificate's validity
period (the trust anchor's included), signatures, basicConstraints and
pathLenConstraint, keyUsage, name constraints, the maximum depth and the Web
PKI algorithm rules (RSA >= 2048 bits, P-256/P-384/P-521, SHA-2).

Hostname matching is *not* done here (that is
:class:`~certpolicy.checks.hostname.HostnameCheck`, which knows the policy's CN
fallback): the verifier is a chain-only ``ClientVerifier`` whose end-entity
extension policy makes the subjectAltName optional and requires the policy's
extended key usage (serverAuth by default) instead of clientAuth. A
``ServerVerifier`` cannot do that: it insists on a SAN that matches a name, so
it would reject what the legacy CN fallback accepts and report name problems as
chain problems. When the host is known, a ``ServerVerifier`` is tried first
for speed (cryptography's own all-Rust Web PKI profile for chains seen before,
one with certpolicy's CA rules otherwise: see ``_ServerVerifiers``): its
success implies the chain-only verdict, and only a failure on the leaf itself
(another name, no SAN, anyExtendedKeyUsage alone) falls back to the
chain-only verifier.

On top of cryptography, certpolicy adds (each measured against x509-limbo, see
``docs/conformance.md``):

* the extended key usage rule: an extKeyUsage extension on the end-entity or a
  CA certificate must list the required purpose (serverAuth) or
  anyExtendedKeyUsage; absent means unrestricted (RFC 5280 §4.2.1.12);
* CA certificates below the trust anchor must carry a subjectKeyIdentifier and
  (unless self-issued) an authorityKeyIdentifier keyIdentifier (RFC 5280
  §4.2.1.1, §4.2.1.2);
* the end-entity key must be RSA of at least 2048 bits, ECDSA on P-256, P-384
  or P-521, or Ed25519/Ed448 (cryptography checks only the keys that sign
  something); RSA moduli on the whole path must be a multiple of 8 bits
  (CA/B BR 6.1.5);
* a subject commonName that names one of the certificate's SAN identities
  must be a character-for-character copy of it (CA/B BR 7.1.4.3): no
  ``Example.COM`` for ``example.com``, no ``192.168.001.001`` for
  ``192.168.1.1``, no U-label for an A-label;
* the subjectAltName, when present, is critical exactly when the subject is
  empty (RFC 5280 §4.2.1.6, CA/B BR 7.1.2.7.12), as cryptography's server
  profile requires;
* a self-signed trust anchor whose authorityKeyIdentifier contradicts its own
  subjectKeyIdentifier is refused;
* every certificate on the returned path, the trust anchor included, is
  re-checked against the validation time (SPEC "Checks");
* a self-signed endpoint certificate that is itself a trust anchor is a path of
  one certificate even when it fails the end-entity profile (``cA=TRUE``, no
  AKI), as the agent's trust-store import does; it must still be valid at the
  validation time, correctly self-signed and allow the required EKU;
* chains through a CA whose name constraints use directoryName subtrees, which
  cryptography refuses as unsupported, are validated by pyhanko-certvalidator
  instead (RFC 5280 §4.2.1.10, §6.1.3(b)-(c)), bounded to
  :data:`PYHANKO_TIMEOUT` seconds, followed by certpolicy's own rules;
* missing intermediates are fetched from the caIssuers URL when the policy's
  ``TrustSpec.aia_fetch`` allows it (:mod:`certpolicy.aia`);
* every input is bounded: :func:`parse_chain` rejects more than
  :data:`MAX_CHAIN_CERTS` certificates, chains over :data:`MAX_CHAIN_BYTES`,
  certificates over :data:`MAX_CERT_BYTES`, undecodable DER/PEM and a leaf with
  duplicate or unreadable extensions.

Example::

    from certpolicy import ChainCheck
    from certpolicy.policy import TrustSpec

    check = ChainCheck(TrustSpec(system=False, extra=("certs/corp-root.pem",)))
    path = check.check(presented_chain, "api.corp.example")   # leaf ... trust anchor
"""

from __future__ import annotations

from .check import DEFAULT_MAX_CHAIN_DEPTH, ChainCheck
from .parse import MAX_CERT_BYTES, MAX_CHAIN_BYTES, MAX_CHAIN_CERTS, parse_chain
from .verifiers import PYHANKO_TIMEOUT

__all__ = [
    "DEFAULT_MAX_CHAIN_DEPTH",
    "MAX_CERT_BYTES",
    "MAX_CHAIN_BYTES",
    "MAX_CHAIN_CERTS",
    "PYHANKO_TIMEOUT",
    "ChainCheck",
    "parse_chain",
]
