"""The exception hierarchy of certpolicy.

Every verification failure is a :class:`CertPolicyError`, a subclass of
:class:`ssl.SSLCertVerificationError`, so code that already catches
``ssl.SSLCertVerificationError`` / ``ssl.SSLError`` keeps working. Each error
names the policy in force, the check that failed, the certificate concerned
and the reason::

    CertPolicyError
    ├── ChainError                 (chain check: no path, expired, bad signature)
    ├── HostnameMismatch           (hostname check)
    ├── RevocationError            (OCSP / CRL: unknown, unreachable, stale ...)
    │   └── CertificateRevoked     (a definite "revoked" answer)
    ├── MalformedInput             (unparseable certificate, chain or response)
    └── CheckCrashed               (an unexpected exception inside a check: fail closed)

Bad configuration is a :class:`PolicyConfigError` (a :class:`ValueError`),
raised at load time and naming the file, the row and the field.
"""

from __future__ import annotations

import ssl
from typing import Any

from cryptography import x509

__all__ = [
    "CertPolicyError",
    "CertificateRevoked",
    "ChainError",
    "CheckCrashed",
    "ClientCertificateError",
    "HostnameMismatch",
    "MalformedInput",
    "PolicyConfigError",
    "RevocationError",
    "describe_certificate",
    "policy_error_of",
]

# OpenSSL X509_V_ERR_* codes, so that ``err.verify_code`` means what users of
# ``ssl.SSLCertVerificationError`` expect.
X509_V_ERR_UNSPECIFIED = 1
X509_V_ERR_CERT_REVOKED = 23
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_UNABLE_TO_GET_CRL = 3
X509_V_ERR_OCSP_VERIFY_FAILED = 74


