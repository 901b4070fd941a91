"""CRL scope: cRLDistributionPoints and issuingDistributionPoint matching (RFC 5280 §5.2.5, §6.3.3).

* :func:`distribution_points` reads a certificate's cRLDistributionPoints
  (RFC 5280 §4.2.1.13) into :class:`DistributionPoints`: the ``http``/``https``
  locations to fetch, the names certpolicy does not fetch (LDAP, directory
  names, relative names), and the cRLIssuer names of indirect CRLs.
* ``_scope_problem`` decides whether a CRL's issuingDistributionPoint covers
  a certificate (§6.3.3(b)): user / CA / attribute certificates only, and a
  distribution point name matching one of the certificate's;
  ``_partial_reasons`` gives the onlySomeReasons of a partial CRL.

Pure: no clock, no network.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from cryptography import x509

from ...policy import Outcome
from .parse import CrlProblem, ParsedCrl


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


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


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
