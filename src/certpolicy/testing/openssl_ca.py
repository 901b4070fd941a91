"""A small driver of the ``openssl ca`` command, used by tests as an
independent peer for CRLs.

It creates a CA folder the way ``openssl ca`` expects it (``index.txt``,
``serial``, ``crlnumber``, ``newcerts/``, a configuration file, an EC P-256
key and a self-signed CA certificate), issues server certificates with a
cRLDistributionPoints URL, revokes them (``openssl ca -revoke -crl_reason``)
and produces CRLs with ``openssl ca -gencrl`` in PEM and DER
(``openssl crl -outform DER``). certpolicy's own code is not involved in
making any of these files.

Example::

    ca = OpenSSLCA.create(tmp_path / "ca", "Test CA")
    leaf = ca.issue("www.example.test", crl_url="http://127.0.0.1:8080/ca.crl")
    ca.revoke(leaf, "keyCompromise")
    der = ca.gencrl(der=True)

Requires the ``openssl`` command (1.1.1 or 3.x) on ``PATH``; every call is
bounded by a timeout (seconds) and raises :class:`OpenSSLError` on failure.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509

__all__ = ["OpenSSLCA", "OpenSSLError", "openssl_available"]

_REASONS = (
    "unspecified",
    "keyCompromise",
    "CACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "removeFromCRL",
)

_CONFIG = """\
[ ca ]
default_ca = CA_default

[ CA_default ]
dir               = {dir}
database          = $dir/index.txt
new_certs_dir     = $dir/newcerts
certificate       = $dir/ca.pem
private_key       = $dir/private/ca.key
serial            = $dir/serial
crlnumber         = $dir/crlnumber
default_md        = sha256
default_days      = 365
default_crl_days  = 7
policy            = policy_any
unique_subject    = no
copy_extensions   = none
preserve          = no
email_in_dn       = no
crl_extensions    = crl_ext

