"""x509-limbo conformance: certpolicy's checks against the public suite.

Runs ``tests/conformance/run_limbo.py`` in-process on the corpus in
``../shared/conformance/limbo.json.gz`` (skipped when absent).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

#: At most this many bad chains may be accepted (the goal; docs/conformance.md).
MAX_BAD_ACCEPTED = 0

pytestmark = pytest.mark.slow


from _limbo import run_limbo  # noqa: E402

if not run_limbo.DEFAULT_LIMBO.exists():  # pragma: no cover - depends on the checkout layout
    if os.environ.get("CI"):
        raise RuntimeError(f"x509-limbo corpus not found at {run_limbo.DEFAULT_LIMBO}: CI must have ../shared")
    pytest.skip(f"x509-limbo corpus not found at {run_limbo.DEFAULT_LIMBO}", allow_module_level=True)


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return run_limbo.load_cases(run_limbo.DEFAULT_LIMBO)


@pytest.fixture(scope="module")
def report(cases: list[dict]) -> object:
    known = run_limbo.load_known_failures(run_limbo.KNOWN_FAILURES)
    return run_limbo.evaluate(cases, run_limbo.CertpolicyHarness(), known)


def test_runner_exits_zero_and_writes_one_json_line_per_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "limbo.jsonl"
    assert run_limbo.main(["--quiet", "--json", str(out), "--only", "rfc5280::", "--only", "webpki::"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(set(r) >= {"id", "expected", "actual", "status", "reason", "seconds"} for r in lines)
    assert "bad chain accepted" in capsys.readouterr().out


def test_no_unexpected_failure(report: object) -> None:
    unexpected = [(r.id, r.status, r.reason) for r in report.unexpected]  # type: ignore[attr-defined]
    assert unexpected == []


def test_at_most_ten_bad_chains_are_accepted_and_each_is_known(report: object) -> None:
    known = run_limbo.load_known_failures(run_limbo.KNOWN_FAILURES)
    bad = [r.id for r in report.results if r.status == run_limbo.BAD_ACCEPTED]  # type: ignore[attr-defined]
    assert len(bad) <= MAX_BAD_ACCEPTED
    assert set(bad) <= set(known)


def test_no_case_takes_a_second(report: object) -> None:
    slowest = report.slowest  # type: ignore[attr-defined]
    assert slowest.seconds < run_limbo.MAX_CASE_SECONDS, slowest.id


def test_every_case_cryptography_passes_certpolicy_passes(cases: list[dict], report: object) -> None:
    bare = run_limbo.run_cases(cases, run_limbo.CryptographyHarness())
    ours = {r.id: r.status for r in report.results}  # type: ignore[attr-defined]
    known = run_limbo.load_known_failures(run_limbo.KNOWN_FAILURES)
    regressions = sorted(r.id for r in bare if r.status == run_limbo.PASS and ours[r.id] != run_limbo.PASS)
    # The goal holds outright: no case that cryptography alone passes fails in certpolicy.
    assert regressions == [], regressions
    assert known  # the known-failures file is read


def test_known_failures_are_still_failing(report: object) -> None:
    assert report.fixed == []  # type: ignore[attr-defined]



def test_runner_exits_non_zero_on_an_unlisted_failure(tmp_path: Path) -> None:
    """With an empty known-failures file, the known failures become new
    failures and the runner exits 1 (it only passes when every wrong case is
    listed with its reason)."""
    import subprocess

    empty = tmp_path / "known.json"
    empty.write_text('{"known_failures": {}}')
    proc = subprocess.run(
        [sys.executable, str(Path(run_limbo.__file__)), "--only", "pathlen::", "--known-failures", str(empty), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_only_prefix_matching_nothing_is_a_clear_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_limbo.main(["--only", "no-such-prefix::"]) == 2
    assert "no case id starts with 'no-such-prefix::'" in capsys.readouterr().err
    assert "TOTAL" in run_limbo.summary_table([])
