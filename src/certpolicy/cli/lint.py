"""``certpolicy lint-client``: check a client certificate before renewal breaks mTLS.

Exit status: 0 when no finding is an error (warnings allowed), 1 when any
finding is an error, 2 for usage errors and unreadable input (a missing file,
DER given as PEM, a wrong passphrase, ...).
"""

from __future__ import annotations

import datetime as _dt
import os
import sys

import click
from cryptography import x509

from ..clientcert import DEFAULT_EXPIRY_WARNING, LintReport, PublicCATable, lint_client_certificate
from ..errors import ClientCertificateError
from ..identity import is_pkcs12, read_certificates, read_pkcs12, read_private_key
from ..pki import PrivateKey
from . import main
from ._common import EXIT_FAIL, EXIT_OK, emit_json, fail_config, json_option, unused_policy_option


def _parse_at(value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        fail_config(f"--at: not an ISO 8601 date or date-time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed


def _passphrase(env: str | None) -> tuple[bytes | None, str | None]:
    if env is None:
        return None, None
    value = os.environ.get(env)
    if value is None:
        fail_config(f"--passphrase-env: the environment variable {env} is not set")
    return value.encode("utf-8"), f"${env}"


def _print_report(report: LintReport) -> None:
    cert = report.certificate
    click.echo(f"client certificate: {cert.subject.rfc4514_string() or '<empty subject>'}")
    click.echo(f"  issuer:   {cert.issuer.rfc4514_string()}")
    click.echo(f"  serial:   {cert.serial_number:#x}")
    click.echo(
        f"  validity: {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()}"
    )
    if report.path:
        click.echo("  path:     " + " -> ".join(c.subject.rfc4514_string() for c in report.path))
    click.echo(f"  checked at {report.at.isoformat()}")
    for f in report.findings:
        click.echo(f"{f.severity.upper():8} {f.code}: {f.message}")
        click.echo(f"         remedy: {f.remedy}")
    if not report.findings:
        click.echo("no findings")
    click.echo(f"verdict: {report.verdict}")


@main.command("lint-client")
@click.argument("cert", type=click.Path(dir_okay=False))
@click.option("--chain", "chain_files", multiple=True, type=click.Path(dir_okay=False),
              help="PEM file with the intermediates sent with the certificate (repeatable).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), default=None,
              help="The private key (PEM), to check that it matches.")
@click.option("--trust", "trust_files", multiple=True, type=click.Path(dir_okay=False),
              help="PEM file with the CA certificates the server trusts (repeatable). "
                   "Without it, a root in the chain is the trust anchor.")
@click.option("--public-roots", "public_root_files", multiple=True, type=click.Path(dir_okay=False),
              help="PEM bundle of publicly trusted roots (e.g. certifi's cacert.pem): a path ending "
                   "at one marks the issuer as a public CA.")
@click.option("--ca-dates", "ca_dates", type=click.Path(dir_okay=False), default=None,
              help="JSON file overriding/extending the shipped public-CA clientAuth dates.")
@click.option("--at", "at_text", default=None, help="Validation time (ISO 8601; default now; naive = UTC).")
@click.option("--expiry-days", type=click.IntRange(min=0), default=DEFAULT_EXPIRY_WARNING.days,
              show_default=True, help="Warn when the certificate expires within this many days.")
@click.option("--passphrase-env", default=None,
              help="Environment variable holding the key / PKCS#12 passphrase.")
@json_option
@unused_policy_option
def lint_client(
    cert: str,
    chain_files: tuple[str, ...],
    key_file: str | None,
    trust_files: tuple[str, ...],
    public_root_files: tuple[str, ...],
    ca_dates: str | None,
    at_text: str | None,
    expiry_days: int,
    passphrase_env: str | None,
    as_json: bool,
    policy_file: str | None,
) -> None:
    """Lint the client certificate CERT (PEM, leaf first; or a PKCS#12 bundle).

    Flags what makes an mTLS server refuse it (no clientAuth EKU, self-signed,
    incomplete chain, key mismatch, expiry, weak algorithms) and forecasts
    whether the next renewal from a public CA will lack clientAuth. Nothing is
    fetched and no connection is made. --policy is accepted for uniformity
    and not used.
    """
    del policy_file
    at = _parse_at(at_text)
    passphrase, source = _passphrase(passphrase_env)
    key: PrivateKey | None = None
    chain: list[x509.Certificate] = []
    try:
        if is_pkcs12(cert):
            key, leaf, chain = read_pkcs12(cert, passphrase, passphrase_source=source)
        else:
            certs = read_certificates(cert)
            leaf, chain = certs[0], certs[1:]
        for path in chain_files:
            chain += read_certificates(path, what="chain")
        if key_file is not None:
            key = read_private_key(key_file, passphrase, passphrase_source=source)
        trust = [c for p in trust_files for c in read_certificates(p, what="trusted CA list")] or None
        public = [c for p in public_root_files for c in read_certificates(p, what="public roots")] or None
    except ClientCertificateError as exc:
        fail_config(exc.reason)
    try:
        table = PublicCATable.load(ca_dates) if ca_dates else None
    except (OSError, ValueError) as exc:
        fail_config(f"--ca-dates: {exc}")
    report = lint_client_certificate(
        leaf,
        chain,
        key=key,
        at=at,
        trust_roots=trust,
        public_roots=public,
        public_ca_table=table,
        expiry_warning=_dt.timedelta(days=expiry_days),
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)
    sys.exit(EXIT_OK if report.ok else EXIT_FAIL)
