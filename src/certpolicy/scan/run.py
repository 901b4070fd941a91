"""The scan runner: connect to each inventory endpoint once, in audit mode,
with a bounded pool of worker threads, and record what every check says.

:func:`scan` is the library entry point behind ``certpolicy scan``. Each
endpoint gets one TCP connection and one TLS handshake through a
:class:`~certpolicy.context.PolicySSLContext` built in audit mode (nothing is
refused, every check runs and is recorded); the presented chain can then be
judged under a second table offline (:func:`scan` with ``compare=``), so both
tables see the very same chain. The result of one endpoint is an
:class:`EndpointResult`; :meth:`EndpointResult.to_dict` is the documented,
stable JSON row (``docs/rollout.md``, schema ``certpolicy.scan/1``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

from ..context import PolicySSLContext, create_ssl_context, verdict_of
from ..engine import Verdict
from ..errors import CertPolicyError
from ..integrations._url import REQUEST_URL
from ..policy import CheckMode
from ..table import PolicyTable
from .inventory import Endpoint

__all__ = ["STATUSES", "CheckOutcome", "EndpointResult", "ScanOptions", "scan"]

#: The three endpoint statuses, in report order.
STATUSES = ("fail", "error", "pass")


@dataclass(frozen=True)
class ScanOptions:
    """How to scan.

    Attributes:
        jobs: endpoints scanned at once (worker threads; >= 1).
        timeout: seconds for the TCP connect, then for the TLS handshake
            (each blocking read), and the bound of the revocation fetches
            of one endpoint.
        retries: extra attempts after a connection or handshake error (not
            after a check failure); 0 (default) tries once.
        retry_delay: seconds between attempts.
    """

    jobs: int = 16
    timeout: float = 10.0
    retries: int = 0
    retry_delay: float = 0.5

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError("jobs must be >= 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        if self.retries < 0:
            raise ValueError("retries must be >= 0")


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result for one endpoint.

    Attributes:
        outcome: the check's word (``"ok"``, ``"off"``, ``"skipped"``, ``"expired"``, ``"revoked"`` ...).
        passed: ``False`` when the check failed (in any mode).
        mode: the mode the table gives the check (``"enforce"``, ``"audit"``, ``"off"``).
        reason: one human sentence.
        source: for ``revocation``: the source that decided a failure (``"ocsp"`` / ``"crl"``), else ``None``.
    """

    outcome: str
    passed: bool
    mode: str
    reason: str
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (keys ``outcome``, ``passed``, ``mode``, ``reason``, ``source``)."""
        return {"outcome": self.outcome, "passed": self.passed, "mode": self.mode, "reason": self.reason, "source": self.source}


@dataclass
class EndpointResult:
    """What the scan learned about one endpoint under one table.

    Attributes:
        endpoint: the :class:`~certpolicy.scan.inventory.Endpoint`.
        status: ``"pass"`` (every enforced check passes), ``"fail"`` (an
            enforced check would refuse the connection) or ``"error"`` (no
            TLS connection could be made: refused, timeout, handshake failure).
        policy / kind: the resolved policy's name and kind (``None`` when even resolving failed).
        checks: :class:`CheckOutcome` by check name, in run order.
        would_fail: names of the checks that would refuse the connection under enforce.
        audit_only: names of failing checks the table itself only audits.
        error: the connection / handshake error, or ``None``.
        peer_ip: the address connected to, or ``None``.
        subject / issuer: the leaf's subject and issuer (RFC 4514 strings).
        not_after: the leaf's notAfter (aware UTC), or ``None``.
        key_type: e.g. ``"EC P-256"``, ``"RSA 2048"``, ``"Ed25519"``.
        has_ocsp_url / has_crl_url: the leaf names an OCSP responder / a CRL distribution point.
        rtt_ms: milliseconds of the TCP connect (one round trip).
        elapsed_ms: milliseconds for the whole endpoint (connect, handshake, checks).
        attempts: connection attempts made.
        chain_der: the presented chain, DER (not part of the JSON row).
    """

    endpoint: Endpoint
    status: str = "error"
    policy: str | None = None
    kind: str | None = None
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    would_fail: list[str] = field(default_factory=list)
    audit_only: list[str] = field(default_factory=list)
    error: str | None = None
    peer_ip: str | None = None
    subject: str | None = None
    issuer: str | None = None
    not_after: _dt.datetime | None = None
    key_type: str | None = None
    has_ocsp_url: bool | None = None
    has_crl_url: bool | None = None
    rtt_ms: float | None = None
    elapsed_ms: float = 0.0
    attempts: int = 0
    chain_der: tuple[bytes, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON row of schema ``certpolicy.scan/1`` (see ``docs/rollout.md``)."""
        ep = self.endpoint
        return {
            "endpoint": ep.text,
            "url": ep.url,
            "host": ep.host,
            "port": ep.port,
            "address": ep.address,
            "peer_ip": self.peer_ip,
            "status": self.status,
            "policy": self.policy,
            "kind": self.kind,
            "would_fail": list(self.would_fail),
            "audit_only": list(self.audit_only),
            "checks": {k: v.to_dict() for k, v in self.checks.items()},
            "error": self.error,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "key_type": self.key_type,
            "has_ocsp_url": self.has_ocsp_url,
            "has_crl_url": self.has_crl_url,
            "rtt_ms": self.rtt_ms,
            "elapsed_ms": self.elapsed_ms,
            "attempts": self.attempts,
        }


