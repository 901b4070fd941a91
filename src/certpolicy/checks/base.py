"""The check protocol: the one extension point of certpolicy.

A check is a plain object with a ``name`` and a ``run(ctx)`` method. It
receives a :class:`CheckContext` (the connection's host, peer, port, the chain
the server presented, the policy in force, the validation time, shared caches
and, once the chain check has run, the verified path) and returns a
:class:`CheckResult`, or raises a :class:`certpolicy.CertPolicyError` subclass
when the certificate fails it. Any other exception is treated as a failure
(fail closed) by the :class:`certpolicy.engine.Verifier`.

Example: a check that refuses RSA keys shorter than 3072 bits::

    from cryptography.hazmat.primitives.asymmetric import rsa
    from certpolicy import CertPolicyError
    from certpolicy.checks import CheckContext, CheckResult

    class MinRsaBits:
        name = "rsa-bits"
        requires_chain = False

        def run(self, ctx: CheckContext) -> CheckResult:
            key = ctx.leaf.public_key()
            if isinstance(key, rsa.RSAPublicKey) and key.key_size < 3072:
                raise CertPolicyError(f"RSA key of {key.key_size} bits", check=self.name,
                                      certificate=ctx.leaf)
            return CheckResult(self.name, "ok", "key size acceptable")

Revocation sources (OCSP, CRL) additionally implement :class:`RevocationSource`:
``status(cert, issuer, ctx) -> RevocationStatus``; the revocation coordinator
asks them in the policy's order (SPEC "Checks").
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography import x509

from ..names import IPAddress
from ..policy import Outcome, Policy

if TYPE_CHECKING:  # pragma: no cover
    from ..resolver import Resolution

__all__ = ["Check", "CheckContext", "CheckResult", "RevocationSource", "RevocationStatus"]


@dataclass
class CheckContext:
    """Everything a check may look at for one connection (or one offline check).

    Attributes:
        host: the reference identity as normalised text: an A-label DNS name
            without trailing dot, or an IP address in canonical form; ``None``
            when unknown.
        host_as_asked: the server name exactly as the client passed it.
        peer_ip: the connected peer's address, or ``None`` (no socket / proxy).
        port: the peer port, or ``None``.
        chain: the certificates the server presented, leaf first, parsed.
        policy: the :class:`certpolicy.Policy` in force.
        at: validation time (timezone-aware UTC ``datetime``).
        resolution: the :class:`certpolicy.resolver.Resolution`, when known.
        verified_path: the validated certification path, leaf to trust anchor,
            set by the chain check (``None`` until then, or if it failed/was off).
        results: results of the checks that already ran, by check name.
        caches: a registry shared by all checks of one context (``dict``); user
            checks may keep bounded caches here under their own key.
        deadline: ``time.monotonic()`` value after which network work must stop,
            or ``None``.
        allow_network: ``False`` when the check must not block on the network
            (asyncio handshakes): serve from cache only.
    """

    host: str | None
    chain: Sequence[x509.Certificate]
    policy: Policy
    at: _dt.datetime
    host_as_asked: str | None = None
    peer_ip: IPAddress | None = None
    port: int | None = None
    resolution: Resolution | None = None
    verified_path: list[x509.Certificate] | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)
    caches: dict[str, Any] = field(default_factory=dict)
    deadline: float | None = None
    allow_network: bool = True

    @property
    def leaf(self) -> x509.Certificate:
        """The end-entity certificate (first of the presented chain).

        Raises:
            IndexError: the chain is empty (the engine rejects that before any check runs).
        """
        return self.chain[0]


@dataclass(frozen=True)
class CheckResult:
    """What one check concluded.

    Attributes:
        check: the check's name.
        outcome: a short word: ``"ok"``, ``"skipped"``, ``"good"``, ``"revoked"``,
            ``"unreachable"``, ... (revocation checks use :class:`Outcome` values).
        detail: one human sentence.
        passed: ``False`` when the outcome counts as a failure (for revocation:
            after the policy's outcome map).
        data: extra structured facts (``path``, ``source``, ``next_update`` ...).
    """

    check: str
    outcome: str
    detail: str = ""
    passed: bool = True
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "check": self.check,
            "outcome": self.outcome,
            "passed": self.passed,
            "detail": self.detail,
            "data": {k: _jsonable(v) for k, v in self.data.items()},
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


@runtime_checkable
class Check(Protocol):
    """The protocol every check implements (built-in and user checks).

    Attributes:
        name: unique name; the policy's mode for it is ``policy.mode(name)`` for
            the four built-in names, and the mode given at registration for others.
        requires_chain: ``True`` when the check is meaningful only on a validated
            chain (it is then skipped, with the reason in the verdict, when the
            chain check is off or failed).
    """

    name: str
    requires_chain: bool

    def run(self, ctx: CheckContext) -> CheckResult:
        """Check the connection.

        Returns:
            a :class:`CheckResult` (``passed=True`` normally).

        Raises:
            CertPolicyError: (a subclass of) when the certificate fails the check.
        """
        ...


@dataclass(frozen=True)
class RevocationStatus:
    """One revocation source's answer for one certificate.

    Attributes:
        outcome: :class:`Outcome` (good, revoked, unknown, unreachable, stale,
            bad-signature, unauthorised-signer, no-revocation-info, oversized, malformed).
        source: ``"ocsp"`` or ``"crl"``.
        detail: one human sentence (names the URL and the reason).
        url: the responder / distribution point / file consulted, if any.
        revocation_time: for ``revoked``: when (UTC).
        revocation_reason: for ``revoked``: CRLReason name (``"keyCompromise"``) or ``None``.
        this_update / next_update: validity window of the data used (UTC).
        crl_number: the CRL number, for CRL answers.
    """

    outcome: Outcome
    source: str
    detail: str = ""
    url: str | None = None
    revocation_time: _dt.datetime | None = None
    revocation_reason: str | None = None
    this_update: _dt.datetime | None = None
    next_update: _dt.datetime | None = None
    crl_number: int | None = None


@runtime_checkable
class RevocationSource(Protocol):
    """A source of revocation status (OCSP responder, CRL)."""

    name: str

    def status(
        self, cert: x509.Certificate, issuer: x509.Certificate, ctx: CheckContext
    ) -> RevocationStatus:
        """Return the status of ``cert`` (issued by ``issuer``) at ``ctx.at``.

        Must not raise for network or data problems: those are outcomes
        (``unreachable``, ``malformed`` ...). May raise only on programming errors.
        """
        ...
