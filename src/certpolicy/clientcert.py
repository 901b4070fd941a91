"""Lint a TLS client certificate (mTLS identity) before a server refuses it.

:func:`lint_client_certificate` looks at a client certificate, the chain that
will be sent with it and optionally its key, and returns a :class:`LintReport`
of :class:`Finding` objects (code, severity, message, remedy). Nothing is
fetched and no connection is made. It answers: will a server that requires
client certificates accept this one today, and will the *next renewal* still
work?

Findings (severity in brackets):

==================================  =========  =====================================================
code                                severity   meaning
==================================  =========  =====================================================
NO_CLIENT_AUTH_EKU                  error      extendedKeyUsage present without id-kp-clientAuth
                                               (e.g. serverAuth only: a server profile)
NO_EKU_EXTENSION                    warning    no extendedKeyUsage at all (any purpose, RFC 5280
                                               §4.2.1.12; some servers and profiles want clientAuth)
CHAIN_EKU_NO_CLIENT_AUTH            error      a CA certificate on the path restricts EKU and
                                               leaves out clientAuth (OpenSSL refuses the path)
SELF_SIGNED_LEAF                    error      the leaf is self-signed
LEAF_IS_CA                          error      the leaf has basicConstraints cA=TRUE
INCOMPLETE_CHAIN                    error      no certification path: an issuer is missing
UNTRUSTED_ROOT                      error      the path ends at a root the server does not trust
ROOT_NOT_PROVIDED                   warning    the chain links up but its root was not given, so
                                               the path could not be checked to a trust anchor
INTERMEDIATE_TRUST_ANCHOR           warning    the path ends at a trusted intermediate, not a root
                                               (OpenSSL servers also need the root)
CHAIN_INVALID                       error      path validation failed for another reason
KEY_MISMATCH                        error      the private key does not belong to the certificate
KEY_USAGE_NO_DIGITAL_SIGNATURE      error      keyUsage present without digitalSignature
WEAK_KEY / WEAK_SIGNATURE           error      RSA < 2048 bits, EC < 256 bits, DSA; MD5 / SHA-1
EXPIRED / NOT_YET_VALID             error      the leaf is outside its validity at ``at``
EXPIRING_SOON                       warning    the leaf expires within ``expiry_warning``
CHAIN_CERT_EXPIRED / ..._NOT_YET    error      a CA certificate on the path is outside its validity
CHAIN_CERT_EXPIRING_SOON            warning    a CA certificate expires within ``expiry_warning``
PUBLIC_ISSUER_DROPPING_CLIENT_AUTH  warning    a public CA issued it and drops clientAuth from a
                                               known date: the next renewal will break mTLS
UNUSED_CHAIN_CERTIFICATE            info       a chain certificate is not on the path
==================================  =========  =====================================================

The verdict is ``"error"`` when any finding is an error, else ``"warning"``
when any is a warning, else ``"ok"``.

Path validation uses :mod:`cryptography.x509.verification` (``ClientVerifier``
with the WebPKI CA profile; EKU and subjectAltName checks on the leaf are left
to the findings above so that each problem is reported once, by name).

The public-CA dates come from ``certpolicy/data/public_ca_clientauth.json``
(each row with its source and the date it was last checked); see
:class:`PublicCATable` to override them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import describe_certificate
from .oids import eku_name
from .pki import PrivateKey

__all__ = [
    "DEFAULT_EXPIRY_WARNING",
    "Finding",
    "LintReport",
    "PublicCATable",
    "PublicIssuerRule",
    "Severity",
    "lint_client_certificate",
]

Severity = Literal["error", "warning", "info"]
Verdict = Literal["ok", "warning", "error"]

DEFAULT_EXPIRY_WARNING = _dt.timedelta(days=30)
"""Default threshold for EXPIRING_SOON (30 days)."""

_PRIVATE_CA_REMEDY = (
    "issue client certificates from a private CA (certpolicy pki init DIR; "
    "certpolicy pki issue client NAME) and add its root (and intermediate) to the "
    "server's trusted CA list"
)


@dataclass(frozen=True)
class Finding:
    """One problem (or note) about a client certificate.

    Attributes:
        code: stable identifier (``"NO_CLIENT_AUTH_EKU"``).
        severity: ``"error"`` (a server will refuse it), ``"warning"`` (works
            now, risky), ``"info"``.
        message: what is wrong, naming the certificate.
        remedy: what to do about it.
        certificate: the certificate concerned (``None`` when not one certificate).
        details: machine-readable extras (dates as ISO strings, names).
    """

    code: str
    severity: Severity
    message: str
    remedy: str
    certificate: x509.Certificate | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "remedy": self.remedy,
            "certificate": describe_certificate(self.certificate) if self.certificate else None,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class LintReport:
    """The result of :func:`lint_client_certificate`.

    Attributes:
        certificate: the linted leaf.
        chain: the chain certificates given (leaf excluded).
        at: the validation time (aware UTC).
        findings: every :class:`Finding`, in check order.
        path: the validated certification path (leaf first, trust anchor
            last), or ``None`` when none was validated.
    """

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    at: _dt.datetime
    findings: tuple[Finding, ...]
    path: tuple[x509.Certificate, ...] | None = None

    @property
    def verdict(self) -> Verdict:
        """``"error"`` if any error finding, else ``"warning"`` if any warning, else ``"ok"``."""
        severities = {f.severity for f in self.findings}
        if "error" in severities:
            return "error"
        if "warning" in severities:
            return "warning"
        return "ok"

    @property
    def codes(self) -> list[str]:
        """The finding codes, in order."""
        return [f.code for f in self.findings]

    def codes_at_least(self, severity: Severity = "warning") -> set[str]:
        """Codes of findings at ``severity`` or worse (``"info"`` < ``"warning"`` < ``"error"``)."""
        rank = {"info": 0, "warning": 1, "error": 2}
        return {f.code for f in self.findings if rank[f.severity] >= rank[severity]}

    @property
    def ok(self) -> bool:
        """``True`` when no finding is an error."""
        return self.verdict != "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by ``certpolicy lint-client --json``)."""
        cert = self.certificate
        return {
            "certificate": {
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "serial": f"{cert.serial_number:#x}",
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "sha256": cert.fingerprint(hashes.SHA256()).hex(),
            },
            "at": self.at.isoformat(),
            "verdict": self.verdict,
            "path": [c.subject.rfc4514_string() for c in self.path] if self.path else None,
            "findings": [f.to_dict() for f in self.findings],
        }


