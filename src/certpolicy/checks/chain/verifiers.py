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
* Chains through a CA whose name constraints use directoryName subtrees,
  which cryptography refuses as unsupported, are validated by
  pyhanko-certvalidator (RFC 5280 §4.2.1.10, §6.1.3(b)-(c); :func:`pyhanko_path`),
  bounded to :data:`PYHANKO_TIMEOUT` seconds, followed by certpolicy's rules.

The extension policies (certpolicy's rules as cryptography callbacks) are
built once per trust store, mode and EKU (:func:`extension_policies`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import ipaddress
import operator
import threading
from collections.abc import Callable, Sequence
from typing import Any

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
from ...names import InvalidName, normalize_dns_name
from ...trust import TrustAnchors
from .explain import chain_error, clean_message
from .rules import (
    EXTRAS_LOCK,
    eku_problem,
    end_entity_profile_problem,
    key_ids_conform,
    rfc5280_4_2_1_1_2_ca_key_identifiers,
    rfc5280_4_2_1_12_extended_key_usage,
    rfc5280_6_1_4_n_ca_key_usage,
    subject_text,
    webpki_ca_conforms,
)

__all__ = [
    "DN_CONSTRAINT",
    "PYHANKO_TIMEOUT",
    "STORE_SEEN",
    "ServerVerifiers",
    "Verify",
    "chain_only",
    "client_mode",
    "extension_policies",
    "is_path_failure",
    "pyhanko_path",
    "pyhanko_validate",
    "run_bounded",
    "server_subject",
]

#: Seconds granted to pyhanko-certvalidator for one chain (directoryName
#: name constraints only); a slower answer is a rejection.
PYHANKO_TIMEOUT = 0.5
#: cryptography's message for a CA it cannot validate: pyhanko decides then.
DN_CONSTRAINT = "unsupported directoryName constraint"

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
) -> tuple[list[x509.Certificate], bool]:
    """Path validation by a chain-only ClientVerifier (no name, certpolicy's
    EKU rule, subjectAltName optional)."""
    mode = client_mode(leaf, eku)
    ca_policy, ee_policy = extension_policies(anchors, mode, eku)
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
# pyhanko-certvalidator for directoryName name constraints
# ---------------------------------------------------------------------------

#: pyhanko runs in daemon threads (a stuck validation never blocks interpreter
#: exit); at most this many at once, further chains are refused while they run.
_PYHANKO_SLOTS = threading.BoundedSemaphore(4)


def run_bounded(func: Callable[[], list[bytes]], timeout: float) -> list[bytes]:
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


def pyhanko_validate(
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


def pyhanko_path(
    leaf: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    anchors: TrustAnchors,
    depth: int,
    at: _dt.datetime,
    error: VerificationError,
    eku: x509.ObjectIdentifier | None,
) -> list[x509.Certificate]:
    """Validate with pyhanko-certvalidator (directoryName name constraints)."""
    if len(candidates) > 16:
        raise chain_error(
            f"a CA on the path uses directoryName name constraints, validated by "
            f"pyhanko-certvalidator only for up to 16 candidate certificates "
            f"(got {len(candidates)}); cryptography: {clean_message(str(error))}",
            leaf,
        )
    issuers = {c.issuer.public_bytes() for c in (leaf, *candidates)}
    relevant = [a for a in anchors.certificates if a.subject.public_bytes() in issuers]
    try:
        ders = run_bounded(
            lambda: pyhanko_validate(leaf, candidates, relevant, at), PYHANKO_TIMEOUT
        )
    except TimeoutError as e:
        raise chain_error(
            f"path validation with directoryName name constraints (pyhanko-certvalidator) "
            f"refused: {e}",
            leaf,
        ) from None
    except Exception as e:
        raise chain_error(
            f"no valid certification path from {subject_text(leaf)!r} to a trust anchor "
            f"(RFC 5280 §6.1, directoryName name constraints checked by "
            f"pyhanko-certvalidator): {e}",
            leaf,
        ) from None
    by_der = {c.public_bytes(Encoding.DER): c for c in (leaf, *candidates, *anchors.certificates)}
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
    for problem in (eku_problem(leaf, eku), end_entity_profile_problem(leaf)):
        if problem is not None:
            raise chain_error(f"leaf certificate {subject_text(leaf)!r}: {problem}", leaf)
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