def scan_context(table: PolicyTable) -> PolicySSLContext:
    """The audit-mode SSL context a scan uses for ``table`` (verdict cache off).

    Raises:
        PolicyConfigError: as :func:`~certpolicy.context.create_ssl_context`.
        ClientCertificateError: as :func:`~certpolicy.context.create_ssl_context`.
    """
    return create_ssl_context(table, audit=True, verdict_ttl=0)


def scan(
    endpoints: Sequence[Endpoint],
    table: PolicyTable,
    *,
    options: ScanOptions | None = None,
    compare: PolicyTable | None = None,
    on_result: Callable[[EndpointResult, EndpointResult | None], None] | None = None,
) -> list[tuple[EndpointResult, EndpointResult | None]]:
    """Scan ``endpoints`` under ``table`` (and ``compare``, when given).

    Args:
        endpoints: what to scan (:func:`~certpolicy.scan.inventory.load_inventory`).
        table: the policy table.
        options: :class:`ScanOptions` (default: 16 jobs, 10 s timeout, no retries).
        compare: a second table: the chain each endpoint presented is also
            judged under it (same connection, offline verification).
        on_result: called from the worker thread with ``(result, compared)``
            as each endpoint finishes (progress bars); exceptions it raises
            are not caught.

    Returns:
        one ``(result, compared_result_or_None)`` pair per endpoint, in inventory order.

    Raises:
        PolicyConfigError: a table names files that cannot be read.
        ClientCertificateError: a table's client identity cannot be loaded.
    """
    opts = options or ScanOptions()
    ctx = scan_context(table)
    ctx.verifier.deadline = opts.timeout
    other = scan_context(compare) if compare is not None else None
    if other is not None:
        other.verifier.deadline = opts.timeout
    out: list[tuple[EndpointResult, EndpointResult | None]] = [None] * len(endpoints)  # type: ignore[list-item]
    lock = threading.Lock()

    def one(i: int) -> None:
        res = scan_endpoint(ctx, endpoints[i], opts)
        cmp = judge_offline(other, res) if other is not None else None
        with lock:
            out[i] = (res, cmp)
        if on_result is not None:
            on_result(res, cmp)

    if opts.jobs == 1 or len(endpoints) <= 1:
        for i in range(len(endpoints)):
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=min(opts.jobs, len(endpoints)), thread_name_prefix="certpolicy-scan") as pool:
            for f in [pool.submit(one, i) for i in range(len(endpoints))]:
                f.result()
    return out


def scan_endpoint(ctx: PolicySSLContext, ep: Endpoint, opts: ScanOptions) -> EndpointResult:
    """Connect to one endpoint through the audit-mode ``ctx`` and record it
    (never raises for network or certificate problems: they are the result)."""
    t0 = time.perf_counter()
    res = EndpointResult(endpoint=ep)
    for attempt in range(opts.retries + 1):
        res.attempts = attempt + 1
        if attempt:
            time.sleep(opts.retry_delay)
        verdict = _connect(ctx, ep, opts.timeout, res)
        if verdict is not None or res.error is None:
            break
    else:
        verdict = None
    if verdict is not None:
        _record(res, verdict, ctx)
    else:
        res.status = "error"
        _resolve_only(res, ctx)
    res.elapsed_ms = round((time.perf_counter() - t0) * 1000, 3)
    return res


def _connect(ctx: PolicySSLContext, ep: Endpoint, timeout: float, res: EndpointResult) -> Verdict | None:
    res.error = None
    token = REQUEST_URL.set(ep.url)
    try:
        t = time.perf_counter()
        try:
            sock = socket.create_connection((ep.address or ep.host, ep.port), timeout=timeout)
        except OSError as e:
            res.error = f"connection failed: {_oserror(e)}"
            return None
        res.rtt_ms = round((time.perf_counter() - t) * 1000, 3)
        try:
            res.peer_ip = str(sock.getpeername()[0])
            sock.settimeout(timeout)
            tls = ctx.wrap_socket(sock, server_hostname=ep.host)
            verdict = verdict_of(tls)
            if verdict is not None and not verdict.chain_der:
                verdict.chain_der = tuple(c for c in [tls.getpeercert(binary_form=True)] if c)
            tls.close()
            if verdict is None:
                res.error = "TLS handshake completed but no verdict was recorded"
            return verdict
        except CertPolicyError as e:  # not expected in audit mode; a crash of the context
            v = getattr(e, "verdict", None)
            if isinstance(v, Verdict):
                return v
            res.error = f"certificate check error: {e}"
        except (ssl.SSLError, OSError) as e:
            res.error = f"TLS handshake failed: {_oserror(e)}"
        finally:
            sock.close()
    finally:
        REQUEST_URL.reset(token)
    return None


