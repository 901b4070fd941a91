"""certpolicy against an independent peer: the `openssl ocsp` responder
(started on a free loopback port with an index file of its own) answers
good, revoked and unknown, signing as the issuer and as a delegated responder.

openssl stamps thisUpdate with the wall clock, so these tests validate at the
current time."""

from __future__ import annotations

import datetime as _dt
import shutil
from collections.abc import Iterator

import pytest

from _ocsp_support import context, ocsp_check, policy
from certpolicy.checks.revocation import RevocationCheck
from certpolicy.errors import CertificateRevoked, RevocationError
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import Outcome
from certpolicy.testing.ocsp_responder import OpensslOcspResponder

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not on PATH")

NOW = _dt.datetime.now(_dt.timezone.utc)


class Peer:
    def __init__(self, responder: OpensslOcspResponder, inter: CA, root: CA, certs: dict[str, IssuedCert]) -> None:
        self.responder = responder
        self.inter = inter
        self.root = root
        self.certs = certs

    def path(self, which: str) -> list:  # type: ignore[type-arg]
        return [self.certs[which].cert, self.inter.cert, self.root.cert]


@pytest.fixture(scope="module", params=["issuer", "delegated"])
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    root = CA.create("openssl peer Root")
    inter = root.create_intermediate("openssl peer Issuing CA")
    certs = {name: inter.issue_server(f"{name}.example.test") for name in ("good", "revoked", "unknown")}
    signer = inter.issue_ocsp_responder("openssl peer OCSP Responder") if request.param == "delegated" else None
    with OpensslOcspResponder(
        inter,
        good=[certs["good"].cert],
        revoked=[(certs["revoked"].cert, "keyCompromise")],
        signer=signer,
        key_id=request.param == "delegated",
    ) as responder:
        yield Peer(responder, inter, root, certs)


@pytest.mark.parametrize(
    ("which", "expected"),
    [("good", Outcome.GOOD), ("revoked", Outcome.REVOKED), ("unknown", Outcome.UNKNOWN)],
)
@pytest.mark.parametrize("nonce", [False, True], ids=["get", "post-with-nonce"])
def test_status_from_openssl(peer: Peer, which: str, expected: Outcome, nonce: bool) -> None:
    pol = policy(ocsp_responder=peer.responder.url, nonce=nonce)
    st = ocsp_check().status(peer.certs[which].cert, peer.inter.cert, context(peer.path(which), pol, at=NOW))
    assert st.outcome is expected, st.detail
    if expected is Outcome.REVOKED:
        assert st.revocation_reason == "keyCompromise" and st.revocation_time is not None


def test_openssl_revoked_answer_fails_the_check(peer: Peer) -> None:
    pol = policy(ocsp_responder=peer.responder.url)
    with pytest.raises(CertificateRevoked) as err:
        RevocationCheck({"ocsp": ocsp_check()}).run(context(peer.path("revoked"), pol, at=NOW))
    assert err.value.check == "ocsp" and err.value.details["reason"] == "keyCompromise"
    assert err.value.details["serial"] == format(peer.certs["revoked"].serial, "x")


def test_openssl_unknown_answer_fails_under_the_default_map(peer: Peer) -> None:
    pol = policy(ocsp_responder=peer.responder.url)
    with pytest.raises(RevocationError) as err:
        RevocationCheck({"ocsp": ocsp_check()}).run(context(peer.path("unknown"), pol, at=NOW))
    assert err.value.outcome == "unknown"


def test_openssl_answer_is_cached(peer: Peer) -> None:
    check = ocsp_check()
    pol = policy(ocsp_responder=peer.responder.url)
    for _ in range(3):
        assert check.status(peer.certs["good"].cert, peer.inter.cert, context(peer.path("good"), pol, at=NOW)).outcome is Outcome.GOOD
    assert check.stats["requests"] == 1 and check.stats["cache_hits"] == 2


def test_openssl_answer_is_rejected_for_another_issuer(peer: Peer) -> None:
    """The same responder is not authorised for a sibling CA's certificates."""
    sibling = peer.root.create_intermediate("openssl peer Issuing CA")  # same name, other key
    pol = policy(ocsp_responder=peer.responder.url)
    st = ocsp_check().status(peer.certs["good"].cert, sibling.cert, context(peer.path("good"), pol, at=NOW))
    assert st.outcome is not Outcome.GOOD


def test_openssl_response_without_next_update_is_fresh_for_max_age() -> None:
    root = CA.create("openssl peer Root 2")
    inter = root.create_intermediate("openssl peer Issuing CA 2")
    leaf = inter.issue_server("good.example.test")
    with OpensslOcspResponder(inter, good=[leaf.cert], next_update_minutes=None) as responder:
        path = [leaf.cert, inter.cert, root.cert]
        check = ocsp_check()
        st = check.status(leaf.cert, inter.cert, context(path, policy(ocsp_responder=responder.url), at=NOW))
        assert st.outcome is Outcome.GOOD and st.next_update is None
        later = NOW + _dt.timedelta(days=8)
        st = check.status(leaf.cert, inter.cert, context(path, policy(ocsp_responder=responder.url), at=later))
        # the cached answer is too old by then; the new one is stamped with the
        # wall clock, which is 8 days before the injected time: stale
        assert st.outcome is Outcome.STALE


def test_driver_listens_on_loopback_only(peer: Peer) -> None:
    assert peer.responder.url.startswith("http://127.0.0.1:")
    assert peer.responder.mode in ("daemon", "per-request")


def test_openssl_accepts_our_get_encoding(peer: Peer) -> None:
    """RFC 6960 appendix A.1: GET <url>/<url-encoded base64>; openssl decodes it."""
    from certpolicy.fetch import FetchResponse, fetch

    methods: list[tuple[str, int]] = []

    def recording_fetch(url: str, **kw: object) -> FetchResponse:
        r = fetch(url, **kw)  # type: ignore[arg-type]
        methods.append((str(kw.get("method")), r.status))
        return r

    check = ocsp_check(fetcher=recording_fetch)
    for which in ("good", "revoked", "unknown"):  # several serials: several base64 spellings
        pol = policy(ocsp_responder=peer.responder.url)
        check.status(peer.certs[which].cert, peer.inter.cert, context(peer.path(which), pol, at=NOW))
    assert methods == [("GET", 200)] * 3
