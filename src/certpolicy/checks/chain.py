"""The chain check: does the presented chain lead to a trust anchor?

Certification path building and validation (RFC 5280 §6.1, RFC 4158) are done
by :mod:`cryptography.x509.verification`: a fast, DoS-hardened path builder that
tries alternative paths (backtracking), checks every certificate's validity
period (the trust anchor's included), signatures, basicConstraints and
pathLenConstraint, keyUsage, name constraints, the maximum depth and the
Web PKI algorithm rules (RSA >= 2048 bits, P-256/P-384/P-521, SHA-2).

Hostname matching is *not* done here (that is :class:`HostnameCheck`, which
knows the policy's CN fallback): the verifier is a chain-only
``ClientVerifier`` whose end-entity extension policy makes the subjectAltName
optional and requires the policy's extended key usage (serverAuth by default)
instead of clientAuth. A ``ServerVerifier`` cannot be used for that: it insists
on a SAN that matches a name, so it would reject what the legacy CN fallback
accepts and report name problems as chain problems.

On top of cryptography, certpolicy adds (all measured against x509-limbo, see
``docs/conformance.md``):

* the extended key usage rule per policy: when the end-entity certificate has
  an extKeyUsage extension it must list the required purpose or
  anyExtendedKeyUsage (RFC 5280 §4.2.1.12); a CA certificate with
  extKeyUsage must allow it too; absent means unrestricted;
* CA certificates below the trust anchor must carry subjectKeyIdentifier and
  authorityKeyIdentifier with a keyIdentifier (RFC 5280 §4.2.1.1, §4.2.1.2);
* the end-entity key must be RSA of at least 2048 bits, ECDSA on P-256, P-384
  or P-521, or Ed25519/Ed448 (cryptography checks only the keys that sign);
  RSA moduli must be a multiple of 8 bits on the whole path (CA/B BR 6.1.5);
* a subject commonName that names one of the certificate's SAN identities
  must be a character-for-character copy of it (CA/B BR 7.1.4.3): no
  ``Example.COM`` for ``example.com``, no ``192.168.001.001`` for
  ``192.168.1.1``, no U-label for an A-label;
* a self-signed trust anchor whose authorityKeyIdentifier contradicts its
  own subjectKeyIdentifier is refused;
* every certificate on the returned path, the trust anchor included, is
  re-checked against the validation time (SPEC "Checks");
* a self-signed endpoint certificate that is itself a trust anchor is
  accepted as a path of one certificate even when it would fail the
  end-entity profile (``cA=TRUE``, no AKI), as the agent's trust-store import
  does; it must still be valid at the validation time, correctly self-signed
  and allow the required EKU;
* missing intermediates are fetched from the caIssuers URL when the policy's
  ``TrustSpec.aia_fetch`` allows it (:mod:`certpolicy.aia`);
* every input is bounded: :func:`parse_chain` rejects more than
  :data:`MAX_CHAIN_CERTS` certificates, certificates larger than
  :data:`MAX_CERT_BYTES`, undecodable DER/PEM and duplicate extensions.

Example::

    from certpolicy import ChainCheck
    from certpolicy.policy import TrustSpec

    check = ChainCheck(TrustSpec(system=False, extra=("certs/corp-root.pem",)))
    path = check.check(presented_chain, "api.corp.example")   # leaf ... trust anchor
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    VerificationError,
)

from ..aia import AiaFetcher, AiaResult
from ..errors import ChainError, MalformedInput, PolicyConfigError, describe_certificate
from ..names import InvalidName, normalize_dns_name
from ..policy import Policy, TrustSpec
from ..trust import TrustAnchors, anchors_fingerprint, trust_anchors
from .base import CheckContext, CheckResult

__all__ = [
    "DEFAULT_MAX_CHAIN_DEPTH",
    "MAX_CERT_BYTES",
    "MAX_CHAIN_BYTES",
    "MAX_CHAIN_CERTS",
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
_MAX_DEPTH_LIMIT = 255

_UTC = _dt.timezone.utc
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_SAN_OID = ExtensionOID.SUBJECT_ALTERNATIVE_NAME
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_DOTTED_QUAD = re.compile(r"^\d{1,4}(\.\d{1,4}){3}$")
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


# ---------------------------------------------------------------------------
# Input parsing
# ---------------------------------------------------------------------------


def _malformed(reason: str, cert: x509.Certificate | None = None) -> MalformedInput:
    return MalformedInput(reason, check="chain", outcome="malformed", certificate=cert)


def _check_extensions(cert: x509.Certificate, where: str) -> None:
    try:
        cert.extensions  # noqa: B018 - parses and caches every extension
    except x509.DuplicateExtension as e:
        raise _malformed(
            f"{where}: duplicate extension {e.oid.dotted_string} "
            f"({getattr(e.oid, '_name', '')}); RFC 5280 §4.2 allows each extension once",
            cert,
        ) from None
    except (ValueError, x509.UnsupportedGeneralNameType) as e:
        raise _malformed(f"{where}: unreadable extension ({e})", cert) from None


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
            hold several certificates), or parsed certificates, leaf first, as
            a TLS server sends them (RFC 8446 §4.4.2).
        max_certs: most certificates accepted (default :data:`MAX_CHAIN_CERTS`).
        max_cert_bytes: largest DER size of one certificate, in bytes (default
            :data:`MAX_CERT_BYTES`).
        max_chain_bytes: largest total size of the items, in bytes (default
            :data:`MAX_CHAIN_BYTES`).

    Returns:
        the certificates, leaf first.

    Raises:
        MalformedInput: ``outcome="malformed"`` for an empty chain, more than
            ``max_certs`` certificates or ``max_chain_bytes`` bytes (nothing is
            parsed then), an oversized item, undecodable DER or PEM, or a certificate whose extensions
            cannot be read (duplicate extension, bad encoding). The message
            names the position in the chain.
    """
    if items is None or len(items) == 0:
        raise _malformed("empty chain: no certificate was presented")
    if len(items) > max_certs:
        raise _malformed(
            f"chain of {len(items)} certificates is longer than the limit of {max_certs}"
        )
    total = sum(len(i) for i in items if isinstance(i, (bytes, bytearray, memoryview)))
    if total > max_chain_bytes:
        raise _malformed(
            f"chain of {total} bytes is larger than the limit of {max_chain_bytes} bytes"
        )
    out: list[x509.Certificate] = []
    for i, item in enumerate(items):
        where = "leaf certificate" if i == 0 else f"certificate #{i} of the chain"
        if isinstance(item, x509.Certificate):
            size = len(item.public_bytes(Encoding.DER))
            if size > max_cert_bytes:
                raise _malformed(
                    f"{where}: {size} bytes is larger than the limit of {max_cert_bytes} bytes",
                    item,
                )
            certs = [item]
        elif isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            if len(data) > max_cert_bytes * (max_certs if b"-----BEGIN" in data[:64] else 1):
                raise _malformed(
                    f"{where}: {len(data)} bytes is larger than the limit of {max_cert_bytes} bytes"
                )
            if not data.strip():
                raise _malformed(f"{where}: empty")
            if data.lstrip()[:10] == b"-----BEGIN":
                try:
                    certs = x509.load_pem_x509_certificates(data)
                except ValueError as e:
                    raise _malformed(f"{where}: undecodable PEM certificate ({e})") from None
                for c in certs:
                    size = len(c.public_bytes(Encoding.DER))
                    if size > max_cert_bytes:
                        raise _malformed(
                            f"{where}: {size} bytes is larger than the limit of "
                            f"{max_cert_bytes} bytes",
                            c,
                        )
            else:
                try:
                    certs = [x509.load_der_x509_certificate(data)]
                except ValueError as e:
                    raise _malformed(
                        f"{where}: undecodable DER certificate of {len(data)} bytes ({e})"
                    ) from None
        else:
            raise _malformed(
                f"{where}: expected DER/PEM bytes or an x509.Certificate, got "
                f"{type(item).__name__}"
            )
        for c in certs:
            _check_extensions(c, where)
            out.append(c)
            if len(out) > max_certs:
                raise _malformed(
                    f"chain of more than {max_certs} certificates is longer than the limit"
                )
    return out


