"""The Verifier: runs a policy's checks on one presented chain.

:class:`Verifier` is the pure-ish core between the TLS edge
(:mod:`certpolicy.context`) and the checks. For one connection it

1. resolves the policy (or takes a given :class:`~certpolicy.resolver.Resolution`);
2. parses the presented chain (fail closed on garbage or an empty chain);
3. runs the checks in a fixed order, each in the policy's mode: ``chain``,
   ``hostname`` (only on a validated chain unless the policy says
   ``hostname_without_chain``), ``revocation`` (OCSP and CRL in the policy's
   order, on the validated path), then user checks;
4. turns the results into a :class:`Verdict`: an ``enforce`` failure raises
   its :class:`~certpolicy.errors.CertPolicyError`; an ``audit`` failure is
   logged at WARNING ("would fail") and lets the connection through; an
   unexpected exception inside a check is a failure too
   (:class:`~certpolicy.errors.CheckCrashed`: fail closed);
5. logs one structured record per connection on logger ``certpolicy``
   (``extra={"certpolicy": verdict.to_dict()}``) and caches passing verdicts
   (same chain, host and policy) until the earliest of the path's notAfter,
   the revocation data's nextUpdate and a TTL.
"""

from __future__ import annotations

import collections
import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .checks.base import Check, CheckContext, CheckResult
from .errors import CertificateRevoked, CertPolicyError, ChainError, CheckCrashed, RevocationError
from .names import IPAddress, parse_ip
from .policy import CheckMode, Policy
from .resolver import PolicyResolver, Resolution

__all__ = ["Verdict", "Verifier", "default_checks"]

logger = logging.getLogger("certpolicy")

#: Order in which the built-in checks run.
BUILTIN_ORDER = ("chain", "hostname", "revocation")


def default_checks() -> dict[str, Check]:
    """The built-in checks, freshly built: ``chain``, ``hostname`` and
    ``revocation`` (OCSP and CRL sources, consulted in the policy's order)."""
    from .checks.chain import ChainCheck
    from .checks.hostname import HostnameCheck

    checks: dict[str, Check] = {"chain": ChainCheck(), "hostname": HostnameCheck()}
    try:
        from .checks.crl import CrlCheck
        from .checks.ocsp import OcspCheck
        from .checks.revocation import RevocationCheck
    except ImportError as e:  # fail closed: a policy asking for revocation is rejected
        checks["revocation"] = _Unavailable("revocation", f"revocation checking is unavailable ({e})")
    else:
        checks["revocation"] = RevocationCheck({"ocsp": OcspCheck(), "crl": CrlCheck()})
    return checks


class _ChainWithAnchors:
    """The chain check with extra trust anchors added to every policy's own
    (``load_verify_locations`` on a context built with
    ``honour_load_verify_locations=True``)."""

    name = "chain"
    requires_chain = False

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self.anchors = tuple(anchors)
        self._by_trust: dict[Any, Check] = {}
        self._lock = threading.Lock()

    def run(self, ctx: CheckContext) -> CheckResult:
        from .checks.chain import ChainCheck

        spec = ctx.policy.trust
        with self._lock:
            check = self._by_trust.get(spec)
            if check is None:
                check = self._by_trust[spec] = ChainCheck(spec, anchors=self.anchors)
        return check.run(ctx)


class _Unavailable:
    """Stands in for a check whose module cannot be imported: always fails."""

    requires_chain = False

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    def run(self, ctx: CheckContext) -> CheckResult:
        raise CheckCrashed(self.why, check=self.name, outcome="internal-error")


def _revocation_mode(policy: Policy) -> CheckMode:
    from .checks.revocation import revocation_mode

    return revocation_mode(policy)


