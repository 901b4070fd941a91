"""Which path validator runs and why: cryptography's ServerVerifier, its chain-only ClientVerifier, or pyhanko-certvalidator.

* With serverAuth and a host name, a ``ServerVerifier`` is tried first for
  speed (cryptography's own all-Rust Web PKI profile for chains seen before,
  one with certpolicy's CA rules otherwise: see :class:`ServerVerifiers`):
  its success implies the chain-only verdict, and only a failure on the leaf
  itself (another name, no SAN, anyExtendedKeyUsage alone) falls back to the
  chain-only verifier.
* The chain-only ``ClientVerifier`` (:func:`chain_only`) checks no name (the
  hostname check does, with the policy's CN fallback); its end-entity
  extension policy makes the subjectAltName optional and requires the
  policy's extended key usage instead of clientAuth.
* pyhanko-certvalidator builds and validates the path where cryptography
  cannot (:func:`pyhanko_path`): chains through a CA whose name constraints
  use directoryName subtrees, which cryptography refuses as unsupported
  (RFC 5280 §4.2.1.10, §6.1.3(b)-(c)); names that chain only under the
  comparison rules of RFC 5280 §7.1; a critical certificate policy
  extension (RFC 5280 §4.2.1.4, §4.2.1.5, §4.2.1.11, §4.2.1.14). It also
  processes the certificate policies of a path cryptography validated, when
  :func:`.pkix.needs_policy_processing` says so (:func:`pyhanko_policies`).
  Each run is bounded to :data:`PYHANKO_TIMEOUT` seconds, and certpolicy's
  rules follow.

The extension policies (certpolicy's rules as cryptography callbacks) are
built once per trust store, mode and EKU (:func:`extension_policies`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import functools
import ipaddress
import operator
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    VerificationError,
)

from ..._memo import CERTIFICATE_FACTS
from ...errors import ChainError
from ...names import InvalidName, normalize_dns_name
from ...trust import TrustAnchors
from .explain import chain_error, clean_message
from .pkix import (
    DEFAULT_POLICY_INPUTS,
    PolicyInputs,
    policy_refusal,
    relevant_anchors,
    signature_problem,
)
from .rules import (
    EXTRAS_LOCK,
    eku_problem,
    end_entity_profile_problem,
    key_ids_conform,
    rfc5280_4_2_1_1_2_ca_key_identifiers,
    rfc5280_4_2_1_3_leaf_key_cert_sign,
    rfc5280_4_2_1_12_extended_key_usage,
    rfc5280_6_1_4_n_ca_key_usage,
    subject_text,
    webpki_ca_conforms,
)

__all__ = [
    "CA_LEAF_REFUSALS",
    "DN_CONSTRAINT",
    "OTHER_CONSTRAINT",
    "PYHANKO_TIMEOUT",
    "STORE_SEEN",
    "WHY_DN_CONSTRAINT",
    "WHY_NAME_CHAINING",
    "WHY_OTHER_CONSTRAINT",
    "WHY_POLICY_EXTENSION",
    "WHY_SELF_ISSUED",
    "ServerVerifiers",
    "Verify",
    "chain_only",
    "client_mode",
    "extension_policies",
    "is_path_failure",
    "pyhanko_path",
    "pyhanko_policies",
    "pyhanko_validate",
    "run_bounded",
    "server_subject",
]

#: Seconds granted to pyhanko-certvalidator for one chain (directoryName
#: name constraints, names that chain only under RFC 5280 §7.1, certificate
#: policy processing); a slower answer is a rejection.
PYHANKO_TIMEOUT = 0.5
#: cryptography's message for a CA it cannot validate: pyhanko decides then.
DN_CONSTRAINT = "unsupported directoryName constraint"
#: cryptography's message for the other name constraint forms it does not
#: support (uniformResourceIdentifier, ...): pyhanko decides then.
OTHER_CONSTRAINT = "unsupported name constraint"
#: cryptography's refusals of a CA certificate as the leaf, which RFC 5280
#: §6.1 allows (the ``rfc5280`` profile retries with :func:`chain_only`,
#: ``ca_leaf=True``).
CA_LEAF_REFUSALS = (
    "basicConstraints.cA must not be asserted in an EE certificate",
    "EE keyUsage must not assert keyCertSign",
)

#: ``verify(leaf, candidates) -> (path, checked_by_server_profile)``
Verify = Callable[[x509.Certificate, list[x509.Certificate]], tuple[list[x509.Certificate], bool]]


def is_path_failure(error: VerificationError) -> bool:
    """Whether cryptography failed while building the path (as opposed to
    rejecting the leaf before it started)."""
    return clean_message(str(error)).startswith(("candidates exhausted", "fatal error"))


# ---------------------------------------------------------------------------
# Extension policies (built once per trust store and EKU)
# ---------------------------------------------------------------------------


def extension_policies(
    anchors: TrustAnchors, mode: str, eku: x509.ObjectIdentifier | None, *, ca_leaf: bool = False
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
    ``ca_leaf`` (the ``rfc5280`` profile, after cryptography refused a CA
    certificate as the leaf): the leaf may assert cA, and keyCertSign with it
    (RFC 5280 §4.2.1.3, §6.1; :func:`.rules.rfc5280_4_2_1_3_leaf_key_cert_sign`).
    """
    key = ("certpolicy.chain", mode, eku.dotted_string if eku is not None else None, ca_leaf)
    cached = anchors.extras.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    ski_rule, aki_rule = rfc5280_4_2_1_1_2_ca_key_identifiers(anchors)
    ca = (
        ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.SubjectKeyIdentifier, Criticality.NON_CRITICAL, ski_rule)
        .may_be_present(x509.AuthorityKeyIdentifier, Criticality.NON_CRITICAL, aki_rule)
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, rfc5280_6_1_4_n_ca_key_usage)
    )
    ee = ExtensionPolicy.webpki_defaults_ee()
    if mode != "server":
        ee = ee.may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    if mode == "python":
        if eku is not None:
            ee = ee.may_be_present(
                x509.ExtendedKeyUsage,
                Criticality.NON_CRITICAL,
                rfc5280_4_2_1_12_extended_key_usage(eku, "end-entity certificate"),
            )
            ca = ca.may_be_present(
                x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, rfc5280_4_2_1_12_extended_key_usage(eku, "CA certificate")
            )
        else:
            ee = ee.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
            ca = ca.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    if ca_leaf:
        ee = ee.may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, None).may_be_present(
            x509.KeyUsage, Criticality.AGNOSTIC, rfc5280_4_2_1_3_leaf_key_cert_sign
        )
    with EXTRAS_LOCK:
        anchors.extras.setdefault(key, (ca, ee))
        return anchors.extras[key]  # type: ignore[return-value]


