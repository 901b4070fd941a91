"""The chain check: does the presented chain lead to a trust anchor?

Certification path building and validation (RFC 5280 §6.1, RFC 4158) are done
by :mod:`cryptography.x509.verification`: a fast, DoS-hardened path builder that
tries alternative paths (backtracking), checks every certificate's validity
period (the trust anchor's included), signatures, basicConstraints and
pathLenConstraint, keyUsage, name constraints, the maximum depth and the Web
PKI algorithm rules (RSA >= 2048 bits, P-256/P-384/P-521, SHA-2).

Hostname matching is *not* done here (that is
:class:`~certpolicy.checks.hostname.HostnameCheck`, which knows the policy's CN
fallback): the verifier is a chain-only ``ClientVerifier`` whose end-entity
extension policy makes the subjectAltName optional and requires the policy's
extended key usage (serverAuth by default) instead of clientAuth. A
``ServerVerifier`` cannot do that: it insists on a SAN that matches a name, so
it would reject what the legacy CN fallback accepts and report name problems as
chain problems. When the host is known, a ``ServerVerifier`` is tried first
for speed (cryptography's own all-Rust Web PKI profile for chains seen before,
one with certpolicy's CA rules otherwise: see ``_ServerVerifiers``): its
success implies the chain-only verdict, and only a failure on the leaf itself
(another name, no SAN, anyExtendedKeyUsage alone) falls back to the
chain-only verifier.

On top of cryptography, certpolicy adds (each measured against x509-limbo, see
``docs/conformance.md``):

* the extended key usage rule: an extKeyUsage extension on the end-entity or a
  CA certificate must list the required purpose (serverAuth) or
  anyExtendedKeyUsage; absent means unrestricted (RFC 5280 §4.2.1.12);
* CA certificates below the trust anchor must carry a subjectKeyIdentifier and
  (unless self-issued) an authorityKeyIdentifier keyIdentifier (RFC 5280
  §4.2.1.1, §4.2.1.2);
* the end-entity key must be RSA of at least 2048 bits, ECDSA on P-256, P-384
  or P-521, or Ed25519/Ed448 (cryptography checks only the keys that sign
  something); RSA moduli on the whole path must be a multiple of 8 bits
  (CA/B BR 6.1.5);
* a subject commonName that names one of the certificate's SAN identities
  must be a character-for-character copy of it (CA/B BR 7.1.4.3): no
  ``Example.COM`` for ``example.com``, no ``192.168.001.001`` for
  ``192.168.1.1``, no U-label for an A-label;
* the subjectAltName, when present, is critical exactly when the subject is
  empty (RFC 5280 §4.2.1.6, CA/B BR 7.1.2.7.12), as cryptography's server
  profile requires;
* a self-signed trust anchor whose authorityKeyIdentifier contradicts its own
  subjectKeyIdentifier is refused;
* every certificate on the returned path, the trust anchor included, is
  re-checked against the validation time (SPEC "Checks");
* a self-signed endpoint certificate that is itself a trust anchor is a path of
  one certificate even when it fails the end-entity profile (``cA=TRUE``, no
  AKI), as the agent's trust-store import does; it must still be valid at the
  validation time, correctly self-signed and allow the required EKU;
* chains through a CA whose name constraints use directoryName subtrees, which
  cryptography refuses as unsupported, are validated by pyhanko-certvalidator
  instead (RFC 5280 §4.2.1.10, §6.1.3(b)-(c)), bounded to
  :data:`PYHANKO_TIMEOUT` seconds, followed by certpolicy's own rules;
* missing intermediates are fetched from the caIssuers URL when the policy's
  ``TrustSpec.aia_fetch`` allows it (:mod:`certpolicy.aia`);
* every input is bounded: :func:`parse_chain` rejects more than
  :data:`MAX_CHAIN_CERTS` certificates, chains over :data:`MAX_CHAIN_BYTES`,
  certificates over :data:`MAX_CERT_BYTES`, undecodable DER/PEM and a leaf with
  duplicate or unreadable extensions.

Example::

    from certpolicy import ChainCheck
    from certpolicy.policy import TrustSpec

    check = ChainCheck(TrustSpec(system=False, extra=("certs/corp-root.pem",)))
    path = check.check(presented_chain, "api.corp.example")   # leaf ... trust anchor
"""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import functools
import ipaddress
import itertools
import operator
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, PublicKeyAlgorithmOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    VerificationError,
)

from .._memo import CERTIFICATE_FACTS
from ..aia import AiaFetcher, AiaResult
from ..errors import ChainError, MalformedInput, PolicyConfigError
from ..names import InvalidName, normalize_dns_name
from ..policy import Policy, TrustSpec
from ..trust import TrustAnchors, anchors_fingerprint, trust_anchors
from .base import CheckContext, CheckResult

__all__ = [
    "DEFAULT_MAX_CHAIN_DEPTH",
    "MAX_CERT_BYTES",
    "MAX_CHAIN_BYTES",
    "MAX_CHAIN_CERTS",
    "PYHANKO_TIMEOUT",
    "ChainCheck",
    "parse_chain",
]

#: Most certificates accepted in a presented chain (leaf included). A longer
#: chain is rejected as a whole (MalformedInput) before anything is parsed.
#: Real servers send 2-4; some send their whole bundle, and path-building test
#: suites send up to 36 candidates, which the path builder handles in bounded
#: time, so the cap is well above both.
MAX_CHAIN_CERTS = 64
#: Largest accepted certificate, in bytes of DER (real ones are 1-8 KB).
MAX_CERT_BYTES = 64 * 1024
#: Largest accepted chain, in bytes (OpenSSL's own limit on the TLS
#: Certificate message is 100 KiB).
MAX_CHAIN_BYTES = 1024 * 1024
#: Intermediates allowed between leaf and trust anchor when the policy sets no
#: ``max_chain_depth`` (cryptography's default).
DEFAULT_MAX_CHAIN_DEPTH = 8
#: Seconds granted to pyhanko-certvalidator for one chain (directoryName
#: name constraints only); a slower answer is a rejection.
PYHANKO_TIMEOUT = 0.5

_MAX_DEPTH_LIMIT = 255
_UTC = _dt.timezone.utc
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_RSA_OIDS = (PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.RSASSA_PSS)
_DOTTED_QUAD = re.compile(r"^\d{1,4}(\.\d{1,4}){3}$")
_DN_CONSTRAINT = "unsupported directoryName constraint"
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    _ANY_EKU: "anyExtendedKeyUsage",
}


def _eku_name(oid: x509.ObjectIdentifier) -> str:
    return _EKU_NAMES.get(oid, oid.dotted_string)


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or "<empty subject>"
    except Exception:  # pragma: no cover - unparseable name
        return "<unparseable subject>"


def _chain_error(
    reason: str, cert: x509.Certificate | None, outcome: str = "invalid", **details: Any
) -> ChainError:
    return ChainError(reason, check="chain", outcome=outcome, certificate=cert, details=details or None)


# ---------------------------------------------------------------------------
# Input parsing
# ---------------------------------------------------------------------------


