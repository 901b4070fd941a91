"""Fleet benchmark: N agent processes cold-starting against one CRL of 100,000 serials, with and without the shared Redis cache.

For N in (1, 4, 16) and for each of "disk only" (every process its own
cache folder, today's default) and "redis" (the same plus
``revocation_cache = "redis://..."`` on a fresh loopback redis-server),
all N processes are started, build their context, and at one signal verify
the same chain (CRL enforced). Reported per row: CRL downloads (counted by
the loopback CRL server; 1 with Redis vs N without is the goal) and the time
to the first verdict per process (median and max, seconds, from the signal).

Then, in this process, the cost of a cached-revocation TLS handshake
(verdict cache off, the CRL already cached) through a context with Redis vs
one with the disk cache only, median of interleaved rounds, as a ratio
(target: within 10%).

Run:  .venv/bin/python benchmarks/bench_fleet.py [--entries 100000] [--sizes 1,4,16] [--handshakes 300]
Needs redis-server (``.ci/run`` installs it) and the ``redis`` package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

import certpolicy
from certpolicy.pki import CA
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.redis_server import RedisServer
from certpolicy.testing.tls_server import LoopbackTLSServer

HOST = "bench.fleet.test"
WORKER = '''
import json, sys, time
from pathlib import Path
import certpolicy
policy, chain_file, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
ctx = certpolicy.create_ssl_context(certpolicy.PolicyTable.load(policy), verdict_ttl=0)
chain = [bytes.fromhex(c) for c in json.loads(Path(chain_file).read_text())]
while not go.exists():
    time.sleep(0.002)
t0 = go.stat().st_mtime
ctx.verify_chain(chain, "HOST")
print(json.dumps({"first_verdict": time.time() - t0}))
'''.replace("HOST", HOST)


def _policy(tmp: Path, name: str, redis_url: str | None) -> Path:
    p = tmp / f"{name}.toml"
    lines = [
        "[defaults]",
        f'trust = {{ system = false, extra = ["{tmp / "root.pem"}"] }}',
        'crl = "enforce"',
        f'revocation = {{ cache_dir = "{tmp / ("cache-" + name)}", crl_limits = {{ max_bytes = 50000000 }} }}',
    ]
    if redis_url:
        lines.append(f'revocation_cache = "{redis_url}"')
    p.write_text("\n".join(lines) + "\n")
    return p


def _fleet(tmp: Path, n: int, redis_url: str | None, tag: str, worker: Path) -> list[float]:
    go = tmp / f"go-{tag}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(_policy(tmp, f"{tag}-{i}", redis_url)), str(tmp / "chain.json"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    time.sleep(1.0 + 0.25 * n)
    go.write_text("go")
    times = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(err)
        times.append(json.loads(out.strip().splitlines()[-1])["first_verdict"])
    return times


def _handshake_ms(ctx: object, port: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST):  # type: ignore[attr-defined]
                pass
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--sizes", default="1,4,16")
    ap.add_argument("--handshakes", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="certpolicy-fleet-"))
    worker = tmp / "worker.py"
    worker.write_text(WORKER)
    now = dt.datetime.now(dt.timezone.utc)
    root = CA.create("Fleet Bench Root")
    ca = root.create_intermediate("Fleet Bench CA", not_before=now - dt.timedelta(days=1))
    (tmp / "root.pem").write_bytes(root.cert_pem)
    print(f"python {platform.python_version()}, {platform.machine()}; building a CRL of {args.entries} serials ...", flush=True)
    with LoopbackHTTPServer() as http:
        url = http.url("/big.crl")
        leaf = ca.issue_server(HOST, crl_url=url)
        base = 10**15
        crl = ca.issue_crl(revoked=list(range(base, base + args.entries)))
        der = crl.public_bytes(Encoding.DER)
        http.route("/big.crl", der, "application/pkix-crl")
        (tmp / "chain.json").write_text(json.dumps([c.public_bytes(Encoding.DER).hex() for c in (leaf.cert, ca.cert)]))
        print(f"CRL: {len(der) / 1e6:.1f} MB\n")
        print(f"{'processes':>9}  {'cache':<10} {'downloads':>9}  {'first verdict median s':>22}  {'max s':>6}")
        for n in [int(x) for x in args.sizes.split(",")]:
            for mode in ("disk only", "redis"):
                http.reset_hits()
                if mode == "redis":
                    with RedisServer() as srv:
                        times = _fleet(tmp, n, srv.url, f"r{n}", worker)
                else:
                    times = _fleet(tmp, n, None, f"d{n}", worker)
                print(f"{n:>9}  {mode:<10} {http.hits('/big.crl'):>9}  {statistics.median(times):>22.3f}  {max(times):>6.3f}", flush=True)

        with RedisServer() as srv, LoopbackTLSServer(leaf) as tls:
            disk = certpolicy.create_ssl_context(certpolicy.PolicyTable.load(_policy(tmp, "hs-disk", None)), verdict_ttl=0)
            shared = certpolicy.create_ssl_context(certpolicy.PolicyTable.load(_policy(tmp, "hs-redis", srv.url)), verdict_ttl=0)
            for c in (disk, shared):
                _handshake_ms(c, tls.port, 3)  # warm: the CRL is cached
            d, r = [], []
            for _ in range(10):
                d.append(_handshake_ms(disk, tls.port, max(1, args.handshakes // 10)))
                r.append(_handshake_ms(shared, tls.port, max(1, args.handshakes // 10)))
            dm, rm = statistics.median(d), statistics.median(r)
            print(f"\ncached-revocation handshake: disk {dm:.3f} ms, redis {rm:.3f} ms, ratio redis/disk {rm / dm:.2f}x (target <= 1.10x)")


if __name__ == "__main__":
    main()