@dataclass
class Verdict:
    """The outcome of verifying one connection.

    Attributes:
        host: the reference identity (normalised).
        peer_ip / port: the peer, when known.
        resolution: how the policy was chosen.
        results: one :class:`CheckResult` per check that ran or was skipped,
            in order (``passed=False`` for failures, in any mode).
        errors: the failures as :class:`CertPolicyError` objects.
        audited: names of checks that failed in audit mode (logged, let through).
        passed: ``True`` when the connection is allowed.
        cached: ``True`` when served from the verdict cache.
        path: the validated certification path (leaf to trust anchor) or ``None``.
        at: the validation time.
        elapsed: seconds spent verifying.
    """

    host: str | None
    peer_ip: IPAddress | None
    port: int | None
    resolution: Resolution
    results: list[CheckResult] = field(default_factory=list)
    errors: list[CertPolicyError] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    passed: bool = True
    cached: bool = False
    path: list[x509.Certificate] | None = None
    at: _dt.datetime | None = None
    elapsed: float = 0.0
    expires_at: float = 0.0
    chain_der: tuple[bytes, ...] = ()
    network_deferred: bool = False

    @property
    def can_complete_off_loop(self) -> bool:
        """``True`` when the verdict failed only because revocation data was not
        cached and network I/O was not allowed (an event-loop handshake):
        :meth:`Verifier.complete_off_loop` can fetch it and decide."""
        return self.network_deferred and not self.passed

    @property
    def policy(self) -> Policy:
        return self.resolution.policy

    def result(self, check: str) -> CheckResult | None:
        """The result of ``check`` (``"chain"``, ``"hostname"``, ...), or ``None``."""
        for r in self.results:
            if r.check == check:
                return r
        return None

    def __repr__(self) -> str:
        return f"<Verdict host={self.host!r} peer={self.peer_ip} {self.summary()}>"

    def summary(self) -> str:
        """One line: ``"policy 'internet' pass: chain=ok hostname=ok revocation=skipped"``."""
        checks = " ".join(f"{r.check}={r.outcome}" for r in self.results)
        state = "pass" if self.passed else "FAIL"
        if self.passed and self.audited:
            state = f"pass (audit: would fail {', '.join(self.audited)})"
        return f"policy {self.policy.name!r} {state}: {checks}"

    def explain(self) -> str:
        """Multi-line, for people: the resolution, then each check."""
        lines = [self.resolution.explain(), f"verdict: {'pass' if self.passed else 'FAIL'}" + (" (cached)" if self.cached else "")]
        for r in self.results:
            mark = "ok " if r.passed else "XX "
            lines.append(f"  {mark}{r.check}: {r.outcome} - {r.detail}")
        if self.audited:
            lines.append(f"  audit mode: would have failed {', '.join(self.audited)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "host": self.host,
            "peer_ip": str(self.peer_ip) if self.peer_ip is not None else None,
            "port": self.port,
            "policy": self.policy.name,
            "kind": self.policy.kind.value,
            "matched_target": self.resolution.matched_target.text if self.resolution.matched_target else None,
            "passed": self.passed,
            "cached": self.cached,
            "audited": list(self.audited),
            "checks": [r.to_dict() for r in self.results],
            "warnings": list(self.resolution.warnings),
            "elapsed_ms": round(self.elapsed * 1000, 3),
        }


_CacheKey = tuple[tuple[bytes, ...], str | None, str, int]


