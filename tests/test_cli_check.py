"""`certpolicy check` against real loopback TLS servers, and `certpolicy demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from certpolicy.cli import main
from certpolicy.pki import CA
from certpolicy.testing.pytest_plugin import TestPKI


def _policy(tmp_path: Path, pki: TestPKI) -> str:
    p = tmp_path / "p.toml"
    p.write_text(f'[defaults]\ntrust = {{ system = false, extra = ["{pki.root_pem}"] }}\n')
    return str(p)


def test_check_passes_and_reports_every_check(tmp_path: Path, certpolicy_pki: TestPKI, tls_server: Any) -> None:
    srv = tls_server(certpolicy_pki.issue_server("localhost"))
    r = CliRunner().invoke(main, ["check", srv.url("/", hostname="localhost"), "--policy", _policy(tmp_path, certpolicy_pki), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    res = data["results"][0]
    assert res["ok"] and res["policy"] == "intranet"
    assert [c["check"] for c in res["checks"]] == ["chain", "hostname", "revocation"]


def test_check_fails_with_exit_1_naming_the_check(tmp_path: Path, certpolicy_pki: TestPKI, tls_server: Any) -> None:
    srv = tls_server(certpolicy_pki.issue_server("other.test"))
    r = CliRunner().invoke(main, ["check", srv.url("/", hostname="localhost"), "--policy", _policy(tmp_path, certpolicy_pki)])
    assert r.exit_code == 1
    assert "FAIL" in r.output and "hostname" in r.output


def test_check_unknown_issuer_and_unreachable(tmp_path: Path, certpolicy_pki: TestPKI, tls_server: Any) -> None:
    srv = tls_server(CA.create("stranger").issue_server("localhost"))
    r = CliRunner().invoke(main, ["check", srv.url("/", hostname="localhost"), "https://localhost:9/", "--timeout", "2",
                                  "--policy", _policy(tmp_path, certpolicy_pki), "--json"])
    assert r.exit_code == 1
    results = json.loads(r.output)["results"]
    assert results[0]["error_type"] == "ChainError"
    assert "connection failed" in results[1]["error"]


def test_check_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["check", "ftp://x.example/"]).exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[internet]\nchain = 'sometimes'\n")
    assert CliRunner().invoke(main, ["check", "https://x.example/", "--policy", str(bad)]).exit_code == 2


def test_demo_runs_the_main_job_and_exits_0() -> None:
    r = CliRunner().invoke(main, ["demo", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["ok"] and len(data["results"]) == 12
    assert {x["client"] for x in data["results"]} == {"requests", "httpx"}