[ policy_any ]
commonName        = supplied

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ req ]
distinguished_name = req_dn
prompt             = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
"""


class OpenSSLError(RuntimeError):
    """An ``openssl`` command failed; the message holds its stderr."""


def openssl_available(openssl: str = "openssl") -> bool:
    """``True`` when the ``openssl`` command can be run."""
    return shutil.which(openssl) is not None


def _asn1_time(when: _dt.datetime) -> str:
    when = when.astimezone(_dt.timezone.utc)
    if 1950 <= when.year < 2050:
        return when.strftime("%y%m%d%H%M%SZ")
    return when.strftime("%Y%m%d%H%M%SZ")


class OpenSSLCA:
    """A CA folder driven by ``openssl ca``.

    Args:
        directory: the CA folder (made by :meth:`create`).
        openssl: the command to run.
        timeout: seconds allowed for each command.

    Attributes:
        directory: the folder; ``cert_path``: the CA certificate (PEM);
        ``config_path``: the ``openssl ca`` configuration.
    """

    def __init__(self, directory: str | os.PathLike[str], *, openssl: str = "openssl", timeout: float = 60.0) -> None:
        self.directory = Path(directory)
        self.openssl = openssl
        self.timeout = timeout
        self.config_path = self.directory / "openssl.cnf"
        self.cert_path = self.directory / "ca.pem"
        self.key_path = self.directory / "private" / "ca.key"

    # -- setup ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        common_name: str = "certpolicy OpenSSL Test CA",
        *,
        days: int = 3650,
        openssl: str = "openssl",
        timeout: float = 60.0,
    ) -> OpenSSLCA:
        """Create the CA folder, key and self-signed certificate.

        Args:
            directory: folder to create (may exist, must be empty of CA files).
            common_name: the CA's subject commonName.
            days: validity of the CA certificate.

        Raises:
            OpenSSLError: a command failed.
        """
        ca = cls(directory, openssl=openssl, timeout=timeout)
        d = ca.directory
        (d / "newcerts").mkdir(parents=True, exist_ok=True)
        (d / "private").mkdir(exist_ok=True)
        (d / "certs").mkdir(exist_ok=True)
        (d / "index.txt").write_text("")
        (d / "index.txt.attr").write_text("unique_subject = no\n")
        (d / "serial").write_text("1000\n")
        (d / "crlnumber").write_text("01\n")
        ca.config_path.write_text(_CONFIG.format(dir=d.as_posix()))
        ca._run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca.key_path))
        ca._run(
            "req", "-config", str(ca.config_path), "-new", "-x509", "-key", str(ca.key_path),
            "-subj", f"/CN={common_name}", "-days", str(days), "-extensions", "v3_ca",
            "-sha256", "-out", str(ca.cert_path),
        )
        return ca

    @property
    def cert(self) -> x509.Certificate:
        """The CA certificate."""
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    # -- certificates --------------------------------------------------------

    def issue(
        self,
        common_name: str,
        *,
        dns_names: Sequence[str] = (),
        crl_url: str | Sequence[str] | None = None,
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        days: int = 365,
    ) -> Path:
        """Issue a server certificate with ``openssl ca`` and return its PEM path.

        Args:
            common_name: subject CN (also the first dNSName).
            dns_names: more subjectAltName dNSNames.
            crl_url: cRLDistributionPoints URI(s) (any scheme, e.g. ``ldap://``).
            not_before / not_after: validity (aware datetimes); default now and
                now + ``days``.

        Raises:
            OpenSSLError: a command failed.
        """
        d = self.directory
        serial = (d / "serial").read_text().strip()
        base = d / "certs" / f"{serial}-{_safe(common_name)}"
        key = base.with_suffix(".key")
        csr = base.with_suffix(".csr")
        out = base.with_suffix(".pem")
        ext = base.with_suffix(".ext")
        sans = ", ".join(f"DNS:{n}" for n in [common_name, *dns_names])
        lines = [
            "[ leaf ]",
            "basicConstraints = critical, CA:false",
            "keyUsage = critical, digitalSignature",
            "extendedKeyUsage = serverAuth",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
            f"subjectAltName = {sans}",
        ]
        if crl_url:
            urls = [crl_url] if isinstance(crl_url, str) else list(crl_url)
            lines.append("crlDistributionPoints = " + ", ".join(f"URI:{u}" for u in urls))
        ext.write_text("\n".join(lines) + "\n")
        self._run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
        self._run(
            "req", "-config", str(self.config_path), "-new", "-key", str(key),
            "-subj", f"/CN={common_name}", "-out", str(csr),
        )
        args = [
            "ca", "-batch", "-config", str(self.config_path), "-in", str(csr), "-out", str(out),
            "-extfile", str(ext), "-extensions", "leaf", "-notext",
        ]
        if not_before is not None:
            args += ["-startdate", _asn1_time(not_before)]
        if not_after is not None:
            args += ["-enddate", _asn1_time(not_after)]
        else:
            args += ["-days", str(days)]
        self._run(*args)
        return out

    def revoke(self, cert_path: str | os.PathLike[str], reason: str = "unspecified") -> None:
        """Revoke a certificate issued by this CA (``openssl ca -revoke``).

        Args:
            cert_path: the certificate's PEM file.
            reason: an ``openssl ca -crl_reason`` name (``keyCompromise``,
                ``superseded``, ``certificateHold`` ...).

        Raises:
            ValueError: unknown reason; OpenSSLError: the command failed.
        """
        if reason not in _REASONS:
            raise ValueError(f"unknown reason {reason!r}; expected one of {', '.join(_REASONS)}")
        self._run("ca", "-config", str(self.config_path), "-revoke", str(cert_path), "-crl_reason", reason)

    def add_revoked_serials(
        self,
        serials: Iterable[int],
        *,
        reason: str | None = "keyCompromise",
        revoked_at: _dt.datetime | None = None,
    ) -> int:
        """Append revoked entries straight to ``index.txt`` (the CA database),
        for large CRLs in benchmarks without issuing each certificate.

        Returns:
            the number of entries written.
        """
        when = _asn1_time(revoked_at or _dt.datetime.now(_dt.timezone.utc))
        expiry = _asn1_time(_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=365))
        rev = when + (f",{reason}" if reason else "")
        count = 0
        with open(self.directory / "index.txt", "a", encoding="ascii") as f:
            for s in serials:
                hexserial = f"{s:X}"
                if len(hexserial) % 2:
                    hexserial = "0" + hexserial
                f.write(f"R\t{expiry}\t{rev}\t{hexserial}\tunknown\t/CN=bulk-{s:x}\n")
                count += 1
        return count

    # -- CRLs ----------------------------------------------------------------

    def gencrl(self, *, der: bool = False, hours: int | None = None, days: int = 7, out: str | os.PathLike[str] | None = None) -> bytes:
        """Produce a CRL with ``openssl ca -gencrl`` (thisUpdate = now).

        Args:
            der: return DER (converted with ``openssl crl -outform DER``)
                instead of PEM.
            hours: nextUpdate = now + ``hours`` (overrides ``days``).
            days: nextUpdate = now + ``days``.
            out: also write the result to this file.

        Returns:
            the CRL bytes. Each call takes the next number from ``crlnumber``.

        Raises:
            OpenSSLError: a command failed.
        """
        pem_path = self.directory / "crl.pem"
        args = ["ca", "-config", str(self.config_path), "-gencrl", "-out", str(pem_path)]
        if hours is not None:
            args += ["-crlhours", str(hours)]
        else:
            args += ["-crldays", str(days)]
        self._run(*args)
        data = pem_path.read_bytes()
        if der:
            der_path = self.directory / "crl.der"
            self._run("crl", "-in", str(pem_path), "-outform", "DER", "-out", str(der_path))
            data = der_path.read_bytes()
        if out is not None:
            Path(out).write_bytes(data)
        return data

    # -- internals -----------------------------------------------------------

    def _run(self, *args: str) -> str:
        try:
            proc = subprocess.run(
                [self.openssl, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
                cwd=self.directory,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise OpenSSLError(f"openssl {' '.join(args[:2])} failed: {e}") from None
        if proc.returncode != 0:
            raise OpenSSLError(f"openssl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)[:40]
