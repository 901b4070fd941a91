"""``certpolicy policy validate FILE`` and ``certpolicy policy diff OLD NEW``: load policy tables, report problems and differences."""

from __future__ import annotations

import click

from ..errors import ClientCertificateError, PolicyConfigError
from . import main
from ._common import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, emit_json, json_option, read_table


@main.group()
def policy() -> None:
    """Work with policy tables."""


@policy.command()
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def validate(file: str, as_json: bool) -> None:
    """Validate FILE (TOML, JSON, or an agent config.xml); exit 0 when valid, 2 when not."""
    try:
        table = read_table(file)
        table.check_files()
    except ClientCertificateError as e:
        if as_json:
            emit_json({"valid": False, "error": str(e), "source": file, "row": None, "field": "client_cert"})
        else:
            click.echo(f"invalid: {e}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    except PolicyConfigError as e:
        if as_json:
            emit_json({"valid": False, "error": str(e), "source": e.source, "row": e.row, "field": e.field})
        else:
            click.echo(f"invalid: {e}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    if as_json:
        data = table.to_dict()
        data["valid"] = True
        emit_json(data)
    else:
        click.echo(f"valid: {file}: {len(table.policies)} policies ({len(table.overrides)} overrides)")
        for p in table.policies:
            targets = ", ".join(t.text for t in p.targets) or ("(everything else)" if p.kind.value == "internet" else "-")
            click.echo(f"  {p.name} [{p.kind.value}] {p.summary()} targets: {targets}")
            trust = "system" if p.trust.system else "no system roots"
            if p.trust.extra:
                trust += " + " + ", ".join(p.trust.extra)
            click.echo(f"      trust: {trust}" + (f"; client certificate: {p.client_identity.cert}" if p.client_identity else ""))
        for w in table.warnings:
            click.echo(f"warning: {w}")
    raise SystemExit(EXIT_OK)


@policy.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@json_option
def diff(old: str, new: str, as_json: bool) -> None:
    """Print which rows, targets and switches differ between OLD and NEW
    (TOML, JSON or config.xml). Exit 0 when they are equal, 1 when they
    differ, 2 when either cannot be loaded."""
    from ..tablediff import diff_tables

    try:
        changes = diff_tables(read_table(old), read_table(new))
    except PolicyConfigError as e:
        click.echo(f"invalid: {e}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    if as_json:
        emit_json({"old": old, "new": new, **changes.to_dict()})
    else:
        for line in changes.lines():
            click.echo(line)
    raise SystemExit(EXIT_FAIL if changes.changed else EXIT_OK)
