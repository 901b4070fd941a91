"""Bounded input of the chain check: a presented chain parsed into certificates within size limits.

Every input is bounded: :func:`parse_chain` rejects more than
:data:`MAX_CHAIN_CERTS` certificates, chains over :data:`MAX_CHAIN_BYTES`,
certificates over :data:`MAX_CERT_BYTES`, undecodable DER/PEM and a leaf with
duplicate or unreadable extensions (RFC 5280 §4.2: each extension once).
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..._memo import CERTIFICATE_FACTS
from ...errors import MalformedInput

__all__ = ["MAX_CERT_BYTES", "MAX_CHAIN_BYTES", "MAX_CHAIN_CERTS", "extensions_problem", "malformed", "parse_chain"]

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


def malformed(reason: str, cert: x509.Certificate | None = None) -> MalformedInput:
    """A :class:`~certpolicy.errors.MalformedInput` of the chain check."""
    return MalformedInput(reason, check="chain", outcome="malformed", certificate=cert)


def extensions_problem(cert: x509.Certificate) -> str | None:
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
        raise malformed(
            "expected a sequence of certificates (DER/PEM bytes or x509.Certificate), got "
            + ("nothing" if items is None else type(items).__name__)
        )
    try:
        count = len(items)
    except TypeError:  # an iterator: take no more than one past the limit
        try:
            items = list(itertools.islice(iter(items), max_certs + 1))
        except TypeError:
            raise malformed(f"expected a sequence of certificates, got {type(items).__name__}") from None
        count = len(items)
    if count == 0:
        raise malformed("empty chain: no certificate was presented")
    if count > max_certs:
        raise malformed(f"chain of {count} certificates is longer than the limit of {max_certs}")
    total = sum(len(i) for i in items if isinstance(i, (bytes, bytearray, memoryview)))
    if total > max_chain_bytes:
        raise malformed(f"chain of {total} bytes is larger than the limit of {max_chain_bytes} bytes")
    out: list[x509.Certificate] = []
    for i, item in enumerate(items):
        if isinstance(item, x509.Certificate):
            size = CERTIFICATE_FACTS(item, _der_length)
            total += size
            if size > max_cert_bytes or total > max_chain_bytes:
                where = "leaf certificate" if i == 0 else f"certificate #{i} of the chain"
                if size > max_cert_bytes:
                    raise malformed(
                        f"{where}: {size} bytes of DER is larger than the limit of {max_cert_bytes} bytes", item
                    )
                raise malformed(f"chain of more than {max_chain_bytes} bytes is larger than the limit")
            out.append(item)
            if len(out) > max_certs:  # after PEM items that held several certificates
                raise malformed(f"chain of more than {max_certs} certificates is longer than the limit")
            continue
        where = "leaf certificate" if i == 0 else f"certificate #{i} of the chain"
        if isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            if not data.strip():
                raise malformed(f"{where}: empty")
            if data.lstrip()[:10] == b"-----BEGIN":
                # base64 with line breaks: about 1.37 characters per DER byte
                pem_limit = max_cert_bytes * 11 // 8 + 128
                for block in data.split(b"-----END"):
                    if len(block) > pem_limit:
                        raise malformed(
                            f"{where}: a PEM certificate of about {len(block) * 3 // 4} bytes is "
                            f"larger than the limit of {max_cert_bytes} bytes"
                        )
                try:
                    certs = x509.load_pem_x509_certificates(data)
                except (ValueError, x509.InvalidVersion) as e:
                    raise malformed(f"{where}: undecodable PEM certificate ({e})") from None
            else:
                if len(data) > max_cert_bytes:
                    raise malformed(
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
                        raise malformed(
                            f"{where}: undecodable DER certificate of {len(data)} bytes ({e})"
                        ) from None
                    _parsed_der_put(data, cert)
                    CERTIFICATE_FACTS.remember(cert, _der_length, len(data))
                    certs = [cert]
        else:
            raise malformed(
                f"{where}: expected DER/PEM bytes or an x509.Certificate, got "
                f"{type(item).__name__}"
            )
        out.extend(certs)
        if len(out) > max_certs:
            raise malformed(f"chain of more than {max_certs} certificates is longer than the limit")
    problem = extensions_problem(out[0])
    if problem is not None:
        raise malformed(f"leaf certificate: {problem}", out[0])
    return out
