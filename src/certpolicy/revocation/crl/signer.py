"""The CRL issuer's own certification path (RFC 5280 §6.3.3(f)), validated by pyhanko-certvalidator.

A CRL signed by a certificate that is not on the validated path of the
certificate being checked (an indirect CRL issuer, a separate CRL-signing
key of the issuing CA, the other key of a CA after a self-issued key
rollover) is used only when that signer's certificate has a valid
certification path to the *same* trust anchor as the checked certificate
(§6.3.3(f)) at the validation time, and allows ``cRLSign`` when it has a
keyUsage (§4.2.1.3). certpolicy does not validate paths itself:
:func:`validate_crl_signer` asks pyhanko-certvalidator (path building from
the certificates at hand, signatures, validity with the clock skew, basic
and name constraints, critical extensions), without revocation checking and
without fetching; the revocation of the signer's path is the CRL check's
business (:class:`~.fetch.CrlSource`, under ``scope = "chain"``).

Answers are memoised (bounded) per signer, anchor, certificate pool and
validation time, so a CRL used by many connections costs one validation.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as _dt
import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ...policy import Outcome
from .parse import CrlProblem

__all__ = ["MAX_SIGNER_DEPTH", "crl_sign_allowed", "validate_crl_signer", "vouch_for_signer"]

_MEMO: collections.OrderedDict[tuple[Any, ...], tuple[tuple[x509.Certificate, ...], str | None]] = (
    collections.OrderedDict()
)
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 256


def crl_sign_allowed(cert: x509.Certificate) -> bool:
    """RFC 5280 §4.2.1.3 / §6.3.3(f): ``True`` unless ``cert`` has a keyUsage
    without ``cRLSign`` (or one that does not parse)."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return False
    return bool(ku.crl_sign)


