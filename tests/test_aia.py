"""Missing intermediates fetched from the caIssuers URL (RFC 5280 §4.2.2.1),
against a real loopback HTTP server."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from certpolicy import ChainError
from certpolicy.aia import AiaFetcher, ca_issuers_urls, parse_ca_issuers
from certpolicy.checks.chain import ChainCheck
from certpolicy.errors import MalformedInput
from certpolicy.pki import CA
from certpolicy.policy import FetchLimits, TrustSpec
from certpolicy.testing.http_server import LoopbackHTTPServer

UTC = dt.timezone.utc
AT = dt.datetime(2030, 6, 1, tzinfo=UTC)
FAST = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, max_bytes=100_000)


def d(year: int) -> dt.datetime:
    return dt.datetime(year, 1, 1, tzinfo=UTC)


@pytest.fixture
def server(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The plugin's ``http_server`` fixture under this module's name."""
    return http_server


@pytest.fixture
def root_file(tmp_path: Path) -> tuple[CA, Path]:
    root = CA.create("AIA Root", not_before=d(2025), not_after=d(2045))
    f = tmp_path / "root.pem"
    f.write_bytes(root.cert_pem)
    return root, f


def spec(root_file: Path, **kwargs: object) -> TrustSpec:
    return TrustSpec(system=False, extra=(str(root_file),), aia_fetch=True, aia_limits=FAST, **kwargs)  # type: ignore[arg-type]


def leaf_with_aia(root: CA, url: str) -> tuple[CA, x509.Certificate]:
    inter = root.create_intermediate("AIA Issuing CA", not_before=d(2025), not_after=d(2040))
    leaf = inter.issue_server("a.example.test", ca_issuers_url=url, not_before=d(2029), not_after=d(2031))
    return inter, leaf.cert


