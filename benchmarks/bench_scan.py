"""Benchmark: ``certpolicy scan`` over 1,000 loopback endpoints vs a plain
``ssl`` probe loop with the same concurrency.

Usage::

    python benchmarks/bench_scan.py [--endpoints 1000] [--jobs 16] [--rounds 3]

One server process listens on ``--endpoints`` loopback ports (asyncio, TLS
1.3, chain leaf <- intermediate <- private root, EC P-256); each port is one
endpoint. Measured in the same run, interleaved round by round:

* ``plain ssl``: a ``ThreadPoolExecutor(jobs)`` whose workers connect,
  handshake with ``ssl.create_default_context(cafile=root)`` (OpenSSL verifies
  chain and host name) and close;
* ``certpolicy scan``: :func:`certpolicy.scan.scan` with ``ScanOptions(jobs=jobs)``
  (audit mode, chain and hostname enforced, revocation off: every endpoint
  recorded with its checks, issuer, notAfter, key type, RTT).

Reports endpoints per second (median of the rounds), the ratio scan / plain
(target >= 0.8x) and the client CPU time per endpoint. Figures go into
docs/rollout.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

import certpolicy
from certpolicy.pki import CA
from certpolicy.scan import ScanOptions, parse_inventory, scan

SERVER = r"""
import asyncio, ssl, sys
cert, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

async def handle(reader, writer):
    try:
        await reader.read(1)
    except Exception:
        pass
    writer.close()

async def main():
    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=256) for _ in range(n)]
    print(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def plain_probe(ports: list[int], root: str, jobs: int) -> tuple[float, float, int]:
    ctx = ssl.create_default_context(cafile=root)

    def one(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s, ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                return True
        except (OSError, ssl.SSLError):
            return False

    c0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        ok = sum(pool.map(one, ports))
    return time.perf_counter() - t0, time.process_time() - c0, ok


def scan_probe(inventory: str, table: certpolicy.PolicyTable, jobs: int) -> tuple[float, float, int]:
    eps = parse_inventory(inventory)
    c0, t0 = time.process_time(), time.perf_counter()
    pairs = scan(eps, table, options=ScanOptions(jobs=jobs, timeout=10))
    return time.perf_counter() - t0, time.process_time() - c0, sum(a.status == "pass" for a, _ in pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.endpoints
    with tempfile.TemporaryDirectory() as d:
        root = CA.create("bench scan root")
        inter = root.create_intermediate("bench scan issuing CA")
        leaf = inter.issue_server("localhost", "127.0.0.1")
        cert_path, key_path = Path(d) / "chain.pem", Path(d) / "key.pem"
        cert_path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in leaf.chain))
        key_path.write_bytes(leaf.key_pem())
        (Path(d) / "root.pem").write_bytes(root.cert_pem)
        root_path = str(Path(d) / "root.pem")
        table = certpolicy.PolicyTable.from_dict({"defaults": {"trust": {"system": False, "extra": [root_path]}}})
        srv = subprocess.Popen([sys.executable, "-c", SERVER, str(cert_path), str(key_path), str(n)],
                               stdout=subprocess.PIPE, text=True)
        try:
            assert srv.stdout is not None
            ports = [int(p) for p in srv.stdout.readline().split()]
            assert len(ports) == n, "server did not start"
            inventory = "\n".join(f"https://127.0.0.1:{p}/" for p in ports) + "\n"
            plain_probe(ports[:100], root_path, args.jobs)  # warm up both paths
            scan_probe("\n".join(inventory.splitlines()[:100]), table, args.jobs)
            plain: list[tuple[float, float, int]] = []
            ours: list[tuple[float, float, int]] = []
            for _ in range(args.rounds):
                plain.append(plain_probe(ports, root_path, args.jobs))
                ours.append(scan_probe(inventory, table, args.jobs))
        finally:
            srv.terminate()
            srv.wait(10)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {n} loopback endpoints, --jobs {args.jobs}, "
          f"{args.rounds} interleaved rounds")
    for name, runs in (("plain ssl", plain), ("certpolicy scan", ours)):
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        ok = min(r[2] for r in runs)
        print(f"  {name:16s} {n / wall:8.1f} endpoints/s  (median {wall:.2f} s; client CPU {cpu / n * 1000:.2f} ms/endpoint; "
              f"{ok}/{n} passed)")
    ratios = [(n / b[0]) / (n / a[0]) for a, b in zip(plain, ours, strict=True)]
    print(f"  ratio scan / plain: {statistics.median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.8x)")


if __name__ == "__main__":
    main()