def _fp(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()


def _run(coro: Any, timeout: float = 10.0) -> Any:
    """Run a pyhanko coroutine from synchronous code (in a worker thread when
    this thread already runs an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="certpolicy-crl-signer") as ex:
        return ex.submit(asyncio.run, coro).result(timeout=timeout)


def _pyhanko_path(
    signer: x509.Certificate,
    anchor: x509.Certificate,
    pool: Sequence[x509.Certificate],
    at: _dt.datetime,
    clock_skew: float,
) -> tuple[tuple[x509.Certificate, ...], str | None]:
    from asn1crypto import x509 as a_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy

    def load(c: x509.Certificate) -> Any:
        return a_x509.Certificate.load(c.public_bytes(Encoding.DER))

    others = [load(c) for c in pool if c != signer and c != anchor]
    vc = ValidationContext(
        trust_roots=[CertTrustAnchor(load(anchor))],
        other_certs=others,
        allow_fetching=False,
        moment=at,
        time_tolerance=_dt.timedelta(seconds=clock_skew),
        revinfo_policy=CertRevTrustPolicy(NO_REVOCATION),
    )
    validator = CertificateValidator(load(signer), intermediate_certs=others, validation_context=vc)
    try:
        path = _run(validator.async_validate_path())
    except Exception as e:  # pyhanko's PathBuildingError, PathValidationError, InvalidCertificateError ...
        return (), f"{type(e).__name__}: {e}"
    certs = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=False)]
    if certs and certs[0] != signer:
        certs.reverse()  # pyhanko lists the path from the trust anchor down
    return (*certs, anchor), None


def validate_crl_signer(
    signer: x509.Certificate,
    *,
    anchor: x509.Certificate,
    pool: Sequence[x509.Certificate],
    at: _dt.datetime,
    clock_skew: float = 900.0,
) -> tuple[x509.Certificate, ...]:
    """Validate the certification path of a CRL issuer's certificate (RFC 5280 §6.3.3(f)).

    Args:
        signer: the certificate whose key signed the CRL.
        anchor: the trust anchor of the checked certificate's validated path;
            the signer's path must end at it.
        pool: certificates that may be intermediates of the signer's path
            (the presented chain, the validated path, ``extra_certs``).
        at: validation time (aware, UTC).
        clock_skew: seconds of tolerance on validity periods.

    Returns:
        the signer's path ``(signer, ..., anchor)`` (``(signer, anchor)``
        when the anchor issued it; ``(anchor,)`` when the signer *is* the anchor).

    Raises:
        CrlProblem: (``unauthorised-signer``) no valid path to ``anchor``, or
            a keyUsage without ``cRLSign``.
    """
    name = signer.subject.rfc4514_string() or "<empty name>"
    if not crl_sign_allowed(signer):
        raise CrlProblem(
            Outcome.UNAUTHORISED_SIGNER,
            f"the CRL issuer {name} has a keyUsage without cRLSign (RFC 5280 §4.2.1.3, §6.3.3(f))",
        )
    if signer == anchor:
        return (anchor,)
    key = (_fp(signer), _fp(anchor), frozenset(_fp(c) for c in pool), at, clock_skew)
    with _MEMO_LOCK:
        known = _MEMO.get(key)
        if known is not None:
            _MEMO.move_to_end(key)
    if known is None:
        known = _pyhanko_path(signer, anchor, pool, at, clock_skew)
        with _MEMO_LOCK:
            _MEMO[key] = known
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
    path, problem = known
    if problem is not None:
        raise CrlProblem(
            Outcome.UNAUTHORISED_SIGNER,
            f"the certificate of the CRL issuer {name} has no valid certification path to the trust anchor "
            f"{anchor.subject.rfc4514_string()} (RFC 5280 §6.3.3(f)): {problem}",
        )
    return path


#: Certificates whose status a CRL signer check is asking for, per thread:
#: a signer whose own status hangs on itself is refused, not looped on.
_ASKING = threading.local()
#: At most this many CRL signer paths are checked inside one another.
MAX_SIGNER_DEPTH = 4


def vouch_for_signer(
    *,
    anchor: x509.Certificate,
    pool: Sequence[x509.Certificate],
    at: _dt.datetime,
    clock_skew: float,
    checked_elsewhere: Sequence[x509.Certificate],
    status: Callable[[x509.Certificate, x509.Certificate, Sequence[x509.Certificate]], Any] | None,
) -> Callable[[x509.Certificate], None]:
    """A signer check for :func:`~.evaluate.authorise_crl`: the signer's path
    (:func:`validate_crl_signer`) and, when ``status`` is given (the policy
    checks the whole chain, ``scope = "chain"``), the revocation of every
    certificate of that path below the anchor that is not in
    ``checked_elsewhere`` (the checked certificate's own path, whose
    certificates are checked anyway).

    Args:
        anchor, pool, at, clock_skew: as :func:`validate_crl_signer`.
        checked_elsewhere: certificates not to check again.
        status: ``status(cert, issuer, signer_path)`` returning a
            :class:`~certpolicy.checks.base.RevocationStatus`; ``None``: no
            revocation check of the signer (``scope = "leaf"``).

    Returns:
        a callable that returns when the signer may sign CRLs and raises
        :class:`CrlProblem` (``unauthorised-signer``) otherwise: no valid
        path, no ``cRLSign``, or (with ``status``) a certificate of its path
        that is not ``good`` (revoked, or without a definite answer: fail
        closed), or a status that depends on itself.
    """

    def check(signer: x509.Certificate) -> None:
        path = validate_crl_signer(signer, anchor=anchor, pool=pool, at=at, clock_skew=clock_skew)
        if status is None:
            return
        asking: set[bytes] = getattr(_ASKING, "certs", None) or set()
        _ASKING.certs = asking
        for i, cert in enumerate(path[:-1]):
            if cert in checked_elsewhere:
                continue
            fp = _fp(cert)
            name = cert.subject.rfc4514_string() or "<empty name>"
            if fp in asking or len(asking) >= MAX_SIGNER_DEPTH:
                raise CrlProblem(
                    Outcome.UNAUTHORISED_SIGNER,
                    f"the revocation status of the CRL issuer's certificate {name} depends on itself",
                )
            asking.add(fp)
            try:
                st = status(cert, path[i + 1], path)
            finally:
                asking.discard(fp)
            if st.outcome is not Outcome.GOOD:
                raise CrlProblem(
                    Outcome.UNAUTHORISED_SIGNER,
                    f"the CRL issuer's certificate {name} is not in good standing "
                    f"({st.outcome.value}: {st.detail})",
                )

    return check