# ---------------------------------------------------------------------------
# Extension policies (built once per required EKU)
# ---------------------------------------------------------------------------


def _ee_san_rule(_policy: Any, cert: x509.Certificate, san: Any) -> None:
    # CA/B BR 7.1.2.7.12 / RFC 5280 §4.2.1.6: critical exactly when the subject
    # is empty. The SAN itself is optional here (chain-only verification).
    if san is None:
        return
    critical = cert.extensions.get_extension_for_oid(_SAN_OID).critical
    empty = len(cert.subject) == 0
    if empty and not critical:
        raise ValueError(
            "subjectAltName must be critical when the subject is empty (RFC 5280 §4.2.1.6)"
        )
    if critical and not empty:
        raise ValueError(
            "subjectAltName must not be critical when the subject is not empty "
            "(CA/B BR 7.1.2.7.12)"
        )


def _eku_rule(required: x509.ObjectIdentifier, *, allow_any: bool, who: str) -> Callable[..., None]:
    def rule(_policy: Any, _cert: x509.Certificate, eku: Any) -> None:
        if eku is None:
            return  # absent: unrestricted (RFC 5280 §4.2.1.12)
        purposes = list(eku)
        if required in purposes or (allow_any and _ANY_EKU in purposes):
            return
        listed = ", ".join(_eku_name(p) for p in purposes) or "nothing"
        raise ValueError(
            f"required EKU {_eku_name(required)} not found in the {who} extKeyUsage "
            f"(lists {listed}; RFC 5280 §4.2.1.12)"
        )

    return rule


