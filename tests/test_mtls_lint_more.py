"""Client-certificate lint and PKI profile details: the --chain option, the
30-day expiry threshold at its boundary, the client leaf profile, and no
passphrase in a policy file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certpolicy import PolicyConfigError, PolicyTable
from certpolicy.cli import main
from certpolicy.clientcert import lint_client_certificate
from certpolicy.pki import CA

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.create("lint root")
    return root, root.create_intermediate("lint issuing CA")


def test_lint_client_reads_the_chain_from_chain_option(tmp_path: Path, pki: tuple[CA, CA]) -> None:
    root, inter = pki
    paths = inter.issue_client("mid-01.acme.example").write(tmp_path, "mid")
    (tmp_path / "inter.pem").write_bytes(inter.cert_pem)
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    ok = CliRunner().invoke(main, ["lint-client", str(paths.cert), "--chain", str(tmp_path / "inter.pem"),
                                   "--trust", str(tmp_path / "root.pem"), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["findings"] == []
    missing = CliRunner().invoke(main, ["lint-client", str(paths.cert), "--trust", str(tmp_path / "root.pem"), "--json"])
    assert missing.exit_code == 1
    assert "INCOMPLETE_CHAIN" in [f["code"] for f in json.loads(missing.stdout)["findings"]]


@pytest.mark.parametrize(("days_left", "flagged"), [(29, True), (31, False)])
def test_expiry_threshold_is_30_days_by_default(pki: tuple[CA, CA], days_left: int, flagged: bool) -> None:
    root, inter = pki
    leaf = inter.issue_client("mid-01.acme.example", not_before=NOW - dt.timedelta(days=10), not_after=NOW + dt.timedelta(days=days_left))
    report = lint_client_certificate(leaf.cert, [inter.cert], trust_roots=[root.cert], at=NOW)
    assert ("EXPIRING_SOON" in report.codes) is flagged


def test_client_leaf_has_the_client_profile(pki: tuple[CA, CA]) -> None:
    _root, inter = pki
    cert = inter.issue_client("mid-01.acme.example").cert
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuer_ski = inter.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest and ski.digest
    assert cert.serial_number.bit_length() <= 159 and cert.serial_number > 0


def test_a_passphrase_is_never_read_from_a_policy_file(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[instance]\nclient_cert = { cert = "mid.pem", key = "mid.key", passphrase = "hunter2" }\n')
    with pytest.raises(PolicyConfigError) as err:
        PolicyTable.load(p)
    assert "passphrase" in str(err.value) and "passphrase_env" in str(err.value)
