"""certpolicy's own chain rules, each a small function named after the RFC 5280 or CA/B BR clause it enforces.

cryptography's path builder (:mod:`cryptography.x509.verification`) enforces
RFC 5280 §6.1 and its Web PKI profile; the rules here are what certpolicy adds
on top (each measured against x509-limbo, see ``docs/conformance.md``):

* rules the path builder runs while it builds a path, as extension-policy
  callbacks (:func:`rfc5280_4_2_1_12_extended_key_usage`,
  :func:`rfc5280_4_2_1_1_2_ca_key_identifiers`,
  :func:`rfc5280_6_1_4_n_ca_key_usage`);
* rules on a validated path, in the one table :data:`PATH_RULES`: each a pure
  function ``problem(cert) -> str | None`` of one certificate, memoised by the
  certificate object's identity (:mod:`certpolicy._memo`: a server's
  certificates come back on every connection as the same objects), tagged
  with the clause it enforces and the certificates it applies to, so that a
  validation profile can select from it;
* the facts the verifier selection relies on (:func:`key_ids_conform`,
  :func:`webpki_ca_conforms`) and the end-entity rules re-applied to paths
  that pyhanko-certvalidator validated (:func:`eku_problem`,
  :func:`end_entity_profile_problem`).

Pure and I/O free.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, PublicKeyAlgorithmOID

from ...names import InvalidName, normalize_dns_name
from ...oids import eku_name
from ...policy import VALIDATION_PROFILES, ValidationProfile
from ...trust import TrustAnchors

__all__ = [
    "BOTH",
    "EXTRAS_LOCK",
    "PATH_RULES",
    "Rule",
    "br_6_1_5_ca_rsa_modulus",
    "br_6_1_5_end_entity_key",
    "br_7_1_2_1_2_root_without_eku",
    "br_7_1_2_1_3_root_aki",
    "br_7_1_2_7_10_subscriber_eku",
    "br_7_1_4_3_common_name_copies_san",
    "eku_name",
    "eku_problem",
    "end_entity_profile_problem",
    "key_ids_conform",
    "refused_anchors",
    "rfc5280_4_2_1_1_2_ca_key_identifiers",
    "rfc5280_4_2_1_1_anchor_key_identifiers",
    "rfc5280_4_2_1_2_anchor_ski",
    "rfc5280_4_2_1_3_leaf_key_cert_sign",
    "rfc5280_4_2_1_6_san_criticality",
    "rfc5280_4_2_1_10_name_constraints_critical",
    "rfc5280_4_2_1_12_extended_key_usage",
    "rfc5280_6_1_4_n_ca_key_usage",
    "rules_for",
    "self_signed",
    "subject_text",
    "trust_anchor_problem",
    "validity_problem",
    "webpki_ca_conforms",
]

_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_RSA_OIDS = (PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS)
_DOTTED_QUAD = re.compile(r"^\d{1,4}(\.\d{1,4}){3}$")


#: Guards the first write of a fact into a trust store's ``extras``.
EXTRAS_LOCK = threading.Lock()


def subject_text(cert: x509.Certificate) -> str:
    """The certificate's subject as RFC 4514 text, for messages."""
    try:
        return cert.subject.rfc4514_string() or "<empty subject>"
    except Exception:  # pragma: no cover - unparseable name
        return "<unparseable subject>"


# ---------------------------------------------------------------------------
# Extension-policy callbacks (run by cryptography's path builder)
# ---------------------------------------------------------------------------


def rfc5280_4_2_1_12_extended_key_usage(required: x509.ObjectIdentifier, who: str) -> Callable[..., None]:
    def rule(_policy: Any, cert: x509.Certificate, eku: Any) -> None:
        if eku is None:
            return  # absent: unrestricted (RFC 5280 §4.2.1.12)
        purposes = list(eku)
        if required in purposes or _ANY_EKU in purposes:
            return
        listed = ", ".join(eku_name(p) for p in purposes) or "nothing"
        raise ValueError(
            f"required EKU {eku_name(required)} not found in the extKeyUsage of {who} "
            f"{subject_text(cert)!r} "
            f"(it lists {listed}; RFC 5280 §4.2.1.12)"
        )

    return rule


