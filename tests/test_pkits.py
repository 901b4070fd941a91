"""NIST PKITS through certpolicy's public API (ChainCheck + CrlCheck), scored
against the suite's expected outcomes and against pyhanko-certvalidator.

The suite is not shipped: ``tests/conformance/run_pkits.py`` fetches it from
PyPI (the pinned pyhanko-certvalidator sdist, which carries PKITS) into
``build/pkits/`` on first use. The tests skip, saying why, when it cannot be
fetched (no registry reachable).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _pkits import run_pkits

pytestmark = pytest.mark.slow

CACHE = Path(os.environ.get("CERTPOLICY_PKITS_CACHE", run_pkits.DEFAULT_CACHE))


@pytest.fixture(scope="module")
def suite() -> Path:
    try:
        return run_pkits.fetch_suite(CACHE)  # type: ignore[no-any-return]
    except run_pkits.Unavailable as e:
        pytest.skip(f"NIST PKITS unavailable (fetched from PyPI at test time): {e}")


@pytest.fixture(scope="module")
def report(suite: Path) -> object:
    cases = run_pkits.load_cases(suite)
    anchor = (suite / "certs" / "TrustAnchorRootCertificate.crt").read_bytes()
    return run_pkits.evaluate(cases, anchor, run_pkits.load_known_failures(run_pkits.KNOWN_FAILURES))


def test_the_suite_is_complete(suite: Path) -> None:
    cases = run_pkits.load_cases(suite)
    sections = {c.section for c in cases}
    assert sections == set(run_pkits.SECTIONS)
    assert len(cases) >= 250
    assert {c.expected for c in cases} == {"SUCCESS", "FAILURE"}


def test_no_bad_path_is_accepted(report: object) -> None:
    bad = [(r.id, r.reason) for r in report.certpolicy if r.status == run_pkits.BAD_ACCEPTED]  # type: ignore[attr-defined]
    assert bad == []


def test_every_good_path_pyhanko_accepts_is_accepted_or_known(report: object) -> None:
    unexpected = [(r.id, r.status, r.reason) for r in report.unexpected]  # type: ignore[attr-defined]
    assert unexpected == []


def test_pyhanko_reference_accepts_no_bad_path(report: object) -> None:
    # the reference itself must be sound, or "as many as pyhanko" means little
    bad = [r.id for r in report.pyhanko if r.status == run_pkits.BAD_ACCEPTED]  # type: ignore[attr-defined]
    assert bad == []


def test_known_failures_have_reasons() -> None:
    data = json.loads(run_pkits.KNOWN_FAILURES.read_text(encoding="utf-8"))
    assert all(len(reason) > 40 for reason in data["known_failures"].values())


def test_runner_exits_zero_and_writes_json_lines(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pkits.jsonl"
    assert run_pkits.main(["--suite", str(suite), "--quiet", "--json", str(out), "--only", "4.1", "--only", "4.8"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["harness"] for r in lines} == {"certpolicy", "pyhanko"}
    assert all(set(r) >= {"id", "section", "expected", "actual", "status", "reason", "seconds"} for r in lines)
    text = capsys.readouterr().out
    assert "bad path accepted" in text and text.rstrip().endswith("OK")


def test_runner_says_when_the_suite_is_unavailable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_pkits.main(["--cache", str(tmp_path / "empty"), "--no-fetch"]) == run_pkits.EXIT_UNAVAILABLE
    assert "PKITS unavailable" in capsys.readouterr().err


def test_unpack_takes_only_the_suite_folder(tmp_path: Path) -> None:
    import io
    import tarfile

    sdist = tmp_path / "x.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in (
            ("pkg-1/tests/fixtures/nist_pkits/pkits.json", b"[]"),
            ("pkg-1/tests/fixtures/nist_pkits/../../../evil.txt", b"x"),
            ("pkg-1/setup.py", b"print()"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = run_pkits.unpack(sdist, tmp_path / "suite")
    assert sorted(p.name for p in target.rglob("*")) == ["pkits.json"]
    assert not (tmp_path / "evil.txt").exists()
