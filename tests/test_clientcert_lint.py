"""Client certificates (mTLS): the lint, the client identity loader, and a real
nginx server on loopback that requires client certificates and answers like
the agent's instance did ("400 Bad Request" / "The SSL certificate error").

Independent peers: ``openssl verify -purpose sslclient`` agrees with the lint
on every certificate built here; nginx (OpenSSL) accepts exactly the
certificates the lint passes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
import requests.adapters
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification

from certpolicy.clientcert import PublicCATable, lint_client_certificate
from certpolicy.errors import ClientCertificateError
from certpolicy.identity import ClientIdentity
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import ClientIdentitySpec
from certpolicy.testing.nginx import NginxMtlsServer, nginx_binary

DATA = Path(__file__).parent / "data" / "mtls"
UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)


def pem(text: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(text.encode())


def serious(report: object) -> set[str]:
    return report.codes_at_least("warning")  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="module")
def root() -> CA:
    return CA.create("Acme Private Root CA", organization="Acme Corp")


@pytest.fixture(scope="module")
def inter(root: CA) -> CA:
    return root.create_intermediate("Acme Private Issuing CA", organization="Acme Corp")


# --- BR-21 / BR-22 -------------------------------------------------------------

BR21 = json.loads((DATA / "br21.json").read_text())
BR22 = json.loads((DATA / "br22.json").read_text())


@pytest.mark.parametrize("variant", BR21["input"]["variants"], ids=lambda v: v["name"])
def test_br21_renewed_public_certificate_without_client_auth(variant: dict[str, object]) -> None:
    case = BR21["input"]
    expected = BR21["expected"][variant["name"]]
    report = lint_client_certificate(
        pem(str(variant["leaf"])),
        [pem(p) for p in case["chain_presented"]],
        at=dt.datetime.fromisoformat(case["lint_at"].replace("Z", "+00:00")),
        public_roots=[pem(p) for p in case["public_roots"]],
    )
    assert report.verdict == expected["verdict"]
    assert serious(report) == set(expected["findings"])
    text = " ".join(f.message + " " + f.remedy for f in report.findings)
    assert expected["advice"] in text


@pytest.mark.parametrize("variant", BR22["input"]["variants"], ids=lambda v: v["name"])
def test_br22_private_pki_profile_and_missing_intermediate(variant: dict[str, object]) -> None:
    case = BR22["input"]
    expected = BR22["expected"][variant["name"]]
    presented = [pem(str(variant["leaf"]))]
    if "intermediate" in variant["presented"]:  # type: ignore[operator]
        presented.append(pem(case["intermediate"]))
    report = lint_client_certificate(
        presented[0],
        presented[1:],
        at=dt.datetime(2026, 12, 1, tzinfo=UTC),
        trust_roots=[pem(p) for p in case["server_trusts"]],
    )
    assert report.verdict == expected["verdict"]
    assert serious(report) == set(expected.get("findings", []))


@pytest.mark.parametrize("variant", BR22["input"]["variants"], ids=lambda v: v["name"])
def test_br22_cryptography_client_verifier_peer_agrees_with_case(variant: dict[str, object]) -> None:
    case = BR22["input"]
    peer = BR22["peers"]["cryptography_client_verifier"][variant["name"]]
    presented = [pem(str(variant["leaf"]))]
    if "intermediate" in variant["presented"]:  # type: ignore[operator]
        presented.append(pem(case["intermediate"]))
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([pem(p) for p in case["server_trusts"]]))
        .time(dt.datetime(2026, 12, 1, tzinfo=UTC))
        .build_client_verifier()
    )
    try:
        verifier.verify(presented[0], presented[1:])
        outcome = "accept"
    except verification.VerificationError:
        outcome = "reject"
    assert peer.startswith(outcome)


# --- one finding per kind of fault ---------------------------------------------------


def test_private_client_certificate_passes_clean(root: CA, inter: CA) -> None:
    client = inter.issue_client("mid-01.acme.example")
    report = lint_client_certificate(client.cert, client.chain[1:], key=client.key, trust_roots=[root.cert])
    assert report.verdict == "ok" and report.findings == ()
    assert report.path == (client.cert, inter.cert, root.cert)


def test_server_only_eku_is_no_client_auth_error(root: CA, inter: CA) -> None:
    server = inter.issue_server("mid-01.acme.example")
    report = lint_client_certificate(server.cert, server.chain[1:], trust_roots=[root.cert])
    assert report.codes == ["NO_CLIENT_AUTH_EKU"] and "serverAuth only" in report.findings[0].message


def test_any_eku_without_client_auth_is_refused_like_openssl(root: CA, inter: CA) -> None:
    leaf = inter.issue_client("c.example", eku=("anyExtendedKeyUsage",))
    assert lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[root.cert]).codes == ["NO_CLIENT_AUTH_EKU"]


def test_self_signed_leaf_is_an_error() -> None:
    leaf = IssuedCert.self_signed("mid-01.acme.example")
    report = lint_client_certificate(leaf.cert)
    assert report.verdict == "error" and report.codes == ["SELF_SIGNED_LEAF"]


def test_key_that_belongs_to_another_certificate_is_key_mismatch(inter: CA, root: CA) -> None:
    client = inter.issue_client("c.example")
    report = lint_client_certificate(
        client.cert, client.chain[1:], key=ec.generate_private_key(ec.SECP256R1()), trust_roots=[root.cert]
    )
    assert report.codes == ["KEY_MISMATCH"]


def test_key_usage_without_digital_signature_is_an_error(root: CA, inter: CA) -> None:
    ku = x509.KeyUsage(False, False, True, False, False, False, False, False, False)  # keyEncipherment only
    leaf = inter.issue_client("c.example", key_type="rsa-2048", key_usage=ku)
    report = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[root.cert])
    assert report.codes == ["KEY_USAGE_NO_DIGITAL_SIGNATURE"]


def test_weak_rsa_key_is_an_error(root: CA, inter: CA) -> None:
    weak = inter.issue_client("c.example", key=rsa.generate_private_key(65537, 1024))  # noqa: S505
    assert lint_client_certificate(weak.cert, weak.chain[1:], trust_roots=[root.cert]).codes == ["WEAK_KEY"]


def test_sha1_signature_is_an_error(tmp_path: Path) -> None:
    # cryptography refuses to sign with SHA-1, so the openssl CLI makes this one.
    ca = CA.create("SHA1 root", key_type="rsa-2048")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "ca.key").write_bytes(ca.key_pem())
    (tmp_path / "leaf.key").write_bytes(IssuedCert.self_signed("x").key_pem())
    (tmp_path / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    )
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=tmp_path, timeout=20)  # noqa: E731
    run("req", "-new", "-key", "leaf.key", "-subj", "/CN=c.example", "-out", "leaf.csr")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-sha1", "-days", "90", "-extfile", "ext.cnf", "-out", "leaf.pem")
    sha1_leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    assert isinstance(sha1_leaf.signature_hash_algorithm, hashes.SHA1)
    report = lint_client_certificate(sha1_leaf, trust_roots=[ca.cert])
    assert report.codes == ["WEAK_SIGNATURE"]


def test_expired_not_yet_valid_and_expiring_soon(root: CA, inter: CA) -> None:
    leaf = inter.issue_client("c.example", not_before=NOW - dt.timedelta(days=10), not_after=NOW + dt.timedelta(days=20))
    soon = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[root.cert], at=NOW)
    later = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[root.cert], at=NOW + dt.timedelta(days=21))
    assert soon.codes == ["EXPIRING_SOON"] and soon.verdict == "warning"
    assert later.codes == ["EXPIRED"] and later.verdict == "error"
    relaxed = lint_client_certificate(
        leaf.cert, leaf.chain[1:], trust_roots=[root.cert], at=NOW, expiry_warning=dt.timedelta(days=7)
    )
    assert relaxed.verdict == "ok"
    future = inter.issue_client("c.example", not_before=NOW + dt.timedelta(days=5))
    early = lint_client_certificate(future.cert, future.chain[1:], trust_roots=[root.cert], at=NOW)
    assert early.codes == ["NOT_YET_VALID"]


def test_expired_intermediate_is_reported_by_name() -> None:
    old_root = CA.create("Old Root", not_before=NOW - dt.timedelta(days=1000))
    old = old_root.create_intermediate("Old Issuing CA", not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    leaf = old.issue_client("c.example", not_before=NOW - dt.timedelta(days=30), not_after=NOW + dt.timedelta(days=300))
    report = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[old_root.cert], at=NOW)
    assert report.codes == ["CHAIN_CERT_EXPIRED"]


def test_chain_ending_at_a_root_the_server_does_not_trust(root: CA) -> None:
    other = CA.create("Other Root").create_intermediate("Other Issuing")
    leaf = other.issue_client("c.example")
    report = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[root.cert])
    assert report.codes == ["UNTRUSTED_ROOT"]


def test_chain_without_its_root_and_no_trust_given_warns(inter: CA) -> None:
    leaf = inter.issue_client("c.example")
    report = lint_client_certificate(leaf.cert, leaf.chain[1:])
    assert report.codes == ["ROOT_NOT_PROVIDED"] and report.verdict == "warning"
    with_root = lint_client_certificate(leaf.cert, [*leaf.chain[1:], inter.root_cert])
    assert with_root.verdict == "ok"


def test_trusting_only_the_intermediate_warns_like_openssl_servers_would(root: CA, inter: CA) -> None:
    leaf = inter.issue_client("c.example")
    report = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[inter.cert])
    assert report.codes == ["INTERMEDIATE_TRUST_ANCHOR"] and report.verdict == "warning"


def test_leaf_alone_without_trust_is_incomplete_chain(inter: CA) -> None:
    leaf = inter.issue_client("c.example")
    assert lint_client_certificate(leaf.cert).codes == ["INCOMPLETE_CHAIN"]


def test_server_only_intermediate_breaks_client_certificates_under_it(root: CA) -> None:
    server_only = root.create_intermediate("TLS Server CA", eku=("serverAuth",))
    leaf = server_only.issue_client("c.example")
    report = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[root.cert])
    assert report.codes == ["CHAIN_EKU_NO_CLIENT_AUTH"]


def test_public_issuer_found_by_organisation_uses_that_cas_date() -> None:
    le_root = CA.create("ISRG Root X1", organization="Internet Security Research Group")
    le_inter = le_root.create_intermediate("R12", organization="Let's Encrypt")
    leaf = le_inter.issue_cert("api.customer.example", eku=("serverAuth", "clientAuth"))
    report = lint_client_certificate(leaf.cert, leaf.chain[1:], trust_roots=[le_root.cert])
    (finding,) = report.findings
    assert finding.code == "PUBLIC_ISSUER_DROPPING_CLIENT_AUTH"
    assert finding.details["drops_client_auth_from"] == "2026-02-11"
    assert finding.details["source"].startswith("https://letsencrypt.org/")


def test_public_ca_dates_can_be_overridden(tmp_path: Path) -> None:
    override = tmp_path / "dates.json"
    override.write_text(json.dumps({"issuers": [{
        "id": "letsencrypt", "name": "Let's Encrypt", "match_organizations": ["Let's Encrypt"],
        "drops_client_auth_from": "2030-01-01", "source": "local", "last_checked": "2026-11-01",
    }]}))
    table = PublicCATable.load(override)
    assert table.by_organization(["let's encrypt"]).drops_client_auth_from == dt.date(2030, 1, 1)  # type: ignore[union-attr]
    assert table.by_organization(["DigiCert Inc"]) is not None  # shipped rows kept


def test_shipped_table_rows_name_source_and_last_checked() -> None:
    table = PublicCATable.load()
    ids = {r.id for r in table.rules}
    assert {"letsencrypt", "google-trust-services", "sectigo", "digicert", "chrome-root-program"} <= ids
    assert all(r.source.startswith("https://") and r.last_checked for r in table.rules)


# --- openssl verify -purpose sslclient agrees with the lint --------------------------------


def openssl_accepts_client(tmp_path: Path, leaf: x509.Certificate, chain: list[x509.Certificate],
                           trust: list[x509.Certificate], at: dt.datetime) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "trust.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in trust))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(Encoding.PEM))
    args = ["openssl", "verify", "-purpose", "sslclient", "-auth_level", "2",
            "-attime", str(int(at.timestamp())), "-CAfile", str(tmp_path / "trust.pem")]
    if chain:
        (tmp_path / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in chain))
        args += ["-untrusted", str(tmp_path / "chain.pem")]
    args.append(str(tmp_path / "leaf.pem"))
    return subprocess.run(args, capture_output=True, timeout=20).returncode == 0


def test_openssl_verify_sslclient_agrees_with_lint_on_every_built_certificate(
    tmp_path: Path, root: CA, inter: CA
) -> None:
    other = CA.create("Other Root").create_intermediate("Other Issuing")
    server_only_ca = root.create_intermediate("TLS Server CA", eku=("serverAuth",))
    old = inter.issue_client("old.example", not_before=NOW - dt.timedelta(days=60), not_after=NOW - dt.timedelta(days=1))
    scenarios: dict[str, tuple[x509.Certificate, list[x509.Certificate]]] = {}
    for name, leaf in {
        "client": inter.issue_client("c.example"),
        "client-rsa": inter.issue_client("c.example", key_type="rsa-3072"),
        "both-ekus": inter.issue_cert("c.example", eku=("serverAuth", "clientAuth")),
        "no-eku": inter.issue_client("c.example", eku=None),
        "server-only": inter.issue_server("c.example"),
        "code-signing": inter.issue_client("c.example", eku=("codeSigning",)),
        "any-eku": inter.issue_client("c.example", eku=("anyExtendedKeyUsage",)),
        "expired": old,
        "weak-rsa": inter.issue_client("c.example", key=rsa.generate_private_key(65537, 1024)),  # noqa: S505
        "untrusted-root": other.issue_client("c.example"),
        "server-only-intermediate": server_only_ca.issue_client("c.example"),
    }.items():
        scenarios[name] = (leaf.cert, leaf.chain[1:])
    client = inter.issue_client("c.example")
    scenarios["missing-intermediate"] = (client.cert, [])
    ss = IssuedCert.self_signed("c.example")
    scenarios["self-signed"] = (ss.cert, [])
    disagreements = {}
    for name, (leaf_cert, chain) in scenarios.items():
        report = lint_client_certificate(leaf_cert, chain, trust_roots=[root.cert], at=NOW)
        lint_ok = report.verdict != "error"
        peer_ok = openssl_accepts_client(tmp_path, leaf_cert, chain, [root.cert], NOW)
        if lint_ok != peer_ok:
            disagreements[name] = (report.codes, peer_ok)
    assert disagreements == {}


# --- client identity loading: bad input names the file ---------------------------------


@pytest.fixture(scope="module")
def identity_files(tmp_path_factory: pytest.TempPathFactory, inter: CA) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("identity")
    client = inter.issue_client("mid-01.acme.example")
    paths = client.write(d, "client", passphrase=b"right")
    plain = client.write(d / "plain", "client")
    (d / "client.p12").write_bytes(client.pkcs12(b"right"))
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, pkcs12

    (d / "nokey.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(b"x", None, client.cert, None, NoEncryption())
    )
    (d / "client.der").write_bytes(client.cert.public_bytes(Encoding.DER))
    (d / "other.key").write_bytes(inter.issue_client("other.example").key_pem())
    (d / "empty.pem").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    return {
        "cert": paths.cert, "chain": paths.chain, "key": paths.key, "p12": d / "client.p12",
        "nokey_p12": d / "nokey.p12", "der": d / "client.der", "other_key": d / "other.key",
        "nocert": d / "empty.pem", "plain_key": plain.key, "plain_chain": plain.chain,
    }


def test_identity_loads_pem_with_passphrase_from_environment(
    identity_files: dict[str, Path], inter: CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MID_CLIENT_KEY_PASS", "right")
    spec = ClientIdentitySpec(cert=str(identity_files["chain"]), key=str(identity_files["key"]),
                              passphrase_env="MID_CLIENT_KEY_PASS")  # noqa: S106
    identity = ClientIdentity.load(spec)
    assert identity.chain == (inter.cert,)
    identity.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def test_identity_loads_pkcs12_with_passphrase_callback(identity_files: dict[str, Path]) -> None:
    asked: list[str] = []

    def callback(path: str) -> str:
        asked.append(path)
        return "right"

    identity = ClientIdentity.load(ClientIdentitySpec(cert=str(identity_files["p12"])), callback)
    assert asked == [str(identity_files["p12"])] and len(identity.chain) == 1
    identity.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


@pytest.mark.parametrize(
    ("cert", "key", "passphrase", "expected", "named"),
    [
        ("nocert", "plain_key", None, "no PEM certificate found", "nocert"),
        ("der", "plain_key", None, "DER-encoded certificate, not PEM", "der"),
        ("cert", "key", "wrong", "wrong passphrase", "key"),
        ("cert", "key", None, "encrypted and no passphrase", "key"),
        ("nokey_p12", None, None, "holds no private key", "nokey_p12"),
        ("cert", "other_key", None, "does not match the certificate", "other_key"),
        ("p12", None, "wrong", "wrong passphrase", "p12"),
    ],
)
def test_identity_bad_input_is_a_clear_error_naming_the_file(
    identity_files: dict[str, Path], cert: str, key: str | None, passphrase: str | None,
    expected: str, named: str,
) -> None:
    with pytest.raises(ClientCertificateError) as info:
        ClientIdentity.from_files(
            identity_files[cert], identity_files[key] if key else None, passphrase=passphrase
        )
    assert expected in info.value.reason
    assert info.value.reason.startswith(str(identity_files[named]))
    assert info.value.details["file"] == str(identity_files[named])


def test_identity_unset_passphrase_variable_is_named(identity_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    spec = ClientIdentitySpec(cert=str(identity_files["cert"]), key=str(identity_files["key"]), passphrase_env="NOT_SET_ANYWHERE")  # noqa: S106
    with pytest.raises(ClientCertificateError, match="NOT_SET_ANYWHERE is not set"):
        ClientIdentity.load(spec)


# --- a real mTLS server: nginx with ssl_verify_client on ------------------------------------


@dataclass
class MtlsServer:
    url: str
    root: CA
    inter: CA
    root_file: Path


@pytest.fixture(scope="module")
def nginx_mtls(root: CA, inter: CA) -> Iterator[MtlsServer]:
    if nginx_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (apt-get install -y nginx-light) but was not found")
        pytest.skip("nginx is not installed (apt-get install -y nginx-light); mTLS server tests skipped")
    server = inter.issue_server("localhost", "127.0.0.1")
    # The server trusts only the root, as the agent's instance does: clients must send their intermediate.
    with NginxMtlsServer(server.chain, server.key, [root.cert]) as srv:
        yield MtlsServer(srv.url, root, inter, srv.trusted_cas_file)


def client_context(server: MtlsServer, identity: ClientIdentity | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    server.root.configure_trust(ctx)
    if identity is not None:
        identity.apply(ctx)
    return ctx


class ContextAdapter(requests.adapters.HTTPAdapter):
    """requests transport adapter that uses a given ssl.SSLContext."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["ssl_context"] = self._ctx
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def get_with_requests(url: str, ctx: ssl.SSLContext) -> requests.Response:
    with requests.Session() as session:
        session.mount("https://", ContextAdapter(ctx))
        return session.get(url, timeout=10)


