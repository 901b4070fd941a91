"""Shared helpers of the command-line modules: exit codes, JSON output,
policy loading with the right exit status."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from ..errors import PolicyConfigError
from ..midconfig import MidConfig
from ..table import PolicyTable

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CONFIG = 2


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def fail_config(message: str) -> NoReturn:
    """Print a configuration / usage error on stderr and exit with status 2."""
    click.echo(f"certpolicy: error: {message}", err=True)
    sys.exit(EXIT_CONFIG)


policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Policy table (TOML, JSON or an agent config.xml). Default: certpolicy's default table "
    "(chain and hostname enforced, revocation off).",
)

#: ``--policy`` on commands that apply no table (pki, lint-client): every
#: command takes it (SPEC), these ignore it and say so.
unused_policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Accepted for uniformity with the other commands; this command uses no policy table.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


def read_table(path: str) -> PolicyTable:
    """Load a policy table from TOML / JSON, or an agent ``config.xml``.

    Raises:
        PolicyConfigError: as :meth:`PolicyTable.load`.
    """
    if path.lower().endswith(".xml"):
        return MidConfig.load(path).table()
    return PolicyTable.load(path)


def load_table(path: str | None) -> PolicyTable:
    """Like :func:`read_table`, but exits with status 2 on a configuration
    error; ``None`` gives the built-in default table."""
    if path is None:
        return PolicyTable.default()
    try:
        return read_table(path)
    except PolicyConfigError as e:
        fail_config(str(e))
