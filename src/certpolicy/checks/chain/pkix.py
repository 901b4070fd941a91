"""The parts of RFC 5280 path validation that cryptography's verifier lacks: §7.1 name comparison and §6.1 certificate policy processing.

cryptography's path builder chains names byte for byte and processes no
certificate policies: it refuses a critical certificatePolicies,
policyMappings, policyConstraints or inhibitAnyPolicy extension as an
unknown critical extension and ignores non-critical ones. certpolicy does
not validate paths itself; this module says *when* pyhanko-certvalidator
(which implements both) must decide, and turns its answers into certpolicy's
terms:

* :func:`names_match_only_when_prepared`: after cryptography found no issuer,
  whether some certificate's issuer name equals the subject of another
  certificate or of a trust anchor under the comparison rules of RFC 5280
  §7.1 (RFC 4518 string preparation: case folded, inner whitespace folded,
  PrintableString and UTF8String compared as text; asn1crypto's
  ``Name.hashable``) but not byte for byte;
* :func:`self_issued_ca`: a presented self-issued CA certificate (a key
  rollover), which cryptography counts towards pathLenConstraint and RFC 5280
  §6.1.4(l) does not;
* :func:`refuses_policy_extension`: whether cryptography refused a critical
  certificate policy extension;
* :func:`needs_policy_processing`: whether a path that cryptography validated
  must also pass the certificate policy processing of RFC 5280 §6.1.3(d)-(f),
  §6.1.4(a)-(b), (h)-(j) and §6.1.5(a)-(b), (g): when a certificate below the
  trust anchor carries policyMappings, policyConstraints or inhibitAnyPolicy,
  or the policy sets an initial policy set or initial-explicit-policy
  (:class:`PolicyInputs`). Otherwise the policy processing cannot refuse
  the path (explicit_policy never reaches 0, no mapping is checked), and the
  handshake path does no more than two memoised lookups;
* :func:`policy_refusal`: pyhanko's refusal as the RFC 5280 rule it applies;
* :func:`signature_problem`: the signature and key algorithm rules that
  cryptography applies to the paths it builds (RSA of 2048 bits or more,
  P-256/P-384/P-521, SHA-2; no DSA), for the paths that pyhanko builds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from ..._memo import CERTIFICATE_FACTS
from ...policy_values import ANY_POLICY, policy_oids
from ...trust import TrustAnchors
from .rules import EXTRAS_LOCK, self_signed, subject_text

__all__ = [
    "DEFAULT_POLICY_INPUTS",
    "POLICY_CONTROL_OIDS",
    "PolicyInputs",
    "carries_policy_controls",
    "names_match_only_when_prepared",
    "needs_policy_processing",
    "policy_inputs",
    "policy_refusal",
    "prepared_name",
    "refuses_policy_extension",
    "relevant_anchors",
    "self_issued_ca",
    "signature_problem",
]

#: policyMappings, policyConstraints, inhibitAnyPolicy: the extensions that
#: can make RFC 5280's certificate policy processing refuse a path.
POLICY_CONTROL_OIDS = frozenset(
    {
        ExtensionOID.POLICY_MAPPINGS.dotted_string,
        ExtensionOID.POLICY_CONSTRAINTS.dotted_string,
        ExtensionOID.INHIBIT_ANY_POLICY.dotted_string,
    }
)
#: The certificate policy extensions cryptography refuses when critical.
_POLICY_EXTENSION_OIDS = POLICY_CONTROL_OIDS | {ExtensionOID.CERTIFICATE_POLICIES.dotted_string}
#: cryptography's message for a critical extension its profile does not know.
_UNKNOWN_CRITICAL = "unaccounted-for critical extensions"


# ---------------------------------------------------------------------------
# Certificate policy processing inputs (RFC 5280 §6.1.1(c)-(f))
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInputs:
    """The certificate policy inputs of RFC 5280 path validation.

    Attributes:
        initial_policy_set: user-initial-policy-set (§6.1.1(c)): dotted OIDs;
            ``(ANY_POLICY,)`` accepts every policy.
        initial_explicit_policy: initial-explicit-policy (§6.1.1(f)): the
            path must be valid for at least one policy of the set.
        initial_policy_mapping_inhibit: initial-policy-mapping-inhibit (§6.1.1(e)).
        initial_any_policy_inhibit: initial-any-policy-inhibit (§6.1.1(g)).
    """

    initial_policy_set: tuple[str, ...] = (ANY_POLICY,)
    initial_explicit_policy: bool = False
    initial_policy_mapping_inhibit: bool = False
    initial_any_policy_inhibit: bool = False

    @property
    def is_default(self) -> bool:
        """RFC 5280's defaults: any policy, nothing explicit, nothing inhibited."""
        return self == DEFAULT_POLICY_INPUTS

    def pkix_params(self) -> Any:
        """These inputs as pyhanko-certvalidator's ``PKIXValidationParams``."""
        from pyhanko_certvalidator.policy_decl import PKIXValidationParams

        policies = (
            frozenset({"any_policy"})
            if ANY_POLICY in self.initial_policy_set
            else frozenset(self.initial_policy_set)
        )
        return PKIXValidationParams(
            user_initial_policy_set=policies,
            initial_explicit_policy=self.initial_explicit_policy,
            initial_policy_mapping_inhibit=self.initial_policy_mapping_inhibit,
            initial_any_policy_inhibit=self.initial_any_policy_inhibit,
        )

    def describe(self) -> str:
        """``"initial policy set {2.23.140.1.2.1}, explicit policy required"``."""
        text = "initial policy set {" + ", ".join(self.initial_policy_set) + "}"
        if ANY_POLICY in self.initial_policy_set:
            text = "initial policy set {anyPolicy}"
        if self.initial_explicit_policy:
            text += ", explicit policy required (require_explicit_policy)"
        return text