_policy_lock = threading.Lock()
_policy_cache: dict[str | None, tuple[ExtensionPolicy, ExtensionPolicy]] = {}


def _extension_policies(eku: x509.ObjectIdentifier | None) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """(ca_policy, ee_policy) for a required EKU (``None``: any)."""
    key = eku.dotted_string if eku is not None else None
    with _policy_lock:
        cached = _policy_cache.get(key)
    if cached is not None:
        return cached
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, _ee_san_rule
    )
    ca = ExtensionPolicy.webpki_defaults_ca()
    if eku is not None:
        ee = ee.may_be_present(
            x509.ExtendedKeyUsage,
            Criticality.NON_CRITICAL,
            _eku_rule(eku, allow_any=True, who="end-entity certificate's"),
        )
        ca = ca.may_be_present(
            x509.ExtendedKeyUsage,
            Criticality.NON_CRITICAL,
            _eku_rule(eku, allow_any=True, who="CA certificate's"),
        )
    else:
        ee = ee.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
        ca = ca.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    with _policy_lock:
        _policy_cache[key] = (ca, ee)
    return ca, ee


# ---------------------------------------------------------------------------
# certpolicy's own rules on the validated path
# ---------------------------------------------------------------------------


def _validity_problem(cert: x509.Certificate, at: _dt.datetime) -> tuple[str, str] | None:
    nb = cert.not_valid_before_utc
    na = cert.not_valid_after_utc
    if at < nb:
        return "not-yet-valid", f"not valid before {nb.isoformat()} (validation time {at.isoformat()})"
    if at > na:
        return "expired", f"expired at {na.isoformat()} (validation time {at.isoformat()})"
    return None


