"""The OCSP response's signer: ResponderID matching, the signature check and the
authorisation of a delegated responder (RFC 6960 §4.2.2.2, §4.2.2.2.1)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as _dt
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ...checks.base import RevocationStatus
from ...policy import Outcome
from .errors import OcspError

#: Called for a delegated responder without id-pkix-ocsp-nocheck: given the
#: responder certificate (issued by the same issuer), return its revocation
#: status; only ``good`` accepts the responder.
ResponderCheck = Callable[[x509.Certificate], RevocationStatus]


def _spki_key_hash(cert: x509.Certificate) -> bytes:
    # SHA-1 of the subjectPublicKey BIT STRING value (RFC 6960 §4.2.1 KeyHash);
    # cryptography computes exactly that for the RFC 5280 key identifier.
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _responder_id_matches(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    try:
        if resp.responder_key_hash is not None:
            return resp.responder_key_hash == _spki_key_hash(cert)
        if resp.responder_name is not None:
            return resp.responder_name == cert.subject
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return False


def _same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    try:
        fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return a.public_key().public_bytes(*fmt) == b.public_key().public_bytes(*fmt)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _verify_signature(der: bytes, resp: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    """Verify the BasicOCSPResponse signature with ``signer``'s public key.

    pyhanko-certvalidator's signature validator handles every algorithm
    (RSA PKCS#1 v1.5 and PSS with its parameters, ECDSA, EdDSA, DSA).
    Raises OcspError(bad-signature).
    """
    from asn1crypto import keys as a_keys
    from asn1crypto import ocsp as a_ocsp
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

    try:
        basic = a_ocsp.OCSPResponse.load(der).basic_ocsp_response
        sig_alg = basic["signature_algorithm"]
        spki = a_keys.PublicKeyInfo.load(
            signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        DefaultSignatureValidator().validate_signature(
            resp.signature, resp.tbs_response_bytes, spki, sig_alg
        )
    except InvalidSignature:
        raise OcspError(
            Outcome.BAD_SIGNATURE,
            f"the response signature does not verify with the key of {signer.subject.rfc4514_string()!r}",
        ) from None
    except Exception as e:  # unsupported algorithm, PSS mismatch, key/algorithm clash
        raise OcspError(
            Outcome.BAD_SIGNATURE,
            f"the response signature cannot be verified ({type(e).__name__}: {e})",
        ) from None


def _run_coroutine(coro: Any, timeout: float = 10.0) -> Any:
    """Run a pyhanko coroutine to completion from synchronous code: on a
    private event loop in this thread, or in a worker thread when this thread
    already runs a loop (asyncio handshakes; DESIGN pitfall 4)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="certpolicy-pyhanko") as ex:
        return ex.submit(asyncio.run, coro).result(timeout=timeout)


def _validate_delegated_path(
    responder: x509.Certificate, issuer: x509.Certificate, at: _dt.datetime, clock_skew: float
) -> None:
    """Validate the one-certificate path issuer -> responder with
    pyhanko-certvalidator (signature, validity at ``at`` within ``clock_skew``,
    critical extensions, id-kp-OCSPSigning). Raises OcspError(unauthorised-signer)."""
    from asn1crypto import x509 as a_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy

    anchor = a_x509.Certificate.load(issuer.public_bytes(Encoding.DER))
    ee = a_x509.Certificate.load(responder.public_bytes(Encoding.DER))
    vc = ValidationContext(
        trust_roots=[CertTrustAnchor(anchor)],
        allow_fetching=False,
        moment=at,
        time_tolerance=_dt.timedelta(seconds=clock_skew),
        revinfo_policy=CertRevTrustPolicy(NO_REVOCATION),
    )
    validator = CertificateValidator(ee, validation_context=vc)
    try:
        _run_coroutine(
            validator.async_validate_usage(set(), extended_key_usage={"ocsp_signing"})  # type: ignore[no-untyped-call]
        )
    except Exception as e:
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {responder.subject.rfc4514_string()!r} is not valid under "
            f"the issuer: {e}",
        ) from None


def _has_ocsp_signing(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def _has_nocheck(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return True


def _authorise_delegated(
    responder: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: _dt.datetime,
    clock_skew: float,
    responder_check: ResponderCheck | None,
) -> None:
    """RFC 6960 §4.2.2.2 item 3 and §4.2.2.2.1. Raises OcspError(unauthorised-signer)."""
    name = responder.subject.rfc4514_string()
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"the response is signed by {name!r}, which the issuer "
            f"{issuer.subject.rfc4514_string()!r} did not issue (a responder of another CA?)",
        ) from None
    if not _has_ocsp_signing(responder):
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {name!r} lacks the id-kp-OCSPSigning extended key usage "
            "(RFC 6960 §4.2.2.2)",
        )
    try:
        ku = responder.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise OcspError(
                Outcome.UNAUTHORISED_SIGNER,
                f"delegated responder {name!r} has a key usage without digitalSignature",
            )
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        raise OcspError(Outcome.UNAUTHORISED_SIGNER, f"delegated responder {name!r} has an unparseable key usage") from None
    _validate_delegated_path(responder, issuer, at, clock_skew)
    if _has_nocheck(responder):
        return
    if responder_check is None:
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {name!r} carries no id-pkix-ocsp-nocheck extension and its own "
            "revocation status is not checked under this configuration (RFC 6960 §4.2.2.2.1)",
        )
    st = responder_check(responder)
    if st.outcome is not Outcome.GOOD:
        raise OcspError(
            Outcome.UNAUTHORISED_SIGNER,
            f"delegated responder {name!r} (no id-pkix-ocsp-nocheck) could not be shown unrevoked: "
            f"{st.outcome.value}: {st.detail}",
        )