def _printable(text: str) -> str:
    """Escape control characters (a NUL or newline inside a certificate name
    must not reach a log line as is)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def describe_certificate(cert: x509.Certificate | None) -> str:
    """Return a short human description of ``cert``: subject, issuer and serial.

    Args:
        cert: a parsed certificate, or ``None``.

    Returns:
        ``"subject=CN=a.example, issuer=CN=CA, serial=0x1f"``, or ``"-"`` for ``None``.
        Never raises, even on certificates with unparseable names.
    """
    if cert is None:
        return "-"
    try:
        subject = cert.subject.rfc4514_string() or "<empty subject>"
    except Exception:  # pragma: no cover - malformed names
        subject = "<unparseable subject>"
    try:
        issuer = cert.issuer.rfc4514_string() or "<empty issuer>"
    except Exception:  # pragma: no cover
        issuer = "<unparseable issuer>"
    try:
        serial = hex(cert.serial_number)
    except Exception:  # pragma: no cover
        serial = "?"
    return f"subject={subject}, issuer={issuer}, serial={serial}"


class CertPolicyError(ssl.SSLCertVerificationError):
    """A certificate check failed under a policy.

    Attributes:
        policy: name of the policy in force (``str``) or ``None`` outside a policy.
        check: name of the check: ``"chain"``, ``"hostname"``, ``"ocsp"``, ``"crl"``,
            ``"revocation"`` or a user check's ``name``.
        outcome: the outcome string (``"revoked"``, ``"unreachable"``,
            ``"mismatch"``, ``"invalid"``, ...).
        certificate: the :class:`cryptography.x509.Certificate` concerned, or ``None``.
        host: the host name (or address) the client asked for, or ``None``.
        reason: the bare reason text, without the policy/check prefix.
        verify_code / verify_message: as on :class:`ssl.SSLCertVerificationError`.
    """

    default_verify_code = X509_V_ERR_UNSPECIFIED
    default_check = "certificate"

    def __init__(
        self,
        reason: str,
        *,
        policy: str | None = None,
        check: str | None = None,
        outcome: str | None = None,
        certificate: x509.Certificate | None = None,
        host: str | None = None,
        verify_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.reason = reason
        self.policy = policy
        self.check = check or self.default_check
        self.outcome = outcome
        self.certificate = certificate
        self.host = host
        self.details = dict(details or {})
        message = self._format()
        # errno is SSL_ERROR_SSL, as for OpenSSL's own verification failures;
        # the X509_V_ERR_* code goes to verify_code. (Python 3.10's asyncio
        # treats errno 2/3/5 as "want read/write/syscall" and would swallow it.)
        super().__init__(ssl.SSL_ERROR_SSL, message)
        self.verify_code = verify_code or self.default_verify_code
        self.verify_message = message

    def _format(self) -> str:
        return _printable(self._compose())

    def _compose(self) -> str:
        parts = ["certpolicy:"]
        if self.policy is not None:
            parts.append(f"policy {self.policy!r},")
        parts.append(f"check {self.check!r}")
        if self.outcome:
            parts.append(f"({self.outcome})")
        head = " ".join(parts)
        text = f"{head}: {self.reason}"
        if self.host:
            text += f" [host {self.host!r}]"
        if self.certificate is not None:
            text += f" [certificate {describe_certificate(self.certificate)}]"
        return text

    def with_context(self, *, policy: str | None = None, host: str | None = None) -> CertPolicyError:
        """Fill in ``policy`` / ``host`` when the raising check did not know them.

        Returns ``self`` (mutated) so it can be re-raised directly.
        """
        changed = False
        if policy is not None and self.policy is None:
            self.policy = policy
            changed = True
        if host is not None and self.host is None:
            self.host = host
            changed = True
        if changed:
            message = self._format()
            self.verify_message = message
            self.args = (ssl.SSL_ERROR_SSL, message)
        return self

    def __str__(self) -> str:
        return self.verify_message

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                type(self),
                self.reason,
                {
                    "policy": self.policy,
                    "check": self.check,
                    "outcome": self.outcome,
                    "host": self.host,
                    "verify_code": self.verify_code,
                    "details": self.details,
                },
            ),
        )


def _rebuild(cls: type[CertPolicyError], reason: str, kwargs: dict[str, Any]) -> CertPolicyError:
    return cls(reason, **kwargs)


def policy_error_of(exc: BaseException) -> CertPolicyError | None:
    """The :class:`CertPolicyError` behind ``exc``, or ``None``.

    HTTP clients wrap the SSL error (requests: ``SSLError`` → ``MaxRetryError``
    → ``SSLError`` → the certpolicy error; httpx: ``ConnectError``; aiohttp:
    ``ClientConnectorCertificateError``). This walks ``__cause__``,
    ``__context__``, ``args`` and ``reason`` / ``certificate_error``, bounded.

    Example::

        try:
            session.get(url)
        except requests.exceptions.SSLError as e:
            err = certpolicy.policy_error_of(e)
            print(err.policy, err.check, err.reason)
    """
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack and len(seen) < 32:
        cur = stack.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, CertPolicyError):
            return cur
        nxt = [cur.__cause__, cur.__context__, getattr(cur, "reason", None), getattr(cur, "certificate_error", None)]
        nxt += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
        stack.extend(n for n in nxt if isinstance(n, BaseException))
    return None


class ChainError(CertPolicyError):
    """No certification path from the presented chain to a trust anchor could be
    validated (RFC 5280 §6.1): unknown issuer, expired or not-yet-valid
    certificate (trust anchor included), bad signature, violated constraint."""

    default_verify_code = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    default_check = "chain"


class HostnameMismatch(CertPolicyError):
    """The reference identity (host name or IP address) does not match the
    certificate's subjectAltName (RFC 9525 §6; RFC 6125 §6.4.4 for the legacy
    CN fallback). ``details["presented"]`` lists the identities the
    certificate does carry."""

    default_verify_code = X509_V_ERR_HOSTNAME_MISMATCH
    default_check = "hostname"


class RevocationError(CertPolicyError):
    """Revocation status could not be established as good (RFC 5280 §6.3,
    RFC 6960): unknown, unreachable, stale, bad signature, unauthorised signer,
    no revocation information, oversized or malformed data."""

    default_verify_code = X509_V_ERR_UNABLE_TO_GET_CRL
    default_check = "revocation"


class CertificateRevoked(RevocationError):
    """A CRL or OCSP response says the certificate is revoked.

    ``details`` carries ``serial``, ``reason`` (CRLReason name or ``None``),
    ``revocation_date`` (ISO 8601) and ``source`` (URL or file)."""

    default_verify_code = X509_V_ERR_CERT_REVOKED


class MalformedInput(CertPolicyError):
    """A certificate, chain, CRL or OCSP response could not be parsed, or was
    larger than the configured limit."""

    default_check = "input"


class CheckCrashed(CertPolicyError):
    """A check raised an unexpected exception. The connection is rejected
    (fail closed); ``__cause__`` holds the original exception."""


class ClientCertificateError(CertPolicyError):
    """A client certificate (mTLS identity) could not be loaded or is unusable."""

    default_check = "client-certificate"


class PolicyConfigError(ValueError):
    """A policy table, target or setting is invalid.

    Raised at load time, never at connection time. The message names the
    source (file), the row and the field, e.g.
    ``policies.toml: override[2] 'legacy-ldap': field 'targets': invalid CIDR '10.0.0.0/33'``.

    Attributes:
        source: file name or ``"<dict>"``; ``row``: row label; ``field``: field name.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.field = field
        self.bare_message = message
        prefix = []
        if source:
            prefix.append(source)
        if row:
            prefix.append(row)
        if field:
            prefix.append(f"field {field!r}")
        full = (": ".join(prefix) + ": " + message) if prefix else message
        super().__init__(full)

    def located(
        self, *, source: str | None = None, row: str | None = None, field: str | None = None
    ) -> PolicyConfigError:
        """Return a copy with missing location parts filled in."""
        return PolicyConfigError(
            self.bare_message,
            source=self.source or source,
            row=self.row or row,
            field=self.field or field,
        )