# ---------------------------------------------------------------------------
# public CA table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicIssuerRule:
    """One row of the public-CA table.

    Attributes:
        id: stable row id (``"letsencrypt"``).
        name: display name.
        drops_client_auth_from: first date a renewal from this CA lacks clientAuth.
        match_organizations: issuer organizationName values that identify the CA.
        applies_to: ``"any-public-root"`` for a root-program rule that binds
            every public CA, else ``None``.
        scope, source, last_checked, notes: provenance shown to the user.
    """

    id: str
    name: str
    drops_client_auth_from: _dt.date
    match_organizations: tuple[str, ...] = ()
    applies_to: str | None = None
    scope: str = ""
    source: str = ""
    last_checked: _dt.date | None = None
    notes: str = ""

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], origin: str) -> PublicIssuerRule:
        """Build a rule from a JSON row; raises ``ValueError`` naming ``origin`` and the row."""
        try:
            rid = str(row["id"])
            return cls(
                id=rid,
                name=str(row.get("name", rid)),
                drops_client_auth_from=_dt.date.fromisoformat(str(row["drops_client_auth_from"])),
                match_organizations=tuple(str(o) for o in row.get("match_organizations", ())),
                applies_to=row.get("applies_to"),
                scope=str(row.get("scope", "")),
                source=str(row.get("source", "")),
                last_checked=(
                    _dt.date.fromisoformat(str(row["last_checked"])) if row.get("last_checked") else None
                ),
                notes=str(row.get("notes", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{origin}: bad public CA row {dict(row)!r}: {exc}") from exc


@dataclass(frozen=True)
class PublicCATable:
    """Dated rules about public CAs dropping clientAuth.

    Load the shipped table with :meth:`load`; give a JSON file of the same
    shape (``{"issuers": [...]}``) to add rows or replace rows with the same id.
    """

    rules: tuple[PublicIssuerRule, ...]

    @classmethod
    def load(cls, override: str | os.PathLike[str] | None = None) -> PublicCATable:
        """The packaged table, merged with ``override`` (a JSON file) when given.

        Raises:
            ValueError: a malformed file or row (the message names the file).
            OSError: ``override`` cannot be read.
        """
        text = resources.files("certpolicy.data").joinpath("public_ca_clientauth.json").read_text("utf-8")
        rules = {r.id: r for r in cls._parse(text, "public_ca_clientauth.json")}
        if override is not None:
            with open(override, encoding="utf-8") as fh:
                extra = cls._parse(fh.read(), os.fspath(override))
            for r in extra:
                rules[r.id] = r
        return cls(tuple(rules.values()))

    @staticmethod
    def _parse(text: str, origin: str) -> list[PublicIssuerRule]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin}: not JSON: {exc}") from exc
        rows = data.get("issuers") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise ValueError(f"{origin}: expected {{\"issuers\": [...]}}")
        return [PublicIssuerRule.from_dict(r, origin) for r in rows]

    def by_organization(self, organizations: Iterable[str]) -> PublicIssuerRule | None:
        """The first CA-specific rule whose organizations include one of ``organizations``."""
        wanted = [o.casefold() for o in organizations]
        for rule in self.rules:
            names = {o.casefold() for o in rule.match_organizations}
            if any(o in names for o in wanted):
                return rule
        return None

    def root_program_rule(self) -> PublicIssuerRule | None:
        """The rule that binds every publicly trusted CA (``applies_to: any-public-root``)."""
        for rule in self.rules:
            if rule.applies_to == "any-public-root":
                return rule
        return None


_DEFAULT_TABLE: PublicCATable | None = None


def _default_table() -> PublicCATable:
    global _DEFAULT_TABLE
    if _DEFAULT_TABLE is None:
        _DEFAULT_TABLE = PublicCATable.load()
    return _DEFAULT_TABLE


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # duplicate / malformed extensions
        return None


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, ValueError, TypeError (unsupported key)
        return False
    return True


def _name(cert_or_name: x509.Certificate | x509.Name) -> str:
    name = cert_or_name.subject if isinstance(cert_or_name, x509.Certificate) else cert_or_name
    return name.rfc4514_string() or "<empty name>"


def _orgs(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _same_cert(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a == b or (a.subject == b.subject and a.public_key() == b.public_key())


def _eku_names(eku: x509.ExtendedKeyUsage) -> list[str]:
    return [eku_name(oid) for oid in eku]


def _weak_key(cert: x509.Certificate) -> str | None:
    try:
        pub = cert.public_key()
    except Exception:  # unsupported algorithm
        return None
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < 2048:
        return f"RSA {pub.key_size}-bit key (at least 2048 bits needed)"
    if isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.key_size < 256:
        return f"EC key on {pub.curve.name} (at least P-256 needed)"
    if isinstance(pub, dsa.DSAPublicKey):
        return "DSA key (not accepted for TLS 1.3 and by current servers)"
    return None


def _weak_signature(cert: x509.Certificate) -> str | None:
    try:
        algo = cert.signature_hash_algorithm
    except Exception:
        return None
    if isinstance(algo, (hashes.MD5, hashes.SHA1)):
        return f"signed with {algo.name.upper()}"
    return None


_CLIENT_EE_POLICY: verification.ExtensionPolicy | None = None


def _ee_policy() -> verification.ExtensionPolicy:
    # WebPKI end-entity profile, minus the checks this module reports by name:
    # EKU (NO_CLIENT_AUTH_EKU / NO_EKU_EXTENSION), an optional subjectAltName
    # (client certificates often carry only a subject) and an optional
    # authorityKeyIdentifier (OpenSSL does not need one either).
    global _CLIENT_EE_POLICY
    if _CLIENT_EE_POLICY is None:
        agnostic = verification.Criticality.AGNOSTIC
        _CLIENT_EE_POLICY = (
            verification.ExtensionPolicy.webpki_defaults_ee()
            .may_be_present(x509.ExtendedKeyUsage, agnostic, None)
            .may_be_present(x509.SubjectAlternativeName, agnostic, None)
            .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
        )
    return _CLIENT_EE_POLICY


def _verify(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: _dt.datetime,
) -> tuple[list[x509.Certificate] | None, str | None]:
    if not anchors:
        return None, "no trust anchor"
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(at)
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=_ee_policy())
        .build_client_verifier()
    )
    try:
        return list(verifier.verify(leaf, list(intermediates)).chain), None
    except verification.VerificationError as exc:
        text = str(exc)
        if "Forbidden public key algorithm" in text or "Forbidden signature algorithm" in text:
            what = "public key" if "public key" in text else "signature"
            text = (
                f"a certificate of the chain uses a {what} algorithm the Web PKI profile forbids "
                "(for example Ed25519 or DSA in a CA); servers using OpenSSL's or cryptography's "
                "verifiers refuse it"
            )
        return None, text


def _exhausted(message: str | None) -> bool:
    return message is not None and "no interior errors" in message


def _missing_issuer(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate:
    """The last certificate, walking issuer names upward from ``leaf``, whose
    issuer is not in ``pool`` (for messages only; validation is cryptography's)."""
    current = leaf
    seen: set[int] = set()
    while id(current) not in seen:
        seen.add(id(current))
        parent = next(
            (c for c in pool if c.subject == current.issuer and not _same_cert(c, current)), None
        )
        if parent is None or _is_self_signed(parent):
            return current
        current = parent
    return current


def _aware_utc(at: _dt.datetime | _dt.date | None) -> _dt.datetime:
    if at is None:
        return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    if not isinstance(at, _dt.datetime):
        return _dt.datetime(at.year, at.month, at.day, tzinfo=_dt.timezone.utc)
    if at.tzinfo is None:
        raise ValueError(f"'at' must be timezone-aware, got {at!r}")
    return at.astimezone(_dt.timezone.utc)


# ---------------------------------------------------------------------------
# the lint
# ---------------------------------------------------------------------------


def lint_client_certificate(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    key: PrivateKey | None = None,
    at: _dt.datetime | _dt.date | None = None,
    trust_roots: Sequence[x509.Certificate] | None = None,
    public_roots: Sequence[x509.Certificate] | None = None,
    public_ca_table: PublicCATable | None = None,
    expiry_warning: _dt.timedelta = DEFAULT_EXPIRY_WARNING,
) -> LintReport:
    """Check a client certificate for everything that makes an mTLS server refuse it.

    Args:
        certificate: the leaf the client presents.
        chain: the certificates sent with it (intermediates; a root or the leaf
            itself may be included and is handled).
        key: the private key, to check that it belongs to ``certificate``.
        at: validation time (aware datetime or a date, taken as 00:00 UTC);
            default now.
        trust_roots: the CA certificates the *server* trusts. When given, the
            path must end at one of them (INCOMPLETE_CHAIN / UNTRUSTED_ROOT);
            when ``None``, a self-signed root in ``chain`` or a ``public_roots``
            entry serves as the trust anchor, and a chain without its root is a
            ROOT_NOT_PROVIDED warning.
        public_roots: roots known to be publicly trusted (e.g. from certifi);
            a path ending at one marks the issuer as a public CA.
        public_ca_table: dated public-CA rules (default: the shipped table).
        expiry_warning: EXPIRING_SOON threshold (default 30 days).

    Returns:
        :class:`LintReport`.

    Raises:
        ValueError: a naive ``at``.
    """
    when = _aware_utc(at)
    table = public_ca_table if public_ca_table is not None else _default_table()
    leaf = certificate
    chain_certs: list[x509.Certificate] = []
    for c in chain:
        if not _same_cert(c, leaf) and not any(c == d for d in chain_certs):
            chain_certs.append(c)
    findings: list[Finding] = []

    def add(code: str, severity: Severity, message: str, remedy: str,
            cert: x509.Certificate | None = None, **details: Any) -> None:
        findings.append(Finding(code, severity, message, remedy, cert, details))

    leaf_name = _name(leaf)

    # -- EKU -----------------------------------------------------------------
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    has_client_auth = False
    if eku is None:
        has_client_auth = True  # absence means any purpose (RFC 5280 §4.2.1.12)
        add(
            "NO_EKU_EXTENSION", "warning",
            f"{leaf_name} has no extendedKeyUsage extension: any purpose is allowed by RFC 5280, "
            "but some servers and the CA/Browser Forum profiles expect an explicit clientAuth",
            "reissue with extendedKeyUsage = clientAuth (certpolicy pki issue client NAME)",
            leaf,
        )
    else:
        listed = _eku_names(eku)
        has_client_auth = ExtendedKeyUsageOID.CLIENT_AUTH in list(eku)
        if not has_client_auth:
            if listed == ["serverAuth"]:
                why = (
                    f"{leaf_name} is a server certificate: its extendedKeyUsage is serverAuth only, "
                    "without TLS Web Client Authentication (1.3.6.1.5.5.7.3.2); servers that require "
                    "client certificates answer with an SSL certificate error (HTTP 400)"
                )
            else:
                why = (
                    f"{leaf_name} has extendedKeyUsage {', '.join(listed)} without clientAuth "
                    "(1.3.6.1.5.5.7.3.2); servers refuse it as a client certificate"
                )
            add("NO_CLIENT_AUTH_EKU", "error", why, _PRIVATE_CA_REMEDY, leaf, eku=listed)

    # -- leaf shape --------------------------------------------------------------
    bc = _ext(leaf, x509.BasicConstraints)
    if bc is not None and bc.ca:
        add("LEAF_IS_CA", "error", f"{leaf_name} is a CA certificate (basicConstraints cA=TRUE)",
            "present an end-entity certificate issued by the CA, not the CA itself", leaf)
    ku = _ext(leaf, x509.KeyUsage)
    if ku is not None and not ku.digital_signature:
        add(
            "KEY_USAGE_NO_DIGITAL_SIGNATURE", "error",
            f"{leaf_name} has keyUsage without digitalSignature; TLS client authentication signs "
            "the handshake (CertificateVerify), so servers refuse it",
            "reissue with keyUsage digitalSignature (certpolicy pki issue client NAME)", leaf,
        )
    if key is not None and key.public_key() != leaf.public_key():
        add("KEY_MISMATCH", "error", f"the private key does not belong to {leaf_name} (the public keys differ)",
            "use the key the certificate was issued for, or reissue for this key", leaf)

    self_signed = _is_self_signed(leaf)
    if self_signed:
        add(
            "SELF_SIGNED_LEAF", "error",
            f"{leaf_name} is self-signed; servers that trust a CA list refuse self-signed client certificates",
            _PRIVATE_CA_REMEDY, leaf,
        )

    # -- algorithms ----------------------------------------------------------
    for cert in [leaf, *chain_certs]:
        weak = _weak_key(cert)
        if weak:
            add("WEAK_KEY", "error", f"{_name(cert)}: {weak}", "reissue with an EC P-256 or RSA 3072 key", cert)
        if not _is_self_signed(cert) or cert is leaf:
            weak_sig = _weak_signature(cert)
            if weak_sig:
                add("WEAK_SIGNATURE", "error", f"{_name(cert)} is {weak_sig}; servers refuse it",
                    "reissue with a SHA-256 (or stronger) signature", cert)

    # -- validity of the leaf ------------------------------------------------------
    nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if when > na:
        add("EXPIRED", "error", f"{leaf_name} expired on {na.isoformat()}",
            "renew the client certificate", leaf, not_after=na.isoformat())
    elif when < nb:
        add("NOT_YET_VALID", "error", f"{leaf_name} is not valid before {nb.isoformat()}",
            "check the clock, or wait until notBefore", leaf, not_before=nb.isoformat())
    elif na - when <= expiry_warning:
        days = (na - when).days
        add("EXPIRING_SOON", "warning", f"{leaf_name} expires on {na.isoformat()} (in {days} days)",
            "renew it now; from a private CA if the current issuer is public", leaf,
            not_after=na.isoformat(), days_left=days)

    # -- certification path ----------------------------------------------------------
    path: list[x509.Certificate] | None = None
    structural_error = any(f.code in ("LEAF_IS_CA", "WEAK_KEY", "WEAK_SIGNATURE") for f in findings)
    if not self_signed:
        path = _check_path(leaf, chain_certs, trust_roots, public_roots, when, add, structural_error)

    # -- CA certificates on the path (or in the chain) ----------------------------------
    cas = path[1:] if path else chain_certs
    for cert in cas:
        cname = _name(cert)
        cnb, cna = cert.not_valid_before_utc, cert.not_valid_after_utc
        if when > cna:
            add("CHAIN_CERT_EXPIRED", "error", f"CA certificate {cname} expired on {cna.isoformat()}",
                "send the current intermediate (the CA's renewed certificate)", cert)
        elif when < cnb:
            add("CHAIN_CERT_NOT_YET_VALID", "error", f"CA certificate {cname} is not valid before {cnb.isoformat()}",
                "check the clock, or send the intermediate that is valid now", cert)
        elif cna - when <= expiry_warning:
            add("CHAIN_CERT_EXPIRING_SOON", "warning",
                f"CA certificate {cname} expires on {cna.isoformat()} (in {(cna - when).days} days)",
                "plan the CA rollover before it expires", cert)
        ca_eku = _ext(cert, x509.ExtendedKeyUsage)
        if ca_eku is not None and not (
            {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(ca_eku)
        ):
            add(
                "CHAIN_EKU_NO_CLIENT_AUTH", "error",
                f"CA certificate {cname} restricts extendedKeyUsage to {', '.join(_eku_names(ca_eku))}; "
                "OpenSSL-based servers refuse client certificates under it",
                _PRIVATE_CA_REMEDY, cert, eku=_eku_names(ca_eku),
            )
    if path:
        for cert in chain_certs:
            if not any(_same_cert(cert, p) for p in path):
                add("UNUSED_CHAIN_CERTIFICATE", "info",
                    f"{_name(cert)} is in the chain but not on the certification path",
                    "remove it from the chain file", cert)

    # -- public issuer forecast -------------------------------------------------------------
    rule = _public_rule(leaf, path, chain_certs, public_roots, table)
    if rule is not None:
        drops = rule.drops_client_auth_from
        issuer_orgs = _orgs(leaf.issuer)
        issuer_label = issuer_orgs[0] if issuer_orgs else _name(leaf.issuer)
        if rule.applies_to == "any-public-root":
            label = f"{issuer_label}, bound by the {rule.name} rule"
        else:
            label = rule.name
        info = {
            "issuer_rule": rule.id,
            "issuer": rule.name,
            "drops_client_auth_from": drops.isoformat(),
            "source": rule.source,
            "last_checked": rule.last_checked.isoformat() if rule.last_checked else None,
        }
        if has_client_auth and not self_signed:
            tense = "dropped" if when.date() >= drops else "drops"
            add(
                "PUBLIC_ISSUER_DROPPING_CLIENT_AUTH", "warning",
                f"{leaf_name} was issued by a public CA ({label}), which {tense} clientAuth from "
                f"{drops.isoformat()} ({rule.scope or 'see source'}): the next renewal from this public CA "
                f"will lack clientAuth and mTLS will break; this certificate works until "
                f"{na.date().isoformat()}",
                _PRIVATE_CA_REMEDY + " before renewing",
                leaf, **info,
            )
        else:
            for i, f in enumerate(findings):
                if f.code == "NO_CLIENT_AUTH_EKU":
                    findings[i] = Finding(
                        f.code, f.severity,
                        f.message + f"; the issuer is a public CA ({label}) that drops clientAuth "
                        f"from {drops.isoformat()}",
                        f.remedy, f.certificate, {**f.details, **info},
                    )
    return LintReport(
        certificate=leaf,
        chain=tuple(chain_certs),
        at=when,
        findings=tuple(findings),
        path=tuple(path) if path else None,
    )


def _check_path(
    leaf: x509.Certificate,
    chain_certs: list[x509.Certificate],
    trust_roots: Sequence[x509.Certificate] | None,
    public_roots: Sequence[x509.Certificate] | None,
    when: _dt.datetime,
    add: Any,
    structural_error: bool,
) -> list[x509.Certificate] | None:
    leaf_name = _name(leaf)
    # Validate at a time inside every given certificate's validity, nearest to
    # ``when``, so that expiry is reported once, by name, not as a path error.
    self_signed_in_chain = [c for c in chain_certs if _is_self_signed(c)]
    if trust_roots is not None:
        anchors = list(trust_roots)
    else:
        anchors = [*(public_roots or ()), *self_signed_in_chain]
    given = [leaf, *chain_certs]
    issuers = {c.issuer for c in given}
    window = given + [a for a in anchors if a.subject in issuers]
    lo = max(c.not_valid_before_utc for c in window)
    hi = min(c.not_valid_after_utc for c in window)
    path_time = min(max(when, lo), hi) if lo <= hi else when
    path, error = _verify(leaf, chain_certs, anchors, path_time) if anchors else (None, None)
    if path is not None:
        if not _is_self_signed(path[-1]):
            add(
                "INTERMEDIATE_TRUST_ANCHOR", "warning",
                f"the path of {leaf_name} ends at {_name(path[-1])}, which is not a root; "
                "OpenSSL-based servers (nginx, Apache) refuse the chain unless their CA file "
                "also holds the root",
                "put the root (and the intermediate) into the server's trusted CA list",
                path[-1],
            )
        return path

    if error is not None and not _exhausted(error):
        # An EKU refusal is reported by name (NO_CLIENT_AUTH_EKU / CHAIN_EKU_NO_CLIENT_AUTH).
        if not structural_error and "EKU" not in error:
            add("CHAIN_INVALID", "error", f"the certification path of {leaf_name} does not validate: {error}",
                "reissue the certificate or fix the CA certificates sent with it", leaf, error=error)
        return None

    # No path to a trust anchor. Does the leaf at least link into the given chain?
    linked, _ = _verify(leaf, chain_certs, chain_certs, path_time)
    top = _missing_issuer(leaf, [*chain_certs, *anchors])
    if linked is None:
        missing = top.issuer
        add(
            "INCOMPLETE_CHAIN", "error",
            f"the chain of {leaf_name} is incomplete: the issuer {_name(missing)} of {_name(top)} "
            "is not in the chain" + (" nor among the trusted CAs" if trust_roots is not None else ""),
            "send the intermediate certificate(s) with the client certificate "
            "(the chain file: leaf first, then each issuing CA); the server trusts only the root",
            leaf, missing_issuer=_name(missing),
        )
        return None
    if trust_roots is not None or self_signed_in_chain:
        add(
            "UNTRUSTED_ROOT", "error",
            f"the chain of {leaf_name} ends at {_name(top.issuer)}, which is not among the trusted CAs",
            "upload this hierarchy's root (and intermediate) to the server's trusted CA list, "
            "or issue from a CA the server trusts",
            leaf, root=_name(top.issuer),
        )
        return None
    add(
        "ROOT_NOT_PROVIDED", "warning",
        f"the chain of {leaf_name} ends at {_name(top)}, whose issuer {_name(top.issuer)} was not given; "
        "the path to a trust anchor could not be checked",
        "pass the root the server trusts (lint-client --trust ROOT.pem)",
        leaf, missing_issuer=_name(top.issuer),
    )
    return None


def _public_rule(
    leaf: x509.Certificate,
    path: list[x509.Certificate] | None,
    chain_certs: Sequence[x509.Certificate],
    public_roots: Sequence[x509.Certificate] | None,
    table: PublicCATable,
) -> PublicIssuerRule | None:
    orgs = _orgs(leaf.issuer)
    for cert in path[1:] if path else chain_certs:
        orgs += _orgs(cert.subject)
    rule = table.by_organization(orgs)
    if rule is not None:
        return rule
    if public_roots:
        ends_public = False
        if path:
            ends_public = any(_same_cert(path[-1], r) for r in public_roots)
        else:
            top = _missing_issuer(leaf, chain_certs)
            ends_public = any(r.subject == top.issuer or _same_cert(r, top) for r in public_roots)
        if ends_public:
            return table.root_program_rule()
    return None