#: RFC 5280's default inputs (any policy, no explicit policy).
DEFAULT_POLICY_INPUTS = PolicyInputs()


@functools.lru_cache(maxsize=256)
def policy_inputs(
    initial_policy_set: tuple[str, ...],
    initial_explicit_policy: bool,
    initial_policy_mapping_inhibit: bool = False,
    initial_any_policy_inhibit: bool = False,
) -> PolicyInputs:
    """The :class:`PolicyInputs` of a policy's ``certificate_policies`` and
    ``require_explicit_policy`` settings (:data:`DEFAULT_POLICY_INPUTS` itself
    for the defaults).

    Args:
        initial_policy_set: policy OIDs; normalised by
            :func:`certpolicy.policy_values.policy_oids` (``"anyPolicy"`` is
            :data:`~certpolicy.policy_values.ANY_POLICY`), so a
            :class:`~certpolicy.policy.Policy` built in code without the table
            loader means what the table would.
        initial_explicit_policy: RFC 5280 §6.1.1(f).
        initial_policy_mapping_inhibit: RFC 5280 §6.1.1(e).
        initial_any_policy_inhibit: RFC 5280 §6.1.1(g).

    Returns:
        the inputs (cached: equal settings give the same object).

    Raises:
        PolicyConfigError: an entry that is not a dotted OID or anyPolicy.
    """
    oids = policy_oids(initial_policy_set, "certificate_policies")
    inputs = PolicyInputs(
        oids, bool(initial_explicit_policy), bool(initial_policy_mapping_inhibit), bool(initial_any_policy_inhibit)
    )
    return DEFAULT_POLICY_INPUTS if inputs == DEFAULT_POLICY_INPUTS else inputs


# ---------------------------------------------------------------------------
# When pyhanko-certvalidator must decide
# ---------------------------------------------------------------------------


def carries_policy_controls(cert: x509.Certificate) -> bool:
    """Whether ``cert`` carries policyMappings, policyConstraints or
    inhibitAnyPolicy (RFC 5280 §4.2.1.5, §4.2.1.11, §4.2.1.14); ``True``
    when its extensions cannot be read here (pyhanko then decides)."""
    try:
        return any(ext.oid.dotted_string in POLICY_CONTROL_OIDS for ext in cert.extensions)
    except Exception:  # unreadable here: let the policy processing decide
        return True


def self_issued_ca(cert: x509.Certificate) -> bool:
    """Whether ``cert`` is a self-issued CA certificate that is not
    self-signed: issuer and subject the same name (RFC 5280 §6.1, "self-issued"),
    cA asserted, signed by another key (a CA key rollover, PKITS 4.5). RFC 5280
    §6.1.4(l) does not count such certificates towards pathLenConstraint;
    cryptography's path builder does, so pyhanko-certvalidator decides a path
    through them. Memoise per certificate (``CERTIFICATE_FACTS``)."""
    try:
        if cert.subject.public_bytes() != cert.issuer.public_bytes():
            return False
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except Exception:  # no basicConstraints, or unreadable: not a CA certificate here
        return False
    return not self_signed(cert)


