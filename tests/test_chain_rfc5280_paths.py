"""RFC 5280 path validation in full under both profiles: names chained by the
comparison rules of §7.1 and certificate policies processed as §6.1.3(d)-(f),
§6.1.4 and §6.1.5 say, through the public API (ChainCheck with trust anchors
and a validation time), each rule on certificates built with cryptography's
CertificateBuilder. No mocks: cryptography builds and validates what it can,
pyhanko-certvalidator the rest, and certpolicy's rules follow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from certpolicy import ChainCheck, ChainError
from certpolicy.errors import PolicyConfigError
from certpolicy.policy import ANY_POLICY, PolicyKind, parse_policy_row

AT = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
HOST = "leaf.test"
PROFILES = ("webpki", "rfc5280")
P1 = "1.3.6.1.4.1.55555.1"
P2 = "1.3.6.1.4.1.55555.2"
P9 = "1.3.6.1.4.1.55555.9"

Key = Any


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, encoding: _ASN1Type | None = None) -> x509.Name:
    if encoding is None:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, encoding)])


def _policies(*oids: str) -> tuple[x509.CertificatePolicies, bool]:
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in oids]), False


def _mappings(*pairs: tuple[str, str], critical: bool = True) -> tuple[x509.UnrecognizedExtension, bool]:
    """policyMappings (RFC 5280 §4.2.1.5), which cryptography has no class for."""
    der = asn1_x509.PolicyMappings(
        [{"issuer_domain_policy": i, "subject_domain_policy": s} for i, s in pairs]
    ).dump()
    return x509.UnrecognizedExtension(ExtensionOID.POLICY_MAPPINGS, der), critical


def _constraints(
    require: int | None = None, inhibit_mapping: int | None = None, *, critical: bool = True
) -> tuple[x509.PolicyConstraints, bool]:
    return x509.PolicyConstraints(require_explicit_policy=require, inhibit_policy_mapping=inhibit_mapping), critical


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: Key,
    signer: Key,
    *,
    ca: bool,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ski: bool = True,
    eku: bool = True,
    algorithm: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AT - dt.timedelta(days=30))
        .not_valid_after(AT + dt.timedelta(days=300))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    )
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
    else:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if signer is not key:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical)
    return b.sign(signer, algorithm or hashes.SHA256())


class Pki:
    """root -> intermediate(s) -> leaf, keys kept for re-issuing."""

    def __init__(self) -> None:
        self.root_key = _key()
        self.root = _cert(_name("Test Root"), _name("Test Root"), self.root_key, self.root_key, ca=True)

    def intermediate(
        self,
        cn: str = "Test Intermediate",
        *,
        issuer_name: x509.Name | None = None,
        signer: Key | None = None,
        key: Key | None = None,
        extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
        ski: bool = True,
    ) -> tuple[x509.Certificate, Key]:
        key = key or _key()
        issuer = _name("Test Root") if issuer_name is None else issuer_name
        cert = _cert(_name(cn), issuer, key, signer or self.root_key, ca=True, extra=extra, ski=ski)
        return cert, key

    @staticmethod
    def leaf(
        issuer_name: x509.Name,
        signer: Key,
        *,
        extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
        eku: bool = True,
    ) -> x509.Certificate:
        return _cert(_name(HOST), issuer_name, _key(), signer, ca=False, extra=extra, eku=eku)


def _check(pki: Pki, profile: str, **kwargs: Any) -> ChainCheck:
    return ChainCheck(anchors=[pki.root], profile=profile, **kwargs)  # type: ignore[arg-type]


def _accepted(check: ChainCheck, chain: list[x509.Certificate], **kwargs: Any) -> list[x509.Certificate]:
    # twice: the first connection and a later one give the same verdict
    first = check.check(chain, HOST, at=AT, **kwargs)
    assert check.check(chain, HOST, at=AT, **kwargs) == first
    return first


def _refused(check: ChainCheck, chain: list[x509.Certificate], **kwargs: Any) -> ChainError:
    with pytest.raises(ChainError) as info:
        check.check(chain, HOST, at=AT, **kwargs)
    with pytest.raises(ChainError):
        check.check(chain, HOST, at=AT, **kwargs)
    return info.value


# ---------------------------------------------------------------------------
# RFC 5280 §7.1: names compared after RFC 4518 string preparation
# ---------------------------------------------------------------------------

NAME_VARIANTS = {
    "case": _name("TEST ROOT"),
    "inner-whitespace": _name("Test    Root"),
    "outer-whitespace": _name("  Test Root "),
    "printablestring": _name("Test Root", _ASN1Type.PrintableString),
}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("variant", sorted(NAME_VARIANTS))
def test_issuer_name_equal_under_rfc4518_chains_to_the_trust_anchor(variant: str, profile: str) -> None:
    """The intermediate names its issuer "TEST ROOT" / "Test    Root" /
    PrintableString "Test Root" while the root's subject is UTF8String "Test
    Root": one name under RFC 5280 §7.1, which cryptography misses."""
    pki = Pki()
    assert pki.root.subject.public_bytes() != NAME_VARIANTS[variant].public_bytes()
    inter, ik = pki.intermediate(issuer_name=NAME_VARIANTS[variant])
    leaf = pki.leaf(inter.subject, ik)
    assert _accepted(_check(pki, profile), [leaf, inter]) == [leaf, inter, pki.root]