def get_with_httpx(url: str, ctx: ssl.SSLContext) -> httpx.Response:
    with httpx.Client(verify=ctx, timeout=10) as client:
        return client.get(url)


def identity_for(tmp_path: Path, leaf: IssuedCert, *, send_chain: bool = True) -> ClientIdentity:
    paths = leaf.write(tmp_path, "id")
    return ClientIdentity.from_files(paths.chain if send_chain else paths.cert, paths.key)


def lint_client_cli(tmp_path: Path, server: MtlsServer, identity: ClientIdentity) -> tuple[int, list[str]]:
    """Run ``certpolicy lint-client`` on what the client will present."""
    from click.testing import CliRunner

    from certpolicy.cli import main

    (tmp_path / "presented.pem").write_bytes(identity.chain_pem)
    result = CliRunner().invoke(main, ["lint-client", str(tmp_path / "presented.pem"), "--key",
                                       str(tmp_path / "id.key"), "--trust", str(server.root_file), "--json"])
    return result.exit_code, [f["code"] for f in json.loads(result.stdout)["findings"]]


@dataclass
class Bad:
    name: str
    code: str


def bad_leaf(server: MtlsServer, kind: str) -> tuple[IssuedCert, bool]:
    if kind == "server-profile":
        return server.inter.issue_server("mid-01.acme.example"), True
    if kind == "self-signed":
        return IssuedCert.self_signed("mid-01.acme.example"), True
    return server.inter.issue_client("mid-01.acme.example"), False  # without its intermediate


