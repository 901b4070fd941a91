"""The scan's HTML report: one self-contained page (inline CSS, script and
SVG; no external asset), with a summary per policy and per check, the
failing endpoints first, filters by policy, check and status, and an expiry
timeline of the next 90 days drawn as inline SVG.

The filters can be preset from the page's fragment:
``report.html#policy=intranet&check=hostname&status=fail``.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Sequence
from typing import Any

from .report import changes, ordered, summarize
from .run import EndpointResult

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px}
.meta{color:#5b6475;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #d8dce5;border-radius:8px;padding:10px 16px;min-width:110px}
.card b{display:block;font-size:26px}
.pass b{color:#1a7f37} .fail b{color:#c62828} .error b{color:#b26a00}
table{border-collapse:collapse;width:100%;margin-top:6px}
th,td{border-bottom:1px solid #e5e8ef;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f4f6fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.st{font-weight:700;text-transform:uppercase;font-size:12px;padding:1px 6px;border-radius:4px}
.st-pass{background:#dff3e4;color:#1a7f37} .st-fail{background:#fde2e1;color:#c62828}
.st-error{background:#fff0d6;color:#8a5200}
.filters{display:flex;gap:12px;align-items:center;margin:8px 0}
.reason{color:#5b6475;font-size:12px}
code{font-size:12px}
#by-policy,#by-check{width:auto;min-width:520px}
td.exp{white-space:nowrap}
"""

_JS = """
(function(){
  var sel={policy:document.getElementById('f-policy'),check:document.getElementById('f-check'),
           status:document.getElementById('f-status')};
  var rows=[].slice.call(document.querySelectorAll('#endpoints tbody tr'));
  function apply(){
    var p=sel.policy.value,c=sel.check.value,s=sel.status.value,shown=0;
    rows.forEach(function(r){
      var ok=(!p||r.dataset.policy===p)&&(!s||r.dataset.status===s)&&
             (!c||(' '+r.dataset.failed+' ').indexOf(' '+c+' ')>=0);
      r.style.display=ok?'':'none'; if(ok){shown++;}
    });
    document.getElementById('shown').textContent='showing '+shown+' of '+rows.length+' endpoints';
  }
  var h=(location.hash||'').replace(/^#/,'').split('&');
  h.forEach(function(kv){var a=kv.split('=');var k=decodeURIComponent(a[0]||'');
    if(sel[k]){sel[k].value=decodeURIComponent(a[1]||'');}});
  Object.keys(sel).forEach(function(k){sel[k].addEventListener('change',apply);});
  apply();
})();
"""

_E = html.escape


def _status(s: str) -> str:
    return f'<span class="st st-{_E(s)}">{_E(s)}</span>'


def _options(values: Sequence[str], label: str) -> str:
    opts = [f'<option value="">all {label}</option>'] + [f'<option value="{_E(v)}">{_E(v)}</option>' for v in values]
    return "".join(opts)


def _detail(r: EndpointResult) -> str:
    if r.status == "error":
        return f'<span class="reason">{_E(r.error or "error")}</span>'
    parts = []
    for name in r.would_fail + r.audit_only:
        c = r.checks[name]
        tag = "" if name in r.would_fail else " (audit only)"
        src = f" via {c.source}" if c.source else ""
        parts.append(f"<b>{_E(name)}</b>: {_E(c.outcome)}{_E(src)}{tag}<br><span class=\"reason\">{_E(c.reason)}</span>")
    return "<br>".join(parts) or "all enforced checks pass"


def timeline_svg(results: Sequence[EndpointResult], now: _dt.datetime, days: int = 90) -> str:
    """An inline SVG bar chart: certificates already expired, then those
    expiring in each week of the next ``days`` days (endpoints without a
    certificate are left out)."""
    weeks = (days + 6) // 7
    buckets = [0] * (weeks + 1)  # [expired, week 1, ...]
    names: list[list[str]] = [[] for _ in buckets]
    later = 0
    for r in results:
        if r.not_after is None:
            continue
        d = (r.not_after - now).total_seconds() / 86400
        if d > days:
            later += 1
            continue
        i = 0 if d < 0 else 1 + min(weeks - 1, int(d // 7))
        buckets[i] += 1
        names[i].append(r.endpoint.url)
    w, h, left, bottom, top = 760, 200, 40, 36, 16
    bw = (w - left - 10) / len(buckets)
    peak = max([*buckets, 1])
    out = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
           f'aria-label="certificate expiry in the next {days} days">']
    out.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#8a93a6"/>')
    for i, n in enumerate(buckets):
        x = left + i * bw
        bh = (h - bottom - top) * n / peak
        color = "#c62828" if i == 0 else ("#e08a00" if i <= 4 else "#3b6fd8")
        label = "expired" if i == 0 else f"wk {i}"
        tip = f"{label}: {n} certificate(s)" + (": " + ", ".join(names[i][:10]) if names[i] else "")
        if n:
            out.append(f'<rect x="{x + 4:.1f}" y="{h - bottom - bh:.1f}" width="{bw - 8:.1f}" height="{bh:.1f}" fill="{color}">'
                       f"<title>{_E(tip)}</title></rect>")
            out.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom - bh - 4:.1f}" font-size="11" text-anchor="middle">{n}</text>')
        out.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 14}" font-size="10" text-anchor="middle" fill="#5b6475">{label}</text>')
    out.append(f'<text x="{left}" y="{h - 4}" font-size="11" fill="#5b6475">from {now:%Y-%m-%d}; '
               f"{later} certificate(s) expire later than {days} days</text>")
    out.append("</svg>")
    return "".join(out)


