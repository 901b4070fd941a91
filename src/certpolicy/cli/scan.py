"""``certpolicy scan INVENTORY``: which endpoints would fail under a table.

Connects to every endpoint of the inventory once, in audit mode, and reports
each check (terminal table, ``--json``, ``--csv``, ``--html FILE``); with
``--compare OTHER`` also the endpoints whose verdict changes under the other
table. Exit status: 0 when every endpoint would pass under enforce, 1 when
any would fail or cannot be reached (under either table), 2 for usage or
configuration errors.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ..errors import PolicyConfigError
from . import main
from ._common import EXIT_FAIL, EXIT_OK, emit_json, fail_config, load_table, policy_option


def _quiet_audit_log() -> None:
    """The checks' "would fail" warnings are the scan's results: without a
    logging configuration of the caller's, keep them off stderr."""
    if not logging.getLogger().handlers and not logging.getLogger("certpolicy").handlers:
        logging.getLogger("certpolicy").addHandler(logging.NullHandler())


@main.command()
@click.argument("inventory")
@policy_option
@click.option("--compare", "compare_file", type=click.Path(dir_okay=False), default=None,
              help="A second policy table: also judge every endpoint under it and report verdict changes.")
@click.option("--jobs", type=click.IntRange(min=1, max=1024), default=16, show_default=True, help="Endpoints scanned at once.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds for the connect, for the handshake, and for the revocation fetches of one endpoint.")
@click.option("--retries", type=click.IntRange(min=0, max=10), default=0, show_default=True,
              help="Extra attempts after a connection or handshake error (never after a check failure).")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout (schema certpolicy.scan/1, docs/rollout.md).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout: one row per endpoint.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write a self-contained HTML report to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (it is drawn only when stderr is a terminal).")
def scan(
    inventory: str,
    policy_file: str | None,
    compare_file: str | None,
    jobs: int,
    timeout: float,
    retries: int,
    as_json: bool,
    as_csv: bool,
    html_file: str | None,
    quiet: bool,
) -> None:
    """Scan the endpoints of INVENTORY (a file, or - for stdin) under a policy table.

    INVENTORY holds one https:// URL or host[:port] a line, or is a CSV with
    a `url` column (and optionally an `address` column: the IP to connect to).
    Every check runs in audit mode: nothing is refused, everything recorded.

    Exit status: 0 when every endpoint would pass under enforce, 1 when any
    would fail or cannot be reached, 2 for usage or configuration errors.
    """
    from ..scan.inventory import InventoryError, load_inventory
    from ..scan.progress import progress_bar
    from ..scan.report import document, to_csv, to_text
    from ..scan.run import ScanOptions
    from ..scan.run import scan as run_scan

    if as_json and as_csv:
        fail_config("--json and --csv cannot be used together")
    try:
        endpoints = load_inventory(inventory)
    except InventoryError as e:
        fail_config(str(e))
    if not endpoints:
        fail_config(f"inventory {inventory!r} names no endpoint")
    table = load_table(policy_file)
    other = load_table(compare_file) if compare_file else None
    options = ScanOptions(jobs=jobs, timeout=timeout, retries=retries)
    _quiet_audit_log()
    with progress_bar(len(endpoints), quiet=quiet) as bar:
        try:
            pairs = run_scan(
                endpoints, table, options=options, compare=other,
                on_result=lambda a, b: bar.advance("fail" if b is not None and b.status == "fail" and a.status == "pass" else a.status),
            )
        except PolicyConfigError as e:
            fail_config(str(e))
    doc = document(pairs, table=policy_file, compare_table=compare_file)
    if html_file:
        from ..scan.report_html import render_html

        page = render_html(pairs, table=policy_file, compare_table=compare_file, document=doc)
        try:
            Path(html_file).write_text(page, encoding="utf-8")
        except OSError as e:
            fail_config(f"cannot write {html_file!r}: {e}")
    if as_json:
        emit_json(doc)
    elif as_csv:
        sys.stdout.write(to_csv([a for a, _ in pairs]))
    else:
        click.echo(to_text(pairs), nl=False)
        if html_file:
            click.echo(f"report: {html_file}")
    bad = any(a.status != "pass" or (b is not None and b.status != "pass") for a, b in pairs)
    raise SystemExit(EXIT_FAIL if bad else EXIT_OK)


