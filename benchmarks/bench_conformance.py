#!/usr/bin/env python3
"""Benchmark: the full x509-limbo run through certpolicy's checks against a
bare cryptography harness over the same cases, in the same process.

Usage::

    python benchmarks/bench_conformance.py [PATH] [--rounds 3]

Both harnesses are those of ``tests/conformance/run_limbo.py``: certpolicy
runs HostnameCheck, ChainCheck (and CrlCheck for CRL cases); the bare harness
runs cryptography's ``ServerVerifier`` / ``ClientVerifier`` (CRL cases are
skipped there, so they cost it nothing). Both parse every case's PEM input.
Rounds alternate between the harnesses; the minimum wall time of each is
reported, with the slowest case. Target: ratio <= 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "tests" / "conformance" / "run_limbo.py"


def load_runner():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("run_limbo", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_limbo"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    run_limbo = load_runner()
    logging.getLogger("certpolicy").addHandler(logging.NullHandler())
    logging.getLogger("certpolicy").propagate = False
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=run_limbo.DEFAULT_LIMBO)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    cases = run_limbo.load_cases(args.path)
    harnesses = {"cryptography": run_limbo.CryptographyHarness(), "certpolicy": run_limbo.CertpolicyHarness()}
    best = {k: float("inf") for k in harnesses}
    slowest: dict[str, tuple[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for _ in range(args.rounds):
        for name, harness in harnesses.items():
            start = time.perf_counter()
            results = run_limbo.run_cases(cases, harness)
            wall = time.perf_counter() - start
            if wall < best[name]:
                best[name] = wall
                worst = max(results, key=lambda r: r.seconds)
                slowest[name] = (worst.id, worst.seconds)
                report = run_limbo.Report(results, [], [], [], wall)
                counts[name] = report.counts()
    print(f"x509-limbo: {len(cases)} cases, {args.rounds} rounds (minimum wall time)")
    print(f"{'harness':14s} {'wall':>8s} {'pass':>6s} {'bad acc.':>9s} {'good rej.':>10s} {'skipped':>8s}  slowest case")
    for name in harnesses:
        c = counts[name]
        sid, ssec = slowest[name]
        print(
            f"{name:14s} {best[name]:7.2f}s {c['pass']:6d} {c['bad-accepted']:9d} "
            f"{c['good-rejected']:10d} {c['skipped']:8d}  {sid} ({ssec * 1000:.0f} ms)"
        )
    print(f"ratio certpolicy / cryptography: {best['certpolicy'] / best['cryptography']:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