def rfc5280_4_2_1_1_2_ca_key_identifiers(anchors: TrustAnchors) -> tuple[Callable[..., None], Callable[..., None]]:
    """subjectKeyIdentifier / authorityKeyIdentifier rules for CA certificates
    (RFC 5280 §4.2.1.1, §4.2.1.2). Trust anchors are exempt: real roots lack them.

    The rules hold the anchors' member set, not ``anchors``: they are kept in
    ``anchors.extras`` inside cryptography objects, which the garbage
    collector cannot traverse, so a reference back would leak the store."""
    members = anchors.members

    def ski_rule(_policy: Any, cert: x509.Certificate, ski: Any) -> None:
        if ski is None and cert not in members:
            raise ValueError(
                f"CA certificate {subject_text(cert)!r} has no subjectKeyIdentifier, which RFC 5280 "
                "§4.2.1.2 requires in every CA certificate below the trust anchor"
            )

    def aki_rule(_policy: Any, cert: x509.Certificate, aki: Any) -> None:
        if aki is None:
            if cert.subject != cert.issuer and cert not in members:
                raise ValueError(
                    f"CA certificate {subject_text(cert)!r} has no authorityKeyIdentifier, which "
                    "RFC 5280 §4.2.1.1 requires in every certificate that is not self-signed"
                )
            return
        # cryptography's own rule for a present AKI, kept (CA/B BR 7.1.2.11.1)
        if aki.key_identifier is None:
            raise ValueError(
                f"the authorityKeyIdentifier of CA certificate {subject_text(cert)!r} must contain "
                "keyIdentifier (RFC 5280 §4.2.1.1)"
            )

    return ski_rule, aki_rule


def rfc5280_6_1_4_n_ca_key_usage(_policy: Any, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    """A CA's keyUsage, when present, must allow keyCertSign (RFC 5280
    §6.1.4(n)). An absent keyUsage is accepted, as RFC 5280's validation
    algorithm does ("if a key usage extension is present"): old private CAs
    lack it; CA/B Forum issuance rules require it, but they bind issuers, not
    validators."""
    if ku is not None and not ku.key_cert_sign:
        raise ValueError(
            f"the keyUsage of CA certificate {subject_text(cert)!r} does not allow keyCertSign "
            "(RFC 5280 §6.1.4(n))"
        )


# ---------------------------------------------------------------------------
# Rules on a validated path
# ---------------------------------------------------------------------------


def validity_problem(cert: x509.Certificate, at: _dt.datetime) -> tuple[str, str] | None:
    """``(outcome, text)`` when ``at`` is outside the certificate's validity
    period (RFC 5280 §6.1.3(a)(2)); ``outcome`` is ``"not-yet-valid"`` or
    ``"expired"``."""
    nb = cert.not_valid_before_utc
    na = cert.not_valid_after_utc
    if at < nb:
        return "not-yet-valid", f"is not valid before {nb.isoformat()} (validation time {at.isoformat()})"
    if at > na:
        return "expired", f"expired at {na.isoformat()} (validation time {at.isoformat()})"
    return None


def _key_problem(cert: x509.Certificate, leaf: bool) -> str | None:
    if not leaf:
        try:
            if cert.public_key_algorithm_oid not in _RSA_OIDS:
                return None  # CA keys are checked by cryptography when they sign
        except Exception:  # pragma: no cover - unknown algorithm: look at the key
            pass
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        return f"unsupported or malformed public key ({e})"
    if isinstance(key, rsa.RSAPublicKey):
        if leaf and key.key_size < 2048:
            return f"RSA key of {key.key_size} bits is weaker than 2048 bits (CA/B BR 6.1.5)"
        if key.key_size % 8:
            return f"RSA modulus of {key.key_size} bits is not a multiple of 8 bits (CA/B BR 6.1.5)"
        return None
    if not leaf:
        return None  # CA keys are checked by cryptography when they sign
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, _ALLOWED_CURVES):
            return None
        return (
            f"ECDSA key on curve {key.curve.name} is not allowed; use P-256, P-384 or P-521 "
            "(CA/B BR 6.1.5)"
        )
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return None
    kind = type(key).__name__.replace("PublicKey", "").lstrip("_") or "this"
    return f"{kind} keys are not allowed in a TLS server certificate (CA/B BR 6.1.5)"


