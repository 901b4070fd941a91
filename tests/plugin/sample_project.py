"""A user's test module, run by tests/plugin/test_pytest_plugin.py through ``pytester``:
every fixture of the certpolicy plugin and every fault once, with requests, httpx and the stdlib."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request

import httpx
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

import certpolicy
from certpolicy.integrations.requests import session

UTC = dt.timezone.utc


def _handshake(ctx: ssl.SSLContext, srv: object) -> None:
    with socket.create_connection(srv.address, timeout=5) as raw:  # type: ignore[attr-defined]
        ctx.wrap_socket(raw, server_hostname="localhost").close()


# -- certpolicy_pki and policy_table ----------------------------------------------


def test_pki_issues_leaves_with_any_names_validity_key_and_extensions(certpolicy_pki, crl_server, ocsp_responder):
    start = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    leaf = certpolicy_pki.issue_server(
        "api.test", "10.0.0.7", key_type="rsa-2048", not_before=start, not_after=start + dt.timedelta(days=3),
        extensions=[(x509.SubjectKeyIdentifier(b"\x01" * 20), False)],
    )
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.test"]
    assert leaf.cert.not_valid_after_utc - leaf.cert.not_valid_before_utc == dt.timedelta(days=3)
    assert leaf.cert.public_key().key_size == 2048
    assert leaf.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == b"\x01" * 20
    cdp = leaf.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == crl_server.url(certpolicy_pki.intermediate)
    aia = leaf.cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == ocsp_responder.url
    client = certpolicy_pki.issue_client("mid-01.test")
    eku = client.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_policy_table_from_a_dict(policy_table):
    table = policy_table({"override": [{"name": "legacy", "targets": "legacy.test", "hostname": "off"}]})
    res = certpolicy.PolicyResolver(table).resolve("legacy.test")
    assert res.policy.name == "legacy" and res.policy.trust.system is False


# -- tls_server -------------------------------------------------------------------


def test_tls_server_with_requests_counts_connections(tls_server, policy_table):
    srv = tls_server()
    s = session(certpolicy.create_ssl_context(policy_table()))
    assert s.get(srv.url("/a", hostname="localhost")).status_code == 200
    assert s.get(srv.url("/b", hostname="localhost")).status_code == 200
    assert srv.count == 1 and srv.paths == ["/a", "/b"]   # one pooled connection
    with srv.fault("reset"), pytest.raises(requests.ConnectionError):
        s.get(srv.url("/c", hostname="localhost"))


def test_tls_server_wrong_signer_with_the_stdlib(tls_server, policy_table):
    srv = tls_server()
    with srv.fault("wrong_signer"), pytest.raises(certpolicy.CertPolicyError) as err:
        _handshake(certpolicy.create_ssl_context(policy_table()), srv)
    assert err.value.check == "chain"


# -- crl_server ----------------------------------------------------------------------


def test_revoke_and_the_next_download_says_so(certpolicy_pki, tls_server, crl_server, policy_table):
    leaf = certpolicy_pki.issue_server("localhost")
    srv = tls_server(leaf)
    crl_on = {"defaults": {"crl": "enforce"}}
    with httpx.Client(verify=certpolicy.create_ssl_context(policy_table(crl_on))) as c:
        assert c.get(srv.url("/", hostname="localhost")).status_code == 200
        assert c.get(srv.url("/", hostname="localhost")).status_code == 200
    assert crl_server.count == 1 and crl_server.paths == ["/intermediate.crl"]   # one download
    certpolicy_pki.revoke(leaf)
    with pytest.raises(certpolicy.CertificateRevoked):
        _handshake(certpolicy.create_ssl_context(policy_table(crl_on)), srv)
    assert crl_server.count == 2 and crl_server.timestamps[1] >= crl_server.timestamps[0]


def test_crl_times_are_chosen(certpolicy_pki, crl_server):
    at = dt.datetime(2030, 1, 1, tzinfo=UTC)
    crl_server.set_times(certpolicy_pki.intermediate, this_update=at, next_update=dt.timedelta(hours=6))
    crl = x509.load_der_x509_crl(requests.get(crl_server.url(certpolicy_pki.intermediate), timeout=5).content)
    assert crl.last_update_utc == at and crl.next_update_utc == at + dt.timedelta(hours=6)


def test_crl_stale_future_and_wrong_signer(certpolicy_pki, tls_server, crl_server, policy_table):
    srv = tls_server()
    for name in ("stale", "future"):
        with crl_server.fault(name), pytest.raises(certpolicy.CertPolicyError) as err:
            _handshake(certpolicy.create_ssl_context(policy_table({"defaults": {"crl": "enforce"}})), srv)
        assert err.value.check == "crl", name
    with crl_server.fault("wrong_signer"):
        crl = x509.load_der_x509_crl(httpx.get(crl_server.url(certpolicy_pki.intermediate)).content)
    assert not crl.is_signature_valid(certpolicy_pki.intermediate.cert.public_key())


def test_crl_slow_stall_drip_and_oversized(certpolicy_pki, crl_server):
    url = crl_server.url(certpolicy_pki.intermediate)
    with crl_server.fault("slow", seconds=0.3):
        t = time.monotonic()
        assert httpx.get(url).status_code == 200
        assert time.monotonic() - t >= 0.3
    with crl_server.fault("stall"), pytest.raises(httpx.ReadTimeout):
        httpx.get(url, timeout=0.3)
    with crl_server.fault("drip", interval=0.001):
        assert x509.load_der_x509_crl(requests.get(url, timeout=5).content)
    with crl_server.fault("oversized", size=3_000_000):
        assert len(urllib.request.urlopen(url, timeout=5).read()) == 3_000_000  # noqa: S310


# -- ocsp_responder ---------------------------------------------------------------------


def test_ocsp_revocation_and_unauthorised_delegate(certpolicy_pki, tls_server, ocsp_responder, policy_table):
    leaf = certpolicy_pki.issue_server("localhost")
    srv = tls_server(leaf)
    ocsp_on = {"defaults": {"ocsp": "enforce"}}
    ctx = certpolicy.create_ssl_context(policy_table(ocsp_on))
    assert urllib.request.urlopen(srv.url("/", hostname="localhost"), context=ctx).status == 200  # noqa: S310
    assert ocsp_responder.count == 1
    with ocsp_responder.fault("unauthorised_delegate"), pytest.raises(certpolicy.CertPolicyError) as err:
        _handshake(certpolicy.create_ssl_context(policy_table(ocsp_on)), srv)
    assert err.value.outcome == "unauthorised-signer"
    certpolicy_pki.revoke(leaf)
    with pytest.raises(certpolicy.CertificateRevoked):
        _handshake(certpolicy.create_ssl_context(policy_table(ocsp_on)), srv)


def test_ocsp_bad_nonce_and_garbage(certpolicy_pki, ocsp_responder):
    leaf = certpolicy_pki.issue_server("n.test")
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf.cert, certpolicy_pki.intermediate.cert, hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"my nonce 0123456"), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    headers = {"Content-Type": "application/ocsp-request"}
    with ocsp_responder.fault("bad_nonce"):
        body = requests.post(ocsp_responder.url, data=req, headers=headers, timeout=5).content
    nonce = ocsp.load_der_ocsp_response(body).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce != b"my nonce 0123456"
    with ocsp_responder.fault("garbage"), pytest.raises(ValueError):
        ocsp.load_der_ocsp_response(httpx.post(ocsp_responder.url, content=req, headers=headers).content)
    assert ocsp_responder.count == 2


def test_ocsp_responder_factory_for_another_ca(ocsp_responder):
    other = certpolicy.pki.CA.create("Other Root")
    responder = ocsp_responder(other)
    assert responder.url.startswith("http://127.0.0.1:") and responder.url != ocsp_responder.url


# -- http_server -----------------------------------------------------------------------------


def test_http_server_500_reset_and_refuse(http_server):
    http_server.route("/ca.cer", b"not really a certificate")
    with http_server.fault("http_500", path="/ca.cer"):
        assert requests.get(http_server.url("/ca.cer"), timeout=5).status_code == 500
    with http_server.fault("reset"), pytest.raises((ConnectionError, urllib.error.URLError)):
        urllib.request.urlopen(http_server.url("/ca.cer"), timeout=5).read()  # noqa: S310
    with http_server.fault("refuse"), pytest.raises(httpx.ConnectError):
        httpx.get(http_server.url("/ca.cer"))
    assert httpx.get(http_server.url("/ca.cer")).content == b"not really a certificate"
    assert http_server.paths == ["/ca.cer", "/ca.cer", "/ca.cer"]   # the refused one never arrived


# -- the openssl peers -----------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_openssl_server_and_responder(certpolicy_pki, openssl_server, openssl_ocsp_responder, policy_table):
    leaf = certpolicy_pki.issue_server("localhost", ocsp_url=None)
    srv = openssl_server(leaf)
    _handshake(certpolicy.create_ssl_context(policy_table()), srv)
    responder = openssl_ocsp_responder(certpolicy_pki.intermediate, good=[leaf.cert], mode="per-request")
    assert responder.url.startswith("http://127.0.0.1:")