def _oserror(e: OSError) -> str:
    if isinstance(e, TimeoutError | socket.timeout):
        return "timed out"
    return str(e) or type(e).__name__


def _record(res: EndpointResult, verdict: Verdict, ctx: PolicySSLContext) -> None:
    """Fill ``res`` from ``verdict`` (checks, status) and the presented leaf."""
    policy = verdict.policy
    res.policy, res.kind = policy.name, policy.kind.value
    extra_modes = {c.name: getattr(c, "mode", CheckMode.ENFORCE) for c in ctx.verifier.extra_checks}
    failing = iter(verdict.errors)
    res.checks.clear()
    res.would_fail.clear()
    res.audit_only.clear()
    for r in verdict.results:
        source: str | None = None
        mode = _table_mode(policy, r.check, extra_modes)
        if not r.passed:
            err = next(failing, None)
            if r.check == "revocation" and err is not None and err.check in ("ocsp", "crl"):
                source = err.check
                mode = policy.mode(source)
            (res.would_fail if mode is CheckMode.ENFORCE else res.audit_only).append(r.check)
        res.checks[r.check] = CheckOutcome(r.outcome, r.passed, mode.value, r.detail, source)
    res.status = "fail" if res.would_fail else "pass"
    res.chain_der = verdict.chain_der
    if verdict.chain_der:
        (res.subject, res.issuer, res.not_after, res.key_type, res.has_ocsp_url, res.has_crl_url) = leaf_facts(
            verdict.chain_der[0]
        )


def _table_mode(policy: Any, check: str, extra: dict[str, Any]) -> CheckMode:
    if check == "revocation":
        from ..checks.revocation import revocation_mode

        return revocation_mode(policy)
    if check in extra:
        m = extra[check]
        return m if isinstance(m, CheckMode) else CheckMode(str(m))
    mode: CheckMode = policy.mode(check)
    return mode


def _resolve_only(res: EndpointResult, ctx: PolicySSLContext) -> None:
    """The policy an endpoint that could not be reached resolves to."""
    ep = res.endpoint
    try:
        resolution = ctx.resolver.resolve(ep.host, peer_ip=res.peer_ip or ep.address, port=ep.port, url=ep.url)
    except Exception:  # resolving is best effort for a row that already failed
        return
    res.policy, res.kind = resolution.policy.name, resolution.policy.kind.value


LeafFacts = tuple[str | None, str | None, "_dt.datetime | None", str, "bool | None", "bool | None"]


@functools.lru_cache(maxsize=4096)
def leaf_facts(der: bytes) -> LeafFacts:
    """``(subject, issuer, not_after, key_type, has_ocsp_url, has_crl_url)`` of
    a leaf certificate (DER); memoised, as endpoints often share a certificate."""
    try:
        leaf = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None, None, "unparsable", None, None
    has_ocsp: bool | None
    has_crl: bool | None
    try:
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        has_ocsp = any(d.access_method == AuthorityInformationAccessOID.OCSP for d in aia)
    except x509.ExtensionNotFound:
        has_ocsp = False
    except ValueError:
        has_ocsp = None
    try:
        leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        has_crl = True
    except x509.ExtensionNotFound:
        has_crl = False
    except ValueError:
        has_crl = None
    return (leaf.subject.rfc4514_string(), leaf.issuer.rfc4514_string(), leaf.not_valid_after_utc, key_type(leaf),
            has_ocsp, has_crl)


def key_type(cert: x509.Certificate) -> str:
    """A short name of ``cert``'s public key: ``"RSA 2048"``, ``"EC P-256"``,
    ``"Ed25519"``, ``"Ed448"``, ``"DSA 2048"`` or ``"unknown"``."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        return "unknown"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "EC P-256", "secp384r1": "EC P-384", "secp521r1": "EC P-521"}.get(key.curve.name, f"EC {key.curve.name}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return "unknown"


def judge_offline(ctx: PolicySSLContext, first: EndpointResult) -> EndpointResult:
    """Judge the chain ``first`` saw under ``ctx``'s table (no new connection).

    An endpoint that could not be reached is an error under every table.
    """
    ep = first.endpoint
    res = EndpointResult(endpoint=ep, peer_ip=first.peer_ip, rtt_ms=first.rtt_ms, attempts=first.attempts)
    if not first.chain_der:
        res.error = first.error
        _resolve_only(res, ctx)
        return res
    t0 = time.perf_counter()
    token = REQUEST_URL.set(ep.url)
    try:
        verdict = ctx.verify_chain(list(first.chain_der), ep.host, peer_ip=first.peer_ip, port=ep.port, url=ep.url)
    except CertPolicyError as e:
        v = getattr(e, "verdict", None)
        if not isinstance(v, Verdict):
            res.error = f"certificate check error: {e}"
            _resolve_only(res, ctx)
            return res
        verdict = v
    finally:
        REQUEST_URL.reset(token)
    if not verdict.chain_der:
        verdict.chain_der = first.chain_der
    _record(res, verdict, ctx)
    res.elapsed_ms = round((time.perf_counter() - t0) * 1000, 3)
    return res