def br_6_1_5_end_entity_key(cert: x509.Certificate) -> str | None:
    """The end-entity key is RSA of at least 2048 bits (a multiple of 8),
    ECDSA on P-256, P-384 or P-521, or Ed25519/Ed448 (CA/B BR 6.1.5;
    cryptography checks only the keys that sign something)."""
    return _key_problem(cert, True)


def br_6_1_5_ca_rsa_modulus(cert: x509.Certificate) -> str | None:
    """An RSA modulus above the leaf is a multiple of 8 bits (CA/B BR 6.1.5)."""
    return _key_problem(cert, False)


def _lenient_ipv4(text: str) -> list[ipaddress.IPv4Address]:
    """Readings of a dotted quad with leading zeros (decimal and octal)."""
    if not _DOTTED_QUAD.match(text):
        return []
    out: list[ipaddress.IPv4Address] = []
    for base in (10, 8):
        try:
            parts = [int(p, base) for p in text.split(".")]
        except ValueError:
            continue
        if all(0 <= p <= 255 for p in parts):
            out.append(ipaddress.IPv4Address(".".join(map(str, parts))))
    return out


def _san_extension(cert: x509.Certificate) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None


def rfc5280_4_2_1_6_san_criticality(cert: x509.Certificate) -> str | None:
    """The subjectAltName, when present, is critical exactly when the subject
    is empty (RFC 5280 §4.2.1.6, CA/B BR 7.1.2.7.12), as cryptography's server
    profile requires."""
    san_ext = _san_extension(cert)
    if san_ext is None:
        return None
    empty_subject = len(cert.subject) == 0
    if empty_subject and not san_ext.critical:
        return "subjectAltName must be critical when the subject is empty (RFC 5280 §4.2.1.6)"
    if san_ext.critical and not empty_subject:
        return (
            "subjectAltName must not be critical when the subject is not empty "
            "(RFC 5280 §4.2.1.6, CA/B BR 7.1.2.7.12)"
        )
    return None


def br_7_1_4_3_common_name_copies_san(cert: x509.Certificate) -> str | None:
    """A subject commonName that names one of the certificate's SAN
    identities is a character-for-character copy of it (CA/B BR 7.1.4.3): no
    ``Example.COM`` for ``example.com``, no ``192.168.001.001`` for
    ``192.168.1.1``, no U-label for an A-label."""
    san_ext = _san_extension(cert)
    if san_ext is None:
        return None
    subject = cert.subject
    cns = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not cns:
        return None
    dns: set[str] = set()
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for gn in san_ext.value:  # type: ignore[attr-defined]
        kind = type(gn)
        if kind is x509.DNSName:
            dns.add(gn.value)
        elif kind is x509.IPAddress and not isinstance(gn.value, ipaddress._BaseNetwork):
            ips.append(gn.value)
    for cn in cns:
        if not isinstance(cn, str) or cn in dns:
            continue  # absent or a character-for-character copy of a dNSName
        text = cn.strip()
        readings: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        try:
            readings.append(ipaddress.ip_address(text))
        except ValueError:
            readings.extend(_lenient_ipv4(text))
        if readings:
            if any(cn == str(ip) for ip in ips):
                continue  # a character-for-character copy of an iPAddress
            for r in readings:
                if r in ips:
                    return (
                        f"subject commonName {cn!r} names the iPAddress SAN {str(r)!r} but is not "
                        "its canonical text (CA/B BR 7.1.4.3; RFC 3986 §3.2.2, RFC 5952 §4)"
                    )
            continue
        try:
            key = normalize_dns_name(text, allow_wildcard=True)
        except InvalidName:
            continue
        for d in dns:
            try:
                if normalize_dns_name(d, allow_wildcard=True) == key:
                    return (
                        f"subject commonName {cn!r} names the dNSName SAN {d!r} but is not a "
                        "character-for-character copy of it (CA/B BR 7.1.4.3)"
                    )
            except InvalidName:
                continue
    return None


