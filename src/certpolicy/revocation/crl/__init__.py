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

Modules, in import order (each imports only those before it; none imports
this package):

* :mod:`.rules`: the RFC 5280 §5 rules on CRL fields and extensions
  (criticality, version, CRL number, entry extensions);
* :mod:`.parse`: bytes to CRLs, :class:`ParsedCrl`, static CRL files;
* :mod:`.scope`: distribution points, issuingDistributionPoint scope and the
  reasons a CRL covers (§6.3.3(b), (d));
* :mod:`.signer`: the CRL issuer's own certification path (§6.3.3(f)),
  validated by pyhanko-certvalidator;
* :mod:`.evaluate`: signer authorisation, signature, time window, delta CRLs,
  the certificate's status, reasons masks combined over several CRLs;
* :mod:`.fetch`: :class:`CrlSource`, downloads, cache and background refresh.
"""

from __future__ import annotations

from .evaluate import authorise_crl, combine_reasons, evaluate_crl, evaluate_crl_reasons
from .evaluate import status_for as status_for
from .evaluate import usable_until as usable_until
from .fetch import Clock as Clock
from .fetch import CrlSource
from .fetch import Fetcher as Fetcher
from .parse import CrlProblem, ParsedCrl, RevokedInfo, load_crl, load_crl_files, load_crls
from .scope import ALL_REASONS, DistributionPoints, crl_coverage, distribution_points
from .signer import validate_crl_signer

__all__ = [
    "ALL_REASONS",
    "CrlProblem",
    "CrlSource",
    "DistributionPoints",
    "ParsedCrl",
    "RevokedInfo",
    "authorise_crl",
    "combine_reasons",
    "crl_coverage",
    "distribution_points",
    "evaluate_crl",
    "evaluate_crl_reasons",
    "load_crl",
    "load_crl_files",
    "load_crls",
    "validate_crl_signer",
]
