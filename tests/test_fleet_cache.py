"""The fleet (issue 14): 8 processes started together against one loopback
CRL server, one OCSP responder and one real redis-server: each CRL is
downloaded once and each OCSP answer requested once for the whole fleet,
and every process gets the right verdict. Then Redis is killed, restarted,
and its entries overwritten with garbage or with a validly signed but older
CRL: verdicts stay right and a revoked certificate is never accepted."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certpolicy.pki import CA
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder
from certpolicy.testing.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed")
pytest.importorskip("redis")

WORKER = Path(__file__).parent / "fleet" / "worker.py"
NOW = dt.datetime.now(dt.timezone.utc)
HOST = "app.fleet.test"


def _der_chain(*certs: Any) -> list[str]:
    return [c.public_bytes(Encoding.DER).hex() for c in certs]


@pytest.fixture()
def fleet(tmp_path: Path) -> Any:
    with LoopbackHTTPServer() as http, RedisServer() as redis:
        root = CA.create("Fleet Root", not_before=NOW - dt.timedelta(days=10), not_after=NOW + dt.timedelta(days=900))
        crl_ca = root.create_intermediate("Fleet CRL CA", not_before=NOW - dt.timedelta(days=5))
        ocsp_ca = root.create_intermediate("Fleet OCSP CA", not_before=NOW - dt.timedelta(days=5))
        crl_url = http.url("/fleet.crl")
        good = crl_ca.issue_server(HOST, crl_url=crl_url)
        revoked = crl_ca.issue_server(HOST, crl_url=crl_url)
        crl_ca.revoke(revoked.cert, "keyCompromise")
        http.route("/fleet.crl", crl_ca.issue_crl().public_bytes(Encoding.DER), "application/pkix-crl")
        responder = OcspResponder(ocsp_ca, server=http, path="/ocsp")
        ocsp_good = ocsp_ca.issue_server(HOST, ocsp_url=http.url("/ocsp"))
        ocsp_revoked = ocsp_ca.issue_server(HOST, ocsp_url=http.url("/ocsp"))
        responder.set_status(ocsp_revoked.cert, "revoked")
        (tmp_path / "root.pem").write_bytes(root.cert_pem)
        job = {
            "host": HOST,
            "chains": {
                "crl-good": _der_chain(good.cert, crl_ca.cert),
                "crl-revoked": _der_chain(revoked.cert, crl_ca.cert),
                "ocsp-good": _der_chain(ocsp_good.cert, ocsp_ca.cert),
                "ocsp-revoked": _der_chain(ocsp_revoked.cert, ocsp_ca.cert),
            },
        }
        (tmp_path / "job.json").write_text(json.dumps(job))
        yield {"http": http, "redis": redis, "crl_ca": crl_ca, "tmp": tmp_path, "responder": responder}


EXPECTED = {"crl-good": "pass", "crl-revoked": "crl:revoked", "ocsp-good": "pass", "ocsp-revoked": "ocsp:revoked"}


def _policy(tmp: Path, redis_url: str, n: int | str) -> Path:
    p = tmp / f"policy-{n}.toml"
    p.write_text(
        "[defaults]\n"
        f'trust = {{ system = false, extra = ["{tmp / "root.pem"}"] }}\n'
        'ocsp = "enforce"\ncrl = "enforce"\nhostname = "enforce"\n'
        f'revocation_cache = "{redis_url}"\n'
        f'revocation = {{ cache_dir = "{tmp / f"cache-{n}"}" }}\n'
    )
    return p


def _run_fleet(fleet: Any, n: int, tag: str, *, fresh: bool = False) -> list[dict[str, str]]:
    """Run ``n`` worker processes together; ``fresh``: with empty disk caches
    of their own (new hosts), else the caches of the earlier runs."""
    tmp: Path = fleet["tmp"]
    go = tmp / f"go-{tag}"
    names = [f"{tag}-{i}" if fresh else str(i) for i in range(n)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(_policy(tmp, fleet["redis"].url, name)), str(tmp / "job.json"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    time.sleep(1.5)  # every process imported certpolicy and built its context
    go.write_text("go")
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_eight_processes_download_each_crl_and_ask_each_ocsp_answer_once(fleet: Any) -> None:
    http: LoopbackHTTPServer = fleet["http"]
    results = _run_fleet(fleet, 8, "a")
    assert results == [EXPECTED] * 8
    assert http.hits("/fleet.crl") == 1
    ocsp_requests = sum(http.hits(p) for p in list(http._hits) if p.startswith("/ocsp"))  # type: ignore[attr-defined]
    assert ocsp_requests == 2  # one per certificate, for the fleet


def test_redis_killed_garbage_or_an_older_crl_never_lets_a_revoked_certificate_through(fleet: Any) -> None:
    import redis as redis_py

    from certpolicy.revocation.cache import CacheEntry, _encode
    from certpolicy.revocation.redis_store import RedisStore

    http: LoopbackHTTPServer = fleet["http"]
    srv: RedisServer = fleet["redis"]
    crl_ca: CA = fleet["crl_ca"]
    assert _run_fleet(fleet, 2, "warm") == [EXPECTED] * 2
    raw = redis_py.Redis.from_url(srv.url)
    store = RedisStore(srv.url)
    key = "crl:" + http.url("/fleet.crl")
    # an older CRL, validly signed (cRLNumber 0; it lists the revoked certificate
    # too): hosts that have seen CRL 1 keep theirs, new hosts get right verdicts
    older = crl_ca.issue_crl(crl_number=0, this_update=NOW - dt.timedelta(hours=2))
    der = older.public_bytes(Encoding.DER)
    import hashlib

    entry = CacheEntry(key, der, NOW + dt.timedelta(days=6), NOW, {"url": key[4:]}, hashlib.sha256(der).hexdigest(), "loaded")
    store.put(key, _encode(entry), ttl=3600)
    assert [r["crl-revoked"] for r in _run_fleet(fleet, 2, "older")] == ["crl:revoked"] * 2
    assert [r["crl-revoked"] for r in _run_fleet(fleet, 2, "older-new-hosts", fresh=True)] == ["crl:revoked"] * 2
    # a CRL signed by another CA, put under the key: refused, fetched afresh
    other = CA.create("Not The Issuer").issue_crl(revoked=[])
    bad = other.public_bytes(Encoding.DER)
    entry = CacheEntry(key, bad, NOW + dt.timedelta(days=6), NOW, {"url": key[4:]}, hashlib.sha256(bad).hexdigest(), "loaded")
    store.put(key, _encode(entry), ttl=3600)
    before = http.hits("/fleet.crl")
    assert _run_fleet(fleet, 2, "forged", fresh=True) == [EXPECTED] * 2
    assert http.hits("/fleet.crl") > before
    # garbage in every key
    for name in raw.keys("certpolicy:rc:*"):
        if not name.endswith(b":lock"):
            raw.set(name, b"\x00\x01garbage")
    assert _run_fleet(fleet, 2, "garbage") == [EXPECTED] * 2
    # Redis down: every process falls back to its disk cache and direct fetching
    assert _run_fleet(fleet, 2, "garbage-new-hosts", fresh=True) == [EXPECTED] * 2
    srv.kill()
    assert _run_fleet(fleet, 2, "down", fresh=True) == [EXPECTED] * 2
    srv.start()
    assert _run_fleet(fleet, 2, "back", fresh=True) == [EXPECTED] * 2