def _key_problem(cert: x509.Certificate, *, leaf: bool) -> str | None:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        return f"unsupported or malformed public key ({e})"
    if isinstance(key, rsa.RSAPublicKey):
        if leaf and key.key_size < 2048:
            return f"RSA key of {key.key_size} bits is weaker than 2048 bits (CA/B BR 6.1.5)"
        if key.key_size % 8:
            return (
                f"RSA modulus of {key.key_size} bits is not a multiple of 8 bits (CA/B BR 6.1.5)"
            )
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
    return f"{type(key).__name__.replace('PublicKey', '')} keys are not allowed in a TLS certificate (CA/B BR 6.1.5)"


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


def _cn_problem(cert: x509.Certificate) -> str | None:
    try:
        cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except Exception:  # pragma: no cover - unparseable subject
        return None
    if not cns:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    dns = [d for d in san.get_values_for_type(x509.DNSName)]
    ips = [i for i in san.get_values_for_type(x509.IPAddress) if not isinstance(i, ipaddress._BaseNetwork)]
    dns_keys: dict[str, str] = {}
    for d in dns:
        try:
            dns_keys.setdefault(normalize_dns_name(d, allow_wildcard=True), d)
        except InvalidName:
            continue
    for cn in cns:
        if not isinstance(cn, str):
            continue
        if cn in dns or any(cn == str(ip) for ip in ips):
            continue  # a character-for-character copy
        readings: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        try:
            readings.append(ipaddress.ip_address(cn.strip()))
        except ValueError:
            readings.extend(_lenient_ipv4(cn.strip()))
        for r in readings:
            for ip in ips:
                if r == ip:
                    return (
                        f"subject commonName {cn!r} names the iPAddress SAN {str(ip)!r} but is not "
                        "its canonical text form (CA/B BR 7.1.4.3; RFC 3986 §3.2.2, RFC 5952 §4)"
                    )
        if readings:
            continue
        try:
            key = normalize_dns_name(cn, allow_wildcard=True)
        except InvalidName:
            continue
        if key in dns_keys:
            return (
                f"subject commonName {cn!r} names the dNSName SAN {dns_keys[key]!r} but is not a "
                "character-for-character copy of it (CA/B BR 7.1.4.3)"
            )
    return None


def _anchor_problem(anchor: x509.Certificate) -> str | None:
    if anchor.subject != anchor.issuer:
        return None
    try:
        ski = anchor.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        aki = anchor.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    if aki.key_identifier is not None and aki.key_identifier != ski:
        return (
            "self-signed trust anchor's authorityKeyIdentifier does not match its own "
            "subjectKeyIdentifier (RFC 5280 §4.2.1.1)"
        )
    return None


def _intermediate_problem(cert: x509.Certificate) -> str | None:
    exts = cert.extensions
    try:
        exts.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return (
            "CA certificate has no subjectKeyIdentifier, which RFC 5280 §4.2.1.2 requires "
            "in every CA certificate below the trust anchor"
        )
    if cert.subject == cert.issuer:
        return None  # self-issued: AKI optional (RFC 5280 §4.2.1.1)
    try:
        aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        aki = None
    if aki is None or aki.key_identifier is None:
        return (
            "CA certificate has no authorityKeyIdentifier keyIdentifier, which RFC 5280 "
            "§4.2.1.1 requires in every certificate that is not self-signed"
        )
    return None


def _eku_allows(cert: x509.Certificate, eku: x509.ObjectIdentifier | None) -> str | None:
    if eku is None:
        return None
    try:
        purposes = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None
    if eku in purposes or _ANY_EKU in purposes:
        return None
    listed = ", ".join(_eku_name(p) for p in purposes) or "nothing"
    return f"required EKU {_eku_name(eku)} not found in extKeyUsage (lists {listed}; RFC 5280 §4.2.1.12)"


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def _as_utc(at: _dt.datetime | None) -> _dt.datetime:
    if at is None:
        return _dt.datetime.now(_UTC).replace(microsecond=0)
    if at.tzinfo is None:
        return at.replace(tzinfo=_UTC)
    return at.astimezone(_UTC)


def _clean(msg: str) -> str:
    msg = msg.strip()
    if msg.startswith("validation failed: "):
        msg = msg[len("validation failed: ") :]
    return msg


