"""Scan reports as data: the summary, the JSON document (schema
``certpolicy.scan/1``), CSV rows, the verdict changes of ``--compare`` and
the terminal table.

The JSON document is::

    {"schema": "certpolicy.scan/1", "generated_at": ISO-8601, "table": str,
     "compare_table": str | null, "summary": SUMMARY, "compare_summary": SUMMARY | null,
     "results": [ROW, ...], "compared": [ROW, ...] | null, "changes": [CHANGE, ...] | null}

ROW is :meth:`certpolicy.scan.run.EndpointResult.to_dict`; SUMMARY and
CHANGE are built by :func:`summarize` and :func:`changes`. Fields are only
ever added to this schema; a change of meaning gets a new schema name.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from collections.abc import Sequence
from typing import Any

from .run import STATUSES, EndpointResult

__all__ = ["CSV_FIELDS", "SCHEMA", "changes", "document", "ordered", "summarize", "to_csv", "to_text"]

#: The JSON document's schema name.
SCHEMA = "certpolicy.scan/1"

#: The CSV columns, in order (check columns ``check:NAME`` follow them).
CSV_FIELDS = (
    "url", "status", "policy", "kind", "would_fail", "audit_only", "error", "peer_ip", "subject", "issuer",
    "not_after", "key_type", "has_ocsp_url", "has_crl_url", "rtt_ms", "elapsed_ms", "attempts",
)


def ordered(results: Sequence[EndpointResult]) -> list[EndpointResult]:
    """``results`` with failing endpoints first, then errors, then passes
    (inventory order within each)."""
    rank = {s: i for i, s in enumerate(STATUSES)}
    return sorted(results, key=lambda r: rank.get(r.status, len(rank)))


def summarize(results: Sequence[EndpointResult]) -> dict[str, Any]:
    """Counts for a set of results.

    Returns:
        ``{"endpoints": int, "pass": int, "fail": int, "error": int,
        "by_policy": {policy: {"endpoints", "pass", "fail", "error"}},
        "by_check": {check: {"ok": int, "would_fail": int, "audit_only": int, "not_run": int}}}``;
        ``not_run`` counts endpoints where the check was off or skipped, and
        endpoints with an error are not counted under ``by_check``.
    """
    out: dict[str, Any] = {"endpoints": len(results), "pass": 0, "fail": 0, "error": 0, "by_policy": {}, "by_check": {}}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
        p = out["by_policy"].setdefault(r.policy or "(none)", {"endpoints": 0, "pass": 0, "fail": 0, "error": 0})
        p["endpoints"] += 1
        p[r.status] += 1
        if r.status == "error":
            continue
        for name, c in r.checks.items():
            b = out["by_check"].setdefault(name, {"ok": 0, "would_fail": 0, "audit_only": 0, "not_run": 0})
            if name in r.would_fail:
                b["would_fail"] += 1
            elif name in r.audit_only:
                b["audit_only"] += 1
            elif c.outcome in ("off", "skipped"):
                b["not_run"] += 1
            else:
                b["ok"] += 1
    return out


def changes(pairs: Sequence[tuple[EndpointResult, EndpointResult | None]]) -> list[dict[str, Any]]:
    """The endpoints whose verdict differs between the two tables.

    Returns:
        one ``{"url", "before": status, "after": status, "policy_before",
        "policy_after", "would_fail_before": [...], "would_fail_after": [...]}``
        per endpoint whose status or failing checks change, newly failing first.
    """
    out = []
    for a, b in pairs:
        if b is None:
            continue
        if a.status != b.status or a.would_fail != b.would_fail:
            out.append({
                "url": a.endpoint.url,
                "before": a.status,
                "after": b.status,
                "policy_before": a.policy,
                "policy_after": b.policy,
                "would_fail_before": list(a.would_fail),
                "would_fail_after": list(b.would_fail),
            })
    out.sort(key=lambda c: (c["after"] != "fail", c["before"] == "fail"))
    return out


def document(
    pairs: Sequence[tuple[EndpointResult, EndpointResult | None]],
    *,
    table: str | None,
    compare_table: str | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The JSON document of a scan (schema :data:`SCHEMA`, see the module docstring).

    Args:
        pairs: :func:`certpolicy.scan.run.scan`'s result.
        table / compare_table: the tables' names (file names) for the report.
        now: the report time (default: now, UTC).
    """
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs if b is not None]
    compared = compare_table is not None
    return {
        "schema": SCHEMA,
        "generated_at": (now or _dt.datetime.now(_dt.timezone.utc)).isoformat(),
        "table": table,
        "compare_table": compare_table,
        "summary": summarize(first),
        "compare_summary": summarize(second) if compared else None,
        "results": [r.to_dict() for r in first],
        "compared": [r.to_dict() for r in second] if compared else None,
        "changes": changes(pairs) if compared else None,
    }


def to_csv(results: Sequence[EndpointResult]) -> str:
    """CSV text: a header row, then one row per endpoint in inventory order;
    columns :data:`CSV_FIELDS` then ``check:NAME`` (the check's outcome) for
    every check seen; lists are joined with ``;``."""
    names: list[str] = []
    for r in results:
        names.extend(n for n in r.checks if n not in names)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_FIELDS, *(f"check:{n}" for n in names)])
    for r in results:
        d = r.to_dict()
        row = [";".join(d[f]) if isinstance(d[f], list) else ("" if d[f] is None else d[f]) for f in CSV_FIELDS]
        row.extend(r.checks[n].outcome if n in r.checks else "" for n in names)
        w.writerow(row)
    return buf.getvalue()


def _cell(r: EndpointResult) -> str:
    if r.status == "error":
        return r.error or "error"
    if r.would_fail:
        return "; ".join(f"{n}: {r.checks[n].outcome}" for n in r.would_fail)
    if r.audit_only:
        return "audit only: " + ", ".join(f"{n}: {r.checks[n].outcome}" for n in r.audit_only)
    return "ok"


def to_text(pairs: Sequence[tuple[EndpointResult, EndpointResult | None]], *, now: _dt.datetime | None = None) -> str:
    """The terminal table: one line per endpoint (failing first), then the
    summary; with a compared table, the verdict changes."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    results = ordered([a for a, _ in pairs])
    rows = [("STATUS", "ENDPOINT", "POLICY", "EXPIRES", "DETAIL")]
    for r in results:
        exp = "-"
        if r.not_after is not None:
            days = (r.not_after - now).total_seconds() / 86400
            exp = f"{r.not_after:%Y-%m-%d} ({days:+.0f}d)"
        rows.append((r.status.upper(), r.endpoint.url, r.policy or "-", exp, _cell(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(v.ljust(widths[i]) for i, v in enumerate(row[:4])) + "  " + row[4] for row in rows]
    s = summarize([a for a, _ in pairs])
    lines.append("")
    lines.append(f"{s['endpoints']} endpoints: {s['pass']} pass, {s['fail']} fail, {s['error']} error")
    for name, c in s["by_check"].items():
        lines.append(f"  {name}: {c['ok']} ok, {c['would_fail']} would fail, {c['audit_only']} audit only, {c['not_run']} not run")
    if any(b is not None for _, b in pairs):
        ch = changes(pairs)
        lines.append("")
        lines.append(f"{len(ch)} endpoint(s) change verdict under the compared table:")
        for c in ch:
            lines.append(f"  {c['before']} -> {c['after']}  {c['url']}  ({', '.join(c['would_fail_after']) or 'no failing check'})")
    return "\n".join(line.rstrip() for line in lines) + "\n"
