"""CRL benchmark: a CRL with 100,000 revoked serials.

Measures, in one run on the same CRL:

* load + verify + index once (certpolicy ``ParsedCrl``: parse, build the
  serial index, verify the signature) against cryptography's parse and
  signature check alone;
* one serial lookup: certpolicy's index (``ParsedCrl.contains`` and
  ``ParsedCrl.lookup`` for a listed serial) against cryptography's own
  ``get_revoked_certificate_by_serial_number`` (a linear scan), for a listed
  and an unlisted serial; the ratio is reported;
* one ``CrlCheck.status()`` call on a warm cache (what a handshake pays).

The CRL is produced by the ``openssl ca -gencrl`` command (certpolicy's
``testing.openssl_ca`` driver), falling back to cryptography's builder.

Run:  .venv/bin/python benchmarks/bench_crl.py [--entries 100000] [--json]
Target: lookup median <= 2 us.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from certpolicy.checks.base import CheckContext
from certpolicy.checks.crl import CrlCheck
from certpolicy.policy import CheckMode, Policy, PolicyKind, RevocationSettings
from certpolicy.revocation.crl import ParsedCrl, load_crl
from certpolicy.testing.openssl_ca import OpenSSLCA, openssl_available


def _median_ns(fn: Callable[[], object], *, batch: int, rounds: int) -> float:
    """Median over ``rounds`` batches of the per-call time (ns)."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter_ns() - start) / batch)
    return statistics.median(samples)


def _make_crl(entries: int, workdir: Path) -> tuple[bytes, x509.Certificate, x509.Certificate, int, str]:
    if openssl_available():
        ca = OpenSSLCA.create(workdir / "ca", "Bench CA")
        leaf_path = ca.issue("bench.example.test", crl_url="http://crl.invalid/bench.crl")
        leaf = x509.load_pem_x509_certificate(leaf_path.read_bytes())
        base = 10**15
        ca.add_revoked_serials(range(base, base + entries))
        return ca.gencrl(der=True), ca.cert, leaf, base + entries // 2, "openssl ca -gencrl"
    from certpolicy.pki import CA  # pragma: no cover - fallback

    ca2 = CA.create("Bench CA")
    leaf2 = ca2.issue_server("bench.example.test")
    base = 10**15
    crl = ca2.issue_crl([(s, x509.ReasonFlags.key_compromise) for s in range(base, base + entries)])
    from cryptography.hazmat.primitives.serialization import Encoding

    return crl.public_bytes(Encoding.DER), ca2.cert, leaf2.cert, base + entries // 2, "cryptography builder"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        der, ca_cert, leaf, listed, maker = _make_crl(args.entries, Path(tmp))
        make_s = time.perf_counter() - t0

        # load + verify once
        def crypto_load() -> x509.CertificateRevocationList:
            crl = x509.load_der_x509_crl(der)
            assert crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
            return crl

        def ours_load() -> ParsedCrl:
            parsed = ParsedCrl(load_crl(der), "bench")
            assert parsed.signature_valid(ca_cert)
            return parsed

        crypto_load_s = min(_timed(crypto_load) for _ in range(3))
        ours_load_s = min(_timed(ours_load) for _ in range(3))
        parsed = ours_load()
        crl = parsed.crl
        unlisted = 7

        ours_hit = _median_ns(lambda: parsed.contains(listed), batch=10_000, rounds=51)
        ours_miss = _median_ns(lambda: parsed.contains(unlisted), batch=10_000, rounds=51)
        ours_entry = _median_ns(lambda: parsed.lookup(listed), batch=2_000, rounds=51)
        distinct = iter(range(listed - args.entries // 2, listed + args.entries // 2))
        ours_entry_first = _median_ns(lambda: parsed.lookup(next(distinct)), batch=200, rounds=51)
        crypto_hit = _median_ns(lambda: crl.get_revoked_certificate_by_serial_number(listed), batch=5, rounds=21)
        crypto_miss = _median_ns(lambda: crl.get_revoked_certificate_by_serial_number(unlisted), batch=5, rounds=21)
        assert parsed.contains(listed) and crl.get_revoked_certificate_by_serial_number(listed) is not None
        assert not parsed.contains(unlisted) and crl.get_revoked_certificate_by_serial_number(unlisted) is None

        # a whole CrlCheck.status() call on a warm (static) CRL
        at = max(crl.last_update_utc, _dt.datetime.now(_dt.timezone.utc))
        policy = Policy(
            name="bench", kind=PolicyKind.INTERNET, crl=CheckMode.ENFORCE,
            revocation=RevocationSettings(fetch_crls=False),
        )
        check = CrlCheck(crls=[parsed], timed_refresh=False)
        ctx = CheckContext(host="bench.example.test", chain=[leaf, ca_cert], policy=policy, at=at, verified_path=[leaf, ca_cert])
        status = check.status(leaf, ca_cert, ctx)
        status_ns = _median_ns(lambda: check.status(leaf, ca_cert, ctx), batch=200, rounds=21)

    result = {
        "entries": args.entries,
        "crl_bytes": len(der),
        "crl_maker": maker,
        "make_s": round(make_s, 3),
        "load_verify_once_s": {"certpolicy_parse_index_verify": round(ours_load_s, 4), "cryptography_parse_verify": round(crypto_load_s, 4)},
        "lookup_median_ns": {
            "certpolicy_listed": round(ours_hit, 1),
            "certpolicy_unlisted": round(ours_miss, 1),
            "certpolicy_listed_with_entry_first_read": round(ours_entry_first, 1),
            "certpolicy_listed_with_entry_memoised": round(ours_entry, 1),
            "cryptography_listed": round(crypto_hit, 1),
            "cryptography_unlisted": round(crypto_miss, 1),
        },
        "speedup_vs_cryptography": {
            "listed": round(crypto_hit / ours_hit, 1),
            "unlisted": round(crypto_miss / ours_miss, 1),
        },
        "crlcheck_status_warm_median_us": round(status_ns / 1000, 2),
        "status_outcome": status.outcome.value,
        "target_lookup_median_ns": 2000,
        "meets_target": max(ours_hit, ours_miss) <= 2000,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"CRL: {args.entries:,} entries, {len(der):,} bytes ({maker}, {make_s:.2f} s)")
        print(f"load+index+verify once: certpolicy {ours_load_s * 1000:.1f} ms, cryptography parse+verify {crypto_load_s * 1000:.1f} ms")
        print(f"lookup listed:   certpolicy {ours_hit:8.1f} ns   cryptography {crypto_hit / 1000:10.1f} us   x{crypto_hit / ours_hit:,.0f}")
        print(f"lookup unlisted: certpolicy {ours_miss:8.1f} ns   cryptography {crypto_miss / 1000:10.1f} us   x{crypto_miss / ours_miss:,.0f}")
        print(
            f"lookup listed with reason/date: certpolicy {ours_entry_first / 1000:.2f} us first read, "
            f"{ours_entry:.0f} ns memoised"
        )
        print(f"CrlCheck.status() warm: {status_ns / 1000:.1f} us ({status.outcome.value})")
        print(f"target lookup <= 2 us: {'met' if result['meets_target'] else 'MISSED'}")
    return 0 if result["meets_target"] else 1


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())