def _malformed(reason: str, cert: x509.Certificate | None = None) -> MalformedInput:
    return MalformedInput(reason, check="chain", outcome="malformed", certificate=cert)


def _extensions_problem(cert: x509.Certificate) -> str | None:
    try:
        cert.extensions  # noqa: B018 - parses (and caches) every extension
    except x509.DuplicateExtension as e:
        name = getattr(e.oid, "_name", "")
        return (
            f"duplicate extension {e.oid.dotted_string}"
            f"{f' ({name})' if name and name != 'Unknown OID' else ''}; "
            "RFC 5280 §4.2 allows each extension once"
        )
    except (ValueError, x509.UnsupportedGeneralNameType) as e:
        return f"unreadable extension ({e})"
    return None


#: Parsed certificates by their DER bytes (bounded LRU). A server presents the
#: same certificates on every connection; reusing the parsed object also
#: reuses its parsed extensions, which cryptography caches per object, so a
#: chain whose verdict is not cached (another host name on a wildcard
#: certificate, a verdict past its TTL) skips the parsing work.
_PARSED_DER: collections.OrderedDict[bytes, x509.Certificate] = collections.OrderedDict()
_PARSED_DER_MAX = 512
_PARSED_DER_LOCK = threading.Lock()


def _parsed_der_get(data: bytes) -> x509.Certificate | None:
    with _PARSED_DER_LOCK:
        cert = _PARSED_DER.get(data)
        if cert is not None:
            _PARSED_DER.move_to_end(data)
        return cert


def _parsed_der_put(data: bytes, cert: x509.Certificate) -> None:
    with _PARSED_DER_LOCK:
        _PARSED_DER[data] = cert
        while len(_PARSED_DER) > _PARSED_DER_MAX:
            _PARSED_DER.popitem(last=False)


def _der_length(cert: x509.Certificate) -> int:
    """The certificate's DER size in bytes (a fact memoised per object; known
    without re-encoding for certificates parsed from DER here)."""
    return len(cert.public_bytes(Encoding.DER))


def parse_chain(
    items: Sequence[bytes | bytearray | memoryview | x509.Certificate],
    *,
    max_certs: int = MAX_CHAIN_CERTS,
    max_cert_bytes: int = MAX_CERT_BYTES,
    max_chain_bytes: int = MAX_CHAIN_BYTES,
) -> list[x509.Certificate]:
    """Parse a presented chain (leaf first) into certificate objects.

    Args:
        items: DER certificates (``bytes``), PEM text (``bytes``; one item may
            hold several certificates), or parsed certificates, leaf first, as a
            TLS server sends them (RFC 8446 §4.4.2).
        max_certs: most certificates accepted (default :data:`MAX_CHAIN_CERTS`).
        max_cert_bytes: largest DER size of one certificate, in bytes
            (default :data:`MAX_CERT_BYTES`).
        max_chain_bytes: largest total DER size of the chain, in bytes
            (default :data:`MAX_CHAIN_BYTES`).

    Returns:
        the certificates, leaf first. The leaf's extensions are parsed (and
        cached on the object); the others' are left to the path builder, which
        rejects a duplicate extension in any certificate it uses.

    Raises:
        MalformedInput: ``outcome="malformed"`` for an empty chain, more than
            ``max_certs`` certificates or ``max_chain_bytes`` bytes (nothing is
            parsed then), an oversized item, undecodable DER or PEM, or a leaf
            whose extensions cannot be read (duplicate extension, bad encoding).
            The message names the position in the chain.

    Certificate objects count with their DER size, like bytes.
    """
    if items is None or isinstance(items, (bytes, bytearray, memoryview, str)):
        raise _malformed(
            "expected a sequence of certificates (DER/PEM bytes or x509.Certificate), got "
            + ("nothing" if items is None else type(items).__name__)
        )
    try:
        count = len(items)
    except TypeError:  # an iterator: take no more than one past the limit
        try:
            items = list(itertools.islice(iter(items), max_certs + 1))
        except TypeError:
            raise _malformed(f"expected a sequence of certificates, got {type(items).__name__}") from None
        count = len(items)
    if count == 0:
        raise _malformed("empty chain: no certificate was presented")
    if count > max_certs:
        raise _malformed(f"chain of {count} certificates is longer than the limit of {max_certs}")
    total = sum(len(i) for i in items if isinstance(i, (bytes, bytearray, memoryview)))
    if total > max_chain_bytes:
        raise _malformed(f"chain of {total} bytes is larger than the limit of {max_chain_bytes} bytes")
    out: list[x509.Certificate] = []
    for i, item in enumerate(items):
        if isinstance(item, x509.Certificate):
            size = CERTIFICATE_FACTS(item, _der_length)
            total += size
            if size > max_cert_bytes or total > max_chain_bytes:
                where = "leaf certificate" if i == 0 else f"certificate #{i} of the chain"
                if size > max_cert_bytes:
                    raise _malformed(
                        f"{where}: {size} bytes of DER is larger than the limit of {max_cert_bytes} bytes", item
                    )
                raise _malformed(f"chain of more than {max_chain_bytes} bytes is larger than the limit")
            out.append(item)
            if len(out) > max_certs:  # after PEM items that held several certificates
                raise _malformed(f"chain of more than {max_certs} certificates is longer than the limit")
            continue
        where = "leaf certificate" if i == 0 else f"certificate #{i} of the chain"
        if isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            if not data.strip():
                raise _malformed(f"{where}: empty")
            if data.lstrip()[:10] == b"-----BEGIN":
                # base64 with line breaks: about 1.37 characters per DER byte
                pem_limit = max_cert_bytes * 11 // 8 + 128
                for block in data.split(b"-----END"):
                    if len(block) > pem_limit:
                        raise _malformed(
                            f"{where}: a PEM certificate of about {len(block) * 3 // 4} bytes is "
                            f"larger than the limit of {max_cert_bytes} bytes"
                        )
                try:
                    certs = x509.load_pem_x509_certificates(data)
                except (ValueError, x509.InvalidVersion) as e:
                    raise _malformed(f"{where}: undecodable PEM certificate ({e})") from None
            else:
                if len(data) > max_cert_bytes:
                    raise _malformed(
                        f"{where}: {len(data)} bytes is larger than the limit of "
                        f"{max_cert_bytes} bytes"
                    )
                cached = _parsed_der_get(data)
                if cached is not None:
                    certs = [cached]
                else:
                    try:
                        cert = x509.load_der_x509_certificate(data)
                    except (ValueError, x509.InvalidVersion) as e:
                        raise _malformed(
                            f"{where}: undecodable DER certificate of {len(data)} bytes ({e})"
                        ) from None
                    _parsed_der_put(data, cert)
                    CERTIFICATE_FACTS.remember(cert, _der_length, len(data))
                    certs = [cert]
        else:
            raise _malformed(
                f"{where}: expected DER/PEM bytes or an x509.Certificate, got "
                f"{type(item).__name__}"
            )
        out.extend(certs)
        if len(out) > max_certs:
            raise _malformed(f"chain of more than {max_certs} certificates is longer than the limit")
    problem = _extensions_problem(out[0])
    if problem is not None:
        raise _malformed(f"leaf certificate: {problem}", out[0])
    return out