@pytest.mark.parametrize("profile", PROFILES)
def test_leaf_issuer_name_equal_to_a_presented_intermediate_under_rfc4518(profile: str) -> None:
    pki = Pki()
    inter, ik = pki.intermediate("Issuing CA One")
    leaf = pki.leaf(_name("issuing  ca ONE", _ASN1Type.PrintableString), ik)
    assert _accepted(_check(pki, profile), [leaf, inter]) == [leaf, inter, pki.root]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_genuinely_different_issuer_name_is_refused(profile: str) -> None:
    pki = Pki()
    inter, ik = pki.intermediate(issuer_name=_name("Test Rooot"))
    leaf = pki.leaf(inter.subject, ik)
    error = _refused(_check(pki, profile), [leaf, inter])
    assert error.outcome == "unknown-issuer"
    assert "Test Rooot" in str(error)


def test_a_name_matching_issuer_with_another_key_is_refused() -> None:
    """pyhanko builds the path by name; the signature still has to verify."""
    pki = Pki()
    inter, ik = pki.intermediate(issuer_name=_name("test root"), signer=_key())
    leaf = pki.leaf(inter.subject, ik)
    error = _refused(_check(pki, "rfc5280"), [leaf, inter])
    assert "pyhanko-certvalidator" in str(error) and "RFC 5280 §7.1" in str(error)


def test_name_chained_paths_still_get_certpolicys_rules() -> None:
    """Never accepted on pyhanko's word alone: an intermediate without
    subjectKeyIdentifier (RFC 5280 §4.2.1.2) is refused, and a leaf without
    extKeyUsage passes only the rfc5280 profile (CA/B BR 7.1.2.7.10)."""
    pki = Pki()
    no_ski, ik = pki.intermediate(issuer_name=_name("test root"), ski=False)
    error = _refused(_check(pki, "rfc5280"), [pki.leaf(no_ski.subject, ik), no_ski])
    assert "subjectKeyIdentifier" in str(error)

    inter, ik = pki.intermediate(issuer_name=_name("test root"))
    leaf = pki.leaf(inter.subject, ik, eku=False)
    assert _accepted(_check(pki, "rfc5280"), [leaf, inter]) == [leaf, inter, pki.root]
    error = _refused(_check(pki, "webpki"), [leaf, inter])
    assert error.details is not None and error.details.get("rule") == "br_7_1_2_7_10_subscriber_eku"


def test_name_chained_dsa_signatures_stay_refused() -> None:
    """pyhanko would verify a DSA signature; certpolicy refuses it, as
    cryptography does on the paths it builds (docs/conformance.md)."""
    root_key = dsa.generate_private_key(2048)
    root = _cert(_name("DSA Root"), _name("DSA Root"), root_key, root_key, ca=True)
    ik = _key()
    inter = _cert(_name("Int"), _name("dsa root"), ik, root_key, ca=True)
    leaf = _cert(_name(HOST), _name("Int"), _key(), ik, ca=False)
    with pytest.raises(ChainError, match=r"(?i)dsa"):
        ChainCheck(anchors=[root], profile="rfc5280").check([leaf, inter], HOST, at=AT)


