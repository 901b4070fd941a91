"""``certpolicy scan``: 20 real loopback endpoints (good, expired, wrong name,
untrusted, revoked by CRL, OCSP down, a refusing port, a stalling server),
every JSON row, CSV and text output, --compare, exit codes, the HTML report
rendered by headless Chromium, and the progress bar under a pty."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from _scan_support import World, scan_world
from certpolicy.scan import InventoryError, parse_inventory
from certpolicy.scan.inventory import parse_endpoint

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"


def _cli(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certpolicy", "scan", *args],
        input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with scan_world(tmp_path_factory.mktemp("scan")) as w:
        yield w


@pytest.fixture(scope="module")
def scanned(world: World) -> dict[str, Any]:
    html = world.inventory.parent / "report.html"
    p = _cli(str(world.inventory), "--policy", str(world.table), "--timeout", "1", "--json", "--html", str(html))
    return {"proc": p, "doc": json.loads(p.stdout), "html": html}


def test_every_json_row_and_the_exit_code(world: World, scanned: dict[str, Any]) -> None:
    p, doc = scanned["proc"], scanned["doc"]
    assert p.returncode == 1, p.stderr
    assert p.stderr == ""  # not a terminal: no progress bar; audit warnings not printed
    assert doc["schema"] == "certpolicy.scan/1" and doc["compare_table"] is None and doc["changes"] is None
    rows = doc["results"]
    assert [r["url"] for r in rows] == [e.url for e in world.expected]  # inventory order
    for row, exp in zip(rows, world.expected, strict=True):
        where = row["url"]
        assert row["status"] == exp.status, where
        assert row["policy"] == exp.policy, where
        assert row["would_fail"] == exp.would_fail, where
        assert row["audit_only"] == [], where
        assert row["attempts"] == 1, where
        for check, outcome in exp.outcome.items():
            assert row["checks"][check]["outcome"] == outcome, (where, check, row["checks"][check])
            assert row["checks"][check]["passed"] is (check not in exp.would_fail), where
        if exp.status == "error":
            assert exp.error in row["error"] and row["checks"] == {} and row["not_after"] is None, where
            continue
        assert row["error"] is None and row["peer_ip"] in ("127.0.0.1", "::1"), where
        assert row["key_type"] == "EC P-256" and row["rtt_ms"] >= 0 and row["elapsed_ms"] >= row["rtt_ms"], where
        assert row["checks"]["chain"]["mode"] == "enforce", where
        expected_issuer = "CN=somebody else's root" if "untrusted" in where else "CN=scan test issuing CA"
        assert row["issuer"] == expected_issuer, where
        assert row["has_crl_url"] is (".crl." in where) and row["has_ocsp_url"] is (".ocsp." in where), where
        if "revocation" in exp.would_fail:
            assert row["checks"]["revocation"]["source"] == ("crl" if ".crl." in where else "ocsp"), where
    s = doc["summary"]
    assert (s["endpoints"], s["pass"], s["fail"], s["error"]) == (20, 9, 9, 2)
    assert s["by_policy"]["crl-checked"] == {"endpoints": 4, "pass": 2, "fail": 2, "error": 0}
    assert s["by_check"]["chain"] == {"ok": 14, "would_fail": 4, "audit_only": 0, "not_run": 0}
    assert s["by_check"]["revocation"]["would_fail"] == 3


def test_timeout_bounds_the_stalling_server(scanned: dict[str, Any]) -> None:
    stall = next(r for r in scanned["doc"]["results"] if "stall" in r["url"])
    assert stall["error"] == "TLS handshake failed: timed out" and 900 <= stall["elapsed_ms"] < 5000


def test_csv_and_terminal_table(world: World) -> None:
    from certpolicy import PolicyTable
    from certpolicy.scan import ScanOptions, load_inventory, scan, to_csv, to_text

    eps = [e for e in load_inventory(str(world.inventory)) if "stall" not in e.url]
    pairs = scan(eps, PolicyTable.load(world.table), options=ScanOptions(jobs=4, timeout=2))
    rows = list(csv.DictReader(io.StringIO(to_csv([a for a, _ in pairs]))))
    assert len(rows) == 19 and rows[0]["url"] == eps[0].url and rows[0]["status"] == "pass"
    wrong = next(r for r in rows if "wrong-0" in r["url"])
    assert wrong["would_fail"] == "hostname" and wrong["check:hostname"] == "mismatch" and wrong["check:chain"] == "ok"
    text = to_text(pairs)
    lines = text.splitlines()
    assert lines[0].split() == ["STATUS", "ENDPOINT", "POLICY", "EXPIRES", "DETAIL"]
    assert lines[1].startswith("FAIL") and "chain: expired" in lines[1]  # failing endpoints first
    assert "19 endpoints: 9 pass, 9 fail, 1 error" in text


def test_compare_reports_the_endpoints_whose_verdict_changes(world: World) -> None:
    p = _cli(str(world.inventory), "--policy", str(world.table), "--compare", str(world.strict_table),
             "--timeout", "1", "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    newly = [c for c in doc["changes"] if c["before"] == "pass"]
    # the six good intranet endpoints have no CRL distribution point: an enforced CRL check refuses them
    assert sorted(c["url"] for c in newly) == sorted(
        e.url for e in world.expected if e.status == "pass" and e.policy == "intranet"
    )
    assert all(c["after"] == "fail" and c["would_fail_after"] == ["revocation"] for c in newly)
    assert doc["changes"][0]["before"] == "pass"  # newly failing first
    assert doc["compare_summary"]["pass"] == 3 and len(doc["compared"]) == 20


def test_exit_zero_when_every_endpoint_passes(world: World) -> None:
    good = [e.url for e in world.expected if e.url.startswith(("https://127.", "https://["))]
    p = _cli("-", "--policy", str(world.table), "--jobs", "2", stdin="\n".join(good) + "\n")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 endpoints: 2 pass, 0 fail, 0 error" in p.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--csv"], "cannot be used together"),
        (["--policy", "/nonexistent/table.toml"], "error"),
        (["--jobs", "0"], "Invalid value"),
    ],
)
def test_usage_errors_exit_2(world: World, args: list[str], message: str) -> None:
    p = _cli(str(world.inventory), *args)
    assert p.returncode == 2 and message in p.stderr


def test_bad_or_empty_inventory_exits_2(tmp_path: Path) -> None:
    (tmp_path / "inv.txt").write_text("# nothing\n")
    assert _cli(str(tmp_path / "inv.txt")).returncode == 2
    (tmp_path / "inv.txt").write_text("http://plain.example/\n")
    p = _cli(str(tmp_path / "inv.txt"))
    assert p.returncode == 2 and "line 1" in p.stderr and "https" in p.stderr


def test_inventory_forms() -> None:
    eps = parse_inventory("# comment\nexample.org\nhttps://[::1]:8443/x\n\napi.example:444\n")
    assert [(e.host, e.port, e.url, e.line) for e in eps] == [
        ("example.org", 443, "https://example.org:443/", 2),
        ("::1", 8443, "https://[::1]:8443/x", 3),
        ("api.example", 444, "https://api.example:444/", 5),
    ]
    eps = parse_inventory("owner,URL,address\nops,a.example:1,127.0.0.1\nops,b.example,\n")
    assert [(e.host, e.port, e.address) for e in eps] == [("a.example", 1, "127.0.0.1"), ("b.example", 443, None)]
    with pytest.raises(InventoryError, match="url"):
        parse_inventory("host,port\na,1\n")
    with pytest.raises(InventoryError, match="not an IP address"):
        parse_endpoint("a.example", address="nope")
    with pytest.raises(InventoryError, match="invalid port"):
        parse_endpoint("a.example:99999")


# -- the HTML report in a real browser ---------------------------------------------


class _Text(HTMLParser):
    """Text by element id, and the endpoint rows' visible cells, of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self._ids: list[tuple[str, int]] = []
        self._depth = 0
        self._in_rows = False
        self._hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._depth += 1
        if a.get("id"):
            self._ids.append((a["id"] or "", self._depth))
            self.by_id[a["id"] or ""] = ""
        if tag == "table" and a.get("id") == "endpoints":
            self._in_rows = True
        if self._in_rows and tag == "tr" and self._depth > 0:
            self._hidden = "display: none" in (a.get("style") or "")
            self.rows.append(["hidden" if self._hidden else "shown"])
        if self._in_rows and tag == "td" and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        while self._ids and self._ids[-1][1] >= self._depth:
            self._ids.pop()
        self._depth -= 1
        if tag == "table":
            self._in_rows = False

    def handle_data(self, data: str) -> None:
        for i, _ in self._ids:
            self.by_id[i] += data
        if self._in_rows and self.rows and len(self.rows[-1]) > 1:
            self.rows[-1][-1] += data


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    exe = _chromium()
    assert exe is not None
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium package is not installed (.ci/run installs it)")
def test_html_report_renders_in_headless_chromium(world: World, scanned: dict[str, Any]) -> None:
    page: Path = scanned["html"]
    text = page.read_text()
    for asset in (" src=", " href=", "<link", "url(", "@import"):  # self-contained: no external asset
        assert asset not in text, asset
    dom = _browser("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    t = _Text()
    t.feed(dom.stdout)
    assert (t.by_id["n-endpoints"], t.by_id["n-pass"], t.by_id["n-fail"], t.by_id["n-error"]) == ("20", "9", "9", "2")
    assert t.by_id["shown"] == "showing 20 of 20 endpoints"  # the page's script ran
    first = t.rows[1]  # rows[0] is the header row
    assert first[1:4] == ["fail", world.expected[9].url, "intranet"]  # the first failing endpoint leads
    assert "chain: expired" in first[4]
    assert "timeline" in t.by_id and "expired" in t.by_id["timeline"]
    # the filters, preset from the fragment
    dom = _browser("--dump-dom", page.as_uri() + "#policy=crl-checked&status=fail")
    t = _Text()
    t.feed(dom.stdout)
    assert t.by_id["shown"] == "showing 2 of 20 endpoints"
    assert sorted(r[2] for r in t.rows[1:] if r[0] == "shown") == sorted(
        e.url for e in world.expected if e.policy == "crl-checked" and e.status == "fail"
    )
    BUILD.mkdir(exist_ok=True)
    shot = BUILD / "scan-report.png"
    shot.unlink(missing_ok=True)
    p = _browser("--window-size=1280,1600", f"--screenshot={shot}", page.as_uri())
    assert p.returncode == 0 and shot.stat().st_size > 10_000, p.stderr[-2000:]
    shutil.copy(page, BUILD / "scan-report.html")


# -- the progress bar ------------------------------------------------------------------


def _run_with_pty_stderr(args: list[str], stdin: str) -> tuple[int, str, str]:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "certpolicy", "scan", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave, env=env, text=True,
    )
    os.close(slave)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    chunks: list[bytes] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    out = proc.stdout.read()
    rc = proc.wait(timeout=10)
    os.close(master)
    return rc, out, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_shows_under_a_pty_and_not_otherwise(world: World) -> None:
    urls = "\n".join(e.url for e in world.expected if e.url.startswith(("https://127.", "https://[")) or "refused" in e.url)
    inv = world.inventory.parent / "small.csv"
    inv.write_text("url,address\n" + "\n".join(f"{e.url},127.0.0.1" for e in world.expected[:3]) + "\n"
                   + "\n".join(f"{u}," for u in urls.splitlines()) + "\n")
    rc, out, err = _run_with_pty_stderr([str(inv), "--policy", str(world.table)], "")
    assert rc == 1 and "6 endpoints: 5 pass, 0 fail, 1 error" in out
    assert "scanning" in err and "6/6" in err and "pass 5" in err and "fail 0" in err and "error 1" in err
    assert "━" in err  # the bar itself
    rc, out, err = _run_with_pty_stderr([str(inv), "--policy", str(world.table), "--quiet"], "")
    assert rc == 1 and err == ""
    p = _cli(str(inv), "--policy", str(world.table))  # stderr a pipe
    assert p.returncode == 1 and p.stderr == "" and "6 endpoints" in p.stdout
