"""``certpolicy pki``: a private PKI for mTLS client certificates on disk.

Layout of a PKI directory made by ``certpolicy pki init DIR``::

    DIR/pki.json            state: issued and revoked serials, CRL number, URLs
    DIR/root/root.pem       the root CA certificate (trust anchor)
    DIR/root/root.key       the root key (0600): keep it apart, offline; it is
                            needed only to create a new intermediate
    DIR/issuing/ca.pem      the issuing (intermediate) CA certificate
    DIR/issuing/ca.key      its key (0600): signs leaves and CRLs
    DIR/trusted-cas.pem     root + intermediate: upload to the server's trusted CAs
    DIR/issued/NAME.*       leaves: .pem, .chain.pem (leaf + intermediate), .key, .p12
    DIR/crl/issuing.crl     the intermediate's CRL (DER; .pem alongside)

Keys are never overwritten: every command refuses (exit 2) when a key file
it would write exists. Keys are encrypted when ``--passphrase-env`` names an
environment variable holding the passphrase.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..pki import CA, KeyType, write_private_file
from . import main
from ._common import emit_json, fail_config, json_option, unused_policy_option

STATE = "pki.json"
KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"]
REASONS = [r.value for r in x509.ReasonFlags]


def _env_passphrase(env: str | None, option: str) -> bytes | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        fail_config(f"{option}: the environment variable {env} is not set or empty")
    return value.encode("utf-8")


def _load_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        fail_config(f"{path}: not a certpolicy PKI directory (run `certpolicy pki init {directory}`)")
    except (OSError, ValueError) as exc:
        fail_config(f"{path}: unreadable PKI state: {exc}")
    if not isinstance(data, dict) or data.get("version") != 1:
        fail_config(f"{path}: unknown PKI state format")
    return data


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    path = directory / STATE
    tmp = path.with_name(STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def _load_issuing_ca(directory: Path, passphrase_env: str | None) -> CA:
    cert_path, key_path = directory / "issuing" / "ca.pem", directory / "issuing" / "ca.key"
    try:
        key_pem = key_path.read_bytes()
        cert_pem = cert_path.read_bytes()
        root_pem = (directory / "root" / "root.pem").read_bytes()
    except OSError as exc:
        fail_config(f"cannot read the issuing CA: {exc}")
    if b"ENCRYPTED" in key_pem and passphrase_env is None:
        fail_config(f"{key_path} is encrypted: name the variable holding its passphrase with --ca-passphrase-env")
    passphrase = _env_passphrase(passphrase_env, "--ca-passphrase-env")
    try:
        return CA.load(cert_pem, key_pem, passphrase=passphrase, issuer_certs_pem=root_pem)
    except (TypeError, ValueError) as exc:
        fail_config(f"{key_path}: cannot load the issuing CA key (wrong passphrase?): {exc}")


def _serial_text(serial: int) -> str:
    return f"{serial:#x}"


def _parse_serial(text: str) -> int:
    t = text.strip().lower().replace(":", "")
    try:
        if t.startswith("0x"):
            return int(t, 16)
        if t.isdigit() and ":" not in text:
            return int(t, 10)
        return int(t, 16)
    except ValueError:
        fail_config(f"not a serial number: {text!r} (use hex 0x..., decimal, or aa:bb:.. form)")


def _refuse_existing(paths: list[Path]) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        fail_config(f"refusing to overwrite existing key file(s): {', '.join(existing)}")


dir_option = click.option(
    "--dir", "directory", type=click.Path(file_okay=False), default=".", show_default=True,
    envvar="CERTPOLICY_PKI_DIR", help="The PKI directory made by `pki init` (env CERTPOLICY_PKI_DIR).",
)


@main.group("pki")
def pki_group() -> None:
    """Create and run a private PKI for mTLS client (and server) certificates."""


@pki_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--org", "organization", default=None, help="organizationName for both CAs.")
@click.option("--root-cn", default="Private Root CA", show_default=True)
@click.option("--issuing-cn", default="Private Issuing CA", show_default=True)
@click.option("--key-type", type=click.Choice([k for k in KEY_TYPES if k != "ed25519"]), default="ec-p256",
              show_default=True, help="Key type of both CAs (Ed25519 CAs are refused by Web PKI verifiers, "
              "including cryptography's; leaves may still use ed25519).")
@click.option("--root-days", type=click.IntRange(min=1), default=3650, show_default=True)
@click.option("--issuing-days", type=click.IntRange(min=1), default=1825, show_default=True)
@click.option("--permitted-dns", multiple=True,
              help="Name-constrain the issuing CA to this DNS subtree (repeatable).")
@click.option("--crl-url", default=None, help="URL where DIR/crl/issuing.crl will be published (goes into leaves).")
@click.option("--ocsp-url", default=None, help="OCSP responder URL to put into leaves.")
@click.option("--passphrase-env", default=None, help="Env var with the passphrase for the issuing CA key.")
@click.option("--root-passphrase-env", default=None, help="Env var with the passphrase for the root key.")
@json_option
@unused_policy_option
def pki_init(
    directory: str,
    organization: str | None,
    root_cn: str,
    issuing_cn: str,
    key_type: str,
    root_days: int,
    issuing_days: int,
    permitted_dns: tuple[str, ...],
    crl_url: str | None,
    ocsp_url: str | None,
    passphrase_env: str | None,
    root_passphrase_env: str | None,
    as_json: bool,
    policy_file: str | None,
) -> None:
    """Create a root CA and an issuing (intermediate) CA in DIRECTORY.

    The root key goes to DIRECTORY/root/ so that it can be moved offline; the
    issuing CA (pathLenConstraint 0) signs the leaves and CRLs.
    """
    del policy_file
    base = Path(directory)
    if (base / STATE).exists():
        fail_config(f"{base / STATE} exists: {base} is already a PKI directory")
    _refuse_existing([base / "root" / "root.key", base / "issuing" / "ca.key"])
    issuing_pw = _env_passphrase(passphrase_env, "--passphrase-env")
    root_pw = _env_passphrase(root_passphrase_env, "--root-passphrase-env")
    kt: KeyType | str = key_type
    root = CA.create(root_cn, key_type=kt, days=root_days, organization=organization)
    issuing = root.create_intermediate(
        issuing_cn,
        key_type=kt,
        days=issuing_days,
        organization=organization,
        permitted_dns=list(permitted_dns) or None,
    )
    for sub in ("root", "issuing", "issued", "crl"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(base / "root", 0o700)
    root_paths = root.write(base / "root", "root", passphrase=root_pw)
    issuing_paths = issuing.write(base / "issuing", "ca", passphrase=issuing_pw)
    # ca.chain.pem duplicates ca.pem for a one-level intermediate; keep one file.
    issuing_paths.chain.unlink(missing_ok=True)
    root_paths.chain.unlink(missing_ok=True)
    trusted = base / "trusted-cas.pem"
    trusted.write_bytes(root.cert_pem + issuing.cert_pem)
    state: dict[str, Any] = {
        "version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "root": {"subject": root.cert.subject.rfc4514_string(), "serial": _serial_text(root.serial)},
        "issuing": {"subject": issuing.cert.subject.rfc4514_string(), "serial": _serial_text(issuing.serial)},
        "crl_url": crl_url,
        "ocsp_url": ocsp_url,
        "crl_number": 0,
        "issued": [],
        "revoked": [],
    }
    _save_state(base, state)
    result = {
        "directory": str(base),
        "root_cert": str(root_paths.cert),
        "root_key": str(root_paths.key),
        "issuing_cert": str(issuing_paths.cert),
        "issuing_key": str(issuing_paths.key),
        "trusted_cas": str(trusted),
    }
    if as_json:
        emit_json(result)
        return
    click.echo(f"root CA:     {root_paths.cert}  (key {root_paths.key}: move it offline)")
    click.echo(f"issuing CA:  {issuing_paths.cert}  (key {issuing_paths.key})")
    click.echo(f"upload to the server's trusted CAs: {trusted}")
    click.echo(f"next: certpolicy pki issue client NAME --dir {base}")


@pki_group.command("issue")
@click.argument("kind", type=click.Choice(["client", "server"]))
@click.argument("names", nargs=-1, required=True)
@dir_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where to write the files (default DIR/issued).")
@click.option("--stem", default=None, help="File name stem (default: the first NAME).")
@click.option("--cn", default=None, help="Subject commonName (default: the first NAME).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="ec-p256", show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True)
@click.option("--pkcs12", "want_pkcs12", is_flag=True, help="Also write STEM.p12 (key + leaf + intermediate).")
@click.option("--passphrase-env", default=None, help="Env var with the passphrase for the new key / PKCS#12.")
@click.option("--ca-passphrase-env", default=None, help="Env var with the issuing CA key's passphrase.")
@json_option
@unused_policy_option
def pki_issue(
    kind: str,
    names: tuple[str, ...],
    directory: str,
    out_dir: str | None,
    stem: str | None,
    cn: str | None,
    key_type: str,
    days: int,
    want_pkcs12: bool,
    passphrase_env: str | None,
    ca_passphrase_env: str | None,
    as_json: bool,
    policy_file: str | None,
) -> None:
    """Issue a client (EKU clientAuth) or server (EKU serverAuth) certificate.

    NAMES are DNS names or IP addresses (subjectAltName); the first is also the
    subject commonName unless --cn is given.
    """
    del policy_file
    base = Path(directory)
    state = _load_state(base)
    target = Path(out_dir) if out_dir else base / "issued"
    stem = stem or names[0].replace("*", "_wildcard").replace("/", "_")
    _refuse_existing([target / f"{stem}.key"] + ([target / f"{stem}.p12"] if want_pkcs12 else []))
    leaf_pw = _env_passphrase(passphrase_env, "--passphrase-env")
    ca = _load_issuing_ca(base, ca_passphrase_env)
    kt: KeyType | str = key_type
    try:
        common: dict[str, Any] = {
            "cn": cn, "key_type": kt, "days": days,
            "crl_url": state.get("crl_url"), "ocsp_url": state.get("ocsp_url"),
        }
        leaf = ca.issue_client(*names, **common) if kind == "client" else ca.issue_server(*names, **common)
    except ValueError as exc:
        fail_config(str(exc))
    try:
        paths = leaf.write(target, stem, passphrase=leaf_pw)
        p12_path = None
        if want_pkcs12:
            p12_path = write_private_file(target / f"{stem}.p12", leaf.pkcs12(leaf_pw))
    except FileExistsError as exc:
        fail_config(f"refusing to overwrite an existing key: {exc.filename}")
    state["issued"].append({
        "serial": _serial_text(leaf.serial),
        "kind": kind,
        "names": list(names),
        "not_after": leaf.cert.not_valid_after_utc.isoformat(),
        "cert": str(paths.cert),
    })
    _save_state(base, state)
    result = {
        "serial": _serial_text(leaf.serial),
        "kind": kind,
        "cert": str(paths.cert),
        "chain": str(paths.chain),
        "key": str(paths.key),
        "pkcs12": str(p12_path) if p12_path else None,
        "not_after": leaf.cert.not_valid_after_utc.isoformat(),
    }
    if as_json:
        emit_json(result)
        return
    click.echo(f"issued {kind} certificate serial {result['serial']} (valid until {result['not_after']})")
    click.echo(f"  certificate: {paths.cert}")
    click.echo(f"  chain:       {paths.chain}   <- present this (leaf + intermediate)")
    click.echo(f"  key:         {paths.key}")
    if p12_path:
        click.echo(f"  pkcs12:      {p12_path}")


@pki_group.command("revoke")
@click.argument("serial")
@dir_option
@click.option("--reason", type=click.Choice(REASONS), default=None, help="CRLReason (RFC 5280 §5.3.1).")
@click.option("--date", "date_text", default=None, help="revocationDate (ISO 8601; default now).")
@click.option("--force", is_flag=True, help="Record the serial even if this PKI did not issue it.")
@json_option
@unused_policy_option
def pki_revoke(
    serial: str,
    directory: str,
    reason: str | None,
    date_text: str | None,
    force: bool,
    as_json: bool,
    policy_file: str | None,
) -> None:
    """Record SERIAL (hex 0x..., decimal, or aa:bb:.. form) as revoked; run `pki crl` to publish."""
    del policy_file
    base = Path(directory)
    state = _load_state(base)
    number = _parse_serial(serial)
    issued = {int(i["serial"], 16) for i in state["issued"]}
    if number not in issued and not force:
        fail_config(f"serial {_serial_text(number)} was not issued by this PKI (use --force to record it anyway)")
    if any(int(r["serial"], 16) == number for r in state["revoked"]):
        if as_json:
            emit_json({"serial": _serial_text(number), "already_revoked": True})
        else:
            click.echo(f"serial {_serial_text(number)} is already revoked")
        return
    when = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    if date_text:
        try:
            when = _dt.datetime.fromisoformat(date_text.replace("Z", "+00:00"))
        except ValueError:
            fail_config(f"--date: not an ISO 8601 date-time: {date_text!r}")
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
    state["revoked"].append({"serial": _serial_text(number), "reason": reason, "date": when.isoformat()})
    _save_state(base, state)
    if as_json:
        emit_json({"serial": _serial_text(number), "reason": reason, "date": when.isoformat()})
    else:
        click.echo(f"revoked serial {_serial_text(number)}; publish with: certpolicy pki crl --dir {base}")


@pki_group.command("crl")
@dir_option
@click.option("--days", type=click.FloatRange(min=0.01), default=7.0, show_default=True,
              help="nextUpdate = thisUpdate + DAYS.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="CRL file (DER; a .pem copy is written alongside). Default DIR/crl/issuing.crl.")
@click.option("--ca-passphrase-env", default=None, help="Env var with the issuing CA key's passphrase.")
@json_option
@unused_policy_option
def pki_crl(
    directory: str,
    days: float,
    out_file: str | None,
    ca_passphrase_env: str | None,
    as_json: bool,
    policy_file: str | None,
) -> None:
    """Issue the issuing CA's CRL from the recorded revocations (cRLNumber + 1)."""
    del policy_file
    base = Path(directory)
    state = _load_state(base)
    ca = _load_issuing_ca(base, ca_passphrase_env)
    entries = [
        (
            int(r["serial"], 16),
            x509.ReasonFlags(r["reason"]) if r.get("reason") else None,
            _dt.datetime.fromisoformat(r["date"]),
        )
        for r in state["revoked"]
    ]
    number = int(state.get("crl_number", 0)) + 1
    crl = ca.issue_crl(
        entries, crl_number=number, next_update_days=days, idp_url=state.get("crl_url")
    )
    target = Path(out_file) if out_file else base / "crl" / "issuing.crl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    pem_path = target.with_name(target.name + ".pem")
    pem_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    state["crl_number"] = number
    _save_state(base, state)
    result = {
        "crl": str(target),
        "crl_pem": str(pem_path),
        "crl_number": number,
        "revoked": len(entries),
        "this_update": crl.last_update_utc.isoformat(),
        "next_update": crl.next_update_utc.isoformat() if crl.next_update_utc else None,
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(f"CRL #{number} with {len(entries)} revoked serial(s): {target} (PEM: {pem_path})")
        click.echo(f"  nextUpdate {result['next_update']}")
