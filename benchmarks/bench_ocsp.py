"""OCSP benchmark.

Measures, in one run, against the same responses:

* ``OcspCheck.status()`` answered from a warm cache (what a handshake pays
  once the response is cached) against ``status()`` with no cached answer
  (request over loopback to our responder fixture, verification, cache store);
* verifying one response (``verify_response``: parse, signature, CertID,
  freshness) signed by the issuer and by a delegated responder (whose
  one-certificate path pyhanko-certvalidator validates), against the peers
  measured in the same run: ``openssl ocsp -respin`` verifying the same DER
  (one process per call, so the ratio includes process start-up; reported
  for scale) and pyhanko-certvalidator validating the leaf with that OCSP
  response required (in-process);
* 64 threads calling ``status()`` for one certificate at once: the number of
  OCSP requests the responder sees (single flight: 1) and the wall time.

Handshake overhead through ``certpolicy.create_ssl_context`` is not measured
here (see docs/performance.md): it needs the SSL context of the lead's
module and a TLS server; the warm-cache figure is the revocation share of it.

Run:  .venv/bin/python benchmarks/bench_ocsp.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x_ocsp

from certpolicy.checks.base import CheckContext
from certpolicy.checks.ocsp import OcspCheck
from certpolicy.pki import CA
from certpolicy.policy import CheckMode, Policy, PolicyKind, RevocationSettings
from certpolicy.revocation.cache import RevocationCache
from certpolicy.revocation.ocsp import build_request, verify_response
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder


def _median_us(fn: Callable[[], object], *, batch: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return statistics.median(samples)


def _pyhanko_validate(leaf: bytes, inter: bytes, root: bytes, resp: bytes, at: _dt.datetime) -> None:
    from asn1crypto import x509 as a_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )

    rule = RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.OCSP_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK,
    )
    vc = ValidationContext(
        trust_roots=[a_x509.Certificate.load(root)],
        other_certs=[a_x509.Certificate.load(inter)],
        moment=at,
        allow_fetching=False,
        ocsps=[resp],
        revinfo_policy=CertRevTrustPolicy(rule),
        time_tolerance=_dt.timedelta(minutes=15),
    )
    v = CertificateValidator(a_x509.Certificate.load(leaf), validation_context=vc)
    asyncio.run(v.async_validate_usage({"digital_signature"}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()

    at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    figures: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    root = CA.create("Bench Root")
    inter = root.create_intermediate("Bench Issuing CA")
    delegated = inter.issue_ocsp_responder("Bench OCSP Responder")

    with LoopbackHTTPServer() as srv:
        responder = OcspResponder(inter, server=srv, clock=lambda: at)
        leaf = inter.issue_server("bench.example.test", ocsp_url=responder.url)
        path = [leaf.cert, inter.cert, root.cert]
        pol = Policy("bench", PolicyKind.INTERNET, ocsp=CheckMode.ENFORCE, revocation=RevocationSettings())

        def ctx() -> CheckContext:
            return CheckContext(host="bench.example.test", chain=path, policy=pol, at=at, verified_path=path)

        # -- warm cache vs no cache ------------------------------------------------
        warm = OcspCheck(cache=RevocationCache(None))
        warm.status(leaf.cert, inter.cert, ctx())
        cached_us = _median_us(lambda: warm.status(leaf.cert, inter.cert, ctx()), batch=2000, rounds=args.rounds)

        def cold() -> None:
            OcspCheck(cache=RevocationCache(None)).status(leaf.cert, inter.cert, ctx())

        cold_us = _median_us(cold, batch=50, rounds=args.rounds)
        figures["status_cached_us"] = round(cached_us, 2)
        figures["status_uncached_loopback_us"] = round(cold_us, 1)
        figures["uncached_over_cached"] = round(cold_us / cached_us, 1)

        # -- verification of one response -------------------------------------------
        req = x_ocsp.load_der_ocsp_request(build_request(leaf.cert, inter.cert).der)
        by_issuer = responder.respond(req)
        responder.signer = delegated
        by_delegate = responder.respond(req)
        responder.signer = None
        verify_issuer_us = _median_us(
            lambda: verify_response(by_issuer, leaf.cert, inter.cert, at=at), batch=200, rounds=args.rounds
        )
        verify_delegate_us = _median_us(
            lambda: verify_response(by_delegate, leaf.cert, inter.cert, at=at), batch=20, rounds=args.rounds
        )
        figures["verify_issuer_signed_us"] = round(verify_issuer_us, 1)
        figures["verify_delegated_us"] = round(verify_delegate_us, 1)

        der = lambda c: c.public_bytes(Encoding.DER)  # noqa: E731
        pyhanko_us = _median_us(
            lambda: _pyhanko_validate(der(leaf.cert), der(inter.cert), der(root.cert), by_issuer, at),
            batch=10,
            rounds=args.rounds,
        )
        figures["peer_pyhanko_path_with_ocsp_us"] = round(pyhanko_us, 1)
        figures["pyhanko_over_certpolicy_verify"] = round(pyhanko_us / verify_issuer_us, 1)

        if shutil.which("openssl"):
            with tempfile.TemporaryDirectory() as tmp:
                t = Path(tmp)
                (t / "resp.der").write_bytes(by_issuer)
                (t / "issuer.pem").write_bytes(inter.cert.public_bytes(Encoding.PEM))
                (t / "leaf.pem").write_bytes(leaf.cert.public_bytes(Encoding.PEM))
                (t / "root.pem").write_bytes(root.cert.public_bytes(Encoding.PEM) + inter.cert.public_bytes(Encoding.PEM))
                cmd = [
                    "openssl", "ocsp", "-respin", str(t / "resp.der"), "-issuer", str(t / "issuer.pem"),
                    "-cert", str(t / "leaf.pem"), "-CAfile", str(t / "root.pem"), "-no_nonce",
                ]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                figures["peer_openssl_verdict"] = (out.stdout + out.stderr).strip().splitlines()[-3:]
                openssl_us = _median_us(
                    lambda: subprocess.run(cmd, capture_output=True, check=False), batch=5, rounds=args.rounds
                )
                figures["peer_openssl_process_us"] = round(openssl_us, 1)
                figures["openssl_process_over_certpolicy_verify"] = round(openssl_us / verify_issuer_us, 1)

        # -- single flight ------------------------------------------------------------
        responder.stall = 0.2
        before = responder.hits
        shared = OcspCheck(cache=RevocationCache(None))
        barrier = threading.Barrier(64)

        def worker() -> None:
            barrier.wait()
            shared.status(leaf.cert, inter.cert, ctx())

        threads = [threading.Thread(target=worker) for _ in range(64)]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        figures["concurrent_64_requests"] = responder.hits - before
        figures["concurrent_64_wall_ms"] = round((time.perf_counter() - start) * 1000, 1)
        figures["concurrent_64_responder_stall_ms"] = 200

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for k, v in figures.items():
            print(f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
