"""Inventory scans: which endpoints would fail under a policy table, and why.

The library side of ``certpolicy scan`` (``docs/rollout.md``):

* :mod:`certpolicy.scan.inventory`: the endpoint list (lines or CSV);
* :mod:`certpolicy.scan.run`: :func:`scan`, a bounded pool of audit-mode
  connections, one :class:`EndpointResult` per endpoint;
* :mod:`certpolicy.scan.report`: summary, JSON (schema ``certpolicy.scan/1``),
  CSV, terminal table, ``--compare`` changes;
* :mod:`certpolicy.scan.report_html`: the self-contained HTML report;
* :mod:`certpolicy.scan.progress`: the optional progress bar (``rich``).

Example::

    from certpolicy import PolicyTable
    from certpolicy.scan import ScanOptions, load_inventory, scan, document

    pairs = scan(load_inventory("endpoints.txt"), PolicyTable.load("policies.toml"),
                 options=ScanOptions(jobs=16, timeout=5))
    print(document(pairs, table="policies.toml")["summary"])
"""

from __future__ import annotations

from .inventory import Endpoint, InventoryError, load_inventory, parse_inventory
from .report import SCHEMA, changes, document, summarize, to_csv, to_text
from .report_html import render_html
from .run import CheckOutcome, EndpointResult, ScanOptions, scan

__all__ = [
    "SCHEMA",
    "CheckOutcome",
    "Endpoint",
    "EndpointResult",
    "InventoryError",
    "ScanOptions",
    "changes",
    "document",
    "load_inventory",
    "parse_inventory",
    "render_html",
    "scan",
    "summarize",
    "to_csv",
    "to_text",
]
