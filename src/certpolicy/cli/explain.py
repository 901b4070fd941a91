"""``certpolicy explain HOST|URL [--peer-ip IP]``: which policy applies, and why."""

from __future__ import annotations

import click

from ..errors import PolicyConfigError
from ..resolver import PolicyResolver
from . import main
from ._common import EXIT_OK, emit_json, fail_config, json_option, load_table, policy_option


@main.command()
@click.argument("target")
@click.option("--peer-ip", default=None, help="Address of the connected peer (enables IP and intranet rules).")
@click.option("--port", type=int, default=None, help="Peer port (default: from the URL, else unknown).")
@policy_option
@json_option
def explain(target: str, peer_ip: str | None, port: int | None, policy_file: str | None, as_json: bool) -> None:
    """Explain which policy TARGET (a host name, address or URL) resolves to."""
    table = load_table(policy_file)
    resolver = PolicyResolver(table)
    try:
        if "://" in target:
            res = resolver.resolve(url=target, peer_ip=peer_ip, port=port)
        else:
            res = resolver.resolve(target, peer_ip=peer_ip, port=port)
    except (ValueError, PolicyConfigError) as e:
        fail_config(str(e))
    if as_json:
        data = res.to_dict()
        data["table"] = table.source
        data["table_warnings"] = list(table.warnings)
        emit_json(data)
    else:
        click.echo(f"table: {table.source}")
        click.echo(res.explain())
    raise SystemExit(EXIT_OK)
