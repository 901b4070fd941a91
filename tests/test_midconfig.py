"""MidConfig: the agent's config.xml bootstrap parameters, and the table they make."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from certpolicy import CheckMode, PolicyConfigError, PolicyResolver
from certpolicy.midconfig import PARAM_CHAIN, PARAM_REVOCATION, PARAM_USE_INSTANCE, MidConfig

SAMPLE = Path(__file__).parent / "data" / "mid" / "config.xml"

INSTANCE_ROWS = [
    {"name": "instance", "kind": "instance", "targets": "acme.service-now.com",
     "checks": {"chain": True, "hostname": False, "ocsp": True, "crl": True}},
    {"name": "internet", "kind": "internet", "targets": "*", "checks": {"chain": True, "hostname": True, "ocsp": False, "crl": True}},
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    p = tmp_path / "config.xml"
    shutil.copy(SAMPLE, p)
    return p


def _set(path: Path, param: str, value: str | None) -> None:
    lines = path.read_text().splitlines(keepends=True)
    out = []
    for line in lines:
        if f'name="{param}"' in line:
            if value is None:
                continue
            line = line.split('value="')[0] + f'value="{value}"/>\n'
        out.append(line)
    path.write_text("".join(out))


def test_template_values_set_the_instance_policy(config: Path) -> None:
    table = MidConfig.load(config, environ={}).table()
    inst = table.instance
    assert (inst.chain, inst.hostname, inst.ocsp, inst.crl) == (CheckMode.ENFORCE, CheckMode.ENFORCE, CheckMode.OFF, CheckMode.OFF)
    assert [t.text for t in inst.targets] == ["acme.service-now.com"]
    assert PolicyResolver(table).resolve("acme.service-now.com", peer_ip="203.0.113.5").policy.name == "instance"
    assert PolicyResolver(table).resolve("other.service-now.com", peer_ip="203.0.113.5").policy.name == "internet"


@pytest.mark.parametrize("param", ["mid.ssl.bootstrap.default.check_cert_hostname", PARAM_CHAIN, PARAM_REVOCATION, "mid.ssl.bootstrap.default.target_endpoint", PARAM_USE_INSTANCE])
def test_absent_parameters_take_the_agents_builtin_defaults(config: Path, param: str) -> None:
    _set(config, param, None)
    mid = MidConfig.load(config, environ={})
    assert mid.origins[param] == "default"
    table = mid.table()
    if param == PARAM_REVOCATION:
        assert table.instance.ocsp is CheckMode.ENFORCE and table.instance.crl is CheckMode.ENFORCE
    if param.endswith("target_endpoint"):
        assert [t.text for t in table.instance.targets] == ["*.service-now.com"]
    if param == PARAM_USE_INSTANCE:
        assert mid.use_instance_security_policy is False


@pytest.mark.parametrize("param", [PARAM_CHAIN, PARAM_REVOCATION, PARAM_USE_INSTANCE])
def test_malformed_boolean_names_file_and_parameter(config: Path, param: str) -> None:
    _set(config, param, "sometimes")
    with pytest.raises(PolicyConfigError) as err:
        MidConfig.load(config, environ={}).table()
    assert str(config) in str(err.value) and param in str(err.value) and "sometimes" in str(err.value)


def test_malformed_target_endpoint_is_a_configuration_error(config: Path) -> None:
    _set(config, "mid.ssl.bootstrap.default.target_endpoint", "acme..service-now.com")
    with pytest.raises(PolicyConfigError, match="empty label"):
        MidConfig.load(config, environ={}).table()


def test_malformed_xml_is_a_configuration_error(tmp_path: Path) -> None:
    p = tmp_path / "config.xml"
    p.write_text("<parameters><parameter name='x' value='y'></parameters>")
    with pytest.raises(PolicyConfigError, match="malformed XML"):
        MidConfig.load(p, environ={}).table()


def test_environment_wins_over_the_file(config: Path) -> None:
    env = {"MID_SSL_BOOTSTRAP_CERT_REVOCATION_CHECK": "true", "MID_CONFIG_mid__ssl__bootstrap__default__check_cert_chain": "false"}
    mid = MidConfig.load(config, environ=env)
    assert mid.check_revocation is True and mid.check_chain is False
    assert mid.origins[PARAM_REVOCATION] == "env:MID_SSL_BOOTSTRAP_CERT_REVOCATION_CHECK"


def test_instance_rows_are_ignored_when_use_instance_policy_is_false(config: Path) -> None:
    mid = MidConfig.load(config, environ={})
    before = config.read_bytes()
    table = mid.apply_instance_policies(INSTANCE_ROWS, write_back=True)
    assert table.instance.hostname is CheckMode.ENFORCE and table.instance.ocsp is CheckMode.OFF
    assert config.read_bytes() == before


def test_instance_rows_replace_bootstrap_values_and_are_written_back(config: Path) -> None:
    _set(config, PARAM_USE_INSTANCE, "true")
    before = config.read_text().splitlines()
    mid = MidConfig.load(config, environ={})
    table = mid.apply_instance_policies(INSTANCE_ROWS, write_back=True)
    assert table.instance.hostname is CheckMode.OFF and table.instance.ocsp is CheckMode.ENFORCE
    assert table.internet.ocsp is CheckMode.OFF
    after = config.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(before) == len(after)
    assert {a.split('name="')[1].split('"')[0] for a, _ in changed} == {
        "mid.ssl.bootstrap.default.check_cert_hostname", PARAM_REVOCATION}
    reloaded = MidConfig.load(config, environ={})
    assert reloaded.check_hostname is False and reloaded.check_revocation is True


def test_dtd_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "config.xml"
    p.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><parameters/>')
    with pytest.raises(PolicyConfigError, match="DTD"):
        MidConfig.load(p, environ={})


def test_entities_are_refused_in_any_encoding(tmp_path: Path) -> None:
    p = tmp_path / "config.xml"
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE p [<!ENTITY f "false">]><parameters>' \
           '<parameter name="mid.ssl.bootstrap.default.check_cert_chain" value="&f;"/></parameters>'
    p.write_bytes(text.encode("utf-16"))
    with pytest.raises(PolicyConfigError, match="DTD"):
        MidConfig.load(p, environ={})
