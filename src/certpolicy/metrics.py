"""Prometheus metrics of certpolicy's verdicts, through ``prometheus_client``
(the optional extra ``certpolicy[metrics]``).

One call turns them on for a context (or a bare :class:`~certpolicy.engine.Verifier`)::

    import certpolicy, certpolicy.metrics, prometheus_client

    ctx = certpolicy.create_ssl_context(table)
    certpolicy.metrics.enable(ctx)                 # the default registry
    prometheus_client.start_http_server(9464, addr="127.0.0.1")

Exported (``docs/rollout.md`` has the full list):

* ``certpolicy_check_verdicts_total{policy,check,outcome}``: one per check
  result of every verified connection (cached verdicts included);
* ``certpolicy_connections_total{policy,result}``: one per verified
  connection, ``result`` = ``pass``, ``fail`` or ``would-fail`` (audit);
* ``certpolicy_check_duration_seconds{check}`` and
  ``certpolicy_verification_duration_seconds{policy}``: histograms;
* ``certpolicy_revocation_fetch_duration_seconds{source,result}``: one per
  OCSP / CRL download (``result`` = ``ok`` or ``error``);
* ``certpolicy_revocation_cache_entries{source}`` and
  ``certpolicy_revocation_next_update_timestamp_seconds{source}``: gauges read
  when scraped (entries held in memory; the nearest nextUpdate, Unix seconds).

Nothing here is imported by ``import certpolicy``; until :func:`enable` is
called no code of this module runs on the handshake path, and
``prometheus_client`` is imported by :func:`enable` only.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from .checks.base import CheckContext, CheckResult
from .engine import Verdict, Verifier

__all__ = ["Metrics", "enable"]

_LOCK = threading.Lock()
_INSTRUMENTS: dict[int, _Instruments] = {}

#: Histogram buckets (seconds) of check and fetch times.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("certpolicy.metrics needs prometheus_client: pip install 'certpolicy[metrics]'") from e
    return prometheus_client


class _Instruments:
    """The metric objects of one registry (made once per registry)."""

    def __init__(self, registry: Any) -> None:
        pc = _prometheus()
        self.registry = registry
        self.verdicts = pc.Counter(
            "certpolicy_check_verdicts", "Check results of verified TLS connections.",
            ["policy", "check", "outcome"], registry=registry,
        )
        self.connections = pc.Counter(
            "certpolicy_connections", "Verified TLS connections by policy and result (pass, fail, would-fail).",
            ["policy", "result"], registry=registry,
        )
        self.check_seconds = pc.Histogram(
            "certpolicy_check_duration_seconds", "Time one check took on one connection.",
            ["check"], buckets=BUCKETS, registry=registry,
        )
        self.verify_seconds = pc.Histogram(
            "certpolicy_verification_duration_seconds", "Time the whole verification of one connection took.",
            ["policy"], buckets=BUCKETS, registry=registry,
        )
        self.fetch_seconds = pc.Histogram(
            "certpolicy_revocation_fetch_duration_seconds", "Time one OCSP or CRL download took.",
            ["source", "result"], buckets=BUCKETS, registry=registry,
        )
        self.collector = _CacheCollector(pc)
        registry.register(self.collector)


class _CacheCollector:
    """Gauges of the revocation caches, read at scrape time (no cost per handshake)."""

    def __init__(self, pc: Any) -> None:
        self._pc = pc
        self.verifiers: weakref.WeakSet[Verifier] = weakref.WeakSet()

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily as gm
        entries = gm("certpolicy_revocation_cache_entries", "Revocation data entries held in memory.", labels=["source"])
        nearest = gm(
            "certpolicy_revocation_next_update_timestamp_seconds",
            "The nearest nextUpdate of the cached revocation data (Unix seconds).",
            labels=["source"],
        )
        for source in ("ocsp", "crl"):
            count, soonest = 0, None
            for verifier in list(self.verifiers):
                for cache in _caches(verifier, source):
                    n, s = _cache_facts(cache)
                    count += n
                    if s is not None and (soonest is None or s < soonest):
                        soonest = s
            entries.add_metric([source], count)
            if soonest is not None:
                nearest.add_metric([source], soonest)
        yield entries
        yield nearest


def _sources(verifier: Verifier) -> dict[str, Any]:
    rev = verifier.checks.get("revocation")
    rev = getattr(rev, "_cp_inner", rev)
    sources = getattr(rev, "sources", None)
    return dict(sources) if isinstance(sources, dict) else {}


def _caches(verifier: Verifier, source: str) -> list[Any]:
    obj = _sources(verifier).get(source)
    if obj is None:
        return []
    holder = getattr(obj, "source", obj)  # CrlCheck keeps its state on .source
    found = [getattr(holder, "_cache", None), *dict(getattr(holder, "_caches", {}) or {}).values()]
    return [c for c in found if c is not None]


def _cache_facts(cache: Any) -> tuple[int, float | None]:
    mem = getattr(cache, "_mem", None)
    lock = getattr(cache, "_lock", None)
    if mem is None or lock is None:
        return 0, None
    with lock:
        values = list(mem.values())
    soonest = min((e.expires.timestamp() for e in values if getattr(e, "expires", None) is not None), default=None)
    return len(values), soonest


class _TimedCheck:
    """A check wrapped to time ``run``; everything else is the wrapped check's."""

    def __init__(self, inner: Any, observe: Callable[[float], None]) -> None:
        self._cp_inner = inner
        self._cp_observe = observe
        self.name = inner.name

    def run(self, ctx: CheckContext) -> CheckResult:
        t0 = time.perf_counter()
        try:
            result: CheckResult = self._cp_inner.run(ctx)
            return result
        finally:
            self._cp_observe(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cp_inner, name)


