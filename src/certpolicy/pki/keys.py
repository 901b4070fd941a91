"""Private keys of the private PKI: generation, signature hash, PKCS#8 PEM, 0600 key files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = [
    "KeyType",
    "PrivateKey",
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "write_private_file",
]


KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"]
"""Key algorithms :func:`generate_key` understands."""

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
"""The private key types this module creates and accepts."""


def generate_key(key_type: KeyType | str = "ec-p256") -> PrivateKey:
    """Generate a private key.

    Args:
        key_type: ``"ec-p256"`` (default), ``"ec-p384"``, ``"rsa-2048"``,
            ``"rsa-3072"``, ``"rsa-4096"`` or ``"ed25519"``.

    Returns:
        The private key object.

    Raises:
        ValueError: unknown ``key_type``.
    """
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(
        f"unknown key_type {key_type!r}: use ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519"
    )


def _sign_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``; encrypted (best available, AES-256) when a passphrase is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Load a PEM (or DER) private key of a type this module supports.

    Raises:
        ValueError: unparseable data, a wrong or missing passphrase, or an
            unsupported key type (the message says which).
        TypeError: a passphrase was given for an unencrypted key (from cryptography).
    """
    if b"-----BEGIN" in data:
        key = serialization.load_pem_private_key(data, passphrase)
    else:
        key = serialization.load_der_private_key(data, passphrase)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def write_private_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Create ``path`` with mode 0600 and write ``data``; never overwrite.

    Raises:
        FileExistsError: ``path`` already exists (an existing key is never replaced).
    """
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
    finally:
        if fd != -1:
            os.close(fd)
    return p