def _valid_depth(depth: int | None, field_name: str = "max_chain_depth") -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= _MAX_DEPTH_LIMIT:
        raise PolicyConfigError(
            f"expected a whole number between 0 and {_MAX_DEPTH_LIMIT}, got {depth!r}",
            field=field_name,
        )
    return depth


class ChainCheck:
    """Certification path validation (RFC 5280 §6.1) against a policy's trust anchors.

    Args:
        trust: where the trust anchors come from (:class:`~certpolicy.policy.TrustSpec`:
            system store, extra PEM files or folders, caIssuers fetching). ``None``:
            use ``anchors`` alone when given, else the policy's ``trust`` (in
            :meth:`run`, or :meth:`check` with ``policy=``), else the system store.
        anchors: extra trust anchors as certificate objects (added to ``trust``).
        max_chain_depth: most intermediates between leaf and anchor (0-255);
            ``None``: the policy's ``max_chain_depth``, else
            :data:`DEFAULT_MAX_CHAIN_DEPTH`.
        eku: the extended key usage the leaf must allow (serverAuth by default;
            anyExtendedKeyUsage and an absent extension allow everything);
            ``None`` disables the EKU rule.
        aia_fetcher: the :class:`certpolicy.aia.AiaFetcher` (and its cache) used
            when the trust spec has ``aia_fetch = true``; default: a private one.

    Raises:
        PolicyConfigError: ``max_chain_depth`` out of range.

    The Store behind each trust spec is built once and cached (bounded,
    thread-safe, re-read when the files change); extension policies are built
    once per EKU. The verifier itself is rebuilt per call, because
    cryptography fixes the validation time in it (about 2 µs). An instance is
    safe to share between threads; no lock is held during verification.
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
        self._ca_policy, self._ee_policy = _extension_policies(eku)
        self._anchors_key = anchors_fingerprint(self.anchors)
        self._own: TrustAnchors | None = (
            TrustAnchors.from_certificates(self.anchors) if self.anchors and trust is None else None
        )

    def __repr__(self) -> str:
        return (
            f"ChainCheck(trust={self.trust!r}, anchors=<{len(self.anchors)}>, "
            f"max_chain_depth={self.max_chain_depth!r}, eku={self.eku!r})"
        )

    # -- configuration resolution ------------------------------------------------

    def _trust_for(self, policy: Policy | None) -> tuple[TrustAnchors, TrustSpec | None]:
        if self._own is not None:
            return self._own, None
        spec = self.trust
        if spec is None:
            spec = policy.trust if policy is not None else TrustSpec()
        try:
            return trust_anchors(spec, self.anchors, anchors_key=self._anchors_key), spec
        except PolicyConfigError as e:
            raise ChainError(
                f"trust anchors unavailable: {e}", check="chain", outcome="no-trust-anchors"
            ) from None

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
        """Validate ``chain`` and return the certification path.

        Args:
            chain: the presented chain, leaf first (certificate objects, or DER /
                PEM bytes, see :func:`parse_chain`). Order and extras beyond the
                leaf do not matter: they are untrusted candidates.
            host: the server name, only for error messages (hostname matching
                is :class:`~certpolicy.checks.hostname.HostnameCheck`'s job).
            at: validation time (aware ``datetime``; naive means UTC); default now.
            policy: the policy in force: supplies ``trust`` (when the check has
                none), ``max_chain_depth`` and the name used in errors.
            allow_network: ``False``: fetch no missing intermediate, use only
                cached caIssuers answers (asyncio handshakes).
            deadline: ``time.monotonic()`` value bounding caIssuers fetches.

        Returns:
            the validated path ``[leaf, intermediate..., trust anchor]``.

        Raises:
            MalformedInput: the chain cannot be parsed or breaks a size limit.
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
                allow_network=allow_network,
                deadline=deadline,
            )
        except (ChainError, MalformedInput) as e:
            raise e.with_context(policy=policy_name, host=host) from None

    def run(self, ctx: CheckContext) -> CheckResult:
        """Run the check for one connection (the :class:`~certpolicy.checks.Check` protocol).

        Uses ``ctx.chain``, ``ctx.at``, ``ctx.policy`` (trust, max_chain_depth),
        ``ctx.allow_network`` and ``ctx.deadline``; sets ``ctx.verified_path``.

        Returns:
            ``CheckResult("chain", "ok", ..., data={"path": [subject, ...],
            "trust_anchor": subject, "aia_fetched": [url, ...]})``.

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
        subjects = [_subject(c) for c in path]
        detail = (
            f"certification path of {len(path)} certificate(s) to trust anchor {subjects[-1]!r}"
            if len(path) > 1
            else f"the certificate is itself a trust anchor ({subjects[0]!r})"
        )
        return CheckResult(
            check=self.name,
            outcome="ok",
            detail=detail,
            data={"path": subjects, "trust_anchor": subjects[-1]},
        )

    # -- the work -----------------------------------------------------------------

    def _verifier(self, anchors: TrustAnchors, depth: int, at: _dt.datetime) -> Any:
        return (
            PolicyBuilder()
            .store(anchors.store)
            .time(at.replace(tzinfo=None))
            .max_chain_depth(depth)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )

    def _validate(
        self,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        spec: TrustSpec | None,
        depth: int,
        at: _dt.datetime,
        *,
        allow_network: bool,
        deadline: float | None,
    ) -> list[x509.Certificate]:
        leaf = certs[0]
        if anchors.store is None:
            where = ", ".join(anchors.sources) or "nowhere"
            raise ChainError(
                "no trust anchors: the policy trusts no certificate "
                f"(searched: {where}); set trust.system or trust.extra",
                check="chain",
                outcome="no-trust-anchors",
                certificate=leaf,
            )
        verifier = self._verifier(anchors, depth, at)
        intermediates = certs[1:]
        aia: AiaResult | None = None
        try:
            path = list(verifier.verify(leaf, intermediates).chain)
        except VerificationError as first:
            error: VerificationError = first
            path = []
            if spec is not None and spec.aia_fetch:

                def has_issuer(c: x509.Certificate) -> bool:
                    return anchors.may_issue(c)

                aia = self.aia.chase(
                    certs,
                    has_issuer,
                    limits=spec.aia_limits,
                    deadline=deadline,
                    allow_network=allow_network,
                )
                if aia.certificates:
                    try:
                        path = list(
                            verifier.verify(leaf, intermediates + list(aia.certificates)).chain
                        )
                    except VerificationError as second:
                        error = second
            if not path:
                direct = self._direct_trust(leaf, anchors, at)
                if direct is None:
                    raise self._explain(error, certs, anchors, at, aia) from None
                path = direct
        self._post_checks(path, at)
        return path

    def _direct_trust(
        self, leaf: x509.Certificate, anchors: TrustAnchors, at: _dt.datetime
    ) -> list[x509.Certificate] | None:
        """A self-signed endpoint certificate that is itself an anchor."""
        if not anchors.contains(leaf) or not _self_signed(leaf):
            return None
        if leaf.serial_number <= 0:
            return None
        problem = _validity_problem(leaf, at)
        if problem is not None:
            raise ChainError(
                f"the certificate is a trust anchor but {problem[1]} (SPEC: the trust anchor "
                "must be valid too)",
                check="chain",
                outcome=problem[0],
                certificate=leaf,
            )
        eku_problem = _eku_allows(leaf, self.eku)
        if eku_problem is not None:
            raise ChainError(
                f"the certificate is a trust anchor but {eku_problem}",
                check="chain",
                outcome="invalid",
                certificate=leaf,
            )
        return [leaf]

    def _post_checks(self, path: list[x509.Certificate], at: _dt.datetime) -> None:
        leaf = path[0]
        for i, cert in enumerate(path):
            role = "leaf" if i == 0 else ("trust anchor" if i == len(path) - 1 else "intermediate")
            problem = _validity_problem(cert, at)
            if problem is not None:
                raise ChainError(
                    f"{role} certificate {_subject(cert)!r} {problem[1]}",
                    check="chain",
                    outcome=problem[0],
                    certificate=cert,
                )
            if 0 < i < len(path) - 1:
                inter_problem = _intermediate_problem(cert)
                if inter_problem is not None:
                    raise ChainError(
                        f"intermediate certificate {_subject(cert)!r}: {inter_problem}",
                        check="chain",
                        outcome="invalid",
                        certificate=cert,
                    )
            key_problem = _key_problem(cert, leaf=i == 0)
            if key_problem is not None:
                raise ChainError(
                    f"{role} certificate {_subject(cert)!r}: {key_problem}",
                    check="chain",
                    outcome="invalid",
                    certificate=cert,
                )
        cn_problem = _cn_problem(leaf)
        if cn_problem is not None:
            raise ChainError(cn_problem, check="chain", outcome="invalid", certificate=leaf)
        if len(path) > 1:
            anchor_problem = _anchor_problem(path[-1])
            if anchor_problem is not None:
                raise ChainError(
                    f"trust anchor {_subject(path[-1])!r}: {anchor_problem}",
                    check="chain",
                    outcome="invalid",
                    certificate=path[-1],
                )

    def _explain(
        self,
        error: VerificationError,
        certs: list[x509.Certificate],
        anchors: TrustAnchors,
        at: _dt.datetime,
        aia: AiaResult | None,
    ) -> ChainError:
        leaf = certs[0]
        msg = _clean(str(error))
        problem = _validity_problem(leaf, at)
        if problem is not None:
            return ChainError(
                f"leaf certificate {problem[1]}; RFC 5280 §6.1.3(a)(2)",
                check="chain",
                outcome=problem[0],
                certificate=leaf,
                details={"cryptography": msg},
            )
        subjects = {c.subject.public_bytes() for c in certs}
        missing = [
            c
            for c in certs
            if c.issuer.public_bytes() not in subjects and not anchors.may_issue(c)
        ]
        if aia is not None:
            subjects |= {c.subject.public_bytes() for c in aia.certificates}
            missing = [
                c
                for c in (*certs, *aia.certificates)
                if c.issuer.public_bytes() not in subjects and not anchors.may_issue(c)
            ]
        details: dict[str, Any] = {"cryptography": msg}
        if missing and (leaf in missing or len(certs) == 1 or not anchors.may_issue(certs[-1])):
            top = missing[0]
            reason = (
                f"unknown issuer: the issuer {top.issuer.rfc4514_string()!r} of "
                f"{_subject(top)!r} is neither presented by the server nor a trust anchor"
            )
            if aia is not None:
                reason += f" (caIssuers: {aia.describe()})"
                details["aia"] = [list(e) for e in aia.errors]
            else:
                reason += " (RFC 5280 §6.1; the server may be missing an intermediate)"
            return ChainError(
                reason, check="chain", outcome="unknown-issuer", certificate=top, details=details
            )
        hints = []
        for c in certs[1:]:
            p = _validity_problem(c, at)
            if p is not None:
                hints.append(f"presented certificate {_subject(c)!r} {p[1]}")
        reason = f"no valid certification path from {_subject(leaf)!r} to a trust anchor: {msg}"
        if hints:
            reason += "; " + "; ".join(hints)
        if aia is not None and aia.errors:
            reason += f" (caIssuers: {aia.describe()})"
        outcome = "invalid"
        if "not valid at validation time" in msg:
            outcome = "expired"
            for c in certs[1:]:
                p = _validity_problem(c, at)
                if p is not None:
                    outcome = p[0]
                    break
        return ChainError(reason, check="chain", outcome=outcome, certificate=leaf, details=details)
