"""``certpolicy policy sync``: read the instance's policy table over its Table API and apply it as the agent does."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from ..context import create_ssl_context
from ..errors import ClientCertificateError, PolicyConfigError
from ..midconfig import MidConfig
from ..sources import DEFAULT_TABLE, FieldMap, InstanceSource, PolicySync, SyncOutcome, auth_header
from ._common import EXIT_FAIL, EXIT_OK, emit_json, fail_config, json_option
from .policy import policy


def _secret(env: str | None, option: str) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None:
        fail_config(f"{option} {env}: the environment variable is not set")
    return value


def _fields(pairs: tuple[str, ...]) -> FieldMap:
    mapping: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            fail_config(f"--field {pair!r}: expected KEY=FIELD (e.g. kind=u_policy_type)")
        mapping[key.strip()] = value.strip() or None
    try:
        return FieldMap.from_mapping(mapping)
    except PolicyConfigError as e:
        fail_config(str(e))


def _print(outcome: SyncOutcome, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "source": outcome.source,
                "outcome": outcome.outcome,
                "reason": outcome.reason,
                "digest": outcome.digest,
                "changes": outcome.diff.to_dict() if outcome.diff is not None else None,
            }
        )
    else:
        click.echo(f"{outcome.outcome}: {outcome.source}: {outcome.reason}" + (f" [{outcome.digest}]" if outcome.digest else ""))


@policy.command()
@click.option("--instance", required=True, help="The instance URL, e.g. https://acme.service-now.com.")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False, exists=True), help="The agent's config.xml (bootstrap switches; written back when use.instance.security.policy is true).")
@click.option("--user", default=None, help="Basic authentication user.")
@click.option("--password-env", default=None, metavar="VAR", help="Environment variable holding the password of --user.")
@click.option("--token-env", default=None, metavar="VAR", help="Environment variable holding an OAuth bearer token.")
@click.option("--table", "table_name", default=DEFAULT_TABLE, show_default=True, help="The Table API table.")
@click.option("--field", "fields", multiple=True, metavar="KEY=FIELD", help="Map a policy row key to a table field (repeatable): name, kind, targets, chain, hostname, ocsp, crl, active, order.")
@click.option("--last-known-good", "lkg", default=None, type=click.Path(dir_okay=False), help="Where the accepted table is kept (default: certpolicy-last-good.json next to config.xml).")
@click.option("--interval", default=300.0, show_default=True, type=click.FloatRange(0.05, 7 * 86400), help="Seconds between two syncs.")
@click.option("--once", is_flag=True, help="Sync once and exit (0: applied or unchanged, 1: rejected).")
@json_option
def sync(
    instance: str,
    config: str,
    user: str | None,
    password_env: str | None,
    token_env: str | None,
    table_name: str,
    fields: tuple[str, ...],
    lkg: str | None,
    interval: float,
    once: bool,
    as_json: bool,
) -> None:
    """Sync the policy table from the instance (as the agent does with
    mid.ssl.use.instance.security.policy): fetch its rows through
    certpolicy's own checks under the bootstrap policy, apply them when
    use.instance.security.policy is true (writing the instance switches back
    into config.xml), and report them fetched-but-not-applied otherwise."""
    if token_env and (user or password_env):
        fail_config("give either --token-env or --user/--password-env, not both")
    if password_env and not user:
        fail_config("--password-env needs --user")
    token = _secret(token_env, "--token-env")
    password = _secret(password_env, "--password-env")
    if user and password is None:
        fail_config("--user needs --password-env (passwords are never given on the command line)")
    try:
        mid = MidConfig.load(config)
        ctx = create_ssl_context(mid.table())
        source = InstanceSource(
            instance,
            ctx,
            headers=auth_header(user=user, password=password, token=token),
            table=table_name,
            fields=_fields(fields),
            mid_config=mid,
            write_back=True,
            interval=interval,
        )
    except (PolicyConfigError, ClientCertificateError) as e:
        fail_config(str(e))
    path = lkg or str(Path(config).resolve().parent / "certpolicy-last-good.json")
    runner = PolicySync(ctx, source, interval=interval, last_known_good=path, on_sync=lambda o: _print(o, as_json))
    if once:
        outcome = runner.sync_once()
        raise SystemExit(EXIT_FAIL if outcome.outcome == "rejected" else EXIT_OK)
    runner.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runner.stop()
    raise SystemExit(EXIT_OK)

