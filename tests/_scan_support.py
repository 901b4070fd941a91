"""The loopback world of the scan tests: 20 endpoints (good, expired, wrong
name, untrusted, revoked by CRL, OCSP down, a refusing port, a stalling
server), a policy table, an inventory, and the expected row of each."""

from __future__ import annotations

import contextlib
import datetime as _dt
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from certpolicy.pki import CA
from certpolicy.testing.http_server import LoopbackHTTPServer
from certpolicy.testing.ocsp_responder import OcspResponder
from certpolicy.testing.tls_server import LoopbackTLSServer, free_port

UTC = _dt.timezone.utc


@dataclass
class Expect:
    """What the JSON row of one endpoint must say."""

    url: str
    status: str
    policy: str
    would_fail: list[str]
    outcome: dict[str, str]  # check -> outcome (subset)
    error: str | None = None  # substring of the error


@dataclass
class World:
    table: Path
    strict_table: Path
    inventory: Path
    expected: list[Expect]
    now: _dt.datetime


TABLE = """
[defaults]
chain = "enforce"
hostname = "enforce"
trust = {{ system = false, extra = ["{root}"] }}
revocation = {{ cache_dir = "{cache}", retry = {{ attempts = 1 }}, ocsp_limits = {{ connect_timeout = 0.5, total_timeout = 1 }} }}

[[override]]
name = "crl-checked"
targets = "*.crl.scan.test"
crl = "enforce"

[[override]]
name = "ocsp-checked"
targets = "*.ocsp.scan.test"
ocsp = "enforce"
"""

#: The stricter table of the --compare test: the good intranet endpoints get an enforced CRL check.
STRICT_EXTRA = """
[intranet]
crl = "enforce"
"""


@contextlib.contextmanager
def scan_world(tmp: Path) -> Iterator[World]:
    now = _dt.datetime.now(UTC)
    root = CA.create("scan test root")
    inter = root.create_intermediate("scan test issuing CA")
    other_root = CA.create("somebody else's root")
    with contextlib.ExitStack() as stack:
        cdp = stack.enter_context(LoopbackHTTPServer())
        crl_url = cdp.url("/issuing.crl")
        ocsp = stack.enter_context(OcspResponder(inter))
        dead_ocsp = f"http://127.0.0.1:{free_port()}/ocsp"
        loop_names = ("localhost", "127.0.0.1", "::1")

        rows: list[tuple[str, str | None, Expect]] = []  # (url, address, expect)

        def serve(ident: Any, host: str = "127.0.0.1") -> LoopbackTLSServer:
            return stack.enter_context(LoopbackTLSServer(ident, host=host))

        ok = {"chain": "ok", "hostname": "ok"}
        # 1-6 good, by name (address given) and by IP literal, IPv4 and IPv6
        for i in range(4):
            name = f"good-{i}.scan.test"
            s = serve(inter.issue_server(name, days=20 + 20 * i))
            url = f"https://{name}:{s.port}/"
            rows.append((url, "127.0.0.1", Expect(url, "pass", "intranet", [], ok)))
        s = serve(inter.issue_server(*loop_names, days=200))
        rows.append((s.url(), None, Expect(s.url(), "pass", "intranet", [], ok)))
        s = serve(inter.issue_server(*loop_names, days=200), host="::1")
        rows.append((s.url(), None, Expect(s.url(), "pass", "intranet", [], ok)))
        # 7-8 good under the CRL policy, 9 good under the OCSP policy
        revoked_certs = []
        for i in range(2):
            name = f"good-{i}.crl.scan.test"
            s = serve(inter.issue_server(name, crl_url=crl_url))
            url = f"https://{name}:{s.port}/"
            rows.append((url, "127.0.0.1", Expect(url, "pass", "crl-checked", [], {**ok, "revocation": "good"})))
        name = "good.ocsp.scan.test"
        s = serve(inter.issue_server(name, ocsp_url=ocsp.url))
        url = f"https://{name}:{s.port}/"
        rows.append((url, "127.0.0.1", Expect(url, "pass", "ocsp-checked", [], {**ok, "revocation": "good"})))
        # 10-11 expired
        for i in range(2):
            name = f"expired-{i}.scan.test"
            s = serve(inter.issue_server(name, not_before=now - _dt.timedelta(days=90), not_after=now - _dt.timedelta(days=1 + i)))
            url = f"https://{name}:{s.port}/"
            rows.append((url, "127.0.0.1", Expect(url, "fail", "intranet", ["chain"], {"chain": "expired", "hostname": "skipped"})))
        # 12-13 wrong name
        for i in range(2):
            s = serve(inter.issue_server(f"other-{i}.scan.test"))
            url = f"https://wrong-{i}.scan.test:{s.port}/"
            rows.append((url, "127.0.0.1", Expect(url, "fail", "intranet", ["hostname"], {"chain": "ok", "hostname": "mismatch"})))
        # 14-15 untrusted
        for i in range(2):
            name = f"untrusted-{i}.scan.test"
            s = serve(other_root.issue_server(name))
            url = f"https://{name}:{s.port}/"
            rows.append((url, "127.0.0.1", Expect(url, "fail", "intranet", ["chain"], {"chain": "unknown-issuer", "hostname": "skipped"})))
        # 16-17 revoked by CRL
        for i in range(2):
            name = f"revoked-{i}.crl.scan.test"
            cert = inter.issue_server(name, crl_url=crl_url)
            revoked_certs.append(cert)
            s = serve(cert)
            url = f"https://{name}:{s.port}/"
            rows.append((url, "127.0.0.1", Expect(url, "fail", "crl-checked", ["revocation"], {**ok, "revocation": "revoked"})))
        # 18 OCSP responder down
        name = "down.ocsp.scan.test"
        s = serve(inter.issue_server(name, ocsp_url=dead_ocsp))
        url = f"https://{name}:{s.port}/"
        rows.append((url, "127.0.0.1", Expect(url, "fail", "ocsp-checked", ["revocation"], {**ok, "revocation": "unreachable"})))
        # 19 a port that refuses
        url = f"https://refused.scan.test:{free_port()}/"
        rows.append((url, "127.0.0.1", Expect(url, "error", "intranet", [], {}, error="connection failed")))
        # 20 a server that accepts and never answers
        staller = socket.socket()
        staller.bind(("127.0.0.1", 0))
        staller.listen(16)
        stack.callback(staller.close)
        url = f"https://stall.scan.test:{staller.getsockname()[1]}/"
        rows.append((url, "127.0.0.1", Expect(url, "error", "intranet", [], {}, error="timed out")))

        for c in revoked_certs:
            inter.revoke(c.cert, reason=None)
        cdp.route("/issuing.crl", inter.issue_crl().public_bytes(Encoding.DER), "application/pkix-crl")
        (tmp / "root.pem").write_bytes(root.cert_pem)
        text = TABLE.format(root=tmp / "root.pem", cache=tmp / "cache")
        (tmp / "table.toml").write_text(text)
        (tmp / "strict.toml").write_text(text + STRICT_EXTRA)
        inv = ["url,address,owner"] + [f"{u},{a or ''},team-{n % 3}" for n, (u, a, _e) in enumerate(rows)]
        (tmp / "inventory.csv").write_text("\n".join(inv) + "\n")
        assert len(rows) == 20
        yield World(tmp / "table.toml", tmp / "strict.toml", tmp / "inventory.csv", [e for _u, _a, e in rows], now)
