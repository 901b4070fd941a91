"""The chain rules that NIST PKITS (tests/conformance/run_pkits.py) found
missing, each on certificates built with cryptography's CertificateBuilder,
through the public API (ChainCheck with trust anchors and a validation time):

* a self-issued CA certificate (key rollover) is not counted towards
  pathLenConstraint (RFC 5280 §6.1.4(l); PKITS 4.6.15, 4.6.17, 4.12.9);
* uniformResourceIdentifier name constraints, which cryptography does not
  support, are checked (RFC 5280 §4.2.1.10; PKITS 4.13.34-38);
* under the ``rfc5280`` profile a CA certificate may end the path (RFC 5280
  §6.1; PKITS 4.6.8, 4.6.14, 4.8.6), keyCertSign still only with cA
  (§4.2.1.3); under ``webpki`` it stays refused;
* a :class:`~certpolicy.Policy` built in code spells anyPolicy as the table
  does (PKITS 4.8, 4.10-4.12 under the default inputs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certpolicy import ChainCheck, ChainError, Policy, PolicyConfigError, PolicyKind

AT = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
HOST = "leaf.example.test"
PROFILES = ("webpki", "rfc5280")
P1 = "1.3.6.1.4.1.55555.1"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    issuer: str,
    key: Any,
    signer: Any,
    *,
    ca: bool,
    path_length: int | None = None,
    key_cert_sign: bool | None = None,
    extra: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    uri: str | None = None,
) -> x509.Certificate:
    sign = ca if key_cert_sign is None else key_cert_sign
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AT - dt.timedelta(days=30))
        .not_valid_after(AT + dt.timedelta(days=300))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True)
        .add_extension(x509.KeyUsage(not ca, False, False, False, False, sign, ca, False, False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if signer is not key:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False)
    if not ca or uri is not None:
        names: list[x509.GeneralName] = [x509.DNSName(HOST)]
        if uri is not None:
            names.append(x509.UniformResourceIdentifier(uri))
        b = b.add_extension(x509.SubjectAlternativeName(names), False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical)
    return b.sign(signer, hashes.SHA256())


class Root:
    def __init__(self) -> None:
        self.key = _key()
        self.cert = _cert("Root", "Root", self.key, self.key, ca=True)

    def check(self, profile: str, **kw: Any) -> ChainCheck:
        return ChainCheck(anchors=[self.cert], profile=profile, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# RFC 5280 §6.1.4(l): self-issued certificates and pathLenConstraint
# ---------------------------------------------------------------------------


def _rollover(root: Root, *, below: bool) -> list[x509.Certificate]:
    """root -> CA (pathLenConstraint 0) -> CA again, self-issued with a new
    key (signed by the old one) [-> Sub CA] -> leaf."""
    old, new = _key(), _key()
    ca = _cert("CA", "Root", old, root.key, ca=True, path_length=0)
    rollover = _cert("CA", "CA", new, old, ca=True)
    assert rollover.subject == rollover.issuer
    if not below:
        return [_cert("leaf", "CA", _key(), new, ca=False), rollover, ca]
    sub_key = _key()
    sub = _cert("Sub CA", "CA", sub_key, new, ca=True)
    return [_cert("leaf", "Sub CA", _key(), sub_key, ca=False), sub, rollover, ca]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_self_issued_rollover_certificate_does_not_count_towards_path_length(profile: str) -> None:
    root = Root()
    chain = _rollover(root, below=False)
    for host in (HOST, None):  # the ServerVerifier route and the chain-only one
        assert root.check(profile).check(chain, host, at=AT) == [*chain, root.cert]


@pytest.mark.parametrize("profile", PROFILES)
def test_path_length_still_counts_a_ca_that_is_not_self_issued(profile: str) -> None:
    root = Root()
    chain = _rollover(root, below=True)
    with pytest.raises(ChainError) as info:
        root.check(profile).check(chain, HOST, at=AT)
    assert "self-issued" in str(info.value) or "path" in str(info.value).lower()


# ---------------------------------------------------------------------------
# RFC 5280 §4.2.1.10: uniformResourceIdentifier name constraints
# ---------------------------------------------------------------------------


def _uri_constrained(root: Root, uri: str) -> list[x509.Certificate]:
    key = _key()
    nc = x509.NameConstraints(permitted_subtrees=[x509.UniformResourceIdentifier(".example.test")], excluded_subtrees=None)
    ca = _cert("URI CA", "Root", key, root.key, ca=True, extra=((nc, True),))
    return [_cert("leaf", "URI CA", _key(), key, ca=False, uri=uri), ca]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_uri_inside_the_permitted_subtree_is_accepted(profile: str) -> None:
    root = Root()
    chain = _uri_constrained(root, "https://www.example.test/orders")
    assert root.check(profile).check(chain, HOST, at=AT) == [*chain, root.cert]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_uri_outside_the_permitted_subtree_is_refused(profile: str) -> None:
    root = Root()
    chain = _uri_constrained(root, "https://www.example.org/orders")
    with pytest.raises(ChainError) as info:
        root.check(profile).check(chain, HOST, at=AT)
    assert "name constraints" in str(info.value)


# ---------------------------------------------------------------------------
# RFC 5280 §6.1, §4.2.1.3: a CA certificate at the end of the path
# ---------------------------------------------------------------------------


def _ca_leaf(root: Root, *, ca: bool, key_cert_sign: bool) -> list[x509.Certificate]:
    key = _key()
    issuing = _cert("Issuing CA", "Root", key, root.key, ca=True, path_length=0)
    leaf = _cert("leaf CA", "Issuing CA", _key(), key, ca=ca, key_cert_sign=key_cert_sign, uri="https://leaf.example.test/")
    return [leaf, issuing]


@pytest.mark.parametrize("host", [HOST, None])
def test_a_ca_certificate_may_end_the_path_under_rfc5280(host: str | None) -> None:
    root = Root()
    chain = _ca_leaf(root, ca=True, key_cert_sign=True)
    assert root.check("rfc5280").check(chain, host, at=AT) == [*chain, root.cert]


def test_a_ca_certificate_as_the_leaf_stays_refused_under_webpki() -> None:
    root = Root()
    chain = _ca_leaf(root, ca=True, key_cert_sign=True)
    with pytest.raises(ChainError) as info:
        root.check("webpki").check(chain, HOST, at=AT)
    assert "cA" in str(info.value)


@pytest.mark.parametrize("profile", PROFILES)
def test_key_cert_sign_without_ca_is_refused_on_the_leaf(profile: str) -> None:
    root = Root()
    chain = _ca_leaf(root, ca=False, key_cert_sign=True)
    with pytest.raises(ChainError) as info:
        root.check(profile).check(chain, HOST, at=AT)
    assert "keyCertSign" in str(info.value)


# ---------------------------------------------------------------------------
# A Policy built in code: certificate_policies spelled as the table spells them
# ---------------------------------------------------------------------------


def _policy_chain(root: Root) -> list[x509.Certificate]:
    key = _key()
    pol = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(P1), None)])
    ca = _cert("Policy CA", "Root", key, root.key, ca=True, extra=((pol, False), (x509.PolicyConstraints(0, None), True)))
    return [_cert("leaf", "Policy CA", _key(), key, ca=False, extra=((pol, False),)), ca]


@pytest.mark.parametrize("spelling", ["anyPolicy", ("anyPolicy",), ["any-policy"], [P1]])
def test_a_policy_built_in_code_spells_policies_as_the_table(spelling: Any) -> None:
    root = Root()
    chain = _policy_chain(root)
    policy = Policy(name="corp", kind=PolicyKind.INTRANET, certificate_policies=spelling, require_explicit_policy=True)
    assert root.check("rfc5280").check(chain, HOST, at=AT, policy=policy) == [*chain, root.cert]


def test_a_policy_built_in_code_with_a_bad_policy_oid_is_a_config_error() -> None:
    root = Root()
    policy = Policy(name="corp", kind=PolicyKind.INTRANET, certificate_policies=("not an oid",))
    with pytest.raises(PolicyConfigError):
        root.check("rfc5280").check(_policy_chain(root), HOST, at=AT, policy=policy)