def client_mode(leaf: x509.Certificate, eku: x509.ObjectIdentifier | None) -> str:
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
def server_subject(host: str | None) -> x509.DNSName | x509.IPAddress | None:
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


def chain_only(
    eku: x509.ObjectIdentifier | None,
    anchors: TrustAnchors,
    depth: int,
    naive_at: _dt.datetime,
    leaf: x509.Certificate,
    others: list[x509.Certificate],
    *,
    ca_leaf: bool = False,
) -> tuple[list[x509.Certificate], bool]:
    """Path validation by a chain-only ClientVerifier (no name, certpolicy's
    EKU rule, subjectAltName optional); ``ca_leaf``: a CA certificate may be
    the leaf (see :func:`extension_policies`)."""
    mode = client_mode(leaf, eku)
    ca_policy, ee_policy = extension_policies(anchors, mode, eku, ca_leaf=ca_leaf)
    builder = PolicyBuilder().store(anchors.store).time(naive_at).max_chain_depth(depth)  # type: ignore[arg-type]
    client = builder.extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier()
    return client.verify(leaf, others).chain, False


# ---------------------------------------------------------------------------
# The ServerVerifiers: cryptography's Web PKI profile, or certpolicy's rules
# ---------------------------------------------------------------------------


def lax_anchor_subjects(anchors: TrustAnchors) -> frozenset[bytes] | None:
    """Subjects (DER) of the trust anchors that fail cryptography's stricter
    Web PKI CA rules (see :func:`webpki_ca_conforms`; some current roots do:
    an authorityKeyIdentifier with issuer and serial), worked out once per
    store; ``None`` when such a subject cannot be encoded."""
    key = "certpolicy.chain.lax-anchor-subjects"
    found = anchors.extras.get(key, False)
    if found is not False:
        return found  # type: ignore[return-value]
    lax: frozenset[bytes] | None
    try:
        lax = frozenset(
            a.subject.public_bytes() for a in anchors.certificates if not webpki_ca_conforms(a)
        )
    except Exception:  # pragma: no cover - an unencodable anchor name
        lax = None
    with EXTRAS_LOCK:
        anchors.extras.setdefault(key, lax)
    return lax