def needs_policy_processing(path: Sequence[x509.Certificate], inputs: PolicyInputs) -> bool:
    """Whether a path that cryptography validated must pass RFC 5280's
    certificate policy processing (§6.1.3(d)-(f), §6.1.4, §6.1.5): a path of
    two or more certificates under non-default :class:`PolicyInputs`, or one
    where a certificate below the trust anchor carries a policy control
    (:func:`carries_policy_controls`, memoised per certificate object).

    Args:
        path: the validated path, leaf first, trust anchor last.
        inputs: the policy's inputs.

    Returns:
        ``True`` when pyhanko-certvalidator must process the path's policies.
    """
    if len(path) < 2:
        return False  # the endpoint certificate is itself the trust anchor
    if inputs is not DEFAULT_POLICY_INPUTS and not inputs.is_default:
        return True
    for cert in path[:-1]:  # the trust anchor's extensions are not processed (§6.1.1(d))
        if CERTIFICATE_FACTS(cert, carries_policy_controls):
            return True
    return False


def refuses_policy_extension(message: str) -> bool:
    """Whether cryptography's failure ``message`` is its refusal of a critical
    certificatePolicies, policyMappings, policyConstraints or inhibitAnyPolicy
    extension, which it does not process (RFC 5280 requires policyConstraints
    and inhibitAnyPolicy to be critical, §4.2.1.11, §4.2.1.14)."""
    return _UNKNOWN_CRITICAL in message and any(f"{oid}:" in message for oid in _POLICY_EXTENSION_OIDS)


def prepared_name(name_der: bytes) -> str | None:
    """The comparison form of a DER-encoded Name under RFC 5280 §7.1 (RFC
    4518 string preparation: case folded, inner whitespace folded, leading
    and trailing whitespace dropped, PrintableString and UTF8String compared
    as text), as asn1crypto's ``Name.hashable`` gives it; ``None`` when
    asn1crypto cannot read the name."""
    from asn1crypto import x509 as asn1_x509

    try:
        return str(asn1_x509.Name.load(name_der).hashable)
    except Exception:  # an undecodable or unusual name: no match
        return None


def _fold(value: object) -> str:
    """A cheap over-approximation of RFC 4518 preparation for one attribute
    value (NFKC, case folded, whitespace runs folded), used only to pick
    the names worth preparing with asn1crypto."""
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _loose(name: x509.Name) -> tuple[frozenset[tuple[str, str]], ...]:
    return tuple(frozenset((a.oid.dotted_string, _fold(a.value)) for a in rdn) for rdn in name.rdns)


def _subject_facts(cert: x509.Certificate) -> tuple[bytes, tuple[frozenset[tuple[str, str]], ...]]:
    return cert.subject.public_bytes(), _loose(cert.subject)


def _issuer_facts(cert: x509.Certificate) -> tuple[bytes, tuple[frozenset[tuple[str, str]], ...]]:
    return cert.issuer.public_bytes(), _loose(cert.issuer)


_Loose = tuple[frozenset[tuple[str, str]], ...]


def _anchor_subjects(anchors: TrustAnchors) -> dict[_Loose, list[x509.Certificate]]:
    """``{loose subject key: [anchor, ...]}``, worked out once per trust store
    (only after a failed validation)."""
    key = "certpolicy.chain.loose-anchor-subjects"
    found = anchors.extras.get(key)
    if isinstance(found, dict):
        return found
    index: dict[_Loose, list[x509.Certificate]] = {}
    for anchor in anchors.certificates:
        try:
            loose = CERTIFICATE_FACTS(anchor, _subject_facts)[1]
        except Exception:  # pragma: no cover - an unencodable anchor name
            continue
        index.setdefault(loose, []).append(anchor)
    with EXTRAS_LOCK:
        anchors.extras.setdefault(key, index)
    return anchors.extras[key]  # type: ignore[return-value]


def _prepared_equal(a: x509.Name, b: x509.Name) -> bool:
    left = prepared_name(a.public_bytes())
    return left is not None and left == prepared_name(b.public_bytes())


