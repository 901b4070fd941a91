"""``certpolicy check URL...``: connect and report every check."""

from __future__ import annotations

import socket
import ssl
import urllib.parse
from typing import Any

import click

from ..context import PolicySSLContext, create_ssl_context, verdict_of
from ..engine import Verdict
from ..errors import CertPolicyError
from ..integrations._url import REQUEST_URL
from . import main
from ._common import (
    EXIT_FAIL,
    EXIT_OK,
    emit_json,
    fail_config,
    json_option,
    load_table,
    policy_option,
)


def check_url(ctx: PolicySSLContext, url: str, *, timeout: float, address: str | None = None) -> dict[str, Any]:
    """Connect to ``url`` through ``ctx`` and return a JSON-ready report:
    ``{"url", "ok", "policy", "checks", "error", "explain"}``."""
    u = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    if u.scheme != "https" or not u.hostname:
        return {"url": url, "ok": False, "error": "only https:// URLs (or host[:port]) can be checked", "usage": True}
    host = u.hostname
    try:
        port = u.port or 443
    except ValueError as e:
        return {"url": url, "ok": False, "error": f"invalid port: {e}", "usage": True}
    report: dict[str, Any] = {"url": urllib.parse.urlunsplit(u), "host": host, "port": port}
    token = REQUEST_URL.set(report["url"])
    verdict: Verdict | None = None
    try:
        try:
            sock = socket.create_connection((address or host, port), timeout=timeout)
        except OSError as e:
            report.update(ok=False, error=f"connection failed: {e}")
            return report
        try:
            tls = ctx.wrap_socket(sock, server_hostname=host)
            verdict = verdict_of(tls)
            report["ok"] = True
            _probe_http(tls, host, u.path or "/", report)
            tls.close()
        except CertPolicyError as e:
            verdict = getattr(e, "verdict", None)
            report.update(ok=False, error=str(e), error_type=type(e).__name__)
        except (ssl.SSLError, OSError) as e:
            report.update(ok=False, error=f"TLS handshake failed: {e}")
        finally:
            sock.close()
    finally:
        REQUEST_URL.reset(token)
    if verdict is not None:
        d = verdict.to_dict()
        report.update(policy=d["policy"], kind=d["kind"], matched_target=d["matched_target"], checks=d["checks"], warnings=d["warnings"])
        ident = verdict.policy.client_identity
        report["client_certificate"] = ident.cert if ident is not None else None
        report["explain"] = verdict.explain() + (
            f"\nclient certificate presented: {ident.cert if ident is not None else 'none'}"
        )
    return report


def _probe_http(tls: ssl.SSLSocket, host: str, path: str, report: dict[str, Any]) -> None:
    """After the checks passed, one HEAD request: a server that refuses the
    client (a required client certificate is missing or unusable, TLS 1.3
    reports that only now) is reported instead of a misleading OK."""
    try:
        tls.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        line = tls.recv(4096).split(b"\r\n", 1)[0].decode("latin-1", "replace")
    except (ssl.SSLError, OSError) as e:
        report.update(ok=False, error=f"the server refused the connection after the handshake ({e}); "
                      "does it require a client certificate?")
        return
    if not line:
        report.update(ok=False, error="the server closed the connection after the handshake without answering; "
                      "does it require a client certificate?")
        return
    report["http_status_line"] = line
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[1] == "400":
        report["warning"] = f"the server answered {line!r}: with mTLS this usually means the client certificate was refused"


@main.command()
@click.argument("urls", nargs=-1, required=True)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Connect / handshake timeout in seconds.")
@click.option("--address", default=None, help="Connect to this address instead of resolving the host (like curl --resolve).")
@click.option("--audit", is_flag=True, help="Report-only: run every check, never reject.")
@policy_option
@json_option
def check(urls: tuple[str, ...], timeout: float, address: str | None, audit: bool, policy_file: str | None, as_json: bool) -> None:
    """Connect to each URL and report the resolved policy and every check.

    Exit status: 0 when every enforced check passes, 1 when a check fails or
    a connection cannot be made, 2 for usage or configuration errors.
    """
    table = load_table(policy_file)
    ctx = create_ssl_context(table, audit=audit, verdict_ttl=0)
    reports = [check_url(ctx, u, timeout=timeout, address=address) for u in urls]
    if any(r.get("usage") for r in reports):
        fail_config("; ".join(f"{r['url']}: {r['error']}" for r in reports if r.get("usage")))
    if as_json:
        emit_json({"table": table.source, "results": reports, "ok": all(r["ok"] for r in reports)})
    else:
        for r in reports:
            mark = "OK  " if r["ok"] else "FAIL"
            click.echo(f"{mark} {r['url']}")
            if r.get("explain"):
                click.echo("     " + r["explain"].replace("\n", "\n     "))
            if r.get("http_status_line"):
                click.echo(f"     server answered: {r['http_status_line']}")
            if r.get("warning"):
                click.echo(f"     warning: {r['warning']}")
            if r.get("error"):
                click.echo(f"     error: {r['error']}")
    raise SystemExit(EXIT_OK if all(r["ok"] for r in reports) else EXIT_FAIL)