def _issuer_der(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.issuer.public_bytes()
    except Exception:  # an unencodable issuer name
        return None


def webpki_profile_decides(
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
    if not all(CERTIFICATE_FACTS(c, webpki_ca_conforms) for c in others):
        return False
    lax = lax_anchor_subjects(anchors)
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
STORE_SEEN = "certpolicy.chain.store-seen"


class ServerVerifiers:
    """Path validation with cryptography's ServerVerifier for one trust store,
    maximum depth, validation time and host; the verifiers are built on
    first use.

    * ``webpki``: cryptography's own Web PKI profile, all in Rust (no Python
      callback runs during verification). Its CA rules are certpolicy's,
      except stricter on keyUsage (must be present) and on the
      authorityKeyIdentifier (no issuer or serial number), and without the
      key-identifier presence rules. It is used only for a chain whose CA
      certificates and trust store were seen before and where the stricter
      rules cannot matter (:func:`webpki_profile_decides`); its path is
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
        "_decided",
        "_eku",
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
        eku: x509.ObjectIdentifier | None,
    ) -> None:
        self.anchors = anchors
        self.depth = depth
        self._time = at
        self._subject = subject
        self._eku = eku
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
            ca_server, ee_server = extension_policies(anchors, "server", ExtendedKeyUsageOID.SERVER_AUTH)
            base = PolicyBuilder().store(anchors.store).max_chain_depth(depth)  # type: ignore[arg-type]
            prepared = (base, base.extension_policies(ca_policy=ca_server, ee_policy=ee_server))
            with EXTRAS_LOCK:
                if len(anchors.extras) < 64:  # depths are few; stay bounded anyway
                    anchors.extras.setdefault(key, prepared)
        self._prepared: tuple[Any, Any] = prepared  # type: ignore[assignment]
        # a trust store used for the first time is not warm
        self._warm = STORE_SEEN in anchors.extras
        anchors.extras[STORE_SEEN] = True

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
        return chain_only(self._eku, self.anchors, self.depth, self._time, leaf, others)

    def verify(self, leaf: x509.Certificate, others: list[x509.Certificate]) -> tuple[list[x509.Certificate], bool]:
        """``(path, True)``, or the chain-only verifier's answer; raises
        VerificationError (always the ruled verifier's: certpolicy's rules
        decide and explain every path failure)."""
        anchors = self.anchors
        decided = self._decided  # the intermediates of the last chain the Web PKI profile took
        if len(decided) != len(others) or not all(map(operator.is_, decided, others)):
            first_sight = not all([CERTIFICATE_FACTS.seen_before(c) for c in others]) or not self._warm
            self._warm = True
            if first_sight or not webpki_profile_decides(leaf, others, anchors):
                return self._ruled(leaf, others)
            if not lax_anchor_subjects(anchors):  # then the decision does not depend on the leaf
                self._decided = tuple(others)
        try:
            webpki = self._get(0)
        except ValueError:  # no ServerVerifier for this name
            return self._ruled(leaf, others)
        try:
            path: list[x509.Certificate] = webpki.verify(leaf, others)
        except VerificationError as e:
            if not is_path_failure(e):
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
        if all(CERTIFICATE_FACTS(c, key_ids_conform) or anchors.contains(c) for c in middle):
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
            if is_path_failure(e):
                raise
        return self._fall_back(leaf, others)


# ---------------------------------------------------------------------------
# pyhanko-certvalidator: what cryptography's path validator cannot do
# ---------------------------------------------------------------------------

#: pyhanko runs in daemon threads (a stuck validation never blocks interpreter
#: exit); at most this many at once, further chains are refused while they run.
_PYHANKO_SLOTS = threading.BoundedSemaphore(4)

_T = TypeVar("_T")

#: Why pyhanko-certvalidator builds the path (the ``why`` of :func:`pyhanko_path`).
WHY_DN_CONSTRAINT = "directoryName name constraints"
WHY_NAME_CHAINING = "issuer names compared as RFC 5280 §7.1 says"
WHY_POLICY_EXTENSION = "a critical certificate policy extension"
WHY_OTHER_CONSTRAINT = "name constraints of a form cryptography does not support (uniformResourceIdentifier)"
WHY_SELF_ISSUED = "self-issued CA certificates, not counted towards pathLenConstraint (RFC 5280 §6.1.4(l))"


def run_bounded(func: Callable[[], _T], timeout: float) -> _T:
    """Run ``func`` in a daemon thread; raise TimeoutError after ``timeout`` s,
    or at once when :data:`_PYHANKO_SLOTS` validations are running already."""
    if not _PYHANKO_SLOTS.acquire(blocking=False):
        raise TimeoutError("too many pyhanko-certvalidator validations are running")
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
    value: _T = outcome["value"]
    return value


def _asn1(cert: x509.Certificate) -> Any:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _trust_anchor(cert: x509.Certificate) -> Any:
    """A pyhanko trust anchor for ``cert`` with the constraints cryptography
    takes from a trust anchor certificate (name constraints, pathLenConstraint,
    validity) but not its certificatePolicies: the certificate policy inputs
    are the policy's (RFC 5280 §6.1.1(c)-(f)), not the anchor's."""
    from pyhanko_certvalidator.authority import CertTrustAnchor, derive_quals_from_cert
    from pyhanko_certvalidator.policy_decl import PKIXValidationParams

    der = _asn1(cert)
    quals = derive_quals_from_cert(der)
    params = quals.standard_parameters
    if params is not None:
        params = PKIXValidationParams(
            initial_permitted_subtrees=params.initial_permitted_subtrees,
            initial_excluded_subtrees=params.initial_excluded_subtrees,
        )
    return CertTrustAnchor(der, quals=dataclasses.replace(quals, standard_parameters=params))


def _context(trust_roots: Sequence[Any], at: _dt.datetime) -> Any:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=list(trust_roots),
        moment=at,
        allow_fetching=False,
        revocation_mode="soft-fail",
        weak_hash_algos={"md2", "md5", "sha1"},
    )


def pyhanko_validate(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: _dt.datetime,
    inputs: PolicyInputs = DEFAULT_POLICY_INPUTS,
) -> list[bytes]:
    """Build and validate a path with pyhanko-certvalidator (RFC 5280 §6.1,
    names compared as §7.1 says, certificate policies processed with
    ``inputs``); return the path's DER, leaf first."""
    from pyhanko_certvalidator import CertificateValidator

    validator = CertificateValidator(
        _asn1(leaf),
        intermediate_certs=[_asn1(c) for c in intermediates],
        validation_context=_context([_trust_anchor(a) for a in anchors], at),
        pkix_params=inputs.pkix_params(),
    )
    path = asyncio.run(validator.async_validate_path())
    certs = [c.dump() for c in path.iter_certs(include_root=True)]
    return certs[::-1]


def _refused(reason: str, cert: x509.Certificate, rule: str, profile: str | None) -> ChainError:
    """A refusal by an RFC 5280 rule, named as check.py names certpolicy's
    own (``[rfc5280 profile: rfc5280_6_1_5_g_explicit_policy]``)."""
    if profile is None:
        return chain_error(f"{reason} [rule: {rule}]", cert, rule=rule)
    return chain_error(f"{reason} [{profile} profile: {rule}]", cert, profile=profile, rule=rule)


def pyhanko_path(
    leaf: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    anchors: TrustAnchors,
    depth: int,
    at: _dt.datetime,
    error: VerificationError,
    eku: x509.ObjectIdentifier | None,
    *,
    why: str = WHY_DN_CONSTRAINT,
    inputs: PolicyInputs = DEFAULT_POLICY_INPUTS,
    profile: str | None = None,
) -> list[x509.Certificate]:
    """Validate with pyhanko-certvalidator where cryptography cannot, then
    apply the rules cryptography's path builder would have applied (EKU,
    end-entity profile, key identifiers of the CAs, maximum depth, signature
    and key algorithms); the caller applies certpolicy's path rules.

    Args:
        leaf: the endpoint certificate.
        candidates: the other presented (and fetched) certificates.
        anchors: the trust anchors.
        depth: most intermediates on the path (self-issued ones not counted,
            RFC 5280 §6.1.4(l)).
        at: the validation time (aware).
        error: cryptography's refusal (quoted when pyhanko cannot be asked).
        eku: the extended key usage the path must allow, or ``None``.
        why: what cryptography could not do (:data:`WHY_DN_CONSTRAINT`,
            :data:`WHY_OTHER_CONSTRAINT`, :data:`WHY_NAME_CHAINING`,
            :data:`WHY_POLICY_EXTENSION`, :data:`WHY_SELF_ISSUED`), for messages.
        inputs: the certificate policy inputs (RFC 5280 §6.1.1(c)-(f)).
        profile: the validation profile in force, named in refusals.

    Returns:
        the path, leaf first, trust anchor last.

    Raises:
        ChainError: no valid path (pyhanko's reason, and the RFC 5280 rule
            for a certificate policy refusal), more than 16 candidates, a
            validation that takes longer than :data:`PYHANKO_TIMEOUT`, or a
            rule above broken.
    """
    if len(candidates) > 16:
        raise chain_error(
            f"the path needs {why}, validated by pyhanko-certvalidator only for up to 16 candidate "
            f"certificates (got {len(candidates)}); cryptography: {clean_message(str(error))}",
            leaf,
        )
    pool = [leaf, *candidates]
    relevant = relevant_anchors(pool, anchors)
    try:
        ders = run_bounded(lambda: pyhanko_validate(leaf, candidates, relevant, at, inputs), PYHANKO_TIMEOUT)
    except TimeoutError as e:
        raise chain_error(
            f"path validation with {why} (pyhanko-certvalidator) refused: {e}", leaf
        ) from None
    except Exception as e:
        refusal = policy_refusal(str(e), pool, inputs, complete=False)
        if refusal is not None:
            raise _refused(f"{refusal[1]}; pyhanko-certvalidator: {e}", leaf, refusal[0], profile) from None
        raise chain_error(
            f"no valid certification path from {subject_text(leaf)!r} to a trust anchor "
            f"(RFC 5280 §6.1, {why} checked by pyhanko-certvalidator): {e}",
            leaf,
        ) from None
    by_der = {c.public_bytes(Encoding.DER): c for c in (*pool, *anchors.certificates)}
    path = [by_der[d] for d in ders if d in by_der]
    if len(path) != len(ders) or not path or path[0] != leaf:
        raise chain_error("pyhanko-certvalidator returned an unknown certification path", leaf)
    intermediates = [c for c in path[1:-1] if c.subject != c.issuer]
    if len(intermediates) > depth:
        raise chain_error(
            f"certification path has {len(intermediates)} intermediates, more than the "
            f"maximum depth of {depth}",
            leaf,
        )
    for problem in (eku_problem(leaf, eku), end_entity_profile_problem(leaf, profile)):
        if problem is not None:
            raise chain_error(f"leaf certificate {subject_text(leaf)!r}: {problem}", leaf)
    for i, cert in enumerate(path[:-1]):
        problem = signature_problem(cert, path[i + 1])
        if problem is not None:
            raise chain_error(
                f"certificate {subject_text(cert)!r} {problem} (pyhanko-certvalidator path)", cert
            )
    # certpolicy's CA rules that cryptography's path builder would have
    # applied through the extension policy (pyhanko knows none of them)
    for ca in path[1:-1]:
        if anchors.contains(ca):
            continue
        problem = eku_problem(ca, eku)
        if problem is None and not CERTIFICATE_FACTS(ca, key_ids_conform):
            problem = (
                "a CA certificate below the trust anchor needs a subjectKeyIdentifier and, "
                "unless self-issued, an authorityKeyIdentifier with a keyIdentifier "
                "(RFC 5280 §4.2.1.1, §4.2.1.2)"
            )
        if problem is not None:
            raise chain_error(f"intermediate certificate {subject_text(ca)!r}: {problem}", ca)
    return path


def _validate_fixed_path(path: Sequence[x509.Certificate], at: _dt.datetime, inputs: PolicyInputs) -> None:
    from pyhanko_certvalidator.path import ValidationPath
    from pyhanko_certvalidator.validate import async_validate_path

    anchor = _trust_anchor(path[-1])
    context = _context([anchor], at)
    fixed = ValidationPath(
        anchor,
        interm=[_asn1(c) for c in reversed(path[1:-1])],
        leaf=_asn1(path[0]),
    )
    asyncio.run(async_validate_path(context, fixed, parameters=inputs.pkix_params()))


def pyhanko_policies(
    path: Sequence[x509.Certificate], at: _dt.datetime, inputs: PolicyInputs, profile: str | None = None
) -> None:
    """RFC 5280 certificate policy processing (§6.1.3(d)-(f), §6.1.4(a)-(b),
    (h)-(j), §6.1.5(a)-(b), (g); self-issued certificates not counted) of a
    path cryptography validated, by pyhanko-certvalidator's validation of
    exactly that path, bounded to :data:`PYHANKO_TIMEOUT` seconds.

    Args:
        path: the validated path, leaf first, trust anchor last.
        at: the validation time (aware).
        inputs: the certificate policy inputs (RFC 5280 §6.1.1(c)-(f)).
        profile: the validation profile in force, named in refusals.

    Raises:
        ChainError: the policy processing refuses the path (the message starts
            with the RFC 5280 rule, ``details["rule"]`` names it), pyhanko
            refuses it for another reason, or takes too long (fail closed).
    """
    try:
        run_bounded(lambda: _validate_fixed_path(path, at, inputs), PYHANKO_TIMEOUT)
    except TimeoutError as e:
        raise chain_error(
            f"certificate policy processing (RFC 5280 §6.1, pyhanko-certvalidator) refused: {e}", path[0]
        ) from None
    except Exception as e:
        refusal = policy_refusal(str(e), path, inputs)
        if refusal is not None:
            rule, text, cert = refusal
            raise _refused(f"{text}; pyhanko-certvalidator: {e}", cert, rule, profile) from None
        raise chain_error(
            f"certificate policy processing of the path from {subject_text(path[0])!r} "
            f"(RFC 5280 §6.1, pyhanko-certvalidator) refused it: {e}",
            path[0],
        ) from None