# ---------------------------------------------------------------------------
# Certificate policies: requireExplicitPolicy (RFC 5280 §4.2.1.11, §6.1.4(i), §6.1.5(b), (g))
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("critical", [True, False], ids=["critical", "non-critical"])
@pytest.mark.parametrize("profile", PROFILES)
def test_require_explicit_policy_with_matching_policies_is_accepted(profile: str, critical: bool) -> None:
    """A critical policyConstraints (which cryptography refuses as unknown)
    goes to pyhanko; a non-critical one is processed on cryptography's path."""
    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1), _constraints(require=0, critical=critical)])
    leaf = pki.leaf(inter.subject, ik, extra=[_policies(P1)])
    assert _accepted(_check(pki, profile), [leaf, inter]) == [leaf, inter, pki.root]


@pytest.mark.parametrize("critical", [True, False], ids=["critical", "non-critical"])
@pytest.mark.parametrize("profile", PROFILES)
def test_require_explicit_policy_without_a_policy_on_the_leaf_is_refused(profile: str, critical: bool) -> None:
    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1), _constraints(require=0, critical=critical)])
    leaf = pki.leaf(inter.subject, ik)
    error = _refused(_check(pki, profile), [leaf, inter])
    assert str(error).startswith("RFC 5280 §6.1.3(f)") or "RFC 5280 §6.1.3(f)" in str(error)
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_3_f_explicit_policy"
    assert f"[{profile} profile: rfc5280_6_1_3_f_explicit_policy]" in str(error)
    assert "requireExplicitPolicy=0 in 'CN=Test Intermediate'" in str(error)


@pytest.mark.parametrize("profile", PROFILES)
def test_require_explicit_policy_with_skip_certs_fails_at_the_end_of_the_path(profile: str) -> None:
    """requireExplicitPolicy=1: the leaf itself may lack a policy only if the
    path ends with a valid policy, which it then does not (§6.1.5(g))."""
    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1), _constraints(require=1, critical=False)])
    leaf = pki.leaf(inter.subject, ik, extra=[_policies(P2)])
    error = _refused(_check(pki, profile), [leaf, inter])
    assert "RFC 5280 §6.1.5(g): the valid policy tree is empty" in str(error)
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_5_g_explicit_policy"
    assert error.certificate == leaf
    leaf_ok = pki.leaf(inter.subject, ik, extra=[_policies(P1)])
    assert _accepted(_check(pki, profile), [leaf_ok, inter]) == [leaf_ok, inter, pki.root]


# ---------------------------------------------------------------------------
# Policy mappings and inhibitPolicyMapping (§4.2.1.5, §6.1.4(a)-(b), (i)(2))
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("critical", [True, False], ids=["critical", "non-critical"])
@pytest.mark.parametrize("profile", PROFILES)
def test_policy_mapping_maps_the_issuer_domain_policy(profile: str, critical: bool) -> None:
    """The intermediate maps P1 (its domain) to P2 (the leaf's): the path is
    valid for P1, the policy asked for, and not for P9."""
    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1), _mappings((P1, P2), critical=critical)])
    leaf = pki.leaf(inter.subject, ik, extra=[_policies(P2)])
    chain = [leaf, inter]
    explicit = {"require_explicit_policy": True}
    assert _accepted(_check(pki, profile, certificate_policies=[P1], **explicit), chain) == [leaf, inter, pki.root]
    error = _refused(_check(pki, profile, certificate_policies=[P9], **explicit), chain)
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_5_g_explicit_policy"
    # without the mapping the leaf's P2 is not P1
    unmapped, uk = pki.intermediate("Unmapped CA", extra=[_policies(P1)])
    leaf2 = pki.leaf(unmapped.subject, uk, extra=[_policies(P2)])
    _refused(_check(pki, profile, certificate_policies=[P1], **explicit), [leaf2, unmapped])


@pytest.mark.parametrize("profile", PROFILES)
def test_a_mapping_to_any_policy_is_refused(profile: str) -> None:
    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1), _mappings((P1, ANY_POLICY), critical=False)])
    leaf = pki.leaf(inter.subject, ik, extra=[_policies(P1)])
    error = _refused(_check(pki, profile), [leaf, inter])
    assert "RFC 5280 §6.1.4(a)" in str(error)
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_4_a_policy_mapping_any_policy"
    assert error.certificate == inter