class Verifier:
    """Runs the checks of the resolved policy on presented chains.

    Build one per SSL context (or per process) and share it: it is
    thread-safe, holds no lock while checks run, and its caches are bounded.

    Args:
        resolver: the :class:`PolicyResolver`.
        checks: replacements for built-in checks by name (``"chain"``,
            ``"hostname"``, ``"revocation"``); missing names get the built-ins.
        extra_checks: user checks (the :class:`~certpolicy.checks.Check`
            protocol), run after the built-ins; each in the mode given by its
            ``mode`` attribute (default enforce).
        audit: report-only mode for every check: failures are logged, never raised.
        clock: callable returning the validation time (aware UTC ``datetime``).
        verdict_ttl: seconds a passing verdict is reused (0 disables the cache).
        cache_size: verdicts kept at most.
        on_verdict: callable invoked with every :class:`Verdict`.
        deadline: seconds one verification may spend on network work.
    """

    def __init__(
        self,
        resolver: PolicyResolver,
        *,
        checks: Mapping[str, Check] | None = None,
        extra_checks: Sequence[Check] = (),
        audit: bool = False,
        clock: Callable[[], _dt.datetime] | None = None,
        verdict_ttl: float = 300.0,
        cache_size: int = 4096,
        on_verdict: Callable[[Verdict], None] | None = None,
        deadline: float = 10.0,
    ) -> None:
        self.resolver = resolver
        built = default_checks()
        if checks:
            unknown = set(checks) - set(BUILTIN_ORDER)
            if unknown:
                raise ValueError(f"unknown built-in check name(s) {sorted(unknown)}; use extra_checks for new checks")
            built.update(checks)
        self.checks: dict[str, Check] = built
        self.extra_checks = tuple(extra_checks)
        self.audit = audit
        self._clock = clock
        self.verdict_ttl = verdict_ttl
        self.cache_size = cache_size
        self.on_verdict = on_verdict
        self.deadline = deadline
        self.caches: dict[str, Any] = {}
        self._cache: collections.OrderedDict[_CacheKey, Verdict] = collections.OrderedDict()
        self._lock = threading.Lock()

    # -- time --------------------------------------------------------------

    def now(self) -> _dt.datetime:
        if self._clock is not None:
            return self._clock()
        return _dt.datetime.now(_dt.timezone.utc)

    # -- main entry ----------------------------------------------------------

    def verify(
        self,
        chain: Sequence[bytes | x509.Certificate],
        host: str | None,
        *,
        peer_ip: str | IPAddress | None = None,
        port: int | None = None,
        url: str | None = None,
        resolution: Resolution | None = None,
        allow_network: bool = True,
        host_as_asked: str | None = None,
    ) -> Verdict:
        """Verify ``chain`` (leaf first, DER bytes or parsed) for ``host``.

        Args:
            chain: the presented chain, leaf first.
            host: the reference identity (name or address) the client asked for.
            peer_ip / port: the connected peer, when known.
            url: the request URL, when known (path rules).
            resolution: a resolution already made (skips resolving).
            allow_network: ``False`` on an event-loop thread: revocation data
                only from caches.
            host_as_asked: the server name exactly as the client gave it.

        Returns:
            the :class:`Verdict` (``passed`` is ``True``; audit failures are listed).

        Raises:
            CertPolicyError: (a subclass) when an enforced check fails; the
                error carries ``.verdict``.
        """
        t0 = time.perf_counter()
        if resolution is None:
            resolution = self.resolver.resolve(host, peer_ip=peer_ip, port=port, url=url) if url else self.resolver.resolve(
                host, peer_ip=peer_ip, port=port
            )
        policy = resolution.policy
        peer = parse_ip(peer_ip) if peer_ip is not None else None
        ders = tuple(c if isinstance(c, bytes) else c.public_bytes(_DER) for c in chain)
        key: _CacheKey = (ders, resolution.host, policy.name, id(policy))
        if self.verdict_ttl > 0:
            cached = self._cache_get(key)
            if cached is not None:
                v = Verdict(
                    host=resolution.host,
                    peer_ip=peer,
                    port=port,
                    resolution=resolution,
                    results=cached.results,
                    audited=cached.audited,
                    passed=True,
                    cached=True,
                    path=cached.path,
                    at=cached.at,
                    elapsed=time.perf_counter() - t0,
                )
                self._emit(v)
                return v

        at = self.now()
        verdict = Verdict(host=resolution.host, peer_ip=peer, port=port, resolution=resolution, at=at, chain_der=ders)
        try:
            certs = _parse_chain(chain)
        except CertPolicyError as e:
            e.with_context(policy=policy.name, host=resolution.host)
            verdict.results.append(CheckResult("chain", e.outcome or "malformed", e.reason, passed=False))
            verdict.errors.append(e)
            verdict.passed = False
            verdict.elapsed = time.perf_counter() - t0
            self._emit(verdict)
            e.verdict = verdict  # type: ignore[attr-defined]
            raise
        ctx = CheckContext(
            host=resolution.host,
            host_as_asked=host_as_asked or host,
            chain=certs,
            policy=policy,
            at=at,
            peer_ip=peer,
            port=port,
            resolution=resolution,
            caches=self.caches,
            deadline=time.monotonic() + self.deadline,
            allow_network=allow_network,
        )
        first_enforced: CertPolicyError | None = None
        cacheable = True
        expiry = [time.time() + self.verdict_ttl]

        for name, check, mode in self._plan(policy):
            if mode is CheckMode.OFF:
                verdict.results.append(CheckResult(name, "off", "switched off by the policy"))
                continue
            requires_chain = bool(getattr(check, "requires_chain", False))
            if requires_chain and ctx.verified_path is None:
                if name == "hostname" and policy.hostname_without_chain:
                    pass
                else:
                    why = "the chain check is off" if policy.chain is CheckMode.OFF else "the chain was not validated"
                    verdict.results.append(CheckResult(name, "skipped", f"needs a validated chain; {why}"))
                    continue
            if not getattr(check, "cacheable", True):
                cacheable = False
            try:
                result = check.run(ctx)
            except CertPolicyError as e:
                e.with_context(policy=policy.name, host=resolution.host)
                if e.check in (None, "certificate"):
                    e.check = name
                result = CheckResult(name, e.outcome or "fail", e.reason, passed=False, data=e.details)
                failed_mode: CheckMode = mode
                if name == "revocation" and e.check in ("ocsp", "crl"):
                    # the source that decided sets the mode (OCSP enforce + CRL audit ...)
                    failed_mode = self._effective(policy.mode(e.check))
                first_enforced = self._failure(verdict, name, failed_mode, e, first_enforced)
            except Exception as exc:  # fail closed on bugs
                err = CheckCrashed(
                    f"check {name!r} raised {type(exc).__name__}: {exc}",
                    policy=policy.name,
                    check=name,
                    outcome="internal-error",
                    certificate=certs[0] if certs else None,
                    host=resolution.host,
                )
                err.__cause__ = exc
                result = CheckResult(name, "internal-error", str(err.reason), passed=False)
                first_enforced = self._failure(verdict, name, mode, err, first_enforced)
            verdict.results.append(result)
            ctx.results[name] = result
            nu = result.data.get("next_update") if result.data else None
            if isinstance(nu, _dt.datetime):
                expiry.append(nu.timestamp())
        verdict.path = ctx.verified_path
        verdict.elapsed = time.perf_counter() - t0
        if first_enforced is not None:
            verdict.passed = False
            verdict.network_deferred = (
                not allow_network
                and isinstance(first_enforced, RevocationError)
                and not isinstance(first_enforced, CertificateRevoked)
                and first_enforced.outcome == "unreachable"
                and all(isinstance(e, RevocationError) for e in verdict.errors if e is not None)
            )
            self._emit(verdict)
            first_enforced.verdict = verdict  # type: ignore[attr-defined]
            raise first_enforced
        if ctx.verified_path:
            expiry.append(min(c.not_valid_after_utc.timestamp() for c in ctx.verified_path))
        if self.verdict_ttl > 0 and cacheable and not verdict.audited and ctx.verified_path is not None:
            verdict.expires_at = min(expiry)
            self._cache_put(key, verdict)
        self._emit(verdict)
        return verdict

    def _plan(self, policy: Policy) -> list[tuple[str, Check, CheckMode]]:
        plan: list[tuple[str, Check, CheckMode]] = []
        for name in BUILTIN_ORDER:
            check = self.checks.get(name)
            if check is None:
                continue
            mode = _revocation_mode(policy) if name == "revocation" else policy.mode(name)
            plan.append((name, check, self._effective(mode)))
        for check in self.extra_checks:
            mode = getattr(check, "mode", CheckMode.ENFORCE)
            if not isinstance(mode, CheckMode):
                mode = CheckMode(str(mode))
            plan.append((check.name, check, self._effective(mode)))
        return plan

    def _effective(self, mode: CheckMode) -> CheckMode:
        if self.audit and mode is CheckMode.ENFORCE:
            return CheckMode.AUDIT
        return mode

    def _failure(
        self, verdict: Verdict, name: str, mode: CheckMode, err: CertPolicyError, first: CertPolicyError | None
    ) -> CertPolicyError | None:
        verdict.errors.append(err)
        if mode is CheckMode.AUDIT:
            verdict.audited.append(name)
            logger.warning(
                "certpolicy audit: would fail: %s",
                err,
                extra={"certpolicy_event": "audit", "policy": err.policy, "check": name, "outcome": err.outcome, "host": err.host},
            )
            return first
        return first or err

    # -- cache ------------------------------------------------------------------

    def _cache_get(self, key: _CacheKey) -> Verdict | None:
        with self._lock:
            v = self._cache.get(key)
            if v is None:
                return None
            if v.expires_at <= time.time():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return v

    def _cache_put(self, key: _CacheKey, verdict: Verdict) -> None:
        with self._lock:
            self._cache[key] = verdict
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    async def complete_off_loop(self, verdict: Verdict) -> Verdict:
        """Finish a verification that an event-loop handshake deferred: run it
        again in a worker thread with network access (OCSP / CRL fetches,
        bounded by the policy's limits), which also fills the caches, so a
        retried connection is decided from them.

        Returns:
            the new :class:`Verdict` (passed).

        Raises:
            CertPolicyError: the verification fails with network access too.
        """
        import asyncio

        return await asyncio.to_thread(
            self.verify,
            verdict.chain_der,
            verdict.host,
            peer_ip=verdict.peer_ip,
            port=verdict.port,
            resolution=verdict.resolution,
            allow_network=True,
        )

    def add_anchors_from(self, *, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        """Add trust anchors (PEM/DER file, folder, or data) to every policy's
        chain check, on top of each policy's own trust settings.

        Raises:
            PolicyConfigError: unreadable or malformed certificate data.
        """
        from .trust import load_certificates_from_path

        certs: list[x509.Certificate] = []
        for path in (cafile, capath):
            if path:
                certs.extend(load_certificates_from_path(str(path)))
        if cadata:
            data = cadata.encode() if isinstance(cadata, str) else bytes(cadata)
            if b"-----BEGIN" in data:
                certs.extend(x509.load_pem_x509_certificates(data))
            else:
                certs.append(x509.load_der_x509_certificate(data))
        if not certs:
            return
        current = self.checks.get("chain")
        base = current.anchors if isinstance(current, _ChainWithAnchors) else ()
        self.checks["chain"] = _ChainWithAnchors((*base, *certs))
        self.clear_cache()

    def replace_resolver(self, resolver: PolicyResolver) -> None:
        """Put ``resolver`` (and its table) in force for verifications that
        start from now on (one assignment; a verification in progress keeps
        the resolution it made). Cached verdicts whose policy object is not
        a row of the new table are dropped: a row that changed, even to
        something stricter, never reuses a verdict made under the old row
        (:func:`certpolicy.tablediff.carry_over` keeps the objects of equal
        rows, so their verdicts stay).

        Args:
            resolver: the new :class:`PolicyResolver`.
        """
        keep = {id(p) for p in resolver.table.policies}
        self.resolver = resolver
        with self._lock:
            for key in [k for k in self._cache if k[3] not in keep]:
                del self._cache[key]

    def clear_cache(self) -> None:
        """Forget every cached verdict."""
        with self._lock:
            self._cache.clear()

    # -- reporting ----------------------------------------------------------------

    def _emit(self, verdict: Verdict) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "certpolicy %s host=%s peer=%s %s",
                "pass" if verdict.passed else "FAIL",
                verdict.host,
                verdict.peer_ip,
                verdict.summary(),
                extra={"certpolicy": verdict.to_dict()},
            )
        if self.on_verdict is not None:
            try:
                self.on_verdict(verdict)
            except Exception:  # a callback must not break the connection
                logger.exception("certpolicy: on_verdict callback raised")


_DER = __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER


def _parse_chain(chain: Sequence[bytes | x509.Certificate]) -> list[x509.Certificate]:
    if not chain:
        raise ChainError("the server presented no certificate (empty chain); refusing", outcome="empty-chain")
    from .checks.chain import parse_chain

    return parse_chain(list(chain))