class Metrics:
    """The metrics attached to one verifier; made by :func:`enable`.

    Attributes:
        verifier: the instrumented :class:`~certpolicy.engine.Verifier`.
        registry: the ``prometheus_client`` registry the metrics live in.
    """

    def __init__(self, verifier: Verifier, instruments: _Instruments) -> None:
        self.verifier = verifier
        self._m = instruments
        self.registry = instruments.registry
        self._previous = verifier.on_verdict
        self._fetchers: list[tuple[Any, str, Any]] = []
        self._on = False

    def observe(self, verdict: Verdict) -> None:
        """Count one verdict (called through the verifier's ``on_verdict``)."""
        m = self._m
        policy = verdict.policy.name
        for r in verdict.results:
            m.verdicts.labels(policy, r.check, r.outcome).inc()
        result = "fail" if not verdict.passed else ("would-fail" if verdict.audited else "pass")
        m.connections.labels(policy, result).inc()
        m.verify_seconds.labels(policy).observe(verdict.elapsed)

    def _attach(self) -> None:
        v, m = self.verifier, self._m
        previous = self._previous

        def on_verdict(verdict: Verdict) -> None:
            self.observe(verdict)
            if previous is not None:
                previous(verdict)

        v.on_verdict = on_verdict
        for name, check in list(v.checks.items()):
            if not isinstance(check, _TimedCheck):
                v.checks[name] = _TimedCheck(check, m.check_seconds.labels(name).observe)
        for source, obj in _sources(v).items():
            holder, attr = (obj, "fetcher") if hasattr(obj, "fetcher") else (getattr(obj, "source", None), "_fetcher")
            original = getattr(holder, attr, None) if holder is not None else None
            if original is None or getattr(original, "_cp_timed", False):
                continue
            setattr(holder, attr, _timed_fetcher(original, source, m))
            self._fetchers.append((holder, attr, original))
        m.collector.verifiers.add(v)
        self._on = True

    def disable(self) -> None:
        """Detach: the verifier's callback, checks and fetchers are restored;
        the counters keep their values."""
        if not self._on:
            return
        v = self.verifier
        v.on_verdict = self._previous
        for name, check in list(v.checks.items()):
            if isinstance(check, _TimedCheck):
                v.checks[name] = check._cp_inner
        for holder, attr, original in self._fetchers:
            setattr(holder, attr, original)
        self._fetchers.clear()
        self._m.collector.verifiers.discard(v)
        self._on = False


def _timed_fetcher(fetch: Callable[..., Any], source: str, m: _Instruments) -> Callable[..., Any]:
    ok = m.fetch_seconds.labels(source, "ok")
    err = m.fetch_seconds.labels(source, "error")

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            resp = fetch(*args, **kwargs)
        except BaseException:
            err.observe(time.perf_counter() - t0)
            raise
        ok.observe(time.perf_counter() - t0)
        return resp

    timed._cp_timed = True  # type: ignore[attr-defined]
    return timed


def enable(target: Any, *, registry: Any = None) -> Metrics:
    """Turn metrics on for ``target``: count its verdicts, time its checks
    and revocation downloads, expose its revocation caches.

    Args:
        target: a :class:`~certpolicy.context.PolicySSLContext` (anything
            with a ``.verifier``) or a :class:`~certpolicy.engine.Verifier`.
        registry: a ``prometheus_client.CollectorRegistry`` (default: the
            global ``prometheus_client.REGISTRY``). Several contexts may share
            one registry: their counts add up.

    Returns:
        the :class:`Metrics` handle (``.disable()`` detaches it). Enabling a
        verifier that already has metrics on returns a new handle that
        replaces the old one.

    Raises:
        ImportError: ``prometheus_client`` is not installed (``pip install 'certpolicy[metrics]'``).
        TypeError: ``target`` is neither a verifier nor has one.
    """
    verifier = target if isinstance(target, Verifier) else getattr(target, "verifier", None)
    if not isinstance(verifier, Verifier):
        raise TypeError(f"expected a PolicySSLContext or a Verifier, not {type(target).__name__}")
    pc = _prometheus()
    reg = registry if registry is not None else pc.REGISTRY
    with _LOCK:
        inst = _INSTRUMENTS.get(id(reg))
        if inst is None or inst.registry is not reg:
            inst = _INSTRUMENTS[id(reg)] = _Instruments(reg)
        old = getattr(verifier, "_cp_metrics", None)
        if isinstance(old, Metrics):
            old.disable()
        handle = Metrics(verifier, inst)
        handle._attach()
        verifier._cp_metrics = handle  # type: ignore[attr-defined]
    return handle