def test_missing_intermediate_is_fetched_from_ca_issuers(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    inter, leaf = leaf_with_aia(root, server.url("/inter.cer"))
    server.route("/inter.cer", inter.cert.public_bytes(Encoding.DER), "application/pkix-cert")
    path = ChainCheck(spec(f)).check([leaf], "a.example.test", at=AT)
    assert path == [leaf, inter.cert, root.cert]
    assert server.hits("/inter.cer") == 1


def test_ca_issuers_answers_are_cached(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    inter, leaf = leaf_with_aia(root, server.url("/inter.cer"))
    server.route("/inter.cer", inter.cert.public_bytes(Encoding.DER), "application/pkix-cert")
    check = ChainCheck(spec(f))
    for _ in range(3):
        check.check([leaf], at=AT)
    assert server.hits("/inter.cer") == 1


def test_nothing_is_fetched_unless_the_policy_allows_it(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    inter, leaf = leaf_with_aia(root, server.url("/inter.cer"))
    server.route("/inter.cer", inter.cert.public_bytes(Encoding.DER))
    with pytest.raises(ChainError) as e:
        ChainCheck(TrustSpec(system=False, extra=(str(f),))).check([leaf], at=AT)
    assert e.value.outcome == "unknown-issuer"
    assert server.hits("/inter.cer") == 0


@pytest.mark.parametrize("encoding", ["pkcs7-der", "pkcs7-pem", "pem"])
def test_pkcs7_and_pem_bodies_are_understood(
    server: LoopbackHTTPServer, root_file: tuple[CA, Path], encoding: str
) -> None:
    root, f = root_file
    inter, leaf = leaf_with_aia(root, server.url("/inter.p7c"))
    body = {
        "pkcs7-der": pkcs7.serialize_certificates([inter.cert], Encoding.DER),
        "pkcs7-pem": pkcs7.serialize_certificates([inter.cert], Encoding.PEM),
        "pem": inter.cert_pem,
    }[encoding]
    server.route("/inter.p7c", body, "application/pkcs7-mime")
    assert ChainCheck(spec(f)).check([leaf], at=AT)[1] == inter.cert


def test_two_missing_levels_are_chased(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    upper = root.create_intermediate(
        "Upper CA", path_length=None, ca_issuers_url=server.url("/root.cer"), not_before=d(2025), not_after=d(2040)
    )
    lower = upper.create_intermediate(
        "Lower CA", ca_issuers_url=server.url("/upper.cer"), not_before=d(2025), not_after=d(2040)
    )
    leaf = lower.issue_server("a.example.test", ca_issuers_url=server.url("/lower.cer"), not_before=d(2029), not_after=d(2031))
    server.route("/lower.cer", lower.cert.public_bytes(Encoding.DER))
    server.route("/upper.cer", upper.cert.public_bytes(Encoding.DER))
    path = ChainCheck(spec(f)).check([leaf.cert], at=AT)
    assert path == [leaf.cert, lower.cert, upper.cert, root.cert]
    assert server.hits("/root.cer") == 0  # the root is an anchor: not fetched


def test_oversized_answer_is_refused(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    _inter, leaf = leaf_with_aia(root, server.url("/big"))
    server.route("/big", b"\x30" * 200_000)
    with pytest.raises(ChainError) as e:
        ChainCheck(spec(f)).check([leaf], at=AT)
    assert "oversized" in e.value.reason and e.value.outcome == "unknown-issuer"


def test_stalled_server_costs_at_most_the_total_timeout(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    inter, leaf = leaf_with_aia(root, server.url("/slow"))
    server.route("/slow", inter.cert.public_bytes(Encoding.DER), stall=5.0)
    limits = FetchLimits(connect_timeout=0.3, read_timeout=0.3, total_timeout=0.5, max_bytes=100_000)
    start = time.monotonic()
    with pytest.raises(ChainError) as e:
        ChainCheck(TrustSpec(system=False, extra=(str(f),), aia_fetch=True, aia_limits=limits)).check([leaf], at=AT)
    assert time.monotonic() - start < 2.0
    assert "unreachable" in e.value.reason


@pytest.mark.parametrize(("status", "body"), [(404, b"not here"), (200, b"<html>oops</html>")])
def test_http_error_or_garbage_is_reported(
    server: LoopbackHTTPServer, root_file: tuple[CA, Path], status: int, body: bytes
) -> None:
    root, f = root_file
    _inter, leaf = leaf_with_aia(root, server.url("/inter.cer"))
    server.route("/inter.cer", body, "text/html", status=status)
    with pytest.raises(ChainError) as e:
        ChainCheck(spec(f)).check([leaf], at=AT)
    assert server.url("/inter.cer") in e.value.reason
    assert ("HTTP 404" in e.value.reason) if status == 404 else ("not a DER/PEM certificate" in e.value.reason)


def test_failures_are_not_retried_within_the_negative_ttl(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    _inter, leaf = leaf_with_aia(root, server.url("/inter.cer"))
    server.route("/inter.cer", b"", status=503)
    check = ChainCheck(spec(f), aia_fetcher=AiaFetcher(negative_ttl=60.0))
    for _ in range(3):
        with pytest.raises(ChainError):
            check.check([leaf], at=AT)
    assert server.hits("/inter.cer") == 1


def test_without_network_only_cached_answers_are_used(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    root, f = root_file
    inter, leaf = leaf_with_aia(root, server.url("/inter.cer"))
    server.route("/inter.cer", inter.cert.public_bytes(Encoding.DER))
    check = ChainCheck(spec(f))
    with pytest.raises(ChainError, match="network use is not allowed"):
        check.check([leaf], at=AT, allow_network=False)
    assert server.hits("/inter.cer") == 0
    check.check([leaf], at=AT)  # fetches
    assert check.check([leaf], at=AT, allow_network=False)[1] == inter.cert
    assert server.hits("/inter.cer") == 1


def test_fetched_certificate_is_only_a_candidate(server: LoopbackHTTPServer, root_file: tuple[CA, Path]) -> None:
    # An attacker-controlled caIssuers answer cannot make an untrusted chain valid.
    _root, f = root_file
    rogue_root = CA.create("AIA Root", not_before=d(2025), not_after=d(2045))  # same name, other key
    rogue_inter, leaf = leaf_with_aia(rogue_root, server.url("/inter.cer"))
    server.route("/inter.cer", rogue_inter.cert.public_bytes(Encoding.DER))
    with pytest.raises(ChainError):
        ChainCheck(spec(f)).check([leaf], at=AT)


def test_cache_is_bounded(server: LoopbackHTTPServer) -> None:
    root = CA.create("R")
    server.route("/c*", root.cert.public_bytes(Encoding.DER))
    fetcher = AiaFetcher(cache_size=2)
    for i in range(5):
        certs, error, fetched = fetcher.lookup(server.url(f"/c{i}"), limits=FAST)
        assert error is None and fetched and certs[0] == root.cert
    assert fetcher.cache_info() == {"entries": 2, "max": 2}


def test_only_http_ca_issuers_urls_are_used() -> None:
    root = CA.create("R")
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("ldap://ldap.example/cn=CA?cACertificate"),
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.example")
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://ca.example/ca.cer")
            ),
        ]
    )
    leaf = root.issue_server("a.example.test", extensions=[(aia, False)])
    assert ca_issuers_urls(leaf.cert) == ["http://ca.example/ca.cer"]


def test_garbage_body_is_malformed_input() -> None:
    with pytest.raises(MalformedInput):
        parse_ca_issuers(b"\x00\x01garbage", "http://x.example/ca.cer")
