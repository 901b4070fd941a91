"""Benchmark: full TLS handshakes through certpolicy's context vs the peers.

Usage::

    python benchmarks/bench_handshake.py [--n 600] [--growth 10000]

Measured in one run, against one loopback TLS server running in another
process (chain: leaf <- intermediate <- private root, EC P-256, TLS 1.3):

* ``certpolicy cold``: chain and hostname enforced, revocation off, verdict cache off;
* ``certpolicy warm``: the same with the verdict cache (same chain, host, policy);
* ``first sight`` / ``ssl first sight``: every handshake to a name never used
  before, the server presenting a new leaf for it (chosen by SNI) under the
  same intermediate: what a program that talks to many endpoints of one CA
  pays (certpolicy cold, verdict cache off; OpenSSL verified, the peer);
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


def start_server(tmp: Path, http: LoopbackHTTPServer, fresh: int = 0) -> tuple[subprocess.Popen[bytes], int, Path]:
    root = CA.create("bench root")
    inter = root.create_intermediate("bench issuing CA")
    leaf = inter.issue_server(HOST, "127.0.0.1", crl_url=http.url("/ca.crl"), ocsp_url=http.url("/ocsp"))
    from cryptography.hazmat.primitives.serialization import Encoding

    http.route("/ca.crl", inter.issue_crl().public_bytes(Encoding.DER), "application/pkix-crl")
    OcspResponder(inter, server=http, path="/ocsp")
    paths = leaf.write(tmp, "leaf")
    (tmp / "root.pem").write_bytes(root.cert_pem)
    sni = tmp / "sni"
    sni.mkdir()
    for i in range(fresh):  # one leaf per first-sight name, same intermediate
        inter.issue_server(f"h{i}.{HOST}").write(sni, f"h{i}.{HOST}")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(paths.chain), str(paths.key), str(sni)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port, tmp / "root.pem"


def serve(chain: str, key: str, sni_dir: str) -> None:
    """The benchmark's server process: the main leaf, and per SNI name the
    leaf written under ``sni_dir`` (``<name>.chain.pem`` / ``<name>.key``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from certpolicy.testing.tls_server import LoopbackTLSServer

    srv = LoopbackTLSServer(
        chain=x509.load_pem_x509_certificates(Path(chain).read_bytes()),
        key=load_pem_private_key(Path(key).read_bytes(), None),
    )
    contexts: dict[str, ssl.SSLContext] = {}
    folder = Path(sni_dir)
    for chain_file in folder.glob("*.chain.pem"):  # loaded up front: the server's cost stays out of the figures
        name = chain_file.name[: -len(".chain.pem")]
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(chain_file, folder / f"{name}.key")
        contexts[name] = c

    def pick(obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        if not name or name == HOST:
            return
        c = contexts.get(name)
        if c is None:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            c.load_cert_chain(folder / f"{name}.chain.pem", folder / f"{name}.key")
            contexts[name] = c
        obj.context = c

    srv.context.sni_callback = pick  # type: ignore[assignment]
    srv.start()
    print(srv.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def one(ctx: ssl.SSLContext, port: int, host: str = HOST) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    tls = ctx.wrap_socket(sock, server_hostname=host)
    tls.close()


def timed(ctx: ssl.SSLContext, port: int, n: int, names: list[str] | None = None) -> list[float]:
    """``n`` handshakes; with ``names``, each to the next name of the list
    (consumed: a first-sight name is used once)."""
    out = []
    for _ in range(n):
        host = names.pop() if names else HOST
        t = time.perf_counter()
        one(ctx, port, host)
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
    ap.add_argument("--serve", nargs=3, metavar=("CHAIN", "KEY", "SNI_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    tmp = Path(tempfile.mkdtemp(prefix="certpolicy-bench-"))
    http = LoopbackHTTPServer().start()
    per_round = max(args.n // args.rounds, 1)
    fresh_each = per_round * args.rounds + 10
    proc, port, root = start_server(tmp, http, fresh=2 * fresh_each)
    all_names = [f"h{i}.{HOST}" for i in range(2 * fresh_each)]
    fresh_names = {"first sight": all_names[:fresh_each], "ssl first sight": all_names[fresh_each:]}
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
        variants["first sight"] = variants["certpolicy cold"]
        variants["ssl first sight"] = variants["ssl verified"]
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
        for name, c in ctxs.items():  # warm-up (and fill the verdict cache)
            timed(c, port, 30) if name not in fresh_names else timed(c, port, 5, fresh_names[name])
        samples: dict[str, list[float]] = {name: [] for name in ctxs}
        for _ in range(args.rounds):  # interleave to spread machine noise
            for name, c in ctxs.items():
                samples[name] += timed(c, port, per_round, fresh_names.get(name))
        ref = statistics.median(samples["ssl verified"])
        cold = statistics.median(samples["certpolicy cold"])
        print(f"python {platform.python_version()}, {ssl.OPENSSL_VERSION}, {os.cpu_count()} cores")
        print(f"{'variant':<20} {'median ms':>10} {'vs ssl verified':>16} {'vs certpolicy cold':>19}")
        for name, s in samples.items():
            m = statistics.median(s)
            print(f"{name:<20} {m * 1000:>10.3f} {m / ref:>15.2f}x {m / cold:>18.2f}x")
        first = statistics.median(samples["first sight"]) / statistics.median(samples["ssl first sight"])
        print(f"first sight (a new leaf under a known intermediate) vs ssl on the same names: {first:.2f}x")
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
