"""CRL and OCSP issuing of the private PKI: the revocation record, CRLs and OCSP responses.

:class:`~certpolicy.pki.CA` inherits these methods from ``_RevocationIssuing``:
:meth:`revoke` records a revocation, :meth:`issue_crl` signs a CRL (RFC 5280 §5)
and :meth:`ocsp_response` an OCSP response (RFC 6960 §4.2) from that record.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from .keys import PrivateKey, _sign_hash
from .leaf import IssuedCert
from .profiles import _aki_for, _aware, _now

__all__ = ["RevokedEntry", "reason_flag"]


def reason_flag(name: str) -> x509.ReasonFlags:
    """The :class:`x509.ReasonFlags` for ``"keyCompromise"`` / ``"key_compromise"``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    wanted = name.replace("_", "").replace("-", "").lower()
    for flag in x509.ReasonFlags:
        if flag.name.replace("_", "").lower() == wanted or flag.value.lower() == wanted:
            return flag
    raise ValueError(f"unknown CRL reason {name!r}; known: {', '.join(f.value for f in x509.ReasonFlags)}")


def _serial_of(item: x509.Certificate | IssuedCert | _RevocationIssuing | int) -> int:
    if isinstance(item, int):
        return item
    return item.cert.serial_number if not isinstance(item, x509.Certificate) else item.serial_number


