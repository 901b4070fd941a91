"""certpolicy.pki: the private-PKI builder, checked against independent peers
(cryptography's WebPKI verifiers, OpenSSL through the ssl module in a real
loopback handshake, and the ``openssl verify`` command)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from certpolicy.pki import CA, IssuedCert, load_private_key

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def root() -> CA:
    return CA.create("Test Root CA")


@pytest.fixture(scope="module")
def inter(root: CA) -> CA:
    return root.create_intermediate("Issuing CA")


def server_verifier(root: CA, name: str, at: dt.datetime | None = None) -> verification.ServerVerifier:
    builder = verification.PolicyBuilder().store(verification.Store([root.cert]))
    if at is not None:
        builder = builder.time(at)
    subject: x509.verification.Subject
    try:
        subject = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = x509.DNSName(name)
    return builder.build_server_verifier(subject)


def client_verifier(root: CA) -> verification.ClientVerifier:
    return verification.PolicyBuilder().store(verification.Store([root.cert])).build_client_verifier()


def openssl_verify(tmp_path: Path, root: CA, leaf: IssuedCert, purpose: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "root.pem").write_bytes(root.cert_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem)
    args = ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-purpose", purpose]
    if len(leaf.chain) > 1:
        (tmp_path / "untrusted.pem").write_bytes(leaf.chain_pem[len(leaf.cert_pem) :])
        args += ["-untrusted", str(tmp_path / "untrusted.pem")]
    args.append(str(tmp_path / "leaf.pem"))
    return subprocess.run(args, capture_output=True, text=True, timeout=20)


# --- profiles --------------------------------------------------------------


def test_root_is_self_signed_ca_with_cert_sign_key_usage(root: CA) -> None:
    bc = root.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = root.cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert bc.critical and bc.value.ca
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert root.cert.issuer == root.cert.subject
    assert root.is_root and root.chain == [] and root.parent is None


def test_intermediate_has_path_length_and_key_identifiers(root: CA, inter: CA) -> None:
    bc = inter.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    aki = inter.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert bc.ca and bc.path_length == 0
    assert aki.key_identifier == root_ski.digest
    assert inter.parent is root and inter.chain == [inter.cert] and inter.root_cert == root.cert


def test_server_leaf_has_server_profile(inter: CA) -> None:
    leaf = inter.issue_server("a.example", "10.0.0.1", "::1", ocsp_url="http://127.0.0.1:1/ocsp",
                              crl_url="http://127.0.0.1:1/i.crl", ca_issuers_url="http://127.0.0.1:1/i.cer")
    ext = leaf.cert.extensions
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = ext.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_encipherment  # EC key: no keyEncipherment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("::1")]
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == ["http://127.0.0.1:1/ocsp", "http://127.0.0.1:1/i.cer"]
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name == [x509.UniformResourceIdentifier("http://127.0.0.1:1/i.crl")]
    assert leaf.chain == [leaf.cert, inter.cert]


def test_rsa_leaf_adds_key_encipherment(inter: CA) -> None:
    leaf = inter.issue_server("rsa.example", key_type="rsa-2048")
    assert isinstance(leaf.key, rsa.RSAPrivateKey)
    assert leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_serials_are_random_positive_159_bit(inter: CA) -> None:
    serials = {inter.issue_client("c.example").serial for _ in range(8)}
    assert len(serials) == 8
    assert all(0 < s < 2**159 for s in serials)


def test_ocsp_responder_has_ocsp_signing_and_nocheck(inter: CA) -> None:
    responder = inter.issue_ocsp_responder("OCSP Responder")
    ext = responder.cert.extensions
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert ext.get_extension_for_class(x509.OCSPNoCheck)
    with pytest.raises(x509.ExtensionNotFound):
        ext.get_extension_for_class(x509.SubjectAlternativeName)


def test_name_constraints_restrict_issued_names(root: CA) -> None:
    constrained = root.create_intermediate("Acme only", permitted_dns=["acme.example"])
    nc = constrained.cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    inside = constrained.issue_server("api.acme.example")
    outside = constrained.issue_server("api.other.example")
    server_verifier(root, "api.acme.example").verify(inside.cert, inside.chain[1:])
    with pytest.raises(verification.VerificationError):
        server_verifier(root, "api.other.example").verify(outside.cert, outside.chain[1:])


def test_validity_is_the_users_choice_and_defaults_never_outlive_the_issuer(root: CA) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    short = root.create_intermediate("Short", not_before=start, not_after=start + dt.timedelta(days=30))
    leaf = short.issue_client("c.example", not_before=start)
    assert leaf.cert.not_valid_before_utc == start
    assert leaf.cert.not_valid_after_utc == short.cert.not_valid_after_utc
    with pytest.raises(ValueError, match="timezone-aware"):
        root.issue_client("c.example", not_before=dt.datetime(2026, 1, 1))


def test_every_key_type_verifies_with_cryptography_server_verifier(root: CA, inter: CA) -> None:
    for key_type in ("ec-p256", "rsa-2048", "rsa-3072", "ed25519"):
        leaf = inter.issue_server("k.example", key_type=key_type)
        chain = server_verifier(root, "k.example").verify(leaf.cert, leaf.chain[1:])
        assert chain[-1] == root.cert


def test_ed25519_ca_is_created_but_outside_the_webpki_algorithms() -> None:
    # Ed25519 *CA signatures* are not in the CA/B Forum algorithm list, so the
    # WebPKI verifier refuses them; OpenSSL accepts them. Documented, not a bug.
    ed_root = CA.create("Ed root", key_type="ed25519")
    leaf = ed_root.issue_server("e.example")
    assert isinstance(ed_root.key, ed25519.Ed25519PrivateKey)
    with pytest.raises(verification.VerificationError, match="Forbidden public key algorithm"):
        server_verifier(ed_root, "e.example").verify(leaf.cert, [])


def test_client_leaf_passes_client_verifier_and_server_leaf_does_not(root: CA, inter: CA) -> None:
    client = inter.issue_client("mid-01.acme.example")
    server = inter.issue_server("mid-01.acme.example")
    verified = client_verifier(root).verify(client.cert, client.chain[1:])
    assert verified.subjects == [x509.DNSName("mid-01.acme.example")]
    with pytest.raises(verification.VerificationError, match="EKU"):
        client_verifier(root).verify(server.cert, server.chain[1:])


def test_openssl_verify_accepts_server_and_client_leaves_for_their_purpose(
    tmp_path: Path, root: CA, inter: CA
) -> None:
    server = inter.issue_server("a.example", key_type="rsa-2048")
    client = inter.issue_client("mid-01.acme.example")
    assert openssl_verify(tmp_path, root, server, "sslserver").returncode == 0
    assert openssl_verify(tmp_path, root, client, "sslclient").returncode == 0
    refused = openssl_verify(tmp_path, root, server, "sslclient")
    assert refused.returncode != 0 and "unsuitable certificate purpose" in (refused.stdout + refused.stderr)


# --- files -------------------------------------------------------------------


def test_write_creates_private_key_file_and_never_overwrites_it(tmp_path: Path, inter: CA) -> None:
    leaf = inter.issue_client("c.example")
    paths = leaf.write(tmp_path, "client", passphrase=b"s3cret")
    assert stat.S_IMODE(os.stat(paths.key).st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in paths.key.read_bytes()
    assert load_private_key(paths.key.read_bytes(), b"s3cret").public_key() == leaf.key.public_key()
    assert x509.load_pem_x509_certificates(paths.chain.read_bytes()) == leaf.chain
    other = inter.issue_client("other.example")
    before = paths.key.read_bytes()
    with pytest.raises(FileExistsError):
        other.write(tmp_path, "client")
    assert paths.key.read_bytes() == before
    assert x509.load_pem_x509_certificate(paths.cert.read_bytes()) == leaf.cert


def test_pkcs12_bundle_round_trips_with_passphrase(inter: CA) -> None:
    leaf = inter.issue_client("c.example")
    key, cert, extra = pkcs12.load_key_and_certificates(leaf.pkcs12(b"pw"), b"pw")
    assert cert == leaf.cert and extra == [inter.cert]
    assert key is not None and key.public_key() == leaf.key.public_key()


# --- CRL and OCSP ---------------------------------------------------------------


def test_crl_lists_revoked_serials_with_reason(inter: CA) -> None:
    ca = inter.parent.create_intermediate("CRL CA") if inter.parent else inter
    a, b = ca.issue_client("a.example"), ca.issue_client("b.example")
    ca.revoke(a, x509.ReasonFlags.key_compromise, dt.datetime(2026, 3, 1, tzinfo=UTC))
    crl = ca.issue_crl(idp_url="http://127.0.0.1:1/ca.crl")
    assert crl.is_signature_valid(ca.key.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(a.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(b.serial) is None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert ca.issue_crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


def test_crl_signed_by_a_foreign_key_has_a_bad_signature(inter: CA) -> None:
    crl = inter.issue_crl([], signer=ec.generate_private_key(ec.SECP256R1()))
    assert crl.issuer == inter.cert.subject
    assert not crl.is_signature_valid(inter.key.public_key())  # type: ignore[arg-type]


def test_ocsp_response_from_delegated_responder(inter: CA) -> None:
    leaf = inter.issue_server("o.example")
    responder = inter.issue_ocsp_responder()
    inter.revoke(leaf, x509.ReasonFlags.superseded)
    resp = inter.ocsp_response(leaf, responder=responder, nonce=b"0123456789abcdef")
    assert resp.certificate_status.name == "REVOKED"
    assert resp.revocation_reason == x509.ReasonFlags.superseded
    assert resp.certificates == [responder.cert]


# --- real handshakes -----------------------------------------------------------


def _serve_once(server_ctx: ssl.SSLContext) -> tuple[int, threading.Thread, list[object]]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[object] = []

    def run() -> None:
        with listener:
            listener.settimeout(10)
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    seen.append(tls.getpeercert())
                    tls.sendall(b"hello")
            except (ssl.SSLError, OSError) as exc:
                seen.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread, seen


@pytest.fixture
def server_ctx() -> Iterator[ssl.SSLContext]:
    yield ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)


def test_stdlib_ssl_handshake_with_configure_cert_and_configure_trust(
    root: CA, inter: CA, server_ctx: ssl.SSLContext
) -> None:
    leaf = inter.issue_server("localhost", "127.0.0.1")
    leaf.configure_cert(server_ctx)
    port, thread, _ = _serve_once(server_ctx)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    root.configure_trust(client_ctx)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with client_ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            assert tls.recv(5) == b"hello"
            der = tls.getpeercert(binary_form=True)
    thread.join(10)
    assert der is not None and x509.load_der_x509_certificate(der) == leaf.cert


def test_stdlib_ssl_mutual_tls_presents_client_chain(root: CA, inter: CA, server_ctx: ssl.SSLContext) -> None:
    inter.issue_server("127.0.0.1").configure_cert(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    root.configure_trust(server_ctx)
    port, thread, seen = _serve_once(server_ctx)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    root.configure_trust(client_ctx)
    inter.issue_client("mid-01.acme.example").configure_cert(client_ctx)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with client_ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            assert tls.recv(5) == b"hello"
    thread.join(10)
    peer = seen[0]
    assert isinstance(peer, dict)
    assert ("commonName", "mid-01.acme.example") in [rdn[0] for rdn in peer["subject"]]


def test_self_signed_leaf_is_a_leaf_not_a_ca() -> None:
    leaf = IssuedCert.self_signed("host.example")
    assert leaf.cert.issuer == leaf.cert.subject and leaf.issuer is None
    assert not leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.chain == [leaf.cert]