def rfc5280_4_2_1_1_anchor_key_identifiers(anchor: x509.Certificate) -> str | None:
    """A self-signed trust anchor's authorityKeyIdentifier, when it has one,
    names its own subjectKeyIdentifier (RFC 5280 §4.2.1.1)."""
    if anchor.subject != anchor.issuer:
        return None
    exts = anchor.extensions
    try:
        ski = exts.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    if aki.key_identifier is not None and aki.key_identifier != ski:
        return (
            "self-signed, but its authorityKeyIdentifier does not match its own "
            "subjectKeyIdentifier (RFC 5280 §4.2.1.1)"
        )
    return None


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def br_7_1_2_7_10_subscriber_eku(cert: x509.Certificate) -> str | None:
    """A subscriber (end-entity) certificate carries extKeyUsage, without
    anyExtendedKeyUsage (CA/B BR 7.1.2.7.10; RFC 5280 §4.2.1.12 reads an
    absent extension as any purpose, which the Web PKI does not)."""
    ext = _extension(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if ext is None:
        return "has no extKeyUsage, which the Web PKI requires in a subscriber certificate (CA/B BR 7.1.2.7.10)"
    if _ANY_EKU in list(ext.value):  # type: ignore[call-overload]
        return (
            "its extKeyUsage lists anyExtendedKeyUsage, which the Web PKI forbids in a subscriber certificate "
            "(CA/B BR 7.1.2.7.10)"
        )
    return None


def rfc5280_4_2_1_10_name_constraints_critical(cert: x509.Certificate) -> str | None:
    """nameConstraints, when present, is critical (RFC 5280 §4.2.1.10: "Conforming
    CAs MUST mark this extension as critical"). The CA/B Baseline Requirements
    allow a non-critical one (BR 7.1.2.10.8), so only the rfc5280 profile
    holds CAs to it."""
    ext = _extension(cert, ExtensionOID.NAME_CONSTRAINTS)
    if ext is not None and not ext.critical:
        return "nameConstraints is not marked critical, as RFC 5280 §4.2.1.10 requires"
    return None


def rfc5280_4_2_1_2_anchor_ski(anchor: x509.Certificate) -> str | None:
    """A CA certificate used as trust anchor carries a subjectKeyIdentifier
    (RFC 5280 §4.2.1.2: it "MUST appear in all conforming CA certificates")."""
    if _extension(anchor, ExtensionOID.SUBJECT_KEY_IDENTIFIER) is None:
        return (
            "has no subjectKeyIdentifier, which RFC 5280 §4.2.1.2 requires in every CA "
            "certificate, the root included"
        )
    return None


def br_7_1_2_1_2_root_without_eku(anchor: x509.Certificate) -> str | None:
    """A root CA certificate carries no extKeyUsage (CA/B BR 7.1.2.1.2)."""
    if anchor.subject != anchor.issuer:
        return None
    if _extension(anchor, ExtensionOID.EXTENDED_KEY_USAGE) is not None:
        return "is a root CA certificate with an extKeyUsage, which CA/B BR 7.1.2.1.2 forbids"
    return None


def br_7_1_2_1_3_root_aki(anchor: x509.Certificate) -> str | None:
    """A root CA certificate's authorityKeyIdentifier, when present, holds only
    a keyIdentifier: no authorityCertIssuer, no authorityCertSerialNumber
    (CA/B BR 7.1.2.1.3)."""
    if anchor.subject != anchor.issuer:
        return None
    ext = _extension(anchor, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    if ext is None:
        return None
    aki = ext.value
    if aki.authority_cert_issuer is not None or aki.authority_cert_serial_number is not None:  # type: ignore[attr-defined]
        return (
            "is a root CA certificate whose authorityKeyIdentifier names an issuer or serial "
            "number, which CA/B BR 7.1.2.1.3 forbids"
        )
    return None


#: Both validation profiles.
BOTH: frozenset[ValidationProfile] = frozenset(VALIDATION_PROFILES)
_WEBPKI: frozenset[ValidationProfile] = frozenset({"webpki"})
_RFC5280: frozenset[ValidationProfile] = frozenset({"rfc5280"})


@dataclass(frozen=True)
class Rule:
    """One of certpolicy's rules on a validated certification path.

    Attributes:
        clause: the RFC or BR clause the rule enforces (``"RFC 5280 §4.2.1.6"``).
        applies_to: ``"end-entity"`` (the leaf), ``"ca"`` (every certificate
            above the leaf, the trust anchor included) or ``"trust anchor"``
            (the certificate that ends a path of two or more).
        problem: ``problem(cert) -> str | None``: what is wrong with the
            certificate, or ``None``; pure, memoised per certificate object.
        checked_by_server_profile: cryptography's ServerVerifier enforces the
            rule already; it is skipped on the paths that verifier built.
        profiles: the validation profiles (:attr:`certpolicy.policy.Policy.profile`)
            that hold certificates to the rule.
        about_eku: an extended key usage rule, skipped when the check
            requires no EKU (``ChainCheck(eku=None)``).
    """

    clause: str
    applies_to: str
    problem: Callable[[x509.Certificate], str | None]
    checked_by_server_profile: bool = False
    profiles: frozenset[ValidationProfile] = BOTH
    about_eku: bool = False

    @property
    def name(self) -> str:
        """The rule's function name (``"rfc5280_4_2_1_6_san_criticality"``)."""
        return self.problem.__name__


#: certpolicy's rules on a validated path, in the order they run.
PATH_RULES: tuple[Rule, ...] = (
    Rule("CA/B BR 6.1.5", "end-entity", br_6_1_5_end_entity_key),
    Rule("RFC 5280 §4.2.1.6", "end-entity", rfc5280_4_2_1_6_san_criticality, True),
    Rule("CA/B BR 7.1.4.3", "end-entity", br_7_1_4_3_common_name_copies_san),
    Rule("CA/B BR 7.1.2.7.10", "end-entity", br_7_1_2_7_10_subscriber_eku, profiles=_WEBPKI, about_eku=True),
    Rule("CA/B BR 6.1.5", "ca", br_6_1_5_ca_rsa_modulus),
    Rule("RFC 5280 §4.2.1.10", "ca", rfc5280_4_2_1_10_name_constraints_critical, profiles=_RFC5280),
    Rule("RFC 5280 §4.2.1.1", "trust anchor", rfc5280_4_2_1_1_anchor_key_identifiers),
    Rule("RFC 5280 §4.2.1.2", "trust anchor", rfc5280_4_2_1_2_anchor_ski),
    Rule("CA/B BR 7.1.2.1.2", "trust anchor", br_7_1_2_1_2_root_without_eku, profiles=_WEBPKI, about_eku=True),
    Rule("CA/B BR 7.1.2.1.3", "trust anchor", br_7_1_2_1_3_root_aki, profiles=_WEBPKI),
)

_RULES_FOR: Mapping[tuple[str, bool, str, bool], tuple[Rule, ...]] = {
    (applies_to, server, profile, eku): tuple(
        r
        for r in PATH_RULES
        if r.applies_to == applies_to
        and profile in r.profiles
        and not (server and r.checked_by_server_profile)
        and (eku or not r.about_eku)
    )
    for applies_to in ("end-entity", "ca", "trust anchor")
    for server in (False, True)
    for profile in VALIDATION_PROFILES
    for eku in (False, True)
}


def rules_for(
    applies_to: str,
    server_profile: bool = False,
    profile: ValidationProfile = "webpki",
    eku: bool = True,
) -> tuple[Rule, ...]:
    """The rules of :data:`PATH_RULES` that hold ``"end-entity"``, ``"ca"`` or
    ``"trust anchor"`` certificates under ``profile``, less those that
    cryptography's ServerVerifier enforced already when ``server_profile`` is
    true, and less the extended key usage rules when ``eku`` is false.

    Raises:
        KeyError: an unknown ``applies_to`` or ``profile``.
    """
    return _RULES_FOR[(applies_to, server_profile, profile, eku)]


def trust_anchor_problem(
    anchor: x509.Certificate, profile: ValidationProfile = "webpki", eku: bool = True
) -> tuple[Rule, str] | None:
    """The first ``"trust anchor"`` rule of :data:`PATH_RULES` that ``anchor``
    breaks under ``profile``, with what is wrong, or ``None``."""
    for rule in rules_for("trust anchor", False, profile, eku):
        problem = rule.problem(anchor)
        if problem is not None:
            return rule, problem
    return None


def refused_anchors(
    anchors: TrustAnchors, profile: ValidationProfile = "webpki", eku: bool = True
) -> dict[int, tuple[Rule | None, str]]:
    """``{id(anchor): (rule, problem)}`` for the trust anchors that certpolicy
    refuses under ``profile``, worked out once per trust store and profile
    (the objects live as long as the store). ``rule`` is ``None`` for an
    anchor whose extensions cannot be read."""
    key = ("certpolicy.chain.bad-anchors", profile, eku)
    found = anchors.extras.get(key)
    if isinstance(found, dict):
        return found
    bad: dict[int, tuple[Rule | None, str]] = {}
    for anchor in anchors.certificates:
        refusal: tuple[Rule | None, str] | None
        try:
            refusal = trust_anchor_problem(anchor, profile, eku)
        except (ValueError, x509.DuplicateExtension) as e:
            refusal = (None, f"unreadable extension ({e})")
        if refusal is not None:
            bad[id(anchor)] = refusal
    with EXTRAS_LOCK:
        anchors.extras.setdefault(key, bad)
    return bad


# ---------------------------------------------------------------------------
# Facts used by the verifier selection and by pyhanko paths
# ---------------------------------------------------------------------------


def key_ids_conform(cert: x509.Certificate) -> bool:
    """Whether a CA certificate below the trust anchor satisfies certpolicy's
    key-identifier rules (``rfc5280_4_2_1_1_2_ca_key_identifiers``): a subjectKeyIdentifier, and an
    authorityKeyIdentifier with a keyIdentifier unless it is self-issued.
    ``False`` also when the extensions cannot be read here (the caller then
    asks the verifier that runs the rules itself)."""
    try:
        exts = cert.extensions
        exts.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    except Exception:  # absent, or unreadable here (ValueError, TypeError ...)
        return False
    try:
        aki = exts.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    except x509.ExtensionNotFound:
        return cert.subject == cert.issuer
    return aki.key_identifier is not None  # type: ignore[attr-defined]


def webpki_ca_conforms(cert: x509.Certificate) -> bool:
    """Whether cryptography's Web PKI CA rules that are stricter than
    certpolicy's hold for ``cert``: a CA certificate must carry keyUsage, and
    its authorityKeyIdentifier must not name an issuer or serial number.
    A certificate that is not a CA is never a CA candidate: ``True``.
    ``False`` when the extensions cannot be read here."""
    try:
        exts = cert.extensions
        try:
            if not exts.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca:  # type: ignore[attr-defined]
                return True
        except x509.ExtensionNotFound:
            return True
        exts.get_extension_for_oid(ExtensionOID.KEY_USAGE)
        aki = exts.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    except x509.ExtensionNotFound as e:
        return e.oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER
    except Exception:  # unreadable here (cryptography raises ValueError, TypeError ...)
        return False
    return aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None  # type: ignore[attr-defined]


def eku_problem(cert: x509.Certificate, eku: x509.ObjectIdentifier | None) -> str | None:
    if eku is None:
        return None
    try:
        purposes = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None
    if eku in purposes or _ANY_EKU in purposes:
        return None
    listed = ", ".join(eku_name(p) for p in purposes) or "nothing"
    return f"required EKU {eku_name(eku)} not found in extKeyUsage (it lists {listed}; RFC 5280 §4.2.1.12)"


def self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def end_entity_profile_problem(leaf: x509.Certificate, profile: str | None = None) -> str | None:
    """The end-entity rules cryptography applies, for paths validated by pyhanko.

    Under ``profile="rfc5280"`` a CA certificate (cA asserted) may be the
    end of the path (RFC 5280 §6.1 validates the leaf's signature and names,
    never forbids cA; PKITS 4.6.8); keyCertSign still requires cA (RFC 5280
    §4.2.1.3)."""
    exts = leaf.extensions
    is_ca = False
    try:
        is_ca = bool(exts.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        pass
    if is_ca and profile != "rfc5280":
        return "basicConstraints.cA must not be asserted in an end-entity certificate"
    try:
        if exts.get_extension_for_class(x509.KeyUsage).value.key_cert_sign and not is_ca:
            return "keyUsage must not assert keyCertSign in an end-entity certificate"
    except x509.ExtensionNotFound:
        pass
    return None


def rfc5280_4_2_1_3_leaf_key_cert_sign(_policy: Any, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    """A CA certificate as the end of the path (the ``rfc5280`` profile):
    its keyUsage may assert keyCertSign only with cA asserted (RFC 5280
    §4.2.1.3: "If the keyCertSign bit is asserted, then the cA bit in the
    basic constraints extension MUST also be asserted")."""
    if ku is None or not ku.key_cert_sign:
        return
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ValueError(
            f"the keyUsage of end-entity certificate {subject_text(cert)!r} asserts keyCertSign "
            "without basicConstraints cA (RFC 5280 §4.2.1.3)"
        )
