"""`certpolicy explain` and `certpolicy policy validate`: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from certpolicy.cli import main

TABLE = """
[intranet]
chain = "audit"

[[override]]
name = "vault-subnet"
targets = "10.66.0.0/16"
hostname = "off"

[[override]]
name = "api-v2"
targets = "https://api.example.com/v2/"
"""


def _policy(tmp_path: Path, text: str = TABLE) -> str:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return str(p)


def test_explain_names_the_policy_and_target(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["explain", "vault.corp.example", "--peer-ip", "10.66.0.88", "--policy", _policy(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "policy: vault-subnet (kind override) via target '10.66.0.0/16'" in r.output


def test_explain_json_lists_candidates(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["explain", "https://api.example.com/v2/x", "--peer-ip", "10.66.0.1", "--policy", _policy(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["policy"] == "api-v2"
    assert {c["policy"] for c in data["candidates"]} >= {"vault-subnet"}


def test_explain_says_when_a_path_rule_is_skipped(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["explain", "api.example.com", "--policy", _policy(tmp_path)])
    assert r.exit_code == 0
    assert "path rule" in r.output and "by name only" in r.output


def test_explain_exit_2_on_bad_policy_file(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["explain", "a.example", "--policy", _policy(tmp_path, "[internet]\nchain = 1")])
    assert r.exit_code == 2
    assert "chain" in r.output


def test_explain_exit_2_on_invalid_host() -> None:
    r = CliRunner().invoke(main, ["explain", "a..example"])
    assert r.exit_code == 2


def test_policy_validate_ok_and_invalid(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["policy", "validate", _policy(tmp_path)])
    assert ok.exit_code == 0 and "valid" in ok.output
    bad = CliRunner().invoke(main, ["policy", "validate", _policy(tmp_path, "[[override]]\nname='x'\ntargets='10.0.0.0/33'"), "--json"])
    assert bad.exit_code == 2
    assert json.loads(bad.output)["valid"] is False


def test_policy_validate_reads_agent_config_xml() -> None:
    sample = Path(__file__).parent / "data" / "mid" / "config.xml"
    r = CliRunner().invoke(main, ["policy", "validate", str(sample)])
    assert r.exit_code == 0, r.output
    assert "acme.service-now.com" in r.output