def _summary_tables(s: dict[str, Any]) -> str:
    pol = ["<table id=\"by-policy\"><thead><tr><th>policy</th><th>endpoints</th><th>pass</th><th>fail</th><th>error</th></tr></thead><tbody>"]
    for name, c in sorted(s["by_policy"].items()):
        pol.append(f"<tr><td>{_E(name)}</td>" + "".join(f'<td class="num">{c[k]}</td>' for k in ("endpoints", "pass", "fail", "error")) + "</tr>")
    pol.append("</tbody></table>")
    chk = ["<table id=\"by-check\"><thead><tr><th>check</th><th>ok</th><th>would fail</th><th>audit only</th><th>off / skipped</th></tr></thead><tbody>"]
    for name, c in s["by_check"].items():
        chk.append(f"<tr><td>{_E(name)}</td>" + "".join(f'<td class="num">{c[k]}</td>' for k in ("ok", "would_fail", "audit_only", "not_run")) + "</tr>")
    chk.append("</tbody></table>")
    return "<h2>By policy</h2>" + "".join(pol) + "<h2>By check</h2>" + "".join(chk)


def render_html(
    pairs: Sequence[tuple[EndpointResult, EndpointResult | None]],
    *,
    table: str | None,
    compare_table: str | None = None,
    now: _dt.datetime | None = None,
    document: dict[str, Any] | None = None,
) -> str:
    """The report page as one HTML string (UTF-8, no external references).

    Args:
        pairs: :func:`certpolicy.scan.run.scan`'s result.
        table / compare_table: the tables' names for the heading.
        now: the report time (default: now, UTC); the timeline starts there.
        document: the JSON document to embed (``<script type="application/json" id="scan-data">``), optional.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    results = [a for a, _ in pairs]
    s = summarize(results)
    checks = list(s["by_check"])
    policies = sorted(s["by_policy"])
    body = [
        "<h1>certpolicy scan report</h1>",
        f'<div class="meta">table <code>{_E(table or "(default)")}</code>'
        + (f' compared with <code>{_E(compare_table)}</code>' if compare_table else "")
        + f" &middot; {now:%Y-%m-%d %H:%M} UTC</div>",
        '<div class="cards" id="summary">'
        f'<div class="card"><b id="n-endpoints">{s["endpoints"]}</b>endpoints</div>'
        f'<div class="card pass"><b id="n-pass">{s["pass"]}</b>pass</div>'
        f'<div class="card fail"><b id="n-fail">{s["fail"]}</b>fail</div>'
        f'<div class="card error"><b id="n-error">{s["error"]}</b>error</div></div>',
        _summary_tables(s),
        f"<h2>Certificate expiry, next 90 days</h2>{timeline_svg(results, now)}",
    ]
    if compare_table is not None:
        ch = changes(pairs)
        rows = "".join(
            f"<tr><td>{_E(c['url'])}</td><td>{_status(c['before'])}</td><td>{_status(c['after'])}</td>"
            f"<td>{_E(', '.join(c['would_fail_after']) or '-')}</td></tr>" for c in ch
        )
        body.append(f'<h2>Verdict changes under <code>{_E(compare_table)}</code> ({len(ch)})</h2>'
                    f'<table id="changes"><thead><tr><th>endpoint</th><th>before</th><th>after</th><th>would fail after</th></tr></thead>'
                    f"<tbody>{rows}</tbody></table>")
    body.append(
        '<h2>Endpoints</h2><div class="filters">'
        f'<label>policy <select id="f-policy">{_options(policies, "policies")}</select></label>'
        f'<label>failing check <select id="f-check">{_options(checks, "checks")}</select></label>'
        f'<label>status <select id="f-status">{_options(["fail", "error", "pass"], "statuses")}</select></label>'
        '<span id="shown"></span></div>'
    )
    trs = []
    for r in ordered(results):
        exp = "-"
        if r.not_after is not None:
            exp = f"{r.not_after:%Y-%m-%d} ({(r.not_after - now).total_seconds() / 86400:+.0f}d)"
        trs.append(
            f'<tr data-policy="{_E(r.policy or "(none)")}" data-status="{_E(r.status)}" '
            f'data-failed="{_E(" ".join(r.would_fail + r.audit_only))}">'
            f"<td>{_status(r.status)}</td><td class=\"url\">{_E(r.endpoint.url)}</td><td>{_E(r.policy or '-')}</td>"
            f"<td>{_detail(r)}</td><td>{_E(r.issuer or '-')}</td><td class=\"exp\">{_E(exp)}</td><td>{_E(r.key_type or '-')}</td>"
            f'<td class="num">{"-" if r.rtt_ms is None else f"{r.rtt_ms:.1f}"}</td></tr>'
        )
    body.append(
        '<table id="endpoints"><thead><tr><th>status</th><th>endpoint</th><th>policy</th><th>detail</th>'
        "<th>issuer</th><th>expires</th><th>key</th><th>rtt ms</th></tr></thead><tbody>" + "".join(trs) + "</tbody></table>"
    )
    data = ""
    if document is not None:
        payload = json.dumps(document, default=str).replace("</", "<\\/")
        data = f'<script type="application/json" id="scan-data">{payload}</script>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>certpolicy scan: {s['fail']} fail, {s['error']} error, {s['pass']} pass</title>"
        f"<style>{_CSS}</style></head><body>" + "".join(body) + data + f"<script>{_JS}</script></body></html>\n"
    )
