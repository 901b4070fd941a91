"""Benchmark: full TLS handshakes through certpolicy's context vs the peers.

Usage::

    python benchmarks/bench_handshake.py [--n 600] [--growth 10000]

Measured in one run, against one loopback TLS server running in another
process (chain: leaf <- intermediate <- private root, EC P-256, TLS 1.3):

* ``certpolicy cold``: chain and hostname enforced, revocation off, verdict cache off;
* ``certpolicy warm``: the same with the verdict cache (same chain, host, policy);
* ``ssl verified``: ``ssl.create_default_context(cafile=root)`` (OpenSSL verifies);
* ``ssl unverified``: verification off (the floor);
* ``truststore``: ``truststore.SSLContext`` trusting the same root.

Reports medians per handshake (connect + handshake + close) and ratios against
``ssl verified``; throughput with 16 threads and with 64 asyncio tasks; and
growth over many handshakes (median of the last 100 vs the first 100, and
the RSS growth). Figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import certpolicy
from certpolicy.pki import CA
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder

HOST = "bench.test"


def start_server(tmp: Path, http: LoopbackHTTPServer) -> tuple[subprocess.Popen[bytes], int, Path]:
    root = CA.create("bench root")
    inter = root.create_intermediate("bench issuing CA")
    leaf = inter.issue_server(HOST, "127.0.0.1", crl_url=http.url("/ca.crl"), ocsp_url=http.url("/ocsp"))
    from cryptography.hazmat.primitives.serialization import Encoding

    http.route("/ca.crl", inter.issue_crl().public_bytes(Encoding.DER), "application/pkix-crl")
    OcspResponder(inter, server=http, path="/ocsp")
    paths = leaf.write(tmp, "leaf")
    (tmp / "root.pem").write_bytes(root.cert_pem)
    proc = subprocess.Popen(
        [sys.executable, "-m", "certpolicy.testing.tls_server", str(paths.chain), str(paths.key)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port, tmp / "root.pem"


def one(ctx: ssl.SSLContext, port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    tls = ctx.wrap_socket(sock, server_hostname=HOST)
    tls.close()


def timed(ctx: ssl.SSLContext, port: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        one(ctx, port)
        out.append(time.perf_counter() - t)
    return out


def throughput_threads(ctx: ssl.SSLContext, port: int, threads: int, per_thread: int) -> float:
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            one(ctx, port)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return threads * per_thread / (time.perf_counter() - t0)


def throughput_asyncio(ctx: ssl.SSLContext, port: int, tasks: int, per_task: int) -> float:
    async def worker() -> None:
        for _ in range(per_task):
            _r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=HOST)
            w.close()
            await w.wait_closed()

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return tasks * per_task / (time.perf_counter() - t0)

    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--growth", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=30, help="interleaved rounds per variant (many short rounds spread machine drift evenly)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="certpolicy-bench-"))
    http = LoopbackHTTPServer().start()
    proc, port, root = start_server(tmp, http)
    try:
        base = {"trust": {"system": False, "extra": [str(root)]}, "ocsp": "off", "crl": "off",
                "revocation": {"cache_dir": str(tmp / "cache")}}
        table = certpolicy.PolicyTable.from_dict({"defaults": base})
        crl_table = certpolicy.PolicyTable.from_dict({"defaults": {**base, "crl": "enforce"}})
        ocsp_table = certpolicy.PolicyTable.from_dict({"defaults": {**base, "ocsp": "enforce"}})
        variants: dict[str, Callable[[], ssl.SSLContext]] = {
            "certpolicy cold": lambda: certpolicy.create_ssl_context(table, verdict_ttl=0),
            "cold + CRL cached": lambda: certpolicy.create_ssl_context(crl_table, verdict_ttl=0),
            "cold + OCSP cached": lambda: certpolicy.create_ssl_context(ocsp_table, verdict_ttl=0),
            "certpolicy warm": lambda: certpolicy.create_ssl_context(table),
            "ssl verified": lambda: ssl.create_default_context(cafile=str(root)),
        }

        def unverified() -> ssl.SSLContext:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
            return c

        variants["ssl unverified"] = unverified
        try:
            import truststore

            def ts() -> ssl.SSLContext:
                c = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                c.load_verify_locations(str(root))
                return c

            variants["truststore"] = ts
        except ImportError:
            pass
        ctxs = {name: make() for name, make in variants.items()}
        for c in ctxs.values():  # warm-up (and fill the verdict cache)
            timed(c, port, 30)
        samples: dict[str, list[float]] = {name: [] for name in ctxs}
        per_round = max(args.n // args.rounds, 1)
        for _ in range(args.rounds):  # interleave to spread machine noise
            for name, c in ctxs.items():
                samples[name] += timed(c, port, per_round)
        ref = statistics.median(samples["ssl verified"])
        cold = statistics.median(samples["certpolicy cold"])
        print(f"python {platform.python_version()}, {ssl.OPENSSL_VERSION}, {os.cpu_count()} cores")
        print(f"{'variant':<20} {'median ms':>10} {'vs ssl verified':>16} {'vs certpolicy cold':>19}")
        for name, s in samples.items():
            m = statistics.median(s)
            print(f"{name:<20} {m * 1000:>10.3f} {m / ref:>15.2f}x {m / cold:>18.2f}x")
        print(f"(CRL fetched {http.hits('/ca.crl')} time(s), OCSP requests {http.hits('/ocsp') + http.hits('/ocsp/*')})")
        print()
        plain = ctxs["ssl verified"]
        for mode in ("warm", "cold"):
            cp = ctxs[f"certpolicy {mode}"]
            a, b = throughput_threads(cp, port, 16, 40), throughput_threads(plain, port, 16, 40)
            print(f"16 threads: certpolicy ({mode}) {a:.0f}/s, ssl verified {b:.0f}/s, ratio {a / b:.2f}")
            a, b = throughput_asyncio(cp, port, 64, 10), throughput_asyncio(plain, port, 64, 10)
            print(f"64 asyncio tasks: certpolicy ({mode}) {a:.0f}/s, ssl verified {b:.0f}/s, ratio {a / b:.2f}")
        if args.growth:
            import gc
            import tracemalloc

            # certpolicy and plain ssl alternate handshake by handshake, so
            # machine drift affects both alike; the drift-corrected growth is
            # certpolicy's last/first ratio divided by ssl's.
            cp_ctx, ssl_ctx = variants["certpolicy warm"](), variants["ssl verified"]()
            timed(cp_ctx, port, 50)
            timed(ssl_ctx, port, 50)
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            cp_s: list[float] = []
            ssl_s: list[float] = []
            for _ in range(args.growth):
                cp_s += timed(cp_ctx, port, 1)
                ssl_s += timed(ssl_ctx, port, 1)
            gc.collect()
            grown = (tracemalloc.get_traced_memory()[0] - before) / 1e6
            tracemalloc.stop()
            cp_ratio = statistics.median(cp_s[-100:]) / statistics.median(cp_s[:100])
            ssl_ratio = statistics.median(ssl_s[-100:]) / statistics.median(ssl_s[:100])
            print(
                f"growth over {args.growth} handshakes each (alternating): certpolicy warm last/first 100 "
                f"x{cp_ratio:.2f}, ssl verified x{ssl_ratio:.2f}, drift-corrected x{cp_ratio / ssl_ratio:.2f}; "
                f"Python heap +{grown:.2f} MB (both contexts)"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        http.stop()


if __name__ == "__main__":
    main()