class _RevocationIssuing:
    """The revocation half of :class:`~certpolicy.pki.CA` (its base class): the
    record kept by :meth:`revoke`, and the CRLs and OCSP responses signed from it."""

    cert: x509.Certificate
    key: PrivateKey
    _revoked: dict[int, tuple[x509.ReasonFlags | None, _dt.datetime]]
    _crl_number: int

    def revoke(
        self,
        cert_or_serial: x509.Certificate | IssuedCert | _RevocationIssuing | int,
        reason: x509.ReasonFlags | str | None = None,
        when: _dt.datetime | None = None,
    ) -> None:
        """Record a revocation; :meth:`issue_crl` and :meth:`ocsp_response`
        use the record when not told otherwise.

        Args:
            cert_or_serial: a certificate issued by this CA, or its serial number.
            reason: CRLReason (RFC 5280 §5.3.1): a :class:`x509.ReasonFlags`, its
                name (``"keyCompromise"`` or ``"key_compromise"``) or ``None``.
            when: revocationDate (default: now).

        Raises:
            ValueError: an unknown reason name.
        """
        when = _aware(when, "when") if when is not None else _now()
        if isinstance(reason, str):
            reason = reason_flag(reason)
        self._revoked[_serial_of(cert_or_serial)] = (reason, when)

    @property
    def revoked_serials(self) -> dict[int, tuple[x509.ReasonFlags | None, _dt.datetime]]:
        """Serials recorded by :meth:`revoke`: ``{serial: (reason, revocation_date)}``."""
        return dict(self._revoked)

    def issue_crl(
        self,
        revoked: Iterable[RevokedEntry] | None = None,
        *,
        this_update: _dt.datetime | None = None,
        next_update: _dt.datetime | None = None,
        crl_number: int | None = None,
        idp_url: str | None = None,
        signer: _RevocationIssuing | IssuedCert | PrivateKey | None = None,
        next_update_days: float = 7,
    ) -> x509.CertificateRevocationList:
        """Issue a CRL (RFC 5280 §5) signed by this CA.

        Args:
            revoked: entries ``cert_or_serial``, ``(cert_or_serial, reason)`` or
                ``(cert_or_serial, reason, revocation_date)``; default: the
                serials recorded with :meth:`revoke`.
            this_update: thisUpdate (default now - 1 minute).
            next_update: nextUpdate (default thisUpdate + ``next_update_days``).
            crl_number: cRLNumber (default: 1, 2, 3 ... per CA).
            idp_url: add a critical issuingDistributionPoint with this full name.
            signer: sign with another CA / certificate (its subject becomes
                the CRL issuer; an indirect CRL), or with a bare private key
                (keeps this CA's name: a CRL with a bad signature, for tests).

        Returns:
            :class:`cryptography.x509.CertificateRevocationList`.
        """
        this_update = _aware(this_update, "this_update") if this_update else _now() - _dt.timedelta(minutes=1)
        next_update = (
            _aware(next_update, "next_update")
            if next_update
            else this_update + _dt.timedelta(days=next_update_days)
        )
        if crl_number is None:
            self._crl_number += 1
            crl_number = self._crl_number
        issuer_name = self.cert.subject
        sign_key: PrivateKey = self.key
        aki_cert: x509.Certificate | None = self.cert
        if isinstance(signer, (_RevocationIssuing, IssuedCert)):  # CA is the only subclass
            issuer_name = signer.cert.subject
            sign_key = signer.key
            aki_cert = signer.cert
        elif signer is not None:
            sign_key = signer
            aki_cert = None
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer_name)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(crl_number), critical=False)
        )
        if aki_cert is not None:
            builder = builder.add_extension(_aki_for(aki_cert), critical=False)
        if idp_url:
            builder = builder.add_extension(
                x509.IssuingDistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(idp_url)],
                    relative_name=None,
                    only_contains_user_certs=False,
                    only_contains_ca_certs=False,
                    only_some_reasons=None,
                    indirect_crl=False,
                    only_contains_attribute_certs=False,
                ),
                critical=True,
            )
        entries: list[tuple[int, x509.ReasonFlags | None, _dt.datetime]] = []
        if revoked is None:
            entries = [(s, r, w) for s, (r, w) in self._revoked.items()]
        else:
            for item in revoked:
                if isinstance(item, tuple):
                    serial = _serial_of(item[0])
                    reason = item[1] if len(item) > 1 else None
                    when_raw = item[2] if len(item) > 2 else None
                    when = _aware(when_raw, "revocation_date") if when_raw else this_update
                    entries.append((serial, reason, when))
                else:
                    entries.append((_serial_of(item), None, this_update))
        for serial, reason, when in entries:
            rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            if reason is not None:
                rb = rb.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(rb.build())
        return builder.sign(sign_key, _sign_hash(sign_key))

    def ocsp_response(
        self,
        cert: x509.Certificate | IssuedCert,
        *,
        status: Literal["good", "revoked", "unknown"] | None = None,
        responder: IssuedCert | _RevocationIssuing | None = None,
        this_update: _dt.datetime | None = None,
        next_update: _dt.datetime | None = None,
        next_update_days: float | None = 1,
        produced_at: _dt.datetime | None = None,
        revocation_time: _dt.datetime | None = None,
        reason: x509.ReasonFlags | None = None,
        nonce: bytes | None = None,
        request: ocsp.OCSPRequest | None = None,
        include_responder_cert: bool = True,
        responder_id_by_key: bool = False,
    ) -> ocsp.OCSPResponse:
        """Build a signed OCSP response (RFC 6960 §4.2) for ``cert`` issued by this CA.

        Args:
            cert: the certificate asked about.
            status: ``"good"``, ``"revoked"`` or ``"unknown"`` (default: revoked
                when recorded with :meth:`revoke`, else good).
            responder: the signer: ``None`` (this CA signs), a delegated
                responder from :meth:`issue_ocsp_responder`, or any other
                certificate / CA (an unauthorised signer, for tests).
            this_update / next_update: default now - 1 minute and
                thisUpdate + ``next_update_days`` (``None``: no nextUpdate).
            produced_at: ignored by cryptography (it stamps "now"); kept for symmetry.
            revocation_time, reason: for ``"revoked"`` (defaults from :meth:`revoke`).
            nonce: add a nonce extension (RFC 8954); with ``request`` given,
                its nonce is echoed when ``nonce`` is ``None``.
            request: the parsed request; the hash algorithm of its CertID is used.
            include_responder_cert: put the delegated responder's certificate in ``certs``.
            responder_id_by_key: identify the responder by key hash instead of name.

        Returns:
            :class:`cryptography.x509.ocsp.OCSPResponse`.
        """
        del produced_at
        leaf = cert.cert if isinstance(cert, IssuedCert) else cert
        serial = leaf.serial_number
        if status is None:
            status = "revoked" if serial in self._revoked else "good"
        this_update = _aware(this_update, "this_update") if this_update else _now() - _dt.timedelta(minutes=1)
        if next_update is not None:
            nu: _dt.datetime | None = _aware(next_update, "next_update")
        elif next_update_days is not None:
            nu = this_update + _dt.timedelta(days=next_update_days)
        else:
            nu = None
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status]
        rev_time: _dt.datetime | None = None
        rev_reason: x509.ReasonFlags | None = None
        if status == "revoked":
            recorded = self._revoked.get(serial)
            rev_time = _aware(revocation_time, "revocation_time") if revocation_time else (
                recorded[1] if recorded else this_update
            )
            rev_reason = reason if reason is not None else (recorded[0] if recorded else None)
        algorithm: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303 - RFC 6960 CertID default
        if request is not None:
            algorithm = request.hash_algorithm
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=leaf,
            issuer=self.cert,
            algorithm=algorithm,
            cert_status=cert_status,
            this_update=this_update,
            next_update=nu,
            revocation_time=rev_time,
            revocation_reason=rev_reason,
        )
        signer_cert = self.cert
        signer_key: PrivateKey = self.key
        if responder is not None:
            signer_cert = responder.cert
            signer_key = responder.key
            if include_responder_cert and responder is not self:
                builder = builder.certificates([responder.cert])
        builder = builder.responder_id(
            ocsp.OCSPResponderEncoding.HASH if responder_id_by_key else ocsp.OCSPResponderEncoding.NAME,
            signer_cert,
        )
        if nonce is None and request is not None:
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                nonce = None
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(signer_key, _sign_hash(signer_key))


_Revocable = x509.Certificate | IssuedCert | _RevocationIssuing | int
RevokedEntry = (
    _Revocable
    | tuple[_Revocable, "x509.ReasonFlags | None"]
    | tuple[_Revocable, "x509.ReasonFlags | None", "_dt.datetime | None"]
)
"""One entry of :meth:`CA.issue_crl`'s ``revoked``: a certificate or serial,
optionally with a CRLReason and a revocationDate."""
