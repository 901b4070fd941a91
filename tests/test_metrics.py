"""certpolicy.metrics: counters read N after N real loopback handshakes,
check and CRL fetch times, cache gauges, disable(); and nothing of
prometheus_client, rich or tqdm is imported by ``import certpolicy``."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import certpolicy
from certpolicy.pki import CA
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.tls_server import LoopbackTLSServer

prometheus_client = pytest.importorskip("prometheus_client")
import certpolicy.metrics  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("metrics")
    with LoopbackHTTPServer() as cdp:
        root = CA.create("metrics root")
        inter = root.create_intermediate("metrics issuing CA")
        leaf = inter.issue_server("localhost", "127.0.0.1", crl_url=cdp.url("/i.crl"))
        crl = inter.issue_crl(next_update=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=6))
        cdp.route("/i.crl", crl.public_bytes(Encoding.DER), "application/pkix-crl")
        (tmp / "root.pem").write_bytes(root.cert_pem)
        table = certpolicy.PolicyTable.from_dict({"defaults": {
            "trust": {"system": False, "extra": [str(tmp / "root.pem")]},
            "crl": "enforce",
            "revocation": {"cache_dir": str(tmp / "cache")},
        }})
        with LoopbackTLSServer(leaf) as srv:
            yield {"table": table, "srv": srv, "crl": crl, "cdp": cdp}


def _handshake(ctx: Any, srv: LoopbackTLSServer) -> None:
    with socket.create_connection(srv.address, timeout=5) as s, ctx.wrap_socket(s, server_hostname="localhost"):
        pass


def test_counters_read_n_after_n_handshakes(setup: dict[str, Any]) -> None:
    reg = prometheus_client.CollectorRegistry()
    ctx = certpolicy.create_ssl_context(setup["table"])
    m = certpolicy.metrics.enable(ctx, registry=reg)
    n = 7
    for _ in range(n):
        _handshake(ctx, setup["srv"])
    value = reg.get_sample_value
    assert value("certpolicy_connections_total", {"policy": "intranet", "result": "pass"}) == n
    for check, outcome in (("chain", "ok"), ("hostname", "ok"), ("revocation", "good")):
        assert value("certpolicy_check_verdicts_total", {"policy": "intranet", "check": check, "outcome": outcome}) == n
    assert value("certpolicy_verification_duration_seconds_count", {"policy": "intranet"}) == n
    # the verdict cache serves the later handshakes: the checks ran once, the CRL was fetched once
    assert value("certpolicy_check_duration_seconds_count", {"check": "chain"}) == 1
    assert value("certpolicy_revocation_fetch_duration_seconds_count", {"source": "crl", "result": "ok"}) == 1
    assert value("certpolicy_revocation_cache_entries", {"source": "crl"}) >= 1
    nearest = value("certpolicy_revocation_next_update_timestamp_seconds", {"source": "crl"})
    assert nearest == pytest.approx(setup["crl"].next_update_utc.timestamp(), abs=1)
    # off again: nothing more is counted, the verifier is as it was
    m.disable()
    _handshake(ctx, setup["srv"])
    assert value("certpolicy_connections_total", {"policy": "intranet", "result": "pass"}) == n
    assert ctx.verifier.on_verdict is None
    assert type(ctx.verifier.checks["chain"]).__name__ == "ChainCheck"


def test_failures_and_an_existing_callback(setup: dict[str, Any]) -> None:
    reg = prometheus_client.CollectorRegistry()
    seen: list[Any] = []
    ctx = certpolicy.create_ssl_context(setup["table"], on_verdict=seen.append, verdict_ttl=0)
    certpolicy.metrics.enable(ctx, registry=reg)
    srv = setup["srv"]
    with socket.create_connection(srv.address, timeout=5) as s, pytest.raises(certpolicy.HostnameMismatch):
        ctx.wrap_socket(s, server_hostname="wrong.example")
    _handshake(ctx, srv)
    assert len(seen) == 2  # the caller's callback still runs
    value = reg.get_sample_value
    assert value("certpolicy_connections_total", {"policy": "intranet", "result": "fail"}) == 1
    assert value("certpolicy_check_verdicts_total", {"policy": "intranet", "check": "hostname", "outcome": "mismatch"}) == 1
    assert value("certpolicy_check_duration_seconds_count", {"check": "chain"}) == 2
    text = prometheus_client.generate_latest(reg).decode()
    assert "certpolicy_revocation_cache_entries" in text


def test_enable_refuses_what_is_not_a_verifier() -> None:
    with pytest.raises(TypeError):
        certpolicy.metrics.enable(object())


def test_import_certpolicy_imports_no_optional_library(tmp_path: Path) -> None:
    code = (
        "import sys, certpolicy, certpolicy.context, certpolicy.cli, certpolicy.scan\n"
        "ctx = certpolicy.create_ssl_context()\n"
        "bad = [m for m in ('prometheus_client', 'rich', 'tqdm') if m in sys.modules]\n"
        "print(bad)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr
