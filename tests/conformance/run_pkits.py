#!/usr/bin/env python3
"""Run NIST PKITS (the Public Key Interoperability Test Suite) through certpolicy's public checks.

Usage::

    python tests/conformance/run_pkits.py [--suite DIR] [--cache DIR] [--json OUT]
                                          [--only SECTION] [--known-failures FILE]
                                          [--no-fetch] [--fetch-only] [--no-crl] [--quiet]

The suite is not shipped with certpolicy. NIST's PKITS (certificates, CRLs and
the expected outcome of every test 4.1.1 ... 4.16.2, RFC 5280 path validation
and CRL processing) is fetched at run time from a package registry: the
source distribution of pyhanko-certvalidator (:data:`SOURCE`, pinned by
version and SHA-256) carries it as ``tests/fixtures/nist_pkits/`` (the
``certs/`` and ``crls/`` of PKITS 2011 and ``pkits.json`` /
``pkits-user-notice.json``, one entry per test and per set of initial
inputs, "error" when the path must be refused). ``pip download`` (the
registry's ordinary client, bounded by :data:`FETCH_TIMEOUT`) fetches it
once into ``build/pkits/`` (gitignored), and only the ``nist_pkits`` folder
is unpacked. ``--suite DIR`` uses an unpacked ``nist_pkits`` folder instead;
``--no-fetch`` never downloads; ``--fetch-only`` fetches and exits (CI
runs it before the tests). When the suite cannot be had, the script
says why and exits :data:`EXIT_UNAVAILABLE` (the pytest test then skips).

Every test goes through the public API, as an application uses it (RFC 5280
§6.1 path validation, §6.3 CRL processing):

* :class:`certpolicy.ChainCheck` with PKITS's trust anchor as the only
  anchor, ``profile="rfc5280"``, the test's other certificates as extra
  presented certificates, a validation time inside the suite's validity
  window (:data:`VALIDATION_TIME`) and the test's initial policy set and
  initial-explicit-policy as the policy row's ``certificate_policies`` and
  ``require_explicit_policy`` (RFC 5280 §6.1.1(c), (f));
* :class:`certpolicy.CrlCheck` with every CRL of the test (the trust anchor's
  included) as static CRLs, on every certificate of the validated path
  (``revocation.scope = "chain"``), no fetching, with the default outcome
  map: no usable CRL answer fails (revocation required).

The verdict is the conjunction. pyhanko-certvalidator, the reference, runs on
the same test directly (its ``CertificateValidator`` with the same anchor,
certificates, CRLs, time and PKIX inputs, ``revocation_mode="require"`` and
the algorithm settings its own PKITS tests use). A test that needs an input
certpolicy's public API does not have (initial-policy-mapping-inhibit,
initial-any-policy-inhibit, RFC 5280 §6.1.1(e), (g)) is skipped, naming it.

The script prints one table per harness by PKITS section (pass, bad path
accepted, good path rejected, skipped) and exits 1 when certpolicy accepts a
bad path, or rejects a good path that pyhanko accepts, unless the test is in
``pkits_known_failures.json`` (beside this script, each entry with its
reason); 0 otherwise; 2 for usage errors. ``--no-crl`` (a diagnostic) runs
the chain check alone: the paths only revocation refuses are then accepted.
``--json OUT`` writes one JSON line per test and harness (``id``,
``section``, ``harness``, ``expected``, ``actual``, ``status``, ``reason``,
``seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "build" / "pkits"
KNOWN_FAILURES = Path(__file__).resolve().with_name("pkits_known_failures.json")

#: Where the suite comes from: (distribution, version, SHA-256 of its sdist).
SOURCE = ("pyhanko-certvalidator", "0.33.0", "a4c3309f99c77cdcad24532f75340bd8cc8b108aa8992b8102d44f250ebd449c")
#: The folder of the sdist that holds PKITS.
SUITE_MEMBER = "tests/fixtures/nist_pkits/"
#: Seconds ``pip download`` may take.
FETCH_TIMEOUT = 120.0
#: Largest sdist accepted, and largest unpacked suite (bytes).
MAX_SDIST_BYTES = 20 * 1024 * 1024
MAX_SUITE_BYTES = 20 * 1024 * 1024
#: Inside every PKITS 2011 certificate's and CRL's validity (2010-01-01 to
#: 2030-12-31); the moment pyhanko's own PKITS tests use.
VALIDATION_TIME = dt.datetime(2022, 5, 1, tzinfo=dt.timezone.utc)
#: Exit status when the suite is not available (the pytest test skips).
EXIT_UNAVAILABLE = 3

PASS = "pass"
BAD_ACCEPTED = "bad-accepted"
GOOD_REJECTED = "good-rejected"
SKIPPED = "skipped"

#: PKITS's sections (NIST PKITS 1.0.1, §4).
SECTIONS = {
    "4.1": "signature verification",
    "4.2": "validity periods",
    "4.3": "name chaining",
    "4.4": "basic CRL processing",
    "4.5": "self-issued certificates",
    "4.6": "basic constraints",
    "4.7": "key usage",
    "4.8": "certificate policies",
    "4.9": "require explicit policy",
    "4.10": "policy mappings",
    "4.11": "inhibit policy mapping",
    "4.12": "inhibit any policy",
    "4.13": "name constraints",
    "4.14": "distribution points",
    "4.15": "delta CRLs",
    "4.16": "private certificate extensions",
}
#: The sections about CRL processing (RFC 5280 §6.3).
CRL_SECTIONS = frozenset({"4.4", "4.14", "4.15"})


class Unavailable(Exception):
    """The suite cannot be fetched or read (the message says why)."""


class Skip(Exception):
    """The test needs an input the harness does not have (the message names it)."""


# ---------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------


def _safe_members(tar: tarfile.TarFile) -> list[tuple[tarfile.TarInfo, str]]:
    """The regular files of the sdist under :data:`SUITE_MEMBER`, each with
    its path relative to that folder; no absolute path, no ``..``, no link."""
    out: list[tuple[tarfile.TarInfo, str]] = []
    total = 0
    for member in tar.getmembers():
        parts = member.name.split("/", 1)
        if len(parts) != 2 or not parts[1].startswith(SUITE_MEMBER):
            continue
        rel = parts[1][len(SUITE_MEMBER) :]
        if not member.isfile() or not rel or rel.startswith("/") or ".." in rel.split("/"):
            continue
        total += member.size
        if total > MAX_SUITE_BYTES:
            raise Unavailable(f"the suite in the sdist is larger than {MAX_SUITE_BYTES} bytes")
        out.append((member, rel))
    return out


def unpack(sdist: Path, target: Path) -> Path:
    """Unpack the PKITS folder of ``sdist`` into ``target`` (replaced).

    Args:
        sdist: the ``.tar.gz`` source distribution.
        target: the folder to create (``certs/``, ``crls/``, ``pkits.json`` ...).

    Returns:
        ``target``.

    Raises:
        Unavailable: the archive has no PKITS folder or is unreadable.
    """
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            members = _safe_members(tar)
            if not members:
                raise Unavailable(f"{sdist.name} has no {SUITE_MEMBER}")
            for member, rel in members:
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (OSError, tarfile.TarError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Unavailable(f"cannot unpack {sdist}: {e}") from e
    if not (tmp / "pkits.json").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise Unavailable(f"{sdist.name}: no pkits.json in {SUITE_MEMBER}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def fetch_suite(cache: Path, *, allow_download: bool = True, timeout: float = FETCH_TIMEOUT) -> Path:
    """The unpacked PKITS folder, fetched into ``cache`` on first use.

    ``pip download --no-deps --no-binary :all: pyhanko-certvalidator==VERSION``
    (the pinned :data:`SOURCE`, under the interpreter's own pip and its
    configuration) fetches the source distribution; its SHA-256 must match
    the pinned one; only :data:`SUITE_MEMBER` is unpacked.

    Args:
        cache: the cache folder (``build/pkits/`` by default).
        allow_download: ``False``: use the cache or fail.
        timeout: seconds the download may take.

    Returns:
        the folder holding ``pkits.json``, ``certs/`` and ``crls/``.

    Raises:
        Unavailable: not cached and not downloadable (the message says why).
    """
    dist, version, sha256 = SOURCE
    suite = cache / f"{dist}-{version}" / "nist_pkits"
    if (suite / "pkits.json").is_file() and (suite / ".sha256").is_file():
        if (suite / ".sha256").read_text().strip() == sha256:
            return suite
    sdist_name = f"{dist.replace('-', '_')}-{version}.tar.gz"
    sdist = cache / sdist_name
    if not sdist.is_file():
        if not allow_download:
            raise Unavailable(f"PKITS is not in {cache} and downloading is off (--no-fetch)")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                "--disable-pip-version-check", "--retries", "1", "--timeout", str(int(min(timeout, 30))),
                "--dest", tmp, f"{dist}=={version}",
            ]  # fmt: skip
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise Unavailable(f"pip download {dist}=={version} failed: {e}") from e
            found = sorted(Path(tmp).glob("*.tar.gz"))
            if done.returncode != 0 or not found:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise Unavailable(f"pip download {dist}=={version} failed: {' / '.join(tail) or done.returncode}")
            if found[0].stat().st_size > MAX_SDIST_BYTES:
                raise Unavailable(f"{found[0].name} is larger than {MAX_SDIST_BYTES} bytes")
            shutil.move(str(found[0]), sdist)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != sha256:
        sdist.unlink()
        raise Unavailable(f"{sdist_name}: SHA-256 {digest} is not the pinned {sha256}")
    unpack(sdist, suite)
    (suite / ".sha256").write_text(sha256 + "\n")
    return suite


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PkitsCase:
    """One PKITS test under one set of initial inputs.

    Attributes:
        id: ``"4.8.1 all_certs_same_policy_test1_explicit_policy"``
            (PKITS number, then the fixture's name for the input set).
        section: ``"4.8"``.
        leaf: the end-entity certificate's DER.
        others: the other certificates' DER (intermediates, CRL issuers).
        crls: every CRL's DER, the trust anchor's first.
        expected: ``"SUCCESS"`` or ``"FAILURE"``.
        params: the PKIX inputs (``user_initial_policy_set``,
            ``initial_explicit_policy``, ``initial_policy_mapping_inhibit``,
            ``initial_any_policy_inhibit``).
    """

    id: str
    section: str
    leaf: bytes
    others: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    expected: str
    params: dict[str, Any]


def _number(raw_id: str) -> tuple[str, str]:
    """``"40801"`` -> ``("4.8", "4.8.1")``."""
    section = f"{int(raw_id[0])}.{int(raw_id[1:3])}"
    return section, f"{section}.{int(raw_id[3:])}"


def load_cases(suite: Path) -> list[PkitsCase]:
    """Every test of ``pkits.json`` and ``pkits-user-notice.json`` (the latter
    all valid paths), with the trust anchor's CRL added to each.

    Raises:
        Unavailable: the suite's files cannot be read.
    """
    certs, crls = suite / "certs", suite / "crls"
    cases: list[PkitsCase] = []
    seen: set[str] = set()
    try:
        anchor_crl = (crls / "TrustAnchorRootCRL.crl").read_bytes()
        for file in ("pkits.json", "pkits-user-notice.json"):
            path = suite / file
            if not path.is_file():
                continue
            for obj in json.loads(path.read_text(encoding="utf-8")):
                section, number = _number(str(obj["id"]))
                if f"{number} {obj['name']}" in seen:
                    continue  # the user-notice file repeats some tests
                seen.add(f"{number} {obj['name']}")
                cases.append(
                    PkitsCase(
                        id=f"{number} {obj['name']}",
                        section=section,
                        leaf=(certs / obj["cert"]).read_bytes(),
                        others=tuple((certs / c).read_bytes() for c in obj.get("other_certs", ())),
                        crls=(anchor_crl, *((crls / c).read_bytes() for c in obj.get("crls", ()))),
                        expected="FAILURE" if "error" in obj else "SUCCESS",
                        params=dict(obj.get("params") or {}),
                    )
                )
    except (OSError, ValueError, KeyError) as e:
        raise Unavailable(f"cannot read the suite in {suite}: {e}") from e
    return cases


def load_known_failures(path: Path) -> dict[str, str]:
    """``{case id: reason}`` from the known-failures file (missing file: empty)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.get("known_failures", {}).items()}


# ---------------------------------------------------------------------------
# Harnesses
# ---------------------------------------------------------------------------


class CertpolicyHarness:
    """ChainCheck (``profile="rfc5280"``) then CrlCheck (scope chain, static
    CRLs only, revocation required), through the public API."""

    name = "certpolicy"

    def __init__(self, *, crl: bool = True) -> None:
        from cryptography import x509

        import certpolicy
        from certpolicy.checks.base import CheckContext
        from certpolicy.policy import RevocationSettings
        from certpolicy.revocation.cache import RevocationCache

        self._x509 = x509
        self._cp = certpolicy
        self._context_cls = CheckContext
        self._settings_cls = RevocationSettings
        self._cache_cls = RevocationCache
        self._anchor_der = b""
        self._anchor: Any = None
        self._crl = crl

    def set_anchor(self, der: bytes) -> None:
        """The PKITS trust anchor (``TrustAnchorRootCertificate.crt``)."""
        self._anchor_der = der
        self._anchor = self._x509.load_der_x509_certificate(der)

    def evaluate(self, case: PkitsCase) -> tuple[str, str]:
        """``("SUCCESS" | "FAILURE", reason)`` for one case."""
        cp = self._cp
        # the table's spelling: dotted OIDs, "anyPolicy" for all (policy_values.policy_oids)
        policies = tuple(case.params.get("user_initial_policy_set") or ("anyPolicy",))
        settings = self._settings_cls(scope="chain", fetch_crls=False)
        policy = cp.Policy(
            name="pkits",
            kind=cp.PolicyKind.OVERRIDE,
            crl=cp.CheckMode.ENFORCE,
            profile="rfc5280",
            certificate_policies=policies,
            require_explicit_policy=bool(case.params.get("initial_explicit_policy", False)),
            inhibit_policy_mapping=bool(case.params.get("initial_policy_mapping_inhibit", False)),
            inhibit_any_policy=bool(case.params.get("initial_any_policy_inhibit", False)),
            revocation=settings,
        )
        others: list[Any] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for der in case.others:  # possible CRL issuers, for CrlCheck
                try:
                    others.append(self._x509.load_der_x509_certificate(der))
                except ValueError:
                    continue  # ChainCheck parses (and refuses) it itself
        chain_check = cp.ChainCheck(anchors=[self._anchor], profile="rfc5280")
        crl_check = (
            cp.CrlCheck(crls=list(case.crls), extra_certs=others, cache=self._cache_cls(None)) if self._crl else None
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # the presented chain as DER, leaf first: ChainCheck parses it
                presented = [case.leaf, *case.others]
                path = chain_check.check(presented, None, at=VALIDATION_TIME, policy=policy, allow_network=False)
                ctx = self._context_cls(
                    host=None,
                    chain=[*path[:1], *others],
                    policy=policy,
                    at=VALIDATION_TIME,
                    verified_path=path,
                    allow_network=False,
                )
                if crl_check is not None:
                    crl_check.run(ctx)
        except cp.CertPolicyError as e:
            return "FAILURE", f"{type(e).__name__}({e.check}/{e.outcome}): {e.reason}"
        finally:
            if crl_check is not None:
                crl_check.close()
        return "SUCCESS", f"path of {len(path)} certificates" + (", CRLs good" if self._crl else "")


class PyhankoHarness:
    """pyhanko-certvalidator directly: the reference."""

    name = "pyhanko"

    def __init__(self) -> None:
        from asn1crypto import crl, x509
        from pyhanko_certvalidator import CertificateValidator, ValidationContext
        from pyhanko_certvalidator.policy_decl import (
            DisallowWeakAlgorithmsPolicy,
            PKIXValidationParams,
        )

        self._x509, self._crl = x509, crl
        self._validator, self._context = CertificateValidator, ValidationContext
        self._algos, self._params = DisallowWeakAlgorithmsPolicy, PKIXValidationParams
        self._anchor: Any = None

    def set_anchor(self, der: bytes) -> None:
        """The PKITS trust anchor."""
        self._anchor = self._x509.Certificate.load(der)

    def evaluate(self, case: PkitsCase) -> tuple[str, str]:
        """``("SUCCESS" | "FAILURE", reason)`` for one case."""
        from pyhanko_certvalidator.errors import (
            PathBuildingError,
            PathValidationError,
            ValidationError,
        )

        p = case.params
        params = self._params(
            user_initial_policy_set=frozenset(p.get("user_initial_policy_set") or ("any_policy",)),
            initial_explicit_policy=bool(p.get("initial_explicit_policy", False)),
            initial_policy_mapping_inhibit=bool(p.get("initial_policy_mapping_inhibit", False)),
            initial_any_policy_inhibit=bool(p.get("initial_any_policy_inhibit", False)),
        )
        others = [self._x509.Certificate.load(c) for c in case.others]
        context = self._context(
            trust_roots=[self._anchor],
            other_certs=others,
            crls=[self._crl.CertificateList.load(c) for c in case.crls],
            revocation_mode="require",
            moment=VALIDATION_TIME,
            # the algorithm settings of pyhanko's own PKITS tests
            algorithm_usage_policy=self._algos(weak_hash_algos={"md2", "md5"}, dsa_key_size_threshold=1024),
        )
        validator = self._validator(
            self._x509.Certificate.load(case.leaf),
            intermediate_certs=others,
            validation_context=context,
            pkix_params=params,
        )
        try:
            path = asyncio.run(validator.async_validate_usage(set()))
        except (PathBuildingError, PathValidationError, ValidationError) as e:
            return "FAILURE", f"{type(e).__name__}: {e}"
        return "SUCCESS", f"path of {len(path)} certificates"


# ---------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class CaseResult:
    """The outcome of one case under one harness."""

    id: str
    section: str
    harness: str
    expected: str
    actual: str  # SUCCESS, FAILURE or SKIPPED
    status: str  # pass, bad-accepted, good-rejected, skipped
    reason: str
    seconds: float

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["seconds"] = round(self.seconds, 6)
        return json.dumps(d, ensure_ascii=False)


def run_cases(cases: Sequence[PkitsCase], harness: Any) -> list[CaseResult]:
    """Evaluate every case; a crash of the harness is a rejection of the case."""
    results: list[CaseResult] = []
    for case in cases:
        start = time.perf_counter()
        try:
            actual, reason = harness.evaluate(case)
        except Skip as e:
            actual, reason = "SKIPPED", f"skipped: {e}"
        except Exception as e:  # a crash is a rejection, reported as such
            actual, reason = "FAILURE", f"unhandled {type(e).__name__}: {e}"
        seconds = time.perf_counter() - start
        if actual == "SKIPPED":
            status = SKIPPED
        elif actual == case.expected:
            status = PASS
        elif actual == "SUCCESS":
            status = BAD_ACCEPTED
        else:
            status = GOOD_REJECTED
        results.append(CaseResult(case.id, case.section, harness.name, case.expected, actual, status, reason, seconds))
    return results


def _section_key(section: str) -> tuple[int, ...]:
    return tuple(int(x) for x in section.split("."))


def summary_table(results: Sequence[CaseResult]) -> str:
    """A text table by PKITS section: cases, pass, bad accepted, good rejected, skipped."""
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in results:
        rows[r.section][r.status] += 1
        rows["TOTAL"][r.status] += 1
    header = ("section", "cases", "pass", "bad path accepted", "good path rejected", "skipped")
    lines = [header]
    sections = sorted((k for k in rows if k != "TOTAL"), key=_section_key)
    for name in [*sections, "TOTAL"]:
        c = rows[name]
        label = f"{name} {SECTIONS.get(name, '')}".strip()
        lines.append((label, str(sum(c.values())), str(c[PASS]), str(c[BAD_ACCEPTED]), str(c[GOOD_REJECTED]), str(c[SKIPPED])))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = []
    for i, row in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0 or (sections and row[0].split(" ")[0] == sections[-1]):
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


@dataclasses.dataclass
class Report:
    """What :func:`evaluate` found.

    Attributes:
        certpolicy, pyhanko: the results of each harness, case by case.
        unexpected: certpolicy's results that fail the run: a bad path
            accepted, or a good path rejected that pyhanko accepts, not in the
            known-failures file.
        fixed: known failures that now pass.
        wall: seconds for both harnesses.
    """

    certpolicy: list[CaseResult]
    pyhanko: list[CaseResult]
    unexpected: list[CaseResult]
    fixed: list[str]
    wall: float

    @property
    def ok(self) -> bool:
        """No unexpected result."""
        return not self.unexpected

    def counts(self, harness: str = "certpolicy") -> dict[str, int]:
        """``{status: number}`` for one harness."""
        c = collections.Counter(r.status for r in getattr(self, harness))
        return {k: c[k] for k in (PASS, BAD_ACCEPTED, GOOD_REJECTED, SKIPPED)}


def evaluate(cases: Sequence[PkitsCase], anchor: bytes, known: dict[str, str], *, crl: bool = True) -> Report:
    """Run ``cases`` under certpolicy and pyhanko and compare with the known failures.

    Args:
        cases: the PKITS cases (:func:`load_cases`).
        anchor: the trust anchor's DER.
        known: ``{case id: reason}`` of certpolicy's known failures.
        crl: run certpolicy's CrlCheck (``False``: the chain check alone, a
            diagnostic: bad paths that only revocation refuses are then accepted).

    Returns:
        the :class:`Report`.
    """
    start = time.perf_counter()
    harnesses = {"certpolicy": CertpolicyHarness(crl=crl), "pyhanko": PyhankoHarness()}
    for h in harnesses.values():
        h.set_anchor(anchor)
    mine = run_cases(cases, harnesses["certpolicy"])
    ref = run_cases(cases, harnesses["pyhanko"])
    wall = time.perf_counter() - start
    ref_by_id = {r.id: r for r in ref}
    unexpected = [
        r
        for r in mine
        if r.id not in known
        and (r.status == BAD_ACCEPTED or (r.status in (GOOD_REJECTED, SKIPPED) and ref_by_id[r.id].status == PASS and r.expected == "SUCCESS"))
    ]
    fixed = [r.id for r in mine if r.id in known and r.status in (PASS, SKIPPED) and not (r.status == SKIPPED and ref_by_id[r.id].status == PASS and r.expected == "SUCCESS")]
    return Report(mine, ref, unexpected, fixed, wall)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="run_pkits.py", description="Run NIST PKITS through certpolicy's checks.")
    parser.add_argument("--suite", type=Path, help="an unpacked nist_pkits folder (default: fetch into --cache)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("CERTPOLICY_PKITS_CACHE", DEFAULT_CACHE)))
    parser.add_argument("--no-fetch", action="store_true", help="never download; use the cache or the suite folder")
    parser.add_argument("--json", dest="json_out", type=Path, help="write one JSON line per case and harness here")
    parser.add_argument("--only", action="append", default=[], metavar="SECTION", help="only tests of SECTION (4.8) or id prefix")
    parser.add_argument("--known-failures", type=Path, default=KNOWN_FAILURES)
    parser.add_argument("--fetch-only", action="store_true", help="fetch the suite into --cache and exit (CI)")
    parser.add_argument("--no-crl", action="store_true", help="diagnostic: certpolicy's chain check alone, no CrlCheck")
    parser.add_argument("--quiet", action="store_true", help="print only the tables and the verdict")
    args = parser.parse_args(argv)
    for logger in ("certpolicy", "pyhanko_certvalidator"):  # refusals are logged; the table says it all
        logging.getLogger(logger).addHandler(logging.NullHandler())
        logging.getLogger(logger).propagate = False

    try:
        suite = args.suite if args.suite is not None else fetch_suite(args.cache, allow_download=not args.no_fetch)
        cases = load_cases(suite)
        anchor = (suite / "certs" / "TrustAnchorRootCertificate.crt").read_bytes()
    except (Unavailable, OSError) as e:
        print(f"run_pkits.py: PKITS unavailable: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.fetch_only:
        print(f"NIST PKITS: {len(cases)} tests in {suite}")
        return 0
    if args.only:
        cases = [c for c in cases if any(c.section == p or c.id.startswith(p) for p in args.only)]
        if not cases:
            print(f"run_pkits.py: no test matches {' or '.join(map(repr, args.only))}", file=sys.stderr)
            return 2
    known = load_known_failures(args.known_failures)
    report = evaluate(cases, anchor, known, crl=not args.no_crl)

    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            for r in [*report.certpolicy, *report.pyhanko]:
                f.write(r.to_json() + "\n")

    dist, version, _ = SOURCE
    print(f"NIST PKITS: {len(cases)} tests from {suite} ({dist} {version} sdist), validation time {VALIDATION_TIME:%Y-%m-%d}")
    for name in ("certpolicy", "pyhanko"):
        print(f"\nharness {name}:\n{summary_table(getattr(report, name))}")
    print(f"\nwall time: {report.wall:.2f} s (both harnesses)")
    ref = {r.id: r for r in report.pyhanko}
    if not args.quiet:
        for label, status in (("bad paths accepted", BAD_ACCEPTED), ("good paths rejected", GOOD_REJECTED), ("skipped", SKIPPED)):
            rows = [r for r in report.certpolicy if r.status == status]
            if rows:
                print(f"certpolicy {label}:")
                for r in rows:
                    tag = "known" if r.id in known else "NEW"
                    print(f"  [{tag}] {r.id} (pyhanko: {ref[r.id].status}): {r.reason}")
        rows = [r for r in report.pyhanko if r.status in (BAD_ACCEPTED, GOOD_REJECTED)]
        if rows:
            print("pyhanko failures (the reference):")
            for r in rows:
                print(f"  {r.id} {r.status}: {r.reason}")
    for case_id in report.fixed:
        print(f"now passing (remove from {args.known_failures.name}): {case_id}")
    for r in report.unexpected:
        print(f"UNEXPECTED {r.status}: {r.id}: {r.reason}")
    print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
