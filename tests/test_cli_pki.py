"""``certpolicy pki init|issue|revoke|crl`` and ``certpolicy lint-client``,
driven through the real command line (click's runner, in process), with the
``openssl`` CLI as the independent check of what they write."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certpolicy.cli import main
from certpolicy.pki import CA, IssuedCert


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    result = run("pki", "init", str(directory), "--org", "Acme Corp")
    assert result.exit_code == 0, result.output
    return directory


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=20)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_keeps_root_key_apart_and_private(pki: Path) -> None:
    assert mode(pki / "root") == 0o700
    assert mode(pki / "root" / "root.key") == 0o600 and mode(pki / "issuing" / "ca.key") == 0o600
    trusted = x509.load_pem_x509_certificates((pki / "trusted-cas.pem").read_bytes())
    root = x509.load_pem_x509_certificate((pki / "root" / "root.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((pki / "issuing" / "ca.pem").read_bytes())
    assert trusted == [root, issuing]
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


def test_init_refuses_an_existing_pki_and_leaves_keys_alone(pki: Path) -> None:
    before = (pki / "issuing" / "ca.key").read_bytes()
    result = run("pki", "init", str(pki))
    assert result.exit_code == 2 and "already a PKI directory" in result.output
    assert (pki / "issuing" / "ca.key").read_bytes() == before


def test_issued_client_certificate_lints_clean_and_openssl_agrees(pki: Path) -> None:
    result = run("pki", "issue", "client", "mid-01.acme.example", "--dir", str(pki), "--json")
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert mode(Path(issued["key"])) == 0o600
    lint = run("lint-client", issued["chain"], "--key", issued["key"],
               "--trust", str(pki / "root" / "root.pem"), "--json")
    assert lint.exit_code == 0, lint.output
    assert json.loads(lint.stdout)["verdict"] == "ok"
    peer = openssl("verify", "-purpose", "sslclient", "-CAfile", str(pki / "root" / "root.pem"),
                   "-untrusted", str(pki / "issuing" / "ca.pem"), issued["cert"])
    assert peer.returncode == 0, peer.stderr


def test_server_certificate_used_as_client_fails_lint_with_exit_1(pki: Path) -> None:
    issued = json.loads(run("pki", "issue", "server", "mid-01.acme.example", "--dir", str(pki), "--json").stdout)
    lint = run("lint-client", issued["chain"], "--trust", str(pki / "root" / "root.pem"), "--json")
    assert lint.exit_code == 1
    report = json.loads(lint.stdout)
    assert report["verdict"] == "error"
    assert [f["code"] for f in report["findings"]] == ["NO_CLIENT_AUTH_EKU"]


def test_issue_never_overwrites_an_existing_key(pki: Path) -> None:
    assert run("pki", "issue", "client", "a.example", "--dir", str(pki)).exit_code == 0
    key = pki / "issued" / "a.example.key"
    before = key.read_bytes()
    again = run("pki", "issue", "client", "a.example", "--dir", str(pki))
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    assert key.read_bytes() == before


def test_encrypted_keys_need_the_passphrase_variable(tmp_path: Path) -> None:
    env = {"PKI_PASS": "correct horse"}
    directory = tmp_path / "enc"
    assert run("pki", "init", str(directory), "--passphrase-env", "PKI_PASS",
               "--root-passphrase-env", "PKI_PASS", env=env).exit_code == 0
    assert b"ENCRYPTED" in (directory / "root" / "root.key").read_bytes()
    refused = run("pki", "issue", "client", "c.example", "--dir", str(directory))
    assert refused.exit_code == 2 and "--ca-passphrase-env" in refused.output
    wrong = run("pki", "issue", "client", "c.example", "--dir", str(directory),
                "--ca-passphrase-env", "PKI_PASS", env={"PKI_PASS": "wrong"})
    assert wrong.exit_code == 2 and "wrong passphrase" in wrong.output
    ok = run("pki", "issue", "client", "c.example", "--dir", str(directory), "--pkcs12",
             "--ca-passphrase-env", "PKI_PASS", "--passphrase-env", "PKI_PASS", env=env)
    assert ok.exit_code == 0, ok.output
    p12 = directory / "issued" / "c.example.p12"
    assert mode(p12) == 0o600
    lint = run("lint-client", str(p12), "--passphrase-env", "PKI_PASS",
               "--trust", str(directory / "root" / "root.pem"), env=env)
    assert lint.exit_code == 0, lint.output


def test_revoke_then_crl_lists_the_serial_and_openssl_reads_it(pki: Path) -> None:
    issued = json.loads(run("pki", "issue", "client", "gone.example", "--dir", str(pki), "--json").stdout)
    revoked = run("pki", "revoke", issued["serial"], "--reason", "keyCompromise", "--dir", str(pki))
    assert revoked.exit_code == 0, revoked.output
    crl_run = run("pki", "crl", "--dir", str(pki), "--json")
    assert crl_run.exit_code == 0, crl_run.output
    info = json.loads(crl_run.stdout)
    assert info["crl_number"] == 1 and info["revoked"] == 1
    crl = x509.load_der_x509_crl(Path(info["crl"]).read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(issued["serial"], 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    issuing = x509.load_pem_x509_certificate((pki / "issuing" / "ca.pem").read_bytes())
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    peer = openssl("crl", "-inform", "DER", "-in", info["crl"], "-noout", "-text")
    assert issued["serial"][2:].upper().lstrip("0") in peer.stdout.replace(":", "").upper()
    assert "Key Compromise" in peer.stdout
    assert json.loads(run("pki", "crl", "--dir", str(pki), "--json").stdout)["crl_number"] == 2


def test_revoke_refuses_a_serial_this_pki_did_not_issue(pki: Path) -> None:
    result = run("pki", "revoke", "0x1234", "--dir", str(pki))
    assert result.exit_code == 2 and "not issued by this PKI" in result.output


def test_pki_commands_outside_a_pki_directory_are_usage_errors(tmp_path: Path) -> None:
    result = run("pki", "crl", "--dir", str(tmp_path))
    assert result.exit_code == 2 and "not a certpolicy PKI directory" in result.output


# --- lint-client inputs --------------------------------------------------------------


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CA]:
    directory = tmp_path_factory.mktemp("lint")
    root = CA.create("Root")
    inter = root.create_intermediate("Issuing")
    inter.issue_client("c.example").write(directory, "client", passphrase=b"pw")
    (directory / "root.pem").write_bytes(root.cert_pem)
    IssuedCert.self_signed("self.example").write(directory, "self")
    der = x509.load_pem_x509_certificate((directory / "client.pem").read_bytes()).public_bytes(Encoding.DER)
    (directory / "client.der").write_bytes(der)
    return directory, root


def test_lint_client_der_given_as_pem_names_the_file(issued: tuple[Path, CA]) -> None:
    directory, _ = issued
    result = run("lint-client", str(directory / "client.der"))
    assert result.exit_code == 2
    assert str(directory / "client.der") in result.output and "not PEM" in result.output


def test_lint_client_missing_file_and_bad_date_are_usage_errors(issued: tuple[Path, CA]) -> None:
    directory, _ = issued
    assert run("lint-client", str(directory / "nope.pem")).exit_code == 2
    assert run("lint-client", str(directory / "client.pem"), "--at", "yesterday").exit_code == 2


def test_lint_client_wrong_key_passphrase_is_a_usage_error(issued: tuple[Path, CA]) -> None:
    directory, _ = issued
    result = run("lint-client", str(directory / "client.chain.pem"), "--key", str(directory / "client.key"),
                 "--passphrase-env", "K", env={"K": "nope"})
    assert result.exit_code == 2 and "wrong passphrase" in result.output


def test_lint_client_key_of_another_certificate_is_a_finding(issued: tuple[Path, CA]) -> None:
    directory, _root = issued
    result = run("lint-client", str(directory / "client.chain.pem"), "--key", str(directory / "self.key"),
                 "--trust", str(directory / "root.pem"))
    assert result.exit_code == 1 and "KEY_MISMATCH" in result.output


def test_lint_client_self_signed_and_expired_at_a_later_date(issued: tuple[Path, CA]) -> None:
    directory, _ = issued
    selfsigned = run("lint-client", str(directory / "self.pem"))
    assert selfsigned.exit_code == 1 and "SELF_SIGNED_LEAF" in selfsigned.output
    later = run("lint-client", str(directory / "client.chain.pem"), "--trust", str(directory / "root.pem"),
                "--at", "2099-01-01", "--json")
    assert later.exit_code == 1
    assert "EXPIRED" in [f["code"] for f in json.loads(later.stdout)["findings"]]


def test_lint_client_warnings_only_exit_0(issued: tuple[Path, CA]) -> None:
    directory, _ = issued
    result = run("lint-client", str(directory / "client.chain.pem"), "--expiry-days", "400",
                 "--trust", str(directory / "root.pem"))
    assert result.exit_code == 0 and "EXPIRING_SOON" in result.output and "verdict: warning" in result.output


def test_lint_client_public_ca_dates_override(tmp_path: Path) -> None:
    root = CA.create("Root", organization="Example Public Trust")
    inter = root.create_intermediate("DV CA", organization="Example Public Trust")
    inter.issue_cert("api.example", eku=("serverAuth", "clientAuth")).write(tmp_path, "leaf")
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    (tmp_path / "dates.json").write_text(json.dumps({"issuers": [{
        "id": "example-public", "name": "Example Public Trust",
        "match_organizations": ["Example Public Trust"], "drops_client_auth_from": "2027-01-01",
        "source": "https://example.invalid/notice", "last_checked": "2026-11-01",
    }]}))
    plain = run("lint-client", str(tmp_path / "leaf.chain.pem"), "--trust", str(tmp_path / "root.pem"))
    assert plain.exit_code == 0 and "PUBLIC_ISSUER" not in plain.output
    forecast = run("lint-client", str(tmp_path / "leaf.chain.pem"), "--trust", str(tmp_path / "root.pem"),
                   "--ca-dates", str(tmp_path / "dates.json"), "--json")
    assert forecast.exit_code == 0
    (finding,) = json.loads(forecast.stdout)["findings"]
    assert finding["code"] == "PUBLIC_ISSUER_DROPPING_CLIENT_AUTH"
    assert finding["details"]["drops_client_auth_from"] == "2027-01-01"
