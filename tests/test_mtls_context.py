"""Client identities per policy through certpolicy's own SSL context, against
nginx with ``ssl_verify_client on`` (answers like the agent's instance)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import certpolicy
from certpolicy.integrations.httpx import client as httpx_client
from certpolicy.integrations.requests import session as requests_session
from certpolicy.pki import CA, IssuedCert
from certpolicy.testing.nginx import NginxMtlsServer, nginx_binary


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.create("mTLS root CA")
    return root, root.create_intermediate("mTLS issuing CA")


@pytest.fixture(scope="module")
def nginx(pki: tuple[CA, CA]) -> Iterator[NginxMtlsServer]:
    if nginx_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI but was not found")
        pytest.skip("nginx is not installed")
    root, inter = pki
    server = inter.issue_server("localhost", "127.0.0.1", "mtls.test", "plain.test")
    with NginxMtlsServer(server.chain, server.key, [root.cert]) as srv:
        yield srv


def _write(tmp: Path, leaf: IssuedCert, stem: str) -> dict[str, str]:
    paths = leaf.write(tmp, stem)
    return {"cert": str(paths.chain), "key": str(paths.key)}


def _table(pki: tuple[CA, CA], tmp: Path, identity: dict[str, str] | None) -> certpolicy.PolicyTable:
    root, _ = pki
    (tmp / "root.pem").write_bytes(root.cert_pem)
    override: dict[str, Any] = {"name": "instance-mtls", "targets": "127.0.0.1", "trust": {"system": False, "extra": [str(tmp / "root.pem")]}}
    if identity is not None:
        override["client_cert"] = identity
    return certpolicy.PolicyTable.from_dict({"override": [override]})


def _get(kind: str, ctx: certpolicy.PolicySSLContext, url: str) -> Any:
    if kind == "requests":
        with requests_session(ctx) as s:
            return s.get(url, timeout=10)
    with httpx_client(ctx, timeout=10) as c:
        return c.get(url)


@pytest.mark.parametrize("kind", ["requests", "httpx"])
def test_policy_identity_gets_200(tmp_path: Path, pki: tuple[CA, CA], nginx: NginxMtlsServer, kind: str) -> None:
    leaf = pki[1].issue_client("mid-01.acme.example")
    ctx = certpolicy.create_ssl_context(_table(pki, tmp_path, _write(tmp_path, leaf, "mid")))
    r = _get(kind, ctx, nginx.url)
    assert r.status_code == 200 and "CN=mid-01.acme.example" in r.text


@pytest.mark.parametrize("kind", ["requests", "httpx"])
def test_policy_without_identity_presents_none(tmp_path: Path, pki: tuple[CA, CA], nginx: NginxMtlsServer, kind: str) -> None:
    ctx = certpolicy.create_ssl_context(_table(pki, tmp_path, None))
    r = _get(kind, ctx, nginx.url)
    assert r.status_code == 400 and "No required SSL certificate was sent" in r.text


@pytest.mark.parametrize("kind", ["requests", "httpx"])
def test_server_profile_identity_gets_the_ssl_certificate_error(tmp_path: Path, pki: tuple[CA, CA], nginx: NginxMtlsServer, kind: str) -> None:
    leaf = pki[1].issue_server("mid-01.acme.example")  # serverAuth only: what a renewed public certificate looks like
    ctx = certpolicy.create_ssl_context(_table(pki, tmp_path, _write(tmp_path, leaf, "srv")))
    r = _get(kind, ctx, nginx.url)
    assert r.status_code == 400 and "The SSL certificate error" in r.text


def test_identity_is_chosen_per_policy(tmp_path: Path, pki: tuple[CA, CA], nginx: NginxMtlsServer) -> None:
    """One context, one server, two names: the override for mtls.test presents
    its identity (200); plain.test resolves to the intranet policy, which names
    none, so nothing is presented (400)."""
    root, inter = pki
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    trust = {"system": False, "extra": [str(tmp_path / "root.pem")]}
    leaf = inter.issue_client("mid-02.acme.example")
    table = certpolicy.PolicyTable.from_dict({
        "defaults": {"trust": trust},
        "override": [{"name": "mtls", "targets": "mtls.test", "client_cert": _write(tmp_path, leaf, "mid2")}],
    })
    ctx = certpolicy.create_ssl_context(table)
    addresses = {"mtls.test": "127.0.0.1", "plain.test": "127.0.0.1"}
    with requests_session(ctx, addresses=addresses) as s:
        with_identity = s.get(f"https://mtls.test:{nginx.port}/", timeout=10)
        without = s.get(f"https://plain.test:{nginx.port}/", timeout=10)
    assert with_identity.status_code == 200 and "CN=mid-02.acme.example" in with_identity.text
    assert with_identity.certpolicy_verdict.policy.name == "mtls"  # type: ignore[attr-defined]
    assert without.status_code == 400 and "No required SSL certificate was sent" in without.text
    assert without.certpolicy_verdict.policy.name == "intranet"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["requests", "httpx"])
@pytest.mark.parametrize("case", ["self-signed", "no-intermediate"])
def test_unusable_identity_through_the_context_gets_the_ssl_certificate_error(
    tmp_path: Path, pki: tuple[CA, CA], nginx: NginxMtlsServer, kind: str, case: str
) -> None:
    from certpolicy.pki import IssuedCert

    if case == "self-signed":
        identity = _write(tmp_path, IssuedCert.self_signed("mid-01.acme.example"), "self")
    else:
        paths = pki[1].issue_client("mid-01.acme.example").write(tmp_path, "lonely")
        identity = {"cert": str(paths.cert), "key": str(paths.key)}  # the leaf without its intermediate
    ctx = certpolicy.create_ssl_context(_table(pki, tmp_path, identity))
    r = _get(kind, ctx, nginx.url)
    assert r.status_code == 400 and "The SSL certificate error" in r.text


def test_unloadable_identity_fails_at_context_creation(tmp_path: Path, pki: tuple[CA, CA]) -> None:
    (tmp_path / "empty.pem").write_text("nothing here\n")
    with pytest.raises(certpolicy.ClientCertificateError, match=r"empty\.pem"):
        certpolicy.create_ssl_context(_table(pki, tmp_path, {"cert": str(tmp_path / "empty.pem")}))


def test_check_command_reports_a_server_that_refuses_the_client(tmp_path: Path, pki: tuple[CA, CA], nginx: NginxMtlsServer) -> None:
    import json

    from click.testing import CliRunner

    from certpolicy.cli import main

    (tmp_path / "root.pem").write_bytes(pki[0].cert_pem)
    (tmp_path / "p.toml").write_text(f'[defaults]\ntrust = {{ system = false, extra = ["{tmp_path / "root.pem"}"] }}\n')
    r = CliRunner().invoke(main, ["check", nginx.url, "--policy", str(tmp_path / "p.toml"), "--json"])
    res = json.loads(r.output)["results"][0]
    assert res["client_certificate"] is None
    assert "400" in res.get("http_status_line", "") or not res["ok"]
    assert res.get("warning") or res.get("error")
