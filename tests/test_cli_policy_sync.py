"""``certpolicy policy sync`` against a loopback Table API over HTTPS, and
``certpolicy policy diff``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _policy_server import PolicyServer, api_row
from certpolicy.cli import main
from certpolicy.testing.pytest_plugin import TestPKI
from certpolicy.trust import clear_trust_cache

SAMPLE_CONFIG = Path(__file__).parent / "data" / "mid" / "config.xml"


@pytest.fixture()
def pki(tmp_path: Path) -> TestPKI:
    (tmp_path / "pki").mkdir()
    return TestPKI(tmp_path / "pki")


@pytest.fixture()
def server(pki: TestPKI, tmp_path: Path) -> Any:
    with PolicyServer(pki.issue_server("127.0.0.1"), tmp_path, credentials="Bearer t0ken") as srv:
        srv.rows = [api_row("instance", "instance", "127.0.0.1", hostname=False)]
        yield srv


@pytest.fixture()
def system_store(pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test PKI's root as the system trust store (SSL_CERT_FILE), read
    afresh; the cached system store is dropped again afterwards."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_pem))
    clear_trust_cache()
    yield
    monkeypatch.delenv("SSL_CERT_FILE")
    clear_trust_cache()


def _config(tmp_path: Path, use_instance: bool) -> Path:
    p = tmp_path / "config.xml"
    text = SAMPLE_CONFIG.read_text().replace('value="acme.service-now.com"', 'value="127.0.0.1"')
    text = text.replace(
        'name="mid.ssl.use.instance.security.policy" value="false"',
        f'name="mid.ssl.use.instance.security.policy" value="{str(use_instance).lower()}"',
    )
    p.write_text(text)
    return p


@pytest.mark.parametrize("use_instance", [True, False])
def test_policy_sync_once_applies_the_instance_rows_and_writes_config_back(
    use_instance: bool, system_store: Any, server: PolicyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SN_TOKEN", "t0ken")
    config = _config(tmp_path, use_instance)
    before = config.read_bytes()
    args = ["policy", "sync", "--instance", server.instance, "--config", str(config), "--token-env", "SN_TOKEN", "--once", "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    # with use.instance.security.policy false only a note changes: "unchanged", and explain says why
    assert out["outcome"] == ("replaced" if use_instance else "unchanged") and out["digest"].startswith("sha256:")
    if not use_instance:
        assert "fetched but not applied" in out["reason"]
    assert server.requests[0][0].startswith("/api/now/table/mid_cert_check_policy?")
    lkg = tmp_path / "certpolicy-last-good.json"
    assert json.loads(lkg.read_text())["document"][0]["name"] == "instance"
    if use_instance:
        assert 'check_cert_hostname" value="false"' in config.read_text()
    else:
        assert config.read_bytes() == before


def test_policy_sync_exit_status_when_refused(
    system_store: Any, server: PolicyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SN_TOKEN", "wrong")
    config = _config(tmp_path, True)
    r = CliRunner().invoke(main, ["policy", "sync", "--instance", server.instance, "--config", str(config), "--token-env", "SN_TOKEN", "--once"])
    assert r.exit_code == 1 and "rejected" in r.output and "401" in r.output
    r = CliRunner().invoke(main, ["policy", "sync", "--instance", server.instance, "--config", str(config), "--token-env", "NOT_SET", "--once"])
    assert r.exit_code == 2 and "NOT_SET" in r.output
    r = CliRunner().invoke(main, ["policy", "sync", "--instance", "http://x", "--config", str(config), "--once"])
    assert r.exit_code == 2 and "https" in r.output


def test_policy_diff_prints_rows_targets_and_switches(tmp_path: Path) -> None:
    old = tmp_path / "old.toml"
    new = tmp_path / "new.toml"
    old.write_text('[[override]]\nname = "a"\ntargets = ["a.test"]\n')
    new.write_text('[[override]]\nname = "a"\ntargets = ["a.test", "b.test"]\nchain = "audit"\n')
    r = CliRunner().invoke(main, ["policy", "diff", str(old), str(new)])
    assert r.exit_code == 1
    assert "target added: b.test" in r.output and "chain: enforce -> audit" in r.output
    r = CliRunner().invoke(main, ["policy", "diff", str(old), str(old), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["changed"] is False
    shutil.copy(SAMPLE_CONFIG, tmp_path / "config.xml")
    r = CliRunner().invoke(main, ["policy", "diff", str(tmp_path / "config.xml"), str(new), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["rows"]
    (tmp_path / "bad.toml").write_text("[[override]]\nname = 1\n")
    assert CliRunner().invoke(main, ["policy", "diff", str(old), str(tmp_path / "bad.toml")]).exit_code == 2
