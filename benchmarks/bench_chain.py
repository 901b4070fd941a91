#!/usr/bin/env python3
"""Benchmark: ChainCheck + HostnameCheck per chain against a bare
cryptography ``ServerVerifier.verify`` on the same chain, in the same run.

Usage::

    python benchmarks/bench_chain.py [--rounds 7] [--number 300]

Chains:

* ``pki-ec``: root -> intermediate -> leaf, EC P-256 (certpolicy.pki);
* ``pki-rsa``: the same with RSA-2048 keys;
* ``google``: the real ``*.google.com`` chain of the x509-limbo ``online``
  cases (3.6 KB leaf, ~130 SAN entries, SCTs), when the limbo file is present.

Three input modes:

* ``objects``: the same parsed ``x509.Certificate`` objects every time (the
  checks' own cost; cached extension parses are reused);
* ``der``: DER bytes parsed on every call by both sides (what one TLS
  connection costs: the bare side does ``load_der_x509_certificate`` + verify,
  certpolicy does ``parse_chain`` + ChainCheck + HostnameCheck).

* ``first-sight``: a chain never seen before each call (a new leaf under a
  known intermediate, DER, parsed by both sides): what the first connection
  to a server costs, before any per-certificate fact is memoised.

The bare verifier is built once (its validation time is fixed); certpolicy
builds its verifier per call (cryptography fixes the time in it). Timings are
the minimum over rounds of the mean per call, rounds interleaved, so that
noise from other processes hits both sides alike. Columns: the bare verifier
built once (the reference), the bare verifier built per call (what a caller
who wants the current time pays), ChainCheck alone, and ChainCheck plus
HostnameCheck; ratios are against the first. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store

from certpolicy.checks.chain import ChainCheck
from certpolicy.checks.hostname import HostnameCheck
from certpolicy.pki import CA

REPO = Path(__file__).resolve().parents[1]
LIMBO = REPO.parent / "shared" / "conformance" / "limbo.json.gz"


def pki_chain(key_type: str) -> tuple[list[x509.Certificate], list[x509.Certificate], str, dt.datetime]:
    root = CA.create("Bench Root", key_type=key_type)
    inter = root.create_intermediate("Bench Intermediate", key_type=key_type)
    leaf = inter.issue_server("api.bench.example", "www.bench.example", key_type=key_type)
    return [leaf.cert, inter.cert], [root.cert], "api.bench.example", dt.datetime.now(dt.timezone.utc)


def google_chain() -> tuple[list[x509.Certificate], list[x509.Certificate], str, dt.datetime] | None:
    if not LIMBO.exists():
        return None
    with gzip.open(LIMBO, "rt") as f:
        cases = json.load(f)["testcases"]
    tc = next((c for c in cases if c["id"] == "online::google.com"), None)
    if tc is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in [tc["peer_certificate"], *tc["untrusted_intermediates"]]]
        anchors = [x509.load_pem_x509_certificate(p.encode()) for p in tc["trusted_certs"]]
    at = dt.datetime.fromisoformat(tc["validation_time"])
    return chain, anchors, "www.google.com", at


def measure(funcs: dict[str, Callable[[], object]], rounds: int, number: int) -> dict[str, float]:
    best = {k: float("inf") for k in funcs}
    for f in funcs.values():  # warm up (and fail early)
        f()
    for _ in range(rounds):
        for name, f in funcs.items():
            start = time.perf_counter()
            for _ in range(number):
                f()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return best


def bench_one(
    label: str,
    chain: list[x509.Certificate],
    anchors: list[x509.Certificate],
    host: str,
    at: dt.datetime,
    rounds: int,
    number: int,
) -> list[dict[str, object]]:
    store = Store(anchors)
    name = x509.DNSName(host)
    bare_verifier = PolicyBuilder().store(store).time(at).build_server_verifier(name)
    check = ChainCheck(anchors=anchors)
    hostname = HostnameCheck(cn_fallback="never")
    ders = [c.public_bytes(Encoding.DER) for c in chain]

    def parsed(mode: str) -> list[x509.Certificate]:
        return chain if mode == "objects" else [x509.load_der_x509_certificate(d) for d in ders]

    funcs: dict[str, Callable[[], object]] = {}
    for mode in ("objects", "der"):
        items: list[Any] = chain if mode == "objects" else ders

        def bare(mode: str = mode) -> object:
            certs = parsed(mode)
            return bare_verifier.verify(certs[0], certs[1:])

        def bare_per_call(mode: str = mode) -> object:
            certs = parsed(mode)
            verifier = PolicyBuilder().store(store).time(at).build_server_verifier(name)
            return verifier.verify(certs[0], certs[1:])

        def chain_only(items: list[Any] = items) -> object:
            return check.check(items, host, at=at)

        def chain_and_hostname(items: list[Any] = items) -> object:
            path = check.check(items, host, at=at)
            return hostname.check(path[0], host)

        funcs[f"bare/{mode}"] = bare
        funcs[f"bare_per_call/{mode}"] = bare_per_call
        funcs[f"chain/{mode}"] = chain_only
        funcs[f"chain+hostname/{mode}"] = chain_and_hostname
    t = measure(funcs, rounds, number)
    rows = []
    for mode in ("objects", "der"):
        bare_t = t[f"bare/{mode}"]
        rows.append(
            {
                "chain": label,
                "input": mode,
                "bare_us": bare_t * 1e6,
                "bare_per_call_us": t[f"bare_per_call/{mode}"] * 1e6,
                "chain_us": t[f"chain/{mode}"] * 1e6,
                "chain_hostname_us": t[f"chain+hostname/{mode}"] * 1e6,
                "ratio_chain": t[f"chain/{mode}"] / bare_t,
                "ratio": t[f"chain+hostname/{mode}"] / bare_t,
            }
        )
    return rows


def bench_first_sight(key_type: str, rounds: int, number: int) -> dict[str, object]:
    """Chains never seen before: every call gets a new leaf (one key, fresh
    serial and signature) under one intermediate, as DER; both sides parse
    it. Bare and certpolicy get different fresh leaves of the same shape."""
    root = CA.create("Bench Root", key_type=key_type)
    inter = root.create_intermediate("Bench Intermediate", key_type=key_type)
    leaf_key = inter.issue_server("api.bench.example", key_type=key_type).key
    inter_der = inter.cert.public_bytes(Encoding.DER)
    host = "api.bench.example"
    at = dt.datetime.now(dt.timezone.utc)
    bare_verifier = PolicyBuilder().store(Store([root.cert])).time(at).build_server_verifier(x509.DNSName(host))
    check = ChainCheck(anchors=[root.cert])
    hostname = HostnameCheck(cn_fallback="never")

    def fresh() -> list[bytes]:
        return [inter.issue_server(host, key=leaf_key).cert.public_bytes(Encoding.DER) for _ in range(number)]

    check.check([fresh()[0], inter_der], host, at=at)  # the trust store and the intermediate: seen
    best = {"bare": float("inf"), "certpolicy": float("inf")}
    for _ in range(rounds):
        leaves = fresh()
        start = time.perf_counter()
        for der in leaves:
            certs = [x509.load_der_x509_certificate(der), x509.load_der_x509_certificate(inter_der)]
            bare_verifier.verify(certs[0], certs[1:])
        best["bare"] = min(best["bare"], (time.perf_counter() - start) / number)
        leaves = fresh()
        start = time.perf_counter()
        for der in leaves:
            path = check.check([der, inter_der], host, at=at)
            hostname.check(path[0], host)
        best["certpolicy"] = min(best["certpolicy"], (time.perf_counter() - start) / number)
    return {
        "chain": f"pki-{key_type.split('-')[0]}",
        "input": "first-sight",
        "bare_us": best["bare"] * 1e6,
        "chain_hostname_us": best["certpolicy"] * 1e6,
        "ratio": best["certpolicy"] / best["bare"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--number", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args(argv)
    chains = {"pki-ec": pki_chain("ec-p256"), "pki-rsa": pki_chain("rsa-2048")}
    g = google_chain()
    if g is not None:
        chains["google"] = g
    rows = []
    for label, (chain, anchors, host, at) in chains.items():
        rows.extend(bench_one(label, chain, anchors, host, at, args.rounds, args.number))
    first_sight = [bench_first_sight(kt, args.rounds, 100) for kt in ("ec-p256", "rsa-2048")]
    if args.json:
        print(json.dumps(rows + first_sight, indent=2))
    else:
        print(
            f"{args.rounds} interleaved rounds of {args.number} calls; each figure is the minimum over "
            "the rounds of the mean per call; ratios against the bare verifier built once "
            "(fewer rounds: noisier figures)"
        )
        print(
            f"{'chain':8s} {'input':8s} {'bare verify':>12s} {'(new verifier)':>15s} "
            f"{'ChainCheck':>11s} {'+Hostname':>10s} {'ratio chain':>12s} {'ratio both':>11s}"
        )
        for r in rows:
            print(
                f"{r['chain']:8s} {r['input']:8s} {r['bare_us']:10.1f}us {r['bare_per_call_us']:13.1f}us "
                f"{r['chain_us']:9.1f}us {r['chain_hostname_us']:8.1f}us {r['ratio_chain']:12.2f} {r['ratio']:11.2f}"
            )
        print("\nchains never seen before (a new leaf each call, DER; the intermediate and store known):")
        for r in first_sight:
            print(
                f"{r['chain']:8s} {r['input']:11s} bare {r['bare_us']:7.1f}us  "
                f"ChainCheck+Hostname {r['chain_hostname_us']:7.1f}us  ratio {r['ratio']:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