def _candidates(
    cert: x509.Certificate,
    subjects: dict[_Loose, list[x509.Certificate]],
    by_anchor: dict[_Loose, list[x509.Certificate]],
) -> list[x509.Certificate]:
    """The certificates and anchors whose subject may equal ``cert``'s issuer
    name under RFC 5280 §7.1 but differs from it byte for byte."""
    der, loose = CERTIFICATE_FACTS(cert, _issuer_facts)
    out = [c for c in (*subjects.get(loose, ()), *by_anchor.get(loose, ())) if c.subject.public_bytes() != der]
    return [c for c in out if _prepared_equal(c.subject, cert.issuer)]


def names_match_only_when_prepared(pool: Sequence[x509.Certificate], anchors: TrustAnchors) -> bool:
    """Whether some certificate of ``pool`` names as its issuer a presented
    certificate or trust anchor whose subject equals that name under RFC 5280
    §7.1 but not byte for byte (the case cryptography's path builder misses).

    A cheap folded form of each name picks the candidates; asn1crypto's RFC
    4518 preparation (``Name.hashable``) decides, so a rejected chain costs
    little more than cryptography's own verdict.

    Args:
        pool: the presented certificates (leaf first) and any fetched ones.
        anchors: the trust anchors.

    Returns:
        ``True`` when pyhanko-certvalidator, which compares names as RFC 5280
        §7.1 says, should build the path.
    """
    try:
        subjects: dict[_Loose, list[x509.Certificate]] = {}
        for cert in pool:
            subjects.setdefault(CERTIFICATE_FACTS(cert, _subject_facts)[1], []).append(cert)
        by_anchor = _anchor_subjects(anchors)
        return any(_candidates(cert, subjects, by_anchor) for cert in pool)
    except Exception:  # an unencodable name: cryptography's verdict stands
        return False


def relevant_anchors(pool: Sequence[x509.Certificate], anchors: TrustAnchors) -> list[x509.Certificate]:
    """The trust anchors whose subject equals, under RFC 5280 §7.1, the
    issuer name of a certificate of ``pool`` (those pyhanko needs)."""
    by_anchor = _anchor_subjects(anchors)
    out: list[x509.Certificate] = []
    for cert in pool:
        try:
            der, loose = CERTIFICATE_FACTS(cert, _issuer_facts)
        except Exception:  # an unencodable name
            continue
        for anchor in by_anchor.get(loose, ()):
            if anchor in out:
                continue
            if anchor.subject.public_bytes() == der or _prepared_equal(anchor.subject, cert.issuer):
                out.append(anchor)
    return out


# ---------------------------------------------------------------------------
# pyhanko's answers in certpolicy's terms
# ---------------------------------------------------------------------------

_INTERMEDIATE = re.compile(r"intermediate certificate (\d+)")


def _named_certificate(message: str, path: Sequence[x509.Certificate], complete: bool) -> x509.Certificate:
    """The certificate pyhanko's message names ("intermediate certificate
    2" counts from the trust anchor), else the leaf."""
    found = _INTERMEDIATE.search(message) if complete else None
    if found is not None:
        index = len(path) - 1 - int(found.group(1))
        if 0 < index < len(path) - 1:
            return path[index]
    return path[0]


def _policy_controls_text(certs: Sequence[x509.Certificate]) -> str:
    """The policy controls in ``certs``, for messages
    (``"requireExplicitPolicy=0 in 'CN=Sub CA'"``)."""
    parts: list[str] = []
    for cert in certs:
        who = subject_text(cert)
        try:
            exts = cert.extensions
        except Exception:
            continue
        for ext in exts:
            value = ext.value
            if isinstance(value, x509.PolicyConstraints):
                if value.require_explicit_policy is not None:
                    parts.append(f"requireExplicitPolicy={value.require_explicit_policy} in {who!r}")
                if value.inhibit_policy_mapping is not None:
                    parts.append(f"inhibitPolicyMapping={value.inhibit_policy_mapping} in {who!r}")
            elif isinstance(value, x509.InhibitAnyPolicy):
                parts.append(f"inhibitAnyPolicy={value.skip_certs} in {who!r}")
            elif ext.oid == ExtensionOID.POLICY_MAPPINGS:
                parts.append(f"policyMappings in {who!r}")
    return "; ".join(parts)


