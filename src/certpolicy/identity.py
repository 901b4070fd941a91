"""Client identities (mTLS): the certificate, chain and private key a policy
presents when the server asks for a client certificate (RFC 8446 §4.4.2,
RFC 5246 §7.4.6).

A policy names its identity with a :class:`certpolicy.policy.ClientIdentitySpec`
(PEM files or a PKCS#12 bundle, and the *name* of an environment variable that
holds the passphrase, never the passphrase itself).
:meth:`ClientIdentity.load` reads and checks everything eagerly, so a wrong
passphrase or a key that belongs to another certificate is reported when the
policy table is loaded, naming the file, not at the first handshake::

    identity = ClientIdentity.load(policy.client_identity)
    identity.apply(ssl_context)          # load_cert_chain, key never in clear on disk

The readers used here (:func:`read_certificates`, :func:`read_private_key`,
:func:`read_pkcs12`) are shared with ``certpolicy lint-client``; every failure
is a :class:`certpolicy.errors.ClientCertificateError` whose message starts with
the file name and whose ``details["file"]`` holds the path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .errors import ClientCertificateError
from .pki import PrivateKey, load_private_key, write_private_file
from .policy import ClientIdentitySpec

__all__ = [
    "ClientIdentity",
    "PassphraseCallback",
    "is_pkcs12",
    "read_certificates",
    "read_pkcs12",
    "read_private_key",
]

PassphraseCallback = Callable[[str], "str | bytes | None"]
"""Called with the path of an encrypted key / PKCS#12 file; returns its
passphrase (``str`` is UTF-8 encoded) or ``None``."""

MAX_FILE_BYTES = 1024 * 1024
"""Largest certificate / key / PKCS#12 file read (bytes)."""

_PKCS12_SUFFIXES = (".p12", ".pfx")