def _mapping_below(pki: Pki, inhibit_mapping: int | None) -> list[x509.Certificate]:
    """root -> CA-1 (P1, requireExplicitPolicy=0[, inhibitPolicyMapping]) ->
    CA-2 (P1, maps P1 -> P2) -> leaf (P2)."""
    ca1, k1 = pki.intermediate("CA-1", extra=[_policies(P1), _constraints(require=0, inhibit_mapping=inhibit_mapping)])
    ca2, k2 = pki.intermediate("CA-2", issuer_name=ca1.subject, signer=k1, extra=[_policies(P1), _mappings((P1, P2))])
    return [pki.leaf(ca2.subject, k2, extra=[_policies(P2)]), ca2, ca1]


@pytest.mark.parametrize("profile", PROFILES)
def test_inhibit_policy_mapping_stops_a_mapping_further_down(profile: str) -> None:
    pki = Pki()
    chain = _mapping_below(pki, None)
    assert _accepted(_check(pki, profile), chain) == [*chain, pki.root]
    chain = _mapping_below(pki, 0)
    error = _refused(_check(pki, profile), chain)
    assert "inhibitPolicyMapping=0 in 'CN=CA-1'" in str(error)
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_3_f_explicit_policy"
    # one certificate may still map before the inhibition applies
    chain = _mapping_below(pki, 1)
    assert _accepted(_check(pki, profile), chain) == [*chain, pki.root]


# ---------------------------------------------------------------------------
# inhibitAnyPolicy (§4.2.1.14, §6.1.3(d)(2), §6.1.4(j)) and self-issued certificates
# ---------------------------------------------------------------------------


def _any_policy_below(pki: Pki, skip_certs: int | None, *, self_issued: bool = False) -> list[x509.Certificate]:
    """root -> CA-1 (anyPolicy, requireExplicitPolicy=0[, inhibitAnyPolicy])
    [-> CA-1 again, self-issued (key rollover)] -> CA-2 (anyPolicy) -> leaf (P1)."""
    extra = [_policies(ANY_POLICY), _constraints(require=0)]
    if skip_certs is not None:
        extra.append((x509.InhibitAnyPolicy(skip_certs), True))
    ca1, k1 = pki.intermediate("CA-1", extra=extra)
    chain = [ca1]
    signer, issuer = k1, ca1.subject
    if self_issued:
        rollover, rk = pki.intermediate("CA-1", issuer_name=ca1.subject, signer=k1, extra=[_policies(ANY_POLICY)])
        assert rollover.subject == rollover.issuer
        chain.insert(0, rollover)
        signer = rk
    ca2, k2 = pki.intermediate("CA-2", issuer_name=issuer, signer=signer, extra=[_policies(ANY_POLICY)])
    return [pki.leaf(ca2.subject, k2, extra=[_policies(P1)]), ca2, *chain]


@pytest.mark.parametrize("profile", PROFILES)
def test_inhibit_any_policy_refuses_any_policy_in_a_later_intermediate(profile: str) -> None:
    pki = Pki()
    chain = _any_policy_below(pki, None)
    assert _accepted(_check(pki, profile), chain) == [*chain, pki.root]
    chain = _any_policy_below(pki, 0)
    error = _refused(_check(pki, profile), chain)
    assert "inhibitAnyPolicy=0 in 'CN=CA-1'" in str(error)
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_3_f_explicit_policy"
    chain = _any_policy_below(pki, 1)  # CA-2 is the one certificate skipped
    assert _accepted(_check(pki, profile), chain) == [*chain, pki.root]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_self_issued_intermediate_is_not_counted_for_skip_certs(profile: str) -> None:
    """inhibitAnyPolicy skipCerts=1 in CA-1, then CA-1's self-issued rollover
    certificate, then CA-2 with anyPolicy: the rollover is not counted
    (§6.1.4(h)), so CA-2's anyPolicy still counts and the path is valid."""
    pki = Pki()
    chain = _any_policy_below(pki, 1, self_issued=True)
    assert _accepted(_check(pki, profile), chain) == [*chain, pki.root]
    # with skipCerts=0 even the self-issued certificate's successor is inhibited
    chain = _any_policy_below(pki, 0, self_issued=True)
    _refused(_check(pki, profile), chain)


