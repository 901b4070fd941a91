"""x509-limbo certificates served by ``openssl s_server`` (an independent
peer), checked through certpolicy's SSL context in a real handshake.

Every limbo case that ships the peer's private key and is a server
validation (host name or address, no CRLs) is served, and the handshake
must pass exactly when the case expects SUCCESS. Known failures of the
conformance runner (tests/conformance/known_failures.json) are skipped with
their reason; cases that ``openssl s_server`` refuses to load are skipped.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import certpolicy
from _limbo import run_limbo
from certpolicy import CertPolicyError
from certpolicy.testing.tls_server import OpenSSLServer

LIMBO = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "limbo.json.gz"
KNOWN = Path(__file__).parent / "conformance" / "known_failures.json"


def _cases() -> list[dict[str, Any]]:
    if not LIMBO.exists():
        return []
    data = json.loads(gzip.decompress(LIMBO.read_bytes()))
    return [
        t
        for t in data["testcases"]
        if t.get("peer_certificate_key")
        and t["validation_kind"] == "SERVER"
        and (t.get("expected_peer_name") or {}).get("kind") in ("DNS", "IP")
        and not t["crls"]
        and set(t.get("extended_key_usage") or []) <= {"serverAuth"}
    ]


CASES = _cases()
KNOWN_FAILURES: dict[str, str] = json.loads(KNOWN.read_text()).get("known_failures", {}) if KNOWN.exists() else {}


@pytest.mark.skipif(not CASES, reason="the x509-limbo suite (../shared/conformance) is not present")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_limbo_case_through_a_real_handshake(case: dict[str, Any], tmp_path: Path) -> None:
    if case["id"] in KNOWN_FAILURES:
        pytest.skip(f"known failure: {KNOWN_FAILURES[case['id']][:120]}")
    leaf = x509.load_pem_x509_certificate(case["peer_certificate"].encode())
    chain = [leaf] + [x509.load_pem_x509_certificate(c.encode()) for c in case["untrusted_intermediates"]]
    key = load_pem_private_key(case["peer_certificate_key"].encode(), None)
    anchors = tmp_path / "anchors.pem"
    anchors.write_text("".join(case["trusted_certs"]))
    row: dict[str, Any] = {
        "trust": {"system": False, "extra": [str(anchors)]},
        "ocsp": "off",
        "crl": "off",
        "profile": run_limbo.profile_of(case),
    }
    if case.get("max_chain_depth") is not None:
        row["max_chain_depth"] = case["max_chain_depth"]
    table = certpolicy.PolicyTable.from_dict({"defaults": row})
    at = dt.datetime.fromisoformat(case["validation_time"].replace("Z", "+00:00")) if case.get("validation_time") else None
    ctx = certpolicy.create_ssl_context(table, clock=(lambda: at) if at else None, verdict_ttl=0)
    try:
        server = OpenSSLServer(chain=chain, key=key).start()
    except RuntimeError as e:
        pytest.skip(f"openssl s_server refuses this certificate: {str(e)[:200]}")
    try:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        name = case["expected_peer_name"]["value"]
        if case["expected_result"] == "SUCCESS":
            tls = ctx.wrap_socket(sock, server_hostname=name)
            assert certpolicy.verdict_of(tls) is not None
            tls.close()
        else:
            # Refused by certpolicy's checks; a key TLS cannot use at all (DSA)
            # already fails the handshake itself, which refuses it too.
            with pytest.raises(ssl.SSLError) as err:
                ctx.wrap_socket(sock, server_hostname=name)
            assert isinstance(err.value, CertPolicyError) or "handshake" in str(err.value).lower() or "alert" in str(err.value).lower()
            sock.close()
    finally:
        server.stop()