def _error(path: str | os.PathLike[str], message: str, **details: object) -> ClientCertificateError:
    return ClientCertificateError(
        f"{os.fspath(path)}: {message}",
        outcome="unusable",
        details={"file": os.fspath(path), **details},
    )


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _error(path, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise _error(path, f"larger than {MAX_FILE_BYTES} bytes; not a certificate or key file")
    if not data.strip():
        raise _error(path, "the file is empty")
    return data


def _looks_like_der(data: bytes) -> bool:
    return data[:1] == b"\x30" and b"-----BEGIN" not in data


def read_certificates(path: str | os.PathLike[str], *, what: str = "certificate") -> list[x509.Certificate]:
    """Read every certificate from a PEM file, in file order.

    Args:
        path: the PEM file.
        what: what the file is for, used in messages (``"certificate"``, ``"chain"``).

    Returns:
        A non-empty list of certificates.

    Raises:
        ClientCertificateError: unreadable file; a DER file (with the openssl
            command that converts it); a PEM file without a CERTIFICATE block;
            a CERTIFICATE block that does not parse.
    """
    data = _read(path)
    if _looks_like_der(data):
        kind = "DER (binary) data"
        try:
            x509.load_der_x509_certificate(data)
            kind = "a DER-encoded certificate"
        except ValueError:
            pass
        raise _error(
            path,
            f"is {kind}, not PEM; convert it with "
            f"`openssl x509 -inform der -in {os.fspath(path)} -out {Path(path).stem}.pem`",
            kind="der-given-as-pem",
        )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        found = "a private key" if b"PRIVATE KEY-----" in data else "no PEM block" if b"-----BEGIN" not in data else "PEM, but no CERTIFICATE block"
        raise _error(path, f"no PEM certificate found for the {what} ({found})", kind="no-certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _error(path, f"a CERTIFICATE block does not parse: {exc}", kind="malformed") from exc
    return certs


def _passphrase_bytes(value: str | bytes | None) -> bytes | None:
    if value is None or value == b"" or value == "":
        return None
    return value.encode("utf-8") if isinstance(value, str) else value


def read_private_key(
    path: str | os.PathLike[str],
    passphrase: bytes | None = None,
    *,
    passphrase_source: str | None = None,
    data: bytes | None = None,
) -> PrivateKey:
    """Read a PEM (or DER) private key, decrypting it with ``passphrase``.

    Args:
        path: the key file (also the name used in messages).
        passphrase: the passphrase, or ``None``.
        passphrase_source: where the passphrase came from, for messages
            (``"$MID_KEY_PASS"``).
        data: the file content when already read.

    Raises:
        ClientCertificateError: no key in the file, encrypted without a
            passphrase, a wrong passphrase, an unsupported key type.
    """
    raw = data if data is not None else _read(path)
    if b"-----BEGIN" in raw and b"PRIVATE KEY-----" not in raw:
        raise _error(path, "no PEM private key found (expected '-----BEGIN PRIVATE KEY-----')", kind="no-key")
    encrypted = b"ENCRYPTED" in raw
    try:
        return load_private_key(raw, passphrase)
    except TypeError as exc:
        if passphrase is None:
            raise _error(
                path,
                "the private key is encrypted and no passphrase was given "
                "(policy: passphrase_env = \"VAR\"; command line: --passphrase-env VAR)",
                kind="passphrase-required",
            ) from exc
        raise _error(path, "a passphrase was given but the private key is not encrypted", kind="not-encrypted") from exc
    except ValueError as exc:
        if encrypted or passphrase is not None:
            src = f" from {passphrase_source}" if passphrase_source else ""
            raise _error(path, f"wrong passphrase{src} for the encrypted private key", kind="bad-passphrase") from exc
        raise _error(path, f"the private key does not parse: {exc}", kind="malformed") from exc


def read_pkcs12(
    path: str | os.PathLike[str],
    passphrase: bytes | None = None,
    *,
    passphrase_source: str | None = None,
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """Read a PKCS#12 bundle (RFC 7292): key, certificate, extra certificates.

    Raises:
        ClientCertificateError: not PKCS#12 (or a wrong passphrase: the two
            cannot always be told apart, the message says so), no private key,
            no certificate, an unsupported key type.
    """
    data = _read(path)
    if b"-----BEGIN" in data:
        raise _error(path, "is PEM, not PKCS#12; name it as cert/key PEM files instead", kind="pem-given-as-pkcs12")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError as exc:
        src = f" from {passphrase_source}" if passphrase_source else ""
        hint = (
            f"wrong passphrase{src}, or not a PKCS#12 file"
            if passphrase is not None
            else "not a PKCS#12 file, or it is encrypted and no passphrase was given"
        )
        raise _error(path, f"cannot open the PKCS#12 bundle: {hint}", kind="bad-passphrase") from exc
    if key is None:
        raise _error(path, "the PKCS#12 bundle holds no private key", kind="no-key")
    if cert is None:
        raise _error(path, "the PKCS#12 bundle holds no certificate", kind="no-certificate")
    try:
        checked = load_private_key(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    except ValueError as exc:
        raise _error(path, str(exc), kind="unsupported-key") from exc
    return checked, cert, list(extra)


def is_pkcs12(path: str, data: bytes | None = None) -> bool:
    """``True`` when ``path`` is a PKCS#12 bundle: a .p12/.pfx name, or DER data
    that is not a certificate."""
    if path.lower().endswith(_PKCS12_SUFFIXES):
        return True
    raw = data if data is not None else _read(path)
    if not _looks_like_der(raw):
        return False
    try:
        x509.load_der_x509_certificate(raw)
        return False  # a DER certificate, not a bundle
    except ValueError:
        return True


@dataclass(frozen=True, eq=False)
class ClientIdentity:
    """A loaded, checked client identity.

    Attributes:
        cert: the client certificate (leaf).
        chain: the intermediates sent after it (leaf not included, root
            normally not included).
        key: the private key (it matches ``cert``).
        source: a description of the files it came from (for logs; no secrets).
    """

    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey = field(repr=False)
    source: str

    @classmethod
    def load(
        cls,
        spec: ClientIdentitySpec,
        passphrase_callback: PassphraseCallback | None = None,
        *,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> ClientIdentity:
        """Read and check the identity a policy names.

        The passphrase comes from the environment variable
        ``spec.passphrase_env`` when set, else from ``passphrase_callback(path)``
        (called only for an encrypted file), else none.

        Args:
            spec: the policy's :class:`ClientIdentitySpec`.
            passphrase_callback: see :data:`PassphraseCallback`.
            base_dir: directory that relative paths in ``spec`` are relative to
                (normally the policy file's directory; default: the working directory).

        Returns:
            :class:`ClientIdentity`.

        Raises:
            ClientCertificateError: naming the file: unreadable, DER given as
                PEM, no certificate, no key, encrypted without passphrase, wrong
                passphrase, PKCS#12 without key, key not matching the certificate,
                an unset passphrase environment variable.
        """

        def resolve(p: str) -> str:
            if base_dir is not None and not os.path.isabs(p):
                return os.path.join(os.fspath(base_dir), p)
            return p

        cert_path = resolve(spec.cert)
        key_path = resolve(spec.key) if spec.key else None
        chain_path = resolve(spec.chain) if spec.chain else None

        env_passphrase: bytes | None = None
        source_name: str | None = None
        if spec.passphrase_env:
            value = os.environ.get(spec.passphrase_env)
            if value is None:
                raise ClientCertificateError(
                    f"{key_path or cert_path}: the passphrase environment variable "
                    f"{spec.passphrase_env} is not set",
                    outcome="unusable",
                    details={"file": key_path or cert_path, "kind": "passphrase-env-unset"},
                )
            env_passphrase = _passphrase_bytes(value)
            source_name = f"${spec.passphrase_env}"

        def passphrase_for(path: str, needed: bool) -> tuple[bytes | None, str | None]:
            if env_passphrase is not None or source_name is not None:
                return env_passphrase, source_name
            if needed and passphrase_callback is not None:
                return _passphrase_bytes(passphrase_callback(path)), "the passphrase callback"
            return None, None

        extra: list[x509.Certificate] = []
        cert_data = _read(cert_path)
        if is_pkcs12(cert_path, cert_data):
            pw, src = passphrase_for(cert_path, True)
            key, cert, extra = read_pkcs12(cert_path, pw, passphrase_source=src)
            described = f"pkcs12 {cert_path}"
        else:
            certs = read_certificates(cert_path)
            cert, extra = certs[0], certs[1:]
            key_file = key_path or cert_path
            key_data = _read(key_file) if key_path else cert_data
            if key_path is None and b"PRIVATE KEY-----" not in key_data:
                raise _error(
                    cert_path,
                    "no private key: name a key file (key = ...) or put the key in the same PEM file",
                    kind="no-key",
                )
            pw, src = passphrase_for(key_file, b"ENCRYPTED" in key_data)
            key = read_private_key(key_file, pw, passphrase_source=src, data=key_data)
            described = f"cert {cert_path}" + (f", key {key_path}" if key_path else "")
        if chain_path:
            extra += read_certificates(chain_path, what="chain")
            described += f", chain {chain_path}"
        if key.public_key() != cert.public_key():
            raise ClientCertificateError(
                f"{key_path or cert_path}: the private key does not match the certificate in "
                f"{cert_path} (different public keys)",
                outcome="key-mismatch",
                certificate=cert,
                details={"file": key_path or cert_path, "kind": "key-mismatch"},
            )
        chain = tuple(c for c in extra if c != cert)
        return cls(cert=cert, chain=chain, key=key, source=described)

    @classmethod
    def from_files(
        cls,
        cert: str | os.PathLike[str],
        key: str | os.PathLike[str] | None = None,
        chain: str | os.PathLike[str] | None = None,
        *,
        passphrase: str | bytes | None = None,
    ) -> ClientIdentity:
        """Load an identity from files with an explicit passphrase (tests, scripts).

        Raises:
            ClientCertificateError: as :meth:`load`.
        """
        spec = ClientIdentitySpec(
            cert=os.fspath(cert),
            key=os.fspath(key) if key is not None else None,
            chain=os.fspath(chain) if chain is not None else None,
        )
        return cls.load(spec, (lambda _path: passphrase) if passphrase is not None else None)

    @property
    def chain_pem(self) -> bytes:
        """Leaf followed by the intermediates, PEM."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))

    def apply(self, ssl_ctx: ssl.SSLContext) -> None:
        """Present this identity on ``ssl_ctx`` (``SSLContext.load_cert_chain``).

        The chain and the key go through a private temporary directory (mode
        0700, files 0600) removed before this returns; the key is written
        encrypted under a random one-time password, so it is never on disk in
        clear.

        Raises:
            ClientCertificateError: OpenSSL refused the pair (``ssl.SSLError``).
        """
        one_time = secrets.token_hex(24).encode("ascii")
        tmpdir = tempfile.mkdtemp(prefix="certpolicy-identity-")
        try:
            os.chmod(tmpdir, 0o700)
            chain_file = os.path.join(tmpdir, "chain.pem")
            key_file = os.path.join(tmpdir, "key.pem")
            write_private_file(chain_file, self.chain_pem)
            write_private_file(
                key_file,
                self.key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(one_time),
                ),
            )
            try:
                ssl_ctx.load_cert_chain(chain_file, key_file, password=one_time)
            except ssl.SSLError as exc:
                raise ClientCertificateError(
                    f"{self.source}: OpenSSL refused the client certificate and key: {exc}",
                    outcome="unusable",
                    certificate=self.cert,
                ) from exc
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def describe(self) -> str:
        """``"subject=..., issuer=..., serial=..."`` of the leaf, plus the source files."""
        from .errors import describe_certificate

        return f"{describe_certificate(self.cert)} ({self.source})"


def certificates_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenate certificates as PEM."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
