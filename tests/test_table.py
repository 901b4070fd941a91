"""PolicyTable loading: the SPEC file format, presets, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certpolicy import (
    Action,
    CheckMode,
    Outcome,
    PolicyConfigError,
    PolicyKind,
    PolicyResolver,
    PolicyTable,
)

SPEC_EXAMPLE = """
[defaults]
chain = "enforce"; hostname = "enforce"; ocsp = "off"; crl = "off"

[instance]
targets = ["*.service-now.com"]
ocsp = "enforce"; crl = "enforce"

[internet]
crl = "enforce"

[intranet]
ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
chain = "audit"
trust = { system = false, extra = ["certs/corp-root.pem"] }

[[override]]
name = "legacy-ldap-gateway"
targets = "ldaps.corp.example, 10.10.10.0/24, 10.10.11.0-10.10.11.165"
hostname = "off"
expires = 2027-03-31
reason = "vendor appliance without SANs"
"""


def _write(tmp_path: Path, text: str, name: str = "policies.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_spec_example_file_loads_with_inheritance(tmp_path: Path) -> None:
    table = PolicyTable.load(_write(tmp_path, SPEC_EXAMPLE), today=dt.date(2026, 11, 29))
    assert table.instance.ocsp is CheckMode.ENFORCE and table.instance.crl is CheckMode.ENFORCE
    assert table.internet.crl is CheckMode.ENFORCE and table.internet.ocsp is CheckMode.OFF
    assert table.intranet.chain is CheckMode.AUDIT
    assert table.intranet.trust.system is False
    assert table.intranet.trust.extra == (str(tmp_path / "certs" / "corp-root.pem"),)  # relative to the file
    ov = table.get("legacy-ldap-gateway")
    assert ov.kind is PolicyKind.OVERRIDE and ov.hostname is CheckMode.OFF and ov.chain is CheckMode.ENFORCE
    assert ov.expires == dt.date(2027, 3, 31) and ov.reason == "vendor appliance without SANs"
    assert table.warnings == ()


def test_json_of_the_same_shape_is_accepted(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"internet": {"crl": "enforce"}, "override": [{"name": "a", "targets": "a.example", "chain": "off", "hostname": "off"}]}', "p.json")
    table = PolicyTable.load(p)
    assert table.internet.crl is CheckMode.ENFORCE and table.get("a").chain is CheckMode.OFF


def test_expired_override_is_reported_and_no_longer_matches(tmp_path: Path) -> None:
    table = PolicyTable.load(_write(tmp_path, SPEC_EXAMPLE), today=dt.date(2027, 4, 1))
    assert any("expired" in w for w in table.warnings)
    res = PolicyResolver(table, clock=lambda: dt.date(2027, 4, 1)).resolve("ldaps.corp.example", peer_ip="10.10.10.5")
    assert res.policy.name == "intranet"
    assert any("expired" in w for w in res.warnings)


def test_soft_revocation_failure_maps_every_non_definite_outcome_to_warn() -> None:
    table = PolicyTable.from_dict({"override": [{"name": "soft", "targets": "*.partner.example", "revocation_failure": "soft"}]})
    rev = table.get("soft").revocation
    assert rev.action_for(Outcome.UNREACHABLE) is Action.WARN
    assert rev.action_for(Outcome.REVOKED) is Action.FAIL
    assert table.instance.revocation.action_for(Outcome.UNREACHABLE) is Action.FAIL


def test_fresh_and_upgraded_presets() -> None:
    fresh, upgraded = PolicyTable.fresh_install(), PolicyTable.upgraded_install()
    for p in fresh.policies:
        assert all(p.mode(c) is CheckMode.ENFORCE for c in ("chain", "hostname", "ocsp", "crl"))
    assert all(upgraded.intranet.mode(c) is CheckMode.OFF for c in ("chain", "hostname", "ocsp", "crl"))
    assert upgraded.internet.chain is CheckMode.ENFORCE


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[internet]\ncrl = 'maybe'", ["internet", "'crl'", "maybe"]),
        ("[internet]\ncrll = 'enforce'", ["internet", "crll", "known keys", "crl"]),
        ("[[override]]\nname = 'x'\ntargets = '10.0.0.0/33'", ["override[0] 'x'", "'targets'", "10.0.0.0/33"]),
        ("[[override]]\nname = 'x'\ntargets = '10.0.0.9-10.0.0.1'", ["override[0] 'x'", "reversed"]),
        ("[[override]]\nname = 'x'\ntargets = 'a.*.example'", ["override[0] 'x'", "wildcard"]),
        ("[[override]]\nname = 'x'\ntargets = 'a..example'", ["empty label"]),
        ("[[override]]\nname = 'a'\ntargets = 'h.example'\n[[override]]\nname = 'b'\ntargets = 'H.example.'", ["override[1] 'b'", "ties"]),
        ("[[override]]\nname = 'a'\ntargets = '*.x.example'\n[[override]]\nname = 'b'\ntargets = '*.X.example'", ["ties"]),
        ("[[override]]\nname = 'a'\ntargets = '10.0.0.0-10.0.0.9'\n[[override]]\nname = 'b'\ntargets = '10.0.0.5-10.0.0.14'", ["overlaps", "same size"]),
        ("[[override]]\nname = 'a'\ntargets = 'https://h.example/v2/'\n[[override]]\nname = 'b'\ntargets = 'https://h.example:443/v2'", ["ties"]),
        ("[[override]]\nname = 'a'\ntargets = 'h.example'\n[[override]]\nname = 'a'\ntargets = 'g.example'", ["duplicate policy name"]),
        ("[[override]]\nname = 'a'\nchain = 'off'", ["needs 'targets'"]),
        ("[internet]\nrevocation = { outcomes = { revoked = 'warn' } }", ["revoked", "always"]),
        ("[internet]\nrevocation = { outcomes = { sleepy = 'warn' } }", ["unknown outcome", "unreachable"]),
        ("[internet]\ncn_fallback = 'sometimes'", ["cn_fallback"]),
        ("[bogus]\nx = 1", ["unknown top-level key", "bogus"]),
        ("[internet\n", ["invalid TOML"]),
        ("[intranet]\nranges = ['corp.example']", ["intranet ranges"]),
    ],
)
def test_bad_input_raises_naming_file_row_and_field(tmp_path: Path, text: str, needles: list[str]) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(PolicyConfigError) as err:
        PolicyTable.load(p)
    msg = str(err.value)
    assert str(p) in msg
    for n in needles:
        assert n.lower() in msg.lower(), (n, msg)


def test_overlapping_ranges_of_different_size_do_not_tie() -> None:
    table = PolicyTable.from_dict(
        {"override": [{"name": "a", "targets": "10.0.0.0/24"}, {"name": "b", "targets": "10.0.0.0-10.0.0.9"}]}
    )
    res = PolicyResolver(table).resolve("h.example", peer_ip="10.0.0.5")
    assert res.policy.name == "b"
    assert [c.policy.name for c in res.candidates][:1] == ["a"]


def test_same_target_twice_in_one_row_is_not_a_tie() -> None:
    PolicyTable.from_dict({"override": [{"name": "a", "targets": "h.example, H.EXAMPLE"}]})


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="cannot read"):
        PolicyTable.load(tmp_path / "nope.toml")


def test_hostname_without_chain_is_warned_at_load_time() -> None:
    table = PolicyTable.from_dict({"internet": {"chain": "off"}})
    assert any("hostname" in w and "chain is off" in w for w in table.warnings)


def test_missing_trust_file_is_a_configuration_error_before_any_connection(tmp_path: Path) -> None:
    import certpolicy

    table = PolicyTable.load(_write(tmp_path, '[intranet]\ntrust = { system = false, extra = ["nope/root.pem"] }\n'))
    with pytest.raises(PolicyConfigError) as err:
        certpolicy.create_ssl_context(table)
    assert "intranet" in str(err.value) and "trust.extra" in str(err.value) and "root.pem" in str(err.value)



@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("both.toml", "[[override]]\nname='x'\ntargets='a.example'\n[[overrides]]\nname='y'\ntargets='b.example'\n", "both"),
        ("nan.toml", "[internet]\nrevocation = { clock_skew = nan }\n", "finite"),
        ("inf.toml", "[internet]\nrevocation = { crl_limits = { total_timeout = inf } }\n", "finite"),
        ("huge.toml", "[internet]\nrevocation = { retry = { attempts = 1000000000000 } }\n", "<="),
        ("expires.toml", "[[override]]\nname='x'\ntargets='a.example'\nexpires='2020-01-01garbage'\n", "date"),
        ("defaults.toml", "defaults = 0\n", "defaults"),
        ("dup.json", '{"internet": {"chain": "enforce", "chain": "off"}}', "twice"),
        ("deep.json", "[" * 100000 + "]" * 100000, "invalid JSON"),
        ("bigint.json", '{"internet": {"max_chain_depth": ' + "9" * 5000 + "}}", "invalid JSON"),
        ("deep.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML"),
        ("intranet.toml", "[intranet]\nranges = ['10.0.0.0/8']\ntargets = ['192.168.0.0/16']\n", "not both"),
    ],
)
def test_hostile_tables_are_refused_with_a_clear_error(tmp_path: Path, name: str, text: str, needle: str) -> None:
    with pytest.raises(PolicyConfigError) as err:
        PolicyTable.load(_write(tmp_path, text, name))
    assert needle in str(err.value)


def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(PolicyConfigError, match="regular file"):
        PolicyTable.load(fifo)
    big = _write(tmp_path, "# " + "x" * 2000 + "\n")
    with pytest.raises(PolicyConfigError, match="larger than"):
        PolicyTable.load(big, max_bytes=1000)
