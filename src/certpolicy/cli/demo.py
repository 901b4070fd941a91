"""``certpolicy demo``: the main job end to end, on loopback only.

Builds a private PKI, starts TLS servers on 127.0.0.1 (a good one, a wrong
host name, an expired certificate, an unknown issuer, an intranet appliance
with a self-signed certificate that only an override accepts), writes and
loads an example policy table, connects to each through requests and httpx,
and prints the explained verdicts. Exit status 0 when every verdict is the
one expected, 1 otherwise.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..context import PolicySSLContext, create_ssl_context
from ..engine import Verdict
from ..errors import policy_error_of
from ..pki import CA, IssuedCert
from ..table import PolicyTable
from ..testing.tls_server import LoopbackTLSServer
from . import main
from ._common import EXIT_FAIL, EXIT_OK, emit_json, json_option

EXAMPLE_TABLE = """\
# certpolicy demo policy table (written by `certpolicy demo`)
[defaults]
chain = "enforce"
hostname = "enforce"
ocsp = "off"
crl = "off"
trust = {{ system = false, extra = ["{root}"] }}

[instance]
targets = ["*.service-now.com"]

[intranet]
# the demo servers run on 127.0.0.1, which is in the intranet ranges
ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128"]

[[override]]
name = "legacy-appliance"
targets = "appliance.demo.test"
trust = {{ system = false, extra = ["{appliance}"] }}
reason = "vendor appliance with a self-signed certificate"
expires = {expires}
"""


@dataclass
class Scenario:
    name: str
    host: str
    server: LoopbackTLSServer
    expect_ok: bool
    expect_error: str | None
    why: str


def _scenarios(tmp: Path) -> tuple[list[Scenario], Path, list[LoopbackTLSServer]]:
    now = dt.datetime.now(dt.timezone.utc)
    root = CA.create("certpolicy demo root CA")
    issuing = root.create_intermediate("certpolicy demo issuing CA")
    (tmp / "root.pem").write_bytes(root.cert_pem)
    good = issuing.issue_server("good.demo.test")
    other_name = issuing.issue_server("other.demo.test")
    expired = issuing.issue_server("expired.demo.test", not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=1))
    stranger = CA.create("unknown root CA").create_intermediate("unknown issuing CA").issue_server("stranger.demo.test")
    appliance = IssuedCert.self_signed("appliance.demo.test")
    (tmp / "appliance.pem").write_bytes(appliance.cert_pem)
    lonely = IssuedCert.self_signed("printer.demo.test")
    servers = [LoopbackTLSServer(x).start() for x in (good, other_name, expired, stranger, appliance, lonely)]
    s_good, s_other, s_expired, s_stranger, s_appliance, s_lonely = servers
    scenarios = [
        Scenario("good server", "good.demo.test", s_good, True, None, "chain to the private root, name in the SAN"),
        Scenario("wrong host name", "wronghost.demo.test", s_other, False, "HostnameMismatch", "certificate names other.demo.test"),
        Scenario("expired certificate", "expired.demo.test", s_expired, False, "ChainError", "notAfter is in the past"),
        Scenario("unknown issuer", "stranger.demo.test", s_stranger, False, "ChainError", "issued by a CA the policy does not trust"),
        Scenario("intranet appliance, override", "appliance.demo.test", s_appliance, True, None, "self-signed, trusted by the 'legacy-appliance' override"),
        Scenario("intranet printer, no override", "printer.demo.test", s_lonely, False, "ChainError", "self-signed and no override trusts it"),
    ]
    return scenarios, tmp / "root.pem", servers


def _via_requests(ctx: PolicySSLContext, sc: Scenario) -> tuple[Verdict | None, BaseException | None]:
    from ..integrations.requests import session

    s = session(ctx, addresses={sc.host: sc.server.host})
    try:
        r = s.get(sc.server.url("/", hostname=sc.host), timeout=10)
        return getattr(r, "certpolicy_verdict", None), None
    except Exception as e:  # requests wraps the SSL error
        return None, e
    finally:
        s.close()


def _via_httpx(ctx: PolicySSLContext, sc: Scenario) -> tuple[Verdict | None, BaseException | None]:
    import httpx

    from ..integrations.httpx import client

    verdicts: list[Verdict] = []
    with client(ctx, timeout=10) as c:
        try:
            r = c.get(sc.server.url("/"), extensions={"sni_hostname": sc.host})
            v = r.extensions.get("certpolicy_verdict")
            verdicts.append(v) if v else None
            return (verdicts[-1] if verdicts else None), None
        except httpx.HTTPError as e:
            return None, e


@main.command()
@json_option
@click.option("--keep", is_flag=True, help="Keep the demo's files (PKI, policy table) and print where.")
def demo(as_json: bool, keep: bool) -> None:
    """Run the main job end to end on loopback: private PKI, TLS servers,
    an example policy table, requests and httpx through certpolicy."""
    started = time.perf_counter()
    tmpdir = tempfile.mkdtemp(prefix="certpolicy-demo-") if keep else None
    holder = tempfile.TemporaryDirectory(prefix="certpolicy-demo-") if not keep else None
    tmp = Path(tmpdir or (holder.name if holder else "."))
    scenarios, root_path, servers = _scenarios(tmp)
    expires = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    policy_file = tmp / "policies.toml"
    policy_file.write_text(EXAMPLE_TABLE.format(root=root_path, appliance=tmp / "appliance.pem", expires=expires))
    results: list[dict[str, Any]] = []
    all_expected = True
    try:
        table = PolicyTable.load(policy_file)
        ctx = create_ssl_context(table, verdict_ttl=0)
        if not as_json:
            where = str(policy_file) if keep else "policies.toml (removed afterwards; --keep keeps it)"
            click.echo(f"certpolicy demo: {len(scenarios)} TLS servers on 127.0.0.1, policy table {where}\n")
        clients: list[tuple[str, Callable[[PolicySSLContext, Scenario], tuple[Verdict | None, BaseException | None]]]] = [
            ("requests", _via_requests),
            ("httpx", _via_httpx),
        ]
        for sc in scenarios:
            for client_name, fn in clients:
                verdict, exc = fn(ctx, sc)
                err = policy_error_of(exc) if exc is not None else None
                if err is not None and verdict is None:
                    verdict = getattr(err, "verdict", None)
                ok = exc is None
                actual_error = type(err).__name__ if err is not None else (type(exc).__name__ if exc else None)
                expected = ok == sc.expect_ok and (sc.expect_error is None or actual_error == sc.expect_error)
                all_expected &= expected
                entry = {
                    "scenario": sc.name,
                    "client": client_name,
                    "host": sc.host,
                    "expected": "pass" if sc.expect_ok else f"reject ({sc.expect_error})",
                    "actual": "pass" if ok else f"reject ({actual_error})",
                    "as_expected": expected,
                    "policy": verdict.policy.name if verdict else (err.policy if err else None),
                    "error": str(err or exc) if not ok else None,
                }
                results.append(entry)
                if not as_json:
                    mark = "as expected" if expected else "UNEXPECTED"
                    click.echo(f"[{mark}] {sc.name} via {client_name}: {entry['actual']}  ({sc.why})")
                    if client_name == "requests":
                        if verdict is not None:
                            click.echo("    " + verdict.explain().replace("\n", "\n    "))
                        elif err is not None:
                            click.echo(f"    {err}")
                        click.echo("")
    finally:
        for srv in servers:
            srv.stop()
        if holder is not None:
            holder.cleanup()
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json({"ok": all_expected, "elapsed_s": round(elapsed, 3), "results": results, "files": str(tmp) if keep else None})
    else:
        n_ok = sum(1 for r in results if r["as_expected"])
        click.echo(f"{n_ok}/{len(results)} verdicts as expected in {elapsed:.1f} s" + (f"; files kept in {tmp}" if keep else ""))
    raise SystemExit(EXIT_OK if all_expected else EXIT_FAIL)