# ---------------------------------------------------------------------------
# Extension policies (built once per trust store and EKU)
# ---------------------------------------------------------------------------


def _eku_rule(required: x509.ObjectIdentifier, who: str) -> Callable[..., None]:
    def rule(_policy: Any, cert: x509.Certificate, eku: Any) -> None:
        if eku is None:
            return  # absent: unrestricted (RFC 5280 §4.2.1.12)
        purposes = list(eku)
        if required in purposes or _ANY_EKU in purposes:
            return
        listed = ", ".join(_eku_name(p) for p in purposes) or "nothing"
        raise ValueError(
            f"required EKU {_eku_name(required)} not found in the extKeyUsage of {who} "
            f"{_subject(cert)!r} "
            f"(it lists {listed}; RFC 5280 §4.2.1.12)"
        )

    return rule


def _ca_key_id_rules(anchors: TrustAnchors) -> tuple[Callable[..., None], Callable[..., None]]:
    """subjectKeyIdentifier / authorityKeyIdentifier rules for CA certificates
    (RFC 5280 §4.2.1.1, §4.2.1.2). Trust anchors are exempt: real roots lack them.

    The rules hold the anchors' member set, not ``anchors``: they are kept in
    ``anchors.extras`` inside cryptography objects, which the garbage
    collector cannot traverse, so a reference back would leak the store."""
    members = anchors.members

    def ski_rule(_policy: Any, cert: x509.Certificate, ski: Any) -> None:
        if ski is None and cert not in members:
            raise ValueError(
                f"CA certificate {_subject(cert)!r} has no subjectKeyIdentifier, which RFC 5280 "
                "§4.2.1.2 requires in every CA certificate below the trust anchor"
            )

    def aki_rule(_policy: Any, cert: x509.Certificate, aki: Any) -> None:
        if aki is None:
            if cert.subject != cert.issuer and cert not in members:
                raise ValueError(
                    f"CA certificate {_subject(cert)!r} has no authorityKeyIdentifier, which "
                    "RFC 5280 §4.2.1.1 requires in every certificate that is not self-signed"
                )
            return
        # cryptography's own rule for a present AKI, kept (CA/B BR 7.1.2.11.1)
        if aki.key_identifier is None:
            raise ValueError(
                f"the authorityKeyIdentifier of CA certificate {_subject(cert)!r} must contain "
                "keyIdentifier (RFC 5280 §4.2.1.1)"
            )

    return ski_rule, aki_rule


def _ca_key_usage_rule(_policy: Any, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    """A CA's keyUsage, when present, must allow keyCertSign (RFC 5280
    §6.1.4(n)). An absent keyUsage is accepted, as RFC 5280's validation
    algorithm does ("if a key usage extension is present"): old private CAs
    lack it; CA/B Forum issuance rules require it, but they bind issuers, not
    validators."""
    if ku is not None and not ku.key_cert_sign:
        raise ValueError(
            f"the keyUsage of CA certificate {_subject(cert)!r} does not allow keyCertSign "
            "(RFC 5280 §6.1.4(n))"
        )


def _extension_policies(
    anchors: TrustAnchors, mode: str, eku: x509.ObjectIdentifier | None
) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """``(ca_policy, ee_policy)`` for one trust store and verifier mode, built
    once and kept on the :class:`TrustAnchors` object.

    * ``"server"``: cryptography's ServerVerifier profile (serverAuth, the SAN
      must name the host);
    * ``"client"``: chain-only, cryptography's own clientAuth EKU rules,
      subjectAltName optional;
    * ``"python"``: chain-only, certpolicy's EKU rules for ``eku``
      (anyExtendedKeyUsage accepted; ``None``: no EKU rule), SAN optional.

    Every mode adds certpolicy's keyIdentifier rules for CA certificates.
    """
    key = ("certpolicy.chain", mode, eku.dotted_string if eku is not None else None)
    cached = anchors.extras.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    ski_rule, aki_rule = _ca_key_id_rules(anchors)
    ca = (
        ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.SubjectKeyIdentifier, Criticality.NON_CRITICAL, ski_rule)
        .may_be_present(x509.AuthorityKeyIdentifier, Criticality.NON_CRITICAL, aki_rule)
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_key_usage_rule)
    )
    ee = ExtensionPolicy.webpki_defaults_ee()
    if mode != "server":
        ee = ee.may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    if mode == "python":
        if eku is not None:
            ee = ee.may_be_present(
                x509.ExtendedKeyUsage,
                Criticality.NON_CRITICAL,
                _eku_rule(eku, "end-entity certificate"),
            )
            ca = ca.may_be_present(
                x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, _eku_rule(eku, "CA certificate")
            )
        else:
            ee = ee.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
            ca = ca.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    with _policy_lock:
        anchors.extras.setdefault(key, (ca, ee))
        return anchors.extras[key]  # type: ignore[return-value]


_policy_lock = threading.Lock()


def _client_mode(leaf: x509.Certificate, eku: x509.ObjectIdentifier | None) -> str:
    """``"client"`` when cryptography's built-in clientAuth rules give
    certpolicy's answer for this leaf, else ``"python"``."""
    if eku != ExtendedKeyUsageOID.CLIENT_AUTH:
        return "python"
    try:
        purposes = list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return "client"
    return "client" if eku in purposes else "python"


