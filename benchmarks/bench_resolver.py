"""Benchmark: PolicyResolver.resolve() against a plain scan over the same rows.

Usage::

    python benchmarks/bench_resolver.py [--sizes 10,1000,100000] [--queries 2000]

Tables have N override rows, half host names and wildcards, half addresses,
CIDR blocks and dash ranges (no ties). Prints the median and p99 of
``resolve()`` per size, the plain scan's median over the same queries
(``PolicyResolver.resolve_by_scan``), their ratio, the growth of the median
from the smallest to the largest size, and the time to load the table from
its dict form and building the resolver's index. Figures are reported in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import platform
import random
import statistics
import time
from typing import Any

from certpolicy import PolicyResolver, PolicyTable


def make_rows(n: int, rnd: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            target = f"host{i}.svc{i % 97}.corp.example"
        elif kind == 1:
            target = f"*.team{i}.apps.example"
        elif kind == 2:
            base = 0x0A000000 + (i // 4) * 256  # 10.x.y.0/24 blocks, one per row
            target = f"{ipaddress.IPv4Address(base)}/{rnd.choice([24, 25, 26, 28, 30, 32])}"
        else:
            base = 0xAC100000 + (i // 4) * 64  # 172.16.x.y dash ranges of 64, disjoint
            target = f"{ipaddress.IPv4Address(base)}-{ipaddress.IPv4Address(base + rnd.randint(1, 63))}"
        rows.append({"name": f"r{i}", "targets": target, "hostname": "off"})
    return rows


def make_queries(n_rows: int, count: int, rnd: random.Random) -> list[tuple[str, str]]:
    out = []
    for _ in range(count):
        i = rnd.randrange(max(n_rows, 1))
        choice = rnd.random()
        if choice < 0.25:
            host = f"host{i - i % 4}.svc{(i - i % 4) % 97}.corp.example"
        elif choice < 0.5:
            host = f"a.b.team{(i - i % 4) + 1}.apps.example"
        else:
            host = f"unknown{i}.example.org"
        ip = str(ipaddress.IPv4Address(0x0A000000 + rnd.randrange(max(n_rows // 4, 1)) * 256 + rnd.randrange(256)))
        if rnd.random() < 0.3:
            ip = str(ipaddress.IPv4Address(0xAC100000 + rnd.randrange(max(n_rows // 4, 1)) * 64 + rnd.randrange(64)))
        if rnd.random() < 0.2:
            ip = f"203.0.113.{rnd.randrange(256)}"
        out.append((host, ip))
    return out


def bench(size: int, queries: int, scan_queries: int) -> dict[str, float]:
    rnd = random.Random(size)
    rows = make_rows(size, rnd)
    t0 = time.perf_counter()
    table = PolicyTable.from_dict({"override": rows})
    resolver = PolicyResolver(table)  # the index is part of loading
    load = time.perf_counter() - t0
    qs = make_queries(size, queries, rnd)
    for h, ip in qs[:200]:  # warm-up (name normalisation cache, allocator)
        resolver.resolve(h, peer_ip=ip)
    times = []
    for h, ip in qs:
        t = time.perf_counter()
        resolver.resolve(h, peer_ip=ip)
        times.append(time.perf_counter() - t)
    scan = []
    for h, ip in qs[:scan_queries]:
        t = time.perf_counter()
        resolver.resolve_by_scan(h, peer_ip=ip)
        scan.append(time.perf_counter() - t)
    times.sort()
    return {
        "size": size,
        "load_s": load,
        "median_us": statistics.median(times) * 1e6,
        "p99_us": times[int(len(times) * 0.99) - 1] * 1e6,
        "scan_median_us": statistics.median(scan) * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,1000,100000")
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--scan-queries", type=int, default=50)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or platform.system()}")
    print(f"{'rows':>8} {'load s':>8} {'resolve median µs':>18} {'p99 µs':>8} {'scan median µs':>15} {'scan/index':>10}")
    results = [bench(s, args.queries, args.scan_queries) for s in sizes]
    for r in results:
        print(
            f"{r['size']:>8} {r['load_s']:>8.2f} {r['median_us']:>18.2f} {r['p99_us']:>8.2f} "
            f"{r['scan_median_us']:>15.1f} {r['scan_median_us'] / r['median_us']:>10.1f}"
        )
    if len(results) >= 2:
        print(f"growth of the median from {results[-2]['size']} to {results[-1]['size']} rows: "
              f"{results[-1]['median_us'] / results[-2]['median_us']:.2f}x")


if __name__ == "__main__":
    main()