# ---------------------------------------------------------------------------
# The initial policy set and initial-explicit-policy as policy settings
# ---------------------------------------------------------------------------


def _row(**keys: Any) -> Any:
    return parse_policy_row(keys, kind=PolicyKind.INTRANET, name="corp")


def test_policy_settings_are_parsed_with_clear_errors() -> None:
    policy = _row(certificate_policies=[P1, P2, P1], require_explicit_policy=True)
    assert policy.certificate_policies == (P1, P2)
    assert policy.require_explicit_policy is True
    assert _row().certificate_policies == (ANY_POLICY,)
    assert _row().require_explicit_policy is False
    assert _row(certificate_policies=["anyPolicy", P1]).certificate_policies == (ANY_POLICY,)
    for bad in ([], ["2.23.140.1.x"], ["4.1"], ["1.45.2"], ["1.02"], [1], "", {"a": 1}):
        with pytest.raises(PolicyConfigError, match="certificate_policies"):
            _row(certificate_policies=bad)
    with pytest.raises(PolicyConfigError, match="require_explicit_policy"):
        _row(require_explicit_policy="yes")
    with pytest.raises(PolicyConfigError, match="certificate_policies"):
        ChainCheck(certificate_policies=["not an oid"])


@pytest.mark.parametrize("profile", PROFILES)
def test_initial_policy_set_from_the_policy_settings(profile: str) -> None:
    """No policy control on the path: the policy's settings alone call for
    policy processing."""
    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1)])
    leaf = pki.leaf(inter.subject, ik, extra=[_policies(P1)])
    chain = [leaf, inter]
    check = _check(pki, profile)
    matching = _row(certificate_policies=[P2, P1], require_explicit_policy=True)
    assert _accepted(check, chain, policy=matching) == [leaf, inter, pki.root]
    not_matching = _row(certificate_policies=[P9], require_explicit_policy=True)
    error = _refused(check, chain, policy=not_matching)
    assert error.policy == "corp"
    assert error.details is not None and error.details["rule"] == "rfc5280_6_1_5_g_explicit_policy"
    assert P9 in str(error) and "explicit policy required" in str(error)
    # without initial-explicit-policy an empty policy set does not refuse the path (§6.1.5(g))
    assert _accepted(check, chain, policy=_row(certificate_policies=[P9])) == [leaf, inter, pki.root]
    # an explicit policy on its own: any policy will do, but one is needed
    assert _accepted(check, chain, policy=_row(require_explicit_policy=True)) == [leaf, inter, pki.root]
    bare = pki.leaf(inter.subject, ik)
    _refused(check, [bare, inter], policy=_row(require_explicit_policy=True))
    # the check's own settings win over the policy's
    own = _check(pki, profile, certificate_policies=[P1])
    assert _accepted(own, chain, policy=not_matching) == [leaf, inter, pki.root]


def test_paths_without_policy_controls_skip_policy_processing() -> None:
    """The fast path: certificatePolicies alone, default inputs: nothing for
    RFC 5280's policy processing to refuse, pyhanko is not asked."""
    from certpolicy.checks.chain.pkix import (
        DEFAULT_POLICY_INPUTS,
        needs_policy_processing,
        policy_inputs,
    )

    pki = Pki()
    inter, ik = pki.intermediate(extra=[_policies(P1)])
    leaf = pki.leaf(inter.subject, ik, extra=[_policies(P2)])
    path = _accepted(_check(pki, "webpki"), [leaf, inter])
    assert not needs_policy_processing(path, DEFAULT_POLICY_INPUTS)
    assert policy_inputs((ANY_POLICY,), False) is DEFAULT_POLICY_INPUTS
    assert needs_policy_processing(path, policy_inputs((P1,), True))
    constrained, ck = pki.intermediate(extra=[_constraints(require=3, critical=False)])
    path = _accepted(_check(pki, "webpki"), [pki.leaf(constrained.subject, ck), constrained])
    assert needs_policy_processing(path, DEFAULT_POLICY_INPUTS)
