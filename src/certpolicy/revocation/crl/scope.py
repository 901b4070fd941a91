"""CRL scope: cRLDistributionPoints and issuingDistributionPoint matching (RFC 5280 §5.2.5, §6.3.3).

* :func:`distribution_points` reads a certificate's cRLDistributionPoints
  (RFC 5280 §4.2.1.13) into :class:`DistributionPoints`: the ``http``/``https``
  locations to fetch, the names certpolicy does not fetch (LDAP, directory
  names, relative names), and the cRLIssuer names of indirect CRLs.
* :func:`crl_coverage` decides which reasons a CRL covers for a certificate
  (§6.3.3(b), (d)): the CRL issuer against each distribution point's
  cRLIssuer (indirect CRLs), the issuingDistributionPoint's user / CA /
  attribute certificate flags and distribution point name against the
  certificate's points (relative names completed, and the implied point of a
  certificate without one), and onlySomeReasons intersected with the point's
  reasons; the union over several CRLs must reach :data:`ALL_REASONS`.

Pure: no clock, no network.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from cryptography import x509

from ...policy import Outcome
from .parse import CrlProblem, ParsedCrl, _der_name


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


#: RFC 5280 §6.3.2(a): every reason of the ReasonFlags bit string (all-reasons).
ALL_REASONS: frozenset[x509.ReasonFlags] = frozenset(
    r for r in x509.ReasonFlags if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl)
)


def implied_point(cert: x509.Certificate) -> x509.DistributionPoint:
    """The distribution point RFC 5280 §6.3.3 assumes for a CRL that no
    distribution point names but that the certificate's issuer issued: no
    reasons, no cRLIssuer, and the certificate issuer's name as its name."""
    return x509.DistributionPoint(
        full_name=[x509.DirectoryName(cert.issuer)], relative_name=None, reasons=None, crl_issuer=None
    )


def _point_names(
    full: list[x509.GeneralName] | None, relative: x509.RelativeDistinguishedName | None, base: x509.Name
) -> list[x509.GeneralName]:
    """A distributionPoint name as general names: the fullName, or the
    nameRelativeToCRLIssuer appended to ``base`` (RFC 5280 §4.2.1.13, §5.2.5)."""
    if full:
        return list(full)
    if relative is not None:
        return [x509.DirectoryName(x509.Name([*base.rdns, relative]))]
    return []


def _shown(names: list[x509.GeneralName]) -> str:
    out = []
    for n in names:
        value = n.value
        out.append(value.rfc4514_string() if isinstance(value, x509.Name) else str(value))
    return ", ".join(out)


def point_problem(crl: ParsedCrl, cert: x509.Certificate, dp: x509.DistributionPoint) -> str | None:
    """RFC 5280 §6.3.3(b)(1) and (b)(2)(i): may ``crl`` be the CRL of ``cert``'s
    distribution point ``dp``? Returns why not, or ``None``.

    (b)(1): a point with cRLIssuer wants an indirect CRL (issuingDistributionPoint
    indirectCRL) issued by one of those names; any other point a CRL issued by
    the certificate's issuer. (b)(2)(i): when the issuingDistributionPoint has a
    distribution point name, one of its names matches one of the point's names
    (relative names completed with the CRL issuer's / the point's cRLIssuer or
    certificate issuer's name), or, for a point without a name, one of its
    cRLIssuer names.
    """
    crl_issuers = [n.value for n in dp.crl_issuer or () if isinstance(n, x509.DirectoryName)]
    if dp.crl_issuer:
        if all(_der_name(n) != crl.issuer_der for n in crl_issuers):
            return (
                f"the distribution point wants a CRL from its cRLIssuer {_shown(list(dp.crl_issuer))}, "
                f"not from {crl.issuer.rfc4514_string()}"
            )
        if not crl.indirect:
            return "the distribution point names a cRLIssuer, and the CRL is not an indirect CRL (RFC 5280 §6.3.3(b)(1))"
    elif crl.issuer_der != _der_name(cert.issuer):
        return f"the CRL is issued by {crl.issuer.rfc4514_string()}, not by the certificate's issuer"
    idp = crl.idp
    if idp is None or not (idp.full_name or idp.relative_name is not None):
        return None
    wanted = _point_names(idp.full_name, idp.relative_name, crl.issuer)
    if dp.full_name or dp.relative_name is not None:
        base = crl_issuers[0] if crl_issuers else cert.issuer
        names = _point_names(dp.full_name, dp.relative_name, base)
    else:
        names = list(dp.crl_issuer or ())
    if any(n in wanted for n in names):
        return None
    return (
        f"the CRL's issuingDistributionPoint ({_shown(wanted)}) is not one of the certificate's "
        "distribution points"
    )


def _kind_problem(crl: ParsedCrl, cert: x509.Certificate) -> str | None:
    """RFC 5280 §6.3.3(b)(2)(ii)-(iv): user / CA / attribute certificates only."""
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
    return None


def interim_reasons(crl: ParsedCrl, dp: x509.DistributionPoint) -> frozenset[x509.ReasonFlags]:
    """RFC 5280 §6.3.3(d): the reasons ``crl`` covers for the distribution
    point ``dp``: onlySomeReasons of the issuingDistributionPoint intersected
    with the point's reasons, either alone when the other is absent, or
    all-reasons when both are."""
    idp_reasons = crl.idp.only_some_reasons if crl.idp is not None else None
    out = ALL_REASONS
    if idp_reasons:
        out = out & frozenset(idp_reasons)
    if dp.reasons:
        out = out & frozenset(dp.reasons)
    return out


def crl_coverage(
    crl: ParsedCrl, cert: x509.Certificate, dps: DistributionPoints
) -> tuple[frozenset[x509.ReasonFlags], str | None]:
    """RFC 5280 §6.3.3(b) and (d) for every distribution point of ``cert``
    and the implied one (:func:`implied_point`): the reasons ``crl`` covers
    for ``cert`` (the union of :func:`interim_reasons` over the points it
    serves), and why it covers nothing when that set is empty.

    Returns:
        ``(reasons, problem)``: ``problem`` is ``None`` exactly when
        ``reasons`` is not empty.
    """
    kind = _kind_problem(crl, cert)
    if kind is not None:
        return frozenset(), kind
    covered: set[x509.ReasonFlags] = set()
    problems: list[str] = []
    for dp in (*dps.points, implied_point(cert)):
        why = point_problem(crl, cert, dp)
        if why is None:
            covered |= interim_reasons(crl, dp)
            if not interim_reasons(crl, dp):
                problems.append("the CRL covers none of the reasons of the distribution point (RFC 5280 §6.3.3(e))")
        else:
            problems.append(why)
    if covered:
        return frozenset(covered), None
    return frozenset(), problems[0] if problems else "the CRL does not cover the certificate"