@functools.lru_cache(maxsize=1024)
def _server_subject(host: str | None) -> x509.DNSName | x509.IPAddress | None:
    """The reference identity as a cryptography subject, or ``None``."""
    if not host or not isinstance(host, str):
        return None
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return x509.IPAddress(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        return x509.DNSName(normalize_dns_name(text))
    except (InvalidName, ValueError):
        return None


# ---------------------------------------------------------------------------
# certpolicy's own rules on the validated path
# ---------------------------------------------------------------------------


def _validity_problem(cert: x509.Certificate, at: _dt.datetime) -> tuple[str, str] | None:
    nb = cert.not_valid_before_utc
    na = cert.not_valid_after_utc
    if at < nb:
        return "not-yet-valid", f"is not valid before {nb.isoformat()} (validation time {at.isoformat()})"
    if at > na:
        return "expired", f"expired at {na.isoformat()} (validation time {at.isoformat()})"
    return None


# The rules below are pure functions of the certificate, memoised by the
# object's identity (certpolicy._memo): a server's certificates come back on
# every connection as the same objects.
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


def _leaf_name_problem(cert: x509.Certificate, san_checked: bool) -> str | None:
    """subjectAltName criticality (unless cryptography's server profile already
    checked it: ``san_checked``) and subject CN consistency of the leaf."""
    try:
        san_ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None
    subject = cert.subject
    if not san_checked:
        empty_subject = len(subject) == 0
        if empty_subject and not san_ext.critical:
            return "subjectAltName must be critical when the subject is empty (RFC 5280 §4.2.1.6)"
        if san_ext.critical and not empty_subject:
            return (
                "subjectAltName must not be critical when the subject is not empty "
                "(RFC 5280 §4.2.1.6, CA/B BR 7.1.2.7.12)"
            )
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


def _leaf_key_problem(cert: x509.Certificate) -> str | None:
    return _key_problem(cert, True)


def _ca_key_problem(cert: x509.Certificate) -> str | None:
    return _key_problem(cert, False)


def _leaf_cn_problem(cert: x509.Certificate) -> str | None:
    """The leaf rules when cryptography's server profile checked the SAN."""
    return _leaf_name_problem(cert, True)


def _leaf_name_problem_unchecked(cert: x509.Certificate) -> str | None:
    return _leaf_name_problem(cert, False)


def _key_ids_conform(cert: x509.Certificate) -> bool:
    """Whether a CA certificate below the trust anchor satisfies certpolicy's
    key-identifier rules (``_ca_key_id_rules``): a subjectKeyIdentifier, and an
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


def _webpki_ca_conforms(cert: x509.Certificate) -> bool:
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


def _lax_anchor_subjects(anchors: TrustAnchors) -> frozenset[bytes] | None:
    """Subjects (DER) of the trust anchors that fail cryptography's stricter
    Web PKI CA rules (see :func:`_webpki_ca_conforms`; some current roots do:
    an authorityKeyIdentifier with issuer and serial), worked out once per
    store; ``None`` when such a subject cannot be encoded."""
    key = "certpolicy.chain.lax-anchor-subjects"
    found = anchors.extras.get(key, False)
    if found is not False:
        return found  # type: ignore[return-value]
    lax: frozenset[bytes] | None
    try:
        lax = frozenset(
            a.subject.public_bytes() for a in anchors.certificates if not _webpki_ca_conforms(a)
        )
    except Exception:  # pragma: no cover - an unencodable anchor name
        lax = None
    with _policy_lock:
        anchors.extras.setdefault(key, lax)
    return lax


def _issuer_der(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.issuer.public_bytes()
    except Exception:  # an unencodable issuer name
        return None


def _webpki_profile_decides(
    leaf: x509.Certificate, others: Sequence[x509.Certificate], anchors: TrustAnchors
) -> bool:
    """Whether cryptography's Web PKI CA rules and certpolicy's can only
    differ by certpolicy's key-identifier presence rules for this chain: no
    presented CA certificate, and no trust anchor that can issue a presented
    certificate (same subject name as its issuer), lacks keyUsage or names an
    issuer/serial in its authorityKeyIdentifier (or cannot be read here).
    Then both path builders meet the candidates in the same order and accept
    the same candidates, except that certpolicy's skips those that break the
    presence rules: the Web PKI path, when those rules hold on it, is the path
    certpolicy's builder returns too."""
    if not all(CERTIFICATE_FACTS(c, _webpki_ca_conforms) for c in others):
        return False
    lax = _lax_anchor_subjects(anchors)
    if lax is None:
        return False
    if not lax:
        return True
    for c in (leaf, *others):
        issuer = CERTIFICATE_FACTS(c, _issuer_der)
        if issuer is None or issuer in lax:
            return False
    return True


#: The mark of a trust store used before (in its ``extras``).
_STORE_SEEN = "certpolicy.chain.store-seen"


def _anchor_problem(anchor: x509.Certificate) -> str | None:
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


def _bad_anchors(anchors: TrustAnchors) -> dict[int, str]:
    """``{id(anchor): problem}`` for the anchors that certpolicy refuses, worked
    out once per trust store (the objects live as long as the store)."""
    key = "certpolicy.chain.bad-anchors"
    found = anchors.extras.get(key)
    if isinstance(found, dict):
        return found
    bad: dict[int, str] = {}
    for anchor in anchors.certificates:
        try:
            problem = _anchor_problem(anchor)
        except (ValueError, x509.DuplicateExtension) as e:
            problem = f"unreadable extension ({e})"
        if problem is not None:
            bad[id(anchor)] = problem
    with _policy_lock:
        anchors.extras.setdefault(key, bad)
    return bad


def _eku_problem(cert: x509.Certificate, eku: x509.ObjectIdentifier | None) -> str | None:
    if eku is None:
        return None
    try:
        purposes = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None
    if eku in purposes or _ANY_EKU in purposes:
        return None
    listed = ", ".join(_eku_name(p) for p in purposes) or "nothing"
    return f"required EKU {_eku_name(eku)} not found in extKeyUsage (it lists {listed}; RFC 5280 §4.2.1.12)"


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _role(i: int, n: int) -> str:
    if i == 0:
        return "leaf"
    return "trust anchor" if i == n - 1 else "intermediate"


# ---------------------------------------------------------------------------
# pyhanko-certvalidator for directoryName name constraints
# ---------------------------------------------------------------------------

#: pyhanko runs in daemon threads (a stuck validation never blocks interpreter
#: exit); at most this many at once, further chains are refused while they run.
_PYHANKO_SLOTS = threading.BoundedSemaphore(4)


def _run_bounded(func: Callable[[], list[bytes]], timeout: float) -> list[bytes]:
    """Run ``func`` in a daemon thread; raise TimeoutError after ``timeout`` s."""
    if not _PYHANKO_SLOTS.acquire(blocking=False):
        raise TimeoutError("too many directoryName-constrained validations are running")
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = func()
        except BaseException as e:  # handed to the caller
            outcome["error"] = e
        finally:
            _PYHANKO_SLOTS.release()
            done.set()

    threading.Thread(target=work, name="certpolicy-pyhanko", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"took longer than {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    value: list[bytes] = outcome["value"]
    return value


def _pyhanko_validate(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: _dt.datetime,
) -> list[bytes]:
    """Run pyhanko's RFC 5280 path validation; return the path's DER, leaf first."""
    from asn1crypto import x509 as ax
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.authority import CertTrustAnchor

    def der(c: x509.Certificate) -> Any:
        return ax.Certificate.load(c.public_bytes(Encoding.DER))

    context = ValidationContext(
        trust_roots=[CertTrustAnchor(der(a), derive_default_quals_from_cert=True) for a in anchors],
        moment=at,
        allow_fetching=False,
        revocation_mode="soft-fail",
        weak_hash_algos={"md2", "md5", "sha1"},
    )
    validator = CertificateValidator(
        der(leaf), intermediate_certs=[der(c) for c in intermediates], validation_context=context
    )
    path = asyncio.run(validator.async_validate_path())
    certs = [c.dump() for c in path.iter_certs(include_root=True)]
    return certs[::-1]


class _PathData(Mapping[str, Any]):
    """``{"path": [subject, ...], "trust_anchor": subject}``, with the subject
    strings of the path made only when read (logs, ``--json``), not on every
    handshake."""

    __slots__ = ("_anchor", "_certs", "_subjects")

    def __init__(self, certs: list[x509.Certificate], anchor: str) -> None:
        self._certs = certs
        self._anchor = anchor
        self._subjects: list[str] | None = None

    def __getitem__(self, key: str) -> Any:
        if key == "trust_anchor":
            return self._anchor
        if key == "path":
            if self._subjects is None:
                self._subjects = [_subject(c) for c in self._certs]
            return self._subjects
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("path", "trust_anchor"))

    def __len__(self) -> int:
        return 2


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


#: ``verify(leaf, candidates) -> (path, checked_by_server_profile)``
_Verify = Callable[[x509.Certificate, list[x509.Certificate]], tuple[list[x509.Certificate], bool]]


def _as_utc(at: _dt.datetime | None) -> _dt.datetime:
    if at is None:
        return _dt.datetime.now(_UTC).replace(microsecond=0)
    if at.tzinfo is None:
        return at.replace(tzinfo=_UTC)
    return at.astimezone(_UTC)


def _clean(msg: str) -> str:
    """cryptography's message without its wrapping ("validation failed: ",
    and the "Python extension validator failed: ValueError: " around
    certpolicy's own rules, whose messages say what failed)."""
    msg = msg.strip()
    if msg.startswith("validation failed: "):
        msg = msg[len("validation failed: ") :]
    return msg.replace("Python extension validator failed: ValueError: ", "")


def _valid_depth(depth: int | None, field_name: str = "max_chain_depth") -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= _MAX_DEPTH_LIMIT:
        raise PolicyConfigError(
            f"expected a whole number between 0 and {_MAX_DEPTH_LIMIT}, got {depth!r}",
            field=field_name,
        )
    return depth


def _is_path_failure(error: VerificationError) -> bool:
    """Whether cryptography failed while building the path (as opposed to
    rejecting the leaf before it started)."""
    return _clean(str(error)).startswith(("candidates exhausted", "fatal error"))


class _ServerVerifiers:
    """Path validation with cryptography's ServerVerifier for one trust store,
    maximum depth, validation time and host; the verifiers are built on
    first use.

    * ``webpki``: cryptography's own Web PKI profile, all in Rust (no Python
      callback runs during verification). Its CA rules are certpolicy's,
      except stricter on keyUsage (must be present) and on the
      authorityKeyIdentifier (no issuer or serial number), and without the
      key-identifier presence rules. It is used only for a chain whose CA
      certificates and trust store were seen before and where the stricter
      rules cannot matter (:func:`_webpki_profile_decides`); its path is
      returned when the presence rules hold on it (memoised per
      certificate). Any path failure goes to ``ruled``, so that certpolicy's
      rules decide and explain it.
    * ``ruled``: the same with certpolicy's CA extension policy (Python
      callbacks); it decides in every other case.

    A failure on the leaf itself (another name, no SAN, anyExtendedKeyUsage
    alone) goes to the chain-only verifier; a failure while building the path
    under certpolicy's CA rules stands, because the chain-only verifier
    builds paths with the same rules.
    """

    __slots__ = (
        "_accepted",
        "_built",
        "_chain_only",
        "_decided",
        "_lock",
        "_prepared",
        "_subject",
        "_time",
        "_warm",
        "anchors",
        "depth",
    )

    def __init__(
        self,
        anchors: TrustAnchors,
        depth: int,
        at: _dt.datetime,
        subject: x509.DNSName | x509.IPAddress,
        chain_only: Callable[..., tuple[list[x509.Certificate], bool]],
    ) -> None:
        self.anchors = anchors
        self.depth = depth
        self._time = at
        self._subject = subject
        self._chain_only = chain_only
        self._built: list[Any] = [None, None]
        self._lock = threading.Lock()
        # identity caches of the last decision: the intermediates presented
        # (the Web PKI profile decides) and those of the path it returned
        # (the key-identifier rules hold)
        self._decided: tuple[x509.Certificate, ...] = (object(),)  # type: ignore[assignment]
        self._accepted: tuple[x509.Certificate, ...] = (object(),)  # type: ignore[assignment]
        key = ("certpolicy.chain.server-builders", depth)
        prepared = anchors.extras.get(key)
        if prepared is None:
            ca_server, ee_server = _extension_policies(anchors, "server", ExtendedKeyUsageOID.SERVER_AUTH)
            base = PolicyBuilder().store(anchors.store).max_chain_depth(depth)  # type: ignore[arg-type]
            prepared = (base, base.extension_policies(ca_policy=ca_server, ee_policy=ee_server))
            with _policy_lock:
                if len(anchors.extras) < 64:  # depths are few; stay bounded anyway
                    anchors.extras.setdefault(key, prepared)
        self._prepared: tuple[Any, Any] = prepared  # type: ignore[assignment]
        # a trust store used for the first time is not warm
        self._warm = _STORE_SEEN in anchors.extras
        anchors.extras[_STORE_SEEN] = True

    def _get(self, which: int) -> Any:
        verifier = self._built[which]
        if verifier is None:
            with self._lock:
                verifier = self._built[which]
                if verifier is None:
                    builder = self._prepared[which].time(self._time)
                    verifier = self._built[which] = builder.build_server_verifier(self._subject)
        return verifier

    def _fall_back(self, leaf: x509.Certificate, others: list[x509.Certificate]) -> tuple[list[x509.Certificate], bool]:
        return self._chain_only(self.anchors, self.depth, self._time, leaf, others)

    def verify(self, leaf: x509.Certificate, others: list[x509.Certificate]) -> tuple[list[x509.Certificate], bool]:
        """``(path, True)``, or the chain-only verifier's answer; raises
        VerificationError (always the ruled verifier's: certpolicy's rules
        decide and explain every path failure)."""
        anchors = self.anchors
        decided = self._decided  # the intermediates of the last chain the Web PKI profile took
        if len(decided) != len(others) or not all(map(operator.is_, decided, others)):
            first_sight = not all([CERTIFICATE_FACTS.seen_before(c) for c in others]) or not self._warm
            self._warm = True
            if first_sight or not _webpki_profile_decides(leaf, others, anchors):
                return self._ruled(leaf, others)
            if not _lax_anchor_subjects(anchors):  # then the decision does not depend on the leaf
                self._decided = tuple(others)
        try:
            webpki = self._get(0)
        except ValueError:  # no ServerVerifier for this name
            return self._ruled(leaf, others)
        try:
            path: list[x509.Certificate] = webpki.verify(leaf, others)
        except VerificationError as e:
            if not _is_path_failure(e):
                # The leaf itself fails the server profile before any CA rule
                # is consulted; the ruled verifier's end-entity rules are the
                # same, so it would fail the same way: the chain-only verifier
                # decides, as after the ruled verifier.
                return self._fall_back(leaf, others)
            return self._ruled(leaf, others)
        middle = path[1:-1]
        accepted = self._accepted
        if len(accepted) == len(middle) and all(map(operator.is_, accepted, middle)):
            return path, True
        if all(CERTIFICATE_FACTS(c, _key_ids_conform) or anchors.contains(c) for c in middle):
            self._accepted = tuple(middle)
            return path, True
        return self._ruled(leaf, others)

    def _ruled(self, leaf: x509.Certificate, others: list[x509.Certificate]) -> tuple[list[x509.Certificate], bool]:
        try:
            ruled = self._get(1)
        except ValueError:  # no ServerVerifier for this name
            return self._fall_back(leaf, others)
        try:
            return ruled.verify(leaf, others), True
        except VerificationError as e:
            if _is_path_failure(e):
                raise
        return self._fall_back(leaf, others)


class ChainCheck:
    """Certification path validation (RFC 5280 §6.1) against a policy's trust anchors.

    Args:
        trust: where the trust anchors come from (:class:`~certpolicy.policy.TrustSpec`:
            system store, extra PEM files or folders, caIssuers fetching). ``None``:
            ``anchors`` alone when given, else the policy's ``trust`` (in
            :meth:`run`, or :meth:`check` with ``policy=``), else the system store.
        anchors: extra trust anchors as certificate objects (added to ``trust``).
        max_chain_depth: most intermediates between leaf and trust anchor
            (0-255); ``None``: the policy's ``max_chain_depth``, else
            :data:`DEFAULT_MAX_CHAIN_DEPTH`.
        eku: the extended key usage the certificates must allow (serverAuth by
            default; anyExtendedKeyUsage and an absent extension allow every
            purpose); ``None`` disables the EKU rule.
        aia_fetcher: the :class:`certpolicy.aia.AiaFetcher` (and its cache) used
            when the trust spec has ``aia_fetch = true``; default: a private one.

    Raises:
        PolicyConfigError: ``max_chain_depth`` out of range.

    The trust store behind each trust spec is built once and cached (bounded,
    thread-safe, re-read when its files change), and so are the extension
    policies per trust store. The verifiers are rebuilt per host and second,
    because cryptography fixes the validation time in them (about 2 µs). One
    instance is safe to share between threads; no lock is held during
    verification.
    """

    name = "chain"
    requires_chain = False

    def __init__(
        self,
        trust: TrustSpec | None = None,
        *,
        anchors: Sequence[x509.Certificate] = (),
        max_chain_depth: int | None = None,
        eku: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.SERVER_AUTH,
        aia_fetcher: AiaFetcher | None = None,
    ) -> None:
        self.trust = trust
        self.anchors: tuple[x509.Certificate, ...] = tuple(anchors)
        self.max_chain_depth = _valid_depth(max_chain_depth)
        self.eku = eku
        self.aia = aia_fetcher or AiaFetcher()
        self._anchors_key = anchors_fingerprint(self.anchors) if trust is not None else b""
        self._own: TrustAnchors | None = (
            TrustAnchors.from_certificates(self.anchors) if self.anchors and trust is None else None
        )
        self._server_verifiers: dict[tuple[int, _dt.datetime, str], _ServerVerifiers] = {}
        self._verifiers_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ChainCheck(trust={self.trust!r}, anchors=<{len(self.anchors)}>, "
            f"max_chain_depth={self.max_chain_depth!r}, eku={self.eku!r})"
        )

    # -- configuration ------------------------------------------------------------

    def _trust_for(self, policy: Policy | None) -> tuple[TrustAnchors, TrustSpec | None]:
        if self._own is not None:
            return self._own, None
        spec = self.trust
        if spec is None:
            spec = policy.trust if policy is not None else TrustSpec()
        try:
            return trust_anchors(spec, self.anchors, anchors_key=self._anchors_key), spec
        except PolicyConfigError as e:
            raise _chain_error(f"trust anchors unavailable: {e}", None, "no-trust-anchors") from None

    def _depth_for(self, policy: Policy | None) -> int:
        if self.max_chain_depth is not None:
            return self.max_chain_depth
        if policy is not None and policy.max_chain_depth is not None:
            return max(0, min(int(policy.max_chain_depth), _MAX_DEPTH_LIMIT))
        return DEFAULT_MAX_CHAIN_DEPTH

    # -- public API ---------------------------------------------------------------

    def check(
        self,
        chain: Sequence[x509.Certificate | bytes],
        host: str | None = None,
        *,
        at: _dt.datetime | None = None,
        policy: Policy | None = None,
        allow_network: bool = True,
        deadline: float | None = None,
    ) -> list[x509.Certificate]:
        """Validate ``chain`` and return its certification path.

        Args:
            chain: the presented chain, leaf first (certificate objects, or DER /
                PEM bytes, see :func:`parse_chain`). The order of the others and
                extra certificates do not matter: they are untrusted candidates.
            host: the server name (A-label DNS name or IP address), or ``None``.
                It never decides the verdict (hostname matching is
                :class:`~certpolicy.checks.hostname.HostnameCheck`'s job); it
                names the host in errors and lets the check try cryptography's
                all-Rust ServerVerifier first, which is faster on large SAN
                lists.
            at: validation time (aware ``datetime``; naive means UTC); default now.
            policy: the policy in force: supplies ``trust`` (when the check has
                none), ``max_chain_depth`` and the name used in errors.
            allow_network: ``False``: fetch no missing intermediate, use only
                cached caIssuers answers (asyncio handshakes).
            deadline: ``time.monotonic()`` value bounding caIssuers fetches.

        Returns:
            the validated path ``[leaf, intermediate..., trust anchor]`` (one
            element when the leaf is itself a trust anchor).

        Raises:
            MalformedInput: the chain cannot be parsed or breaks a size limit,
                or a certificate of it has duplicate/unreadable extensions.
            ChainError: no valid path; ``outcome`` is ``"expired"``,
                ``"not-yet-valid"``, ``"unknown-issuer"``, ``"no-trust-anchors"``
                or ``"invalid"`` (signature, constraint, profile or key rule);
                the message names the certificate and the rule.
        """
        policy_name = policy.name if policy is not None else None
        try:
            certs = parse_chain(chain)
            anchors, spec = self._trust_for(policy)
            return self._validate(
                certs,
                anchors,
                spec,
                self._depth_for(policy),
                _as_utc(at),
                host=host,
                allow_network=allow_network,
                deadline=deadline,
            )
        except (ChainError, MalformedInput) as e:
            raise e.with_context(policy=policy_name, host=host) from None
        except (
            ValueError,
            TypeError,
            UnsupportedAlgorithm,
            x509.DuplicateExtension,
            x509.InvalidVersion,
        ) as e:
            # cryptography parses lazily: a malformed name or extension can
            # surface anywhere during validation. Fail closed, say why.
            raise MalformedInput(
                f"the chain cannot be processed: {type(e).__name__}: {e}",
                policy=policy_name,
                check="chain",
                outcome="malformed",
                host=host,
            ) from e

    def run(self, ctx: CheckContext) -> CheckResult:
        """Run the check for one connection (the :class:`~certpolicy.checks.Check` protocol).

        Uses ``ctx.chain``, ``ctx.at``, ``ctx.policy`` (trust, max_chain_depth),
        ``ctx.allow_network`` and ``ctx.deadline``; sets ``ctx.verified_path``.

        Returns:
            ``CheckResult("chain", "ok", detail, data={"path": [subject, ...],
            "trust_anchor": subject})``.

        Raises:
            ChainError / MalformedInput: as :meth:`check`, carrying the policy
            name and the host.
        """
        path = self.check(
            ctx.chain,
            ctx.host,
            at=ctx.at,
            policy=ctx.policy,
            allow_network=ctx.allow_network,
            deadline=ctx.deadline,
        )
        ctx.verified_path = path
        anchor = _subject(path[-1])
        detail = (
            f"certification path of {len(path)} certificates to trust anchor {anchor!r}"
            if len(path) > 1
            else f"the certificate is itself a trust anchor ({anchor!r})"
        )
        return CheckResult(check=self.name, outcome="ok", detail=detail, data=_PathData(path, anchor))

    # -- the work -----------------------------------------------------------------

    def _verifier(
        self,
        leaf: x509.Certificate,
        anchors: TrustAnchors,
        depth: int,
        at: _dt.datetime,
        host: str | None,
    ) -> _Verify:
        """The path validation function for this call.

        With serverAuth and a host name, cryptography's ServerVerifier is tried
        first (see :class:`_ServerVerifiers`): it checks the leaf (name
        included) before building a path, all in Rust. When it fails on the
        leaf (name mismatch, no SAN, anyExtendedKeyUsage alone ...), the
        chain-only ClientVerifier decides.
        """
        naive_at = at.replace(tzinfo=None)
        if host and self.eku == ExtendedKeyUsageOID.SERVER_AUTH:
            # A verifier is fixed to one validation time (whole seconds here) and
            # one name: the handshakes of one second to one host share it.
            vkey = (depth, naive_at, host)
            hit = self._server_verifiers.get(vkey)
            if hit is not None and hit.anchors is anchors:
                return hit.verify
            subject = _server_subject(host)
            if subject is not None:
                servers = _ServerVerifiers(anchors, depth, naive_at, subject, self._chain_only)
                with self._verifiers_lock:
                    if len(self._server_verifiers) >= 256:
                        self._server_verifiers.clear()
                    self._server_verifiers[vkey] = servers
                return servers.verify
        return functools.partial(self._chain_only, anchors, depth, naive_at)

    def _chain_only(
        self,
        anchors: TrustAnchors,
        depth: int,
        naive_at: _dt.datetime,
        leaf: x509.Certificate,
        others: list[x509.Certificate],
    ) -> tuple[list[x509.Certificate], bool]:
        """Path validation by a chain-only ClientVerifier (no name, certpolicy's
        EKU rule, subjectAltName optional)."""
        mode = _client_mode(leaf, self.eku)
        ca_policy, ee_policy = _extension_policies(anchors, mode, self.eku)
        builder = PolicyBuilder().store(anchors.store).time(naive_at).max_chain_depth(depth)  # type: ignore[arg-type]
        client = builder.extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier()
        return client.verify(leaf, others).chain, False

    def _validate(
        self,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        spec: TrustSpec | None,
        depth: int,
        at: _dt.datetime,
        *,
        host: str | None,
        allow_network: bool,
        deadline: float | None,
    ) -> list[x509.Certificate]:
        leaf = certs[0]
        if anchors.store is None:
            where = ", ".join(anchors.sources) or "nowhere"
            raise _chain_error(
                "no trust anchors: the policy trusts no certificate "
                f"(searched: {where}); set trust.system or trust.extra",
                leaf,
                "no-trust-anchors",
            )
        verifier = self._verifier(leaf, anchors, depth, at, host)
        candidates = certs[1:]
        try:
            path, san_checked = verifier(leaf, candidates)
            by_cryptography = True
        except VerificationError as first:
            path, by_cryptography = self._recover(
                first, verifier, certs, anchors, spec, depth, at, allow_network, deadline
            )
            san_checked = False
        self._post_checks(
            path, at, anchors, san_checked=san_checked, validity=not by_cryptography
        )
        return path

    def _recover(
        self,
        error: VerificationError,
        verifier: _Verify,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        spec: TrustSpec | None,
        depth: int,
        at: _dt.datetime,
        allow_network: bool,
        deadline: float | None,
    ) -> tuple[list[x509.Certificate], bool]:
        """After a failed verification: fetch missing intermediates, try
        pyhanko for directoryName constraints, accept a pinned self-signed
        leaf, or explain the failure.

        Returns ``(path, built_by_cryptography)``."""
        leaf, candidates = certs[0], certs[1:]
        aia: AiaResult | None = None
        if spec is not None and spec.aia_fetch:
            aia = self.aia.chase(
                certs,
                anchors.may_issue,
                limits=spec.aia_limits,
                deadline=deadline,
                allow_network=allow_network,
            )
            if aia.certificates:
                candidates = [*candidates, *aia.certificates]
                try:
                    return verifier(leaf, candidates)[0], True
                except VerificationError as second:
                    error = second
        if _DN_CONSTRAINT in str(error):
            return self._pyhanko_path(leaf, candidates, anchors, depth, at, error), False
        direct = self._direct_trust(leaf, anchors, at)
        if direct is not None:
            return direct, False
        raise self._explain(error, certs, anchors, at, aia)

    def _pyhanko_path(
        self,
        leaf: x509.Certificate,
        candidates: Sequence[x509.Certificate],
        anchors: TrustAnchors,
        depth: int,
        at: _dt.datetime,
        error: VerificationError,
    ) -> list[x509.Certificate]:
        """Validate with pyhanko-certvalidator (directoryName name constraints)."""
        if len(candidates) > 16:
            raise _chain_error(
                f"a CA on the path uses directoryName name constraints, validated by "
                f"pyhanko-certvalidator only for up to 16 candidate certificates "
                f"(got {len(candidates)}); cryptography: {_clean(str(error))}",
                leaf,
            )
        issuers = {c.issuer.public_bytes() for c in (leaf, *candidates)}
        relevant = [a for a in anchors.certificates if a.subject.public_bytes() in issuers]
        try:
            ders = _run_bounded(
                lambda: _pyhanko_validate(leaf, candidates, relevant, at), PYHANKO_TIMEOUT
            )
        except TimeoutError as e:
            raise _chain_error(
                f"path validation with directoryName name constraints (pyhanko-certvalidator) "
                f"refused: {e}",
                leaf,
            ) from None
        except Exception as e:
            raise _chain_error(
                f"no valid certification path from {_subject(leaf)!r} to a trust anchor "
                f"(RFC 5280 §6.1, directoryName name constraints checked by "
                f"pyhanko-certvalidator): {e}",
                leaf,
            ) from None
        by_der = {c.public_bytes(Encoding.DER): c for c in (leaf, *candidates, *anchors.certificates)}
        path = [by_der[d] for d in ders if d in by_der]
        if len(path) != len(ders) or not path or path[0] != leaf:
            raise _chain_error("pyhanko-certvalidator returned an unknown certification path", leaf)
        intermediates = [c for c in path[1:-1] if c.subject != c.issuer]
        if len(intermediates) > depth:
            raise _chain_error(
                f"certification path has {len(intermediates)} intermediates, more than the "
                f"maximum depth of {depth}",
                leaf,
            )
        for problem in (_eku_problem(leaf, self.eku), _leaf_profile_problem(leaf)):
            if problem is not None:
                raise _chain_error(f"leaf certificate {_subject(leaf)!r}: {problem}", leaf)
        # certpolicy's CA rules that cryptography's path builder would have
        # applied through the extension policy (pyhanko knows none of them)
        for ca in path[1:-1]:
            if anchors.contains(ca):
                continue
            problem = _eku_problem(ca, self.eku)
            if problem is None and not CERTIFICATE_FACTS(ca, _key_ids_conform):
                problem = (
                    "a CA certificate below the trust anchor needs a subjectKeyIdentifier and, "
                    "unless self-issued, an authorityKeyIdentifier with a keyIdentifier "
                    "(RFC 5280 §4.2.1.1, §4.2.1.2)"
                )
            if problem is not None:
                raise _chain_error(f"intermediate certificate {_subject(ca)!r}: {problem}", ca)
        return path

    def _direct_trust(
        self, leaf: x509.Certificate, anchors: TrustAnchors, at: _dt.datetime
    ) -> list[x509.Certificate] | None:
        """A self-signed endpoint certificate that is itself a trust anchor."""
        if not anchors.contains(leaf) or not _self_signed(leaf) or leaf.serial_number <= 0:
            return None
        problem = _validity_problem(leaf, at)
        if problem is not None:
            raise _chain_error(
                f"the certificate is a trust anchor but {problem[1]}; the trust anchor must be "
                "valid too (SPEC)",
                leaf,
                problem[0],
            )
        eku_problem = _eku_problem(leaf, self.eku)
        if eku_problem is not None:
            raise _chain_error(f"the certificate is a trust anchor but {eku_problem}", leaf)
        return [leaf]

    def _post_checks(
        self,
        path: list[x509.Certificate],
        at: _dt.datetime,
        anchors: TrustAnchors,
        *,
        san_checked: bool = False,
        validity: bool = False,
    ) -> None:
        """certpolicy's rules on a validated path (see the module docstring).

        ``validity``: re-check every certificate against ``at`` (for paths that
        cryptography did not build; cryptography checks every certificate of its
        paths, the trust anchor included).
        """
        n = len(path)
        for i, cert in enumerate(path):
            if validity:
                problem = _validity_problem(cert, at)
                if problem is not None:
                    raise _chain_error(
                        f"{_role(i, n)} certificate {_subject(cert)!r} {problem[1]} "
                        "(RFC 5280 §6.1.3(a)(2); SPEC: the trust anchor included)",
                        cert,
                        problem[0],
                    )
            key_problem = CERTIFICATE_FACTS(cert, _leaf_key_problem if i == 0 else _ca_key_problem)
            if key_problem is not None:
                raise _chain_error(f"{_role(i, n)} certificate {_subject(cert)!r}: {key_problem}", cert)
        leaf = path[0]
        try:
            leaf_problem = CERTIFICATE_FACTS(
                leaf, _leaf_cn_problem if san_checked else _leaf_name_problem_unchecked
            )
        except (ValueError, x509.DuplicateExtension) as e:
            raise _chain_error(f"leaf certificate: unreadable extension ({e})", leaf) from None
        if leaf_problem is not None:
            raise _chain_error(f"leaf certificate {_subject(leaf)!r}: {leaf_problem}", leaf)
        if n > 1:
            bad = _bad_anchors(anchors)
            if bad:
                anchor = path[-1]
                anchor_problem = bad.get(id(anchor))
                if anchor_problem is None and not anchors.contains(anchor):
                    anchor_problem = _anchor_problem(anchor)
                if anchor_problem is not None:
                    raise _chain_error(f"trust anchor {_subject(anchor)!r}: {anchor_problem}", anchor)

    def _explain(
        self,
        error: VerificationError,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        at: _dt.datetime,
        aia: AiaResult | None,
    ) -> ChainError | MalformedInput:
        leaf = certs[0]
        msg = _clean(str(error))
        if "duplicate extension" in msg or "invalid extension" in msg:
            for i, c in enumerate(certs):
                ext_problem = _extensions_problem(c)
                if ext_problem is not None:
                    return _malformed(f"certificate #{i} of the chain: {ext_problem}", c)
        problem = _validity_problem(leaf, at)
        if problem is not None:
            return _chain_error(
                f"leaf certificate {_subject(leaf)!r} {problem[1]} (RFC 5280 §6.1.3(a)(2))",
                leaf,
                problem[0],
                cryptography=msg,
            )
        if len(certs) == 1 and _self_signed(leaf) and not anchors.contains(leaf):
            return _chain_error(
                f"self-signed certificate {_subject(leaf)!r} is not a trust anchor of this policy "
                "(to trust this endpoint, add the certificate to the policy's trust.extra, "
                "usually in an override for the endpoint) (RFC 5280 §6.1)",
                leaf,
                "self-signed",
                cryptography=msg,
            )
        if "no interior errors" in msg:
            pool = [*certs, *(aia.certificates if aia is not None else ())]
            subjects = {c.subject.public_bytes() for c in pool}
            missing = [
                c
                for c in pool
                if c.issuer.public_bytes() not in subjects and not anchors.may_issue(c)
            ]
            if missing:
                top = missing[0]
                reason = (
                    f"unknown issuer: {_subject(top)!r} is issued by "
                    f"{top.issuer.rfc4514_string()!r}, which is neither presented by the "
                    "server nor a trust anchor"
                )
                if aia is not None:
                    reason += f" (caIssuers: {aia.describe()})"
                else:
                    reason += " (RFC 5280 §6.1; the server may be missing an intermediate)"
                return _chain_error(reason, top, "unknown-issuer", cryptography=msg)
        hints = []
        outcome = "invalid"
        for c in certs[1:]:
            p = _validity_problem(c, at)
            if p is not None:
                hints.append(f"presented certificate {_subject(c)!r} {p[1]}")
                if "not valid at validation time" in msg and outcome == "invalid":
                    outcome = p[0]
        if outcome == "invalid" and "not valid at validation time" in msg:
            outcome = "expired"
        reason = f"no valid certification path from {_subject(leaf)!r} to a trust anchor: {msg}"
        if hints:
            reason += "; " + "; ".join(hints)
        if aia is not None and aia.errors:
            reason += f" (caIssuers: {aia.describe()})"
        # certpolicy's own CA rules name the certificate they refused
        culprit = next((c for c in certs[1:] if f"CA certificate {_subject(c)!r}" in msg), leaf)
        return _chain_error(reason, culprit, outcome, cryptography=msg)



def _leaf_profile_problem(leaf: x509.Certificate) -> str | None:
    """The end-entity rules cryptography applies, for paths validated by pyhanko."""
    exts = leaf.extensions
    try:
        if exts.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "basicConstraints.cA must not be asserted in an end-entity certificate"
    except x509.ExtensionNotFound:
        pass
    try:
        if exts.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return "keyUsage must not assert keyCertSign in an end-entity certificate"
    except x509.ExtensionNotFound:
        pass
    return None