BAD_CASES = [
    Bad("server-profile", "NO_CLIENT_AUTH_EKU"),
    Bad("self-signed", "SELF_SIGNED_LEAF"),
    Bad("no-intermediate", "INCOMPLETE_CHAIN"),
]


@pytest.mark.parametrize("getter", [get_with_requests, get_with_httpx], ids=["requests", "httpx"])
def test_private_pki_client_certificate_gets_200(tmp_path: Path, nginx_mtls: MtlsServer, getter: object) -> None:
    leaf = nginx_mtls.inter.issue_client("mid-01.acme.example")
    identity = identity_for(tmp_path, leaf)
    assert lint_client_certificate(identity.cert, identity.chain, key=identity.key,
                                   trust_roots=[nginx_mtls.root.cert]).verdict == "ok"
    assert lint_client_cli(tmp_path, nginx_mtls, identity) == (0, [])
    response = getter(nginx_mtls.url, client_context(nginx_mtls, identity))  # type: ignore[operator]
    assert response.status_code == 200
    assert "CN=mid-01.acme.example" in response.text


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("getter", [get_with_requests, get_with_httpx], ids=["requests", "httpx"])
def test_unusable_client_certificate_is_flagged_by_lint_then_refused_with_400(
    tmp_path: Path, nginx_mtls: MtlsServer, case: Bad, getter: object
) -> None:
    leaf, send_chain = bad_leaf(nginx_mtls, case.name)
    identity = identity_for(tmp_path, leaf, send_chain=send_chain)
    # Before any connection: the lint (function and command) says why the server will refuse it.
    report = lint_client_certificate(identity.cert, identity.chain, key=identity.key,
                                     trust_roots=[nginx_mtls.root.cert])
    assert report.verdict == "error" and case.code in report.codes
    assert lint_client_cli(tmp_path, nginx_mtls, identity) == (1, report.codes)
    # Then the real server: 400 with nginx's SSL certificate error page.
    response = getter(nginx_mtls.url, client_context(nginx_mtls, identity))  # type: ignore[operator]
    assert response.status_code == 400
    assert "The SSL certificate error" in response.text


def test_no_client_certificate_at_all_gets_400(nginx_mtls: MtlsServer) -> None:
    response = get_with_httpx(nginx_mtls.url, client_context(nginx_mtls, None))
    assert response.status_code == 400 and "No required SSL certificate was sent" in response.text


def test_public_like_certificate_with_client_auth_works_today_but_lint_warns(
    tmp_path: Path, nginx_mtls: MtlsServer
) -> None:
    # A dual-EKU certificate from an issuer named like a public CA still works
    # today (200); the lint forecasts that its renewal will not.
    lookalike = nginx_mtls.root.create_intermediate("R12", organization="Let's Encrypt")
    leaf = lookalike.issue_cert("api.customer.example", eku=("serverAuth", "clientAuth"))
    identity = identity_for(tmp_path, leaf)
    report = lint_client_certificate(identity.cert, identity.chain, trust_roots=[nginx_mtls.root.cert])
    assert report.codes == ["PUBLIC_ISSUER_DROPPING_CLIENT_AUTH"] and report.verdict == "warning"
    assert get_with_httpx(nginx_mtls.url, client_context(nginx_mtls, identity)).status_code == 200