def policy_refusal(
    message: str, path: Sequence[x509.Certificate], inputs: PolicyInputs, *, complete: bool = True
) -> tuple[str, str, x509.Certificate] | None:
    """pyhanko-certvalidator's refusal ``message`` as the RFC 5280 certificate
    policy rule it applies, or ``None`` when it is about something else.

    Args:
        message: pyhanko's error message.
        path: the path it refused, leaf first, trust anchor last; with
            ``complete=False``, the candidate certificates it built paths
            from (leaf first, no trust anchor).
        inputs: the policy inputs in force.
        complete: whether ``path`` is the refused path.

    Returns:
        ``(rule, text, certificate)``: the rule's name
        (``"rfc5280_6_1_5_g_explicit_policy"``), what happened with the RFC
        section first, and the certificate it concerns.
    """
    controls = _policy_controls_text(path[:-1] if complete else path)
    context = f"{inputs.describe()}" + (f"; {controls}" if controls else "")
    if "no valid set of policies" in message:
        if message.rstrip().endswith("."):
            return (
                "rfc5280_6_1_5_g_explicit_policy",
                "RFC 5280 §6.1.5(g): the valid policy tree is empty at the end of the path (no policy "
                "of the initial policy set is valid for it) and an explicit policy is required "
                f"({context})",
                path[0],
            )
        return (
            "rfc5280_6_1_3_f_explicit_policy",
            "RFC 5280 §6.1.3(f): the valid policy tree became empty while explicit_policy is 0 "
            f"(a certificate without a policy allowed by the path, {context})",
            _named_certificate(message, path, complete),
        )
    if "policy mapping for the" in message:
        return (
            "rfc5280_6_1_4_a_policy_mapping_any_policy",
            "RFC 5280 §6.1.4(a): a policyMappings extension maps to or from anyPolicy",
            _named_certificate(message, path, complete),
        )
    if "size limit on the policy graph" in message:
        return (
            "rfc5280_6_1_policy_graph_bound",
            "RFC 5280 §6.1.3(d) (RFC 9618): certificate policy processing exceeds the size bound "
            "of the valid policy graph",
            _named_certificate(message, path, complete),
        )
    return None


# ---------------------------------------------------------------------------
# cryptography's algorithm rules, for the paths pyhanko builds
# ---------------------------------------------------------------------------

_SIGNATURE_HASHES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
}
_PSS_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_DSA = {
    SignatureAlgorithmOID.DSA_WITH_SHA1,
    SignatureAlgorithmOID.DSA_WITH_SHA224,
    SignatureAlgorithmOID.DSA_WITH_SHA256,
    SignatureAlgorithmOID.DSA_WITH_SHA384,
    SignatureAlgorithmOID.DSA_WITH_SHA512,
}
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def signature_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """What is wrong with the signature on ``cert`` by ``issuer`` under the
    algorithm rules cryptography's verifier applies to every path it builds
    (RSA PKCS#1 v1.5 or RSASSA-PSS with SHA-256/384/512 and a modulus of
    2048 bits or more, ECDSA with SHA-256/384/512 on P-256, P-384 or P-521),
    or ``None``. DSA signatures are refused (RFC 5280 §6.1.3(a)(1) leaves the
    algorithms to the relying party; docs/conformance.md).

    Args:
        cert: a certificate on the path, below the trust anchor.
        issuer: the certificate whose key signed it.

    Returns:
        the problem, or ``None``.
    """
    oid = cert.signature_algorithm_oid
    if oid in _DSA:
        return "is signed with DSA, which certpolicy refuses (as cryptography's verifier does)"
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        if not isinstance(cert.signature_hash_algorithm, _PSS_HASHES):
            return "is signed with RSASSA-PSS over a hash other than SHA-256, SHA-384 or SHA-512"
    elif oid not in _SIGNATURE_HASHES:
        name = getattr(oid, "_name", oid.dotted_string)
        return (
            f"is signed with {name}, which the path validator does not accept (RSA or ECDSA "
            "with SHA-256, SHA-384 or SHA-512)"
        )
    try:
        key = issuer.public_key()
    except Exception as e:  # an unsupported key type
        return f"is signed by an unsupported key ({e})"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"is signed by an RSA key of {key.key_size} bits, weaker than 2048 bits"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            return f"is signed by an ECDSA key on {key.curve.name}; P-256, P-384 or P-521 required"
        return None
    return f"is signed by a {type(key).__name__.replace('PublicKey', '').lstrip('_')} key, which is not allowed"
