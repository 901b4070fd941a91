#!/usr/bin/env python3
"""Run the x509-limbo conformance suite through certpolicy's public checks.

Usage::

    python tests/conformance/run_limbo.py [PATH] [--json OUT] [--only PREFIX]
                                          [--harness certpolicy|cryptography]
                                          [--known-failures FILE] [--quiet]

``PATH`` is an x509-limbo file (schema version 1, ``.json`` or ``.json.gz``);
default ``../shared/conformance/limbo.json.gz`` relative to the repository root
(CI has the same layout: the repo clone and a ``shared`` folder beside it).

Every case goes through the public checks, as an application would use them:

* :class:`certpolicy.ChainCheck` with the case's trusted certificates as the
  only trust anchors, its untrusted intermediates, validation time, maximum
  chain depth and extended key usage (``serverAuth`` for SERVER cases,
  ``clientAuth`` for CLIENT cases unless the case says otherwise);
* :class:`certpolicy.HostnameCheck` (``cn_fallback="never"``, as the suite
  expects) on the leaf, with the case's DNS or IP peer name. The verdict is
  the conjunction of the checks; the cheap hostname check runs first (as
  cryptography's ServerVerifier checks the leaf's name before building a
  path), so a case whose name does not match costs no path building;
* ``certpolicy.checks.crl.CrlCheck`` for cases with CRLs, when it is
  importable and usable; otherwise those cases are skipped naming "CRL support".

Each case is timed; a case that takes longer than ``MAX_CASE_SECONDS`` (1 s)
counts as a failure. The script prints a table by id prefix (pass, bad chain
accepted, good chain rejected, skipped), the slowest case, and writes one JSON
line per case with ``--json`` (``id``, ``expected``, ``actual``, ``status``,
``reason``, ``seconds``).

``known_failures.json`` (beside this script) lists the cases certpolicy is
known to get wrong, each with its reason. The exit status is 0 when every
other case passes or is skipped and no case is too slow, 1 otherwise (the
unexpected cases are listed), 2 for usage errors. A known failure that now
passes is reported (remove it from the file) but does not fail the run.

``--harness cryptography`` runs the bare cryptography ``ServerVerifier`` /
``ClientVerifier`` on the same cases instead (the reference for
``benchmarks/bench_conformance.py`` and for "no case that cryptography passes
may fail").
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gzip
import ipaddress
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certpolicy.oids import EKU_NAMES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIMBO = REPO_ROOT.parent / "shared" / "conformance" / "limbo.json.gz"
KNOWN_FAILURES = Path(__file__).resolve().with_name("known_failures.json")
MAX_CASE_SECONDS = 1.0

PASS = "pass"
BAD_ACCEPTED = "bad-accepted"
GOOD_REJECTED = "good-rejected"
SKIPPED = "skipped"

#: limbo's extended key usage names are RFC 5280's.
EKUS = EKU_NAMES


@dataclass
class CaseResult:
    """The outcome of one case."""

    id: str
    expected: str
    actual: str  # SUCCESS, FAILURE or SKIPPED
    status: str  # pass, bad-accepted, good-rejected, skipped
    reason: str
    seconds: float
    profile: str = "webpki"  # the validation profile the case was scored under

    def to_json(self) -> str:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 6)
        return json.dumps(d, ensure_ascii=False)


#: Case id prefixes scored under the rfc5280 profile; every other case (webpki::,
#: cve::, BetterTLS, pathlen::, pathological::, crl::, ...) is scored under
#: webpki, the profile of internet policies.
RFC5280_PREFIXES = ("rfc5280::",)
#: limbo features that put a case under the rfc5280 profile whatever its prefix.
RFC5280_FEATURES = frozenset({"rfc5280-incompatible-with-webpki"})


def profile_of(tc: dict[str, Any]) -> str:
    """The validation profile whose rules a limbo case tests: ``"rfc5280"``
    for ``rfc5280::`` cases and cases limbo tags
    ``rfc5280-incompatible-with-webpki``, ``"webpki"`` for the rest (the
    ``pedantic-*`` features name Web PKI rules)."""
    features = set(tc.get("features") or ())
    if features & RFC5280_FEATURES or str(tc.get("id", "")).startswith(RFC5280_PREFIXES):
        return "rfc5280"
    return "webpki"


class Skip(Exception):
    """The case needs a feature certpolicy does not have (the message names it)."""


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_cases(path: Path) -> list[dict[str, Any]]:
    """Read an x509-limbo file (``.json`` or ``.json.gz``) and return its cases."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if data.get("version") != 1:
        raise ValueError(f"{path}: unsupported x509-limbo schema version {data.get('version')!r}")
    cases: list[dict[str, Any]] = data["testcases"]
    return cases


def load_known_failures(path: Path) -> dict[str, str]:
    """``{case id: reason}`` from the known-failures file (missing file: empty)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.get("known_failures", {}).items()}


def _pem_certs(items: Iterable[str]) -> list[x509.Certificate]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # negative-serial deprecation warnings
        return [x509.load_pem_x509_certificate(p.encode()) for p in items]


def _time(tc: dict[str, Any]) -> dt.datetime | None:
    value = tc.get("validation_time")
    if not value:
        return None
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _eku(tc: dict[str, Any]) -> x509.ObjectIdentifier:
    ekus = tc.get("extended_key_usage") or []
    if not ekus:
        return (
            ExtendedKeyUsageOID.CLIENT_AUTH
            if tc.get("validation_kind") == "CLIENT"
            else ExtendedKeyUsageOID.SERVER_AUTH
        )
    if len(ekus) > 1:
        raise Skip(f"several required EKUs at once ({', '.join(ekus)})")
    name = ekus[0]
    if name not in EKUS:
        raise Skip(f"required EKU {name!r}")
    return EKUS[name]


def _common_skips(tc: dict[str, Any]) -> None:
    if tc.get("signature_algorithms"):
        raise Skip("signature algorithm restrictions per validation")
    if tc.get("key_usage"):
        raise Skip("required keyUsage bits per validation")


# ---------------------------------------------------------------------------
# The certpolicy harness
# ---------------------------------------------------------------------------


def _crl_factory() -> Callable[[dict[str, Any], list[x509.Certificate]], Any] | None:
    """Return a function running certpolicy's CrlCheck on a validated path, or
    ``None`` when no usable CrlCheck exists yet."""
    try:
        from certpolicy.checks.crl import CrlCheck  # type: ignore[import-not-found,unused-ignore]
    except Exception:
        return None

    def run_crl(tc: dict[str, Any], path: list[x509.Certificate]) -> None:
        from certpolicy.checks.base import CheckContext
        from certpolicy.policy import CheckMode, Policy, PolicyKind

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crls = [x509.load_pem_x509_crl(p.encode()) for p in tc.get("crls") or []]
        try:
            check = CrlCheck(crls=crls)
        except TypeError as e:
            raise Skip(f"CRL support (CrlCheck cannot take in-memory CRLs: {e})") from None
        policy = Policy(name="limbo", kind=PolicyKind.OVERRIDE, crl=CheckMode.ENFORCE)
        ctx = CheckContext(
            host=None,
            chain=path,
            policy=policy,
            at=_time(tc) or dt.datetime.now(dt.timezone.utc),
            verified_path=path,
            allow_network=False,
        )
        result = check.run(ctx)
        if getattr(result, "passed", True) is False:
            from certpolicy.errors import RevocationError

            raise RevocationError(result.detail or result.outcome, check="crl", outcome=result.outcome)

    return run_crl


class CertpolicyHarness:
    """Runs cases through ChainCheck, HostnameCheck and (if present) CrlCheck."""

    name = "certpolicy"

    def __init__(self) -> None:
        from certpolicy.checks.chain import ChainCheck
        from certpolicy.checks.hostname import HostnameCheck

        self._chain_cls = ChainCheck
        self._hostname = HostnameCheck(cn_fallback="never")
        self._crl = _crl_factory()

    def evaluate(self, tc: dict[str, Any]) -> tuple[str, str]:
        from certpolicy.errors import CertPolicyError

        _common_skips(tc)
        eku = _eku(tc)
        has_crl = bool(tc.get("crls")) or "has-crl" in (tc.get("features") or [])
        if has_crl and self._crl is None:
            raise Skip("CRL support (certpolicy.checks.crl.CrlCheck is not available)")
        peer = tc.get("expected_peer_name")
        if tc.get("validation_kind") == "SERVER" and peer and peer.get("kind") not in ("DNS", "IP"):
            raise Skip(f"{peer.get('kind')} peer names")
        anchors = _pem_certs(tc.get("trusted_certs") or [])
        leaf_pem = tc["peer_certificate"].encode()
        inter_pems = [p.encode() for p in tc.get("untrusted_intermediates") or []]
        profile = profile_of(tc)
        check = self._chain_cls(
            anchors=anchors, max_chain_depth=tc.get("max_chain_depth"), eku=eku, profile=profile
        )
        host = peer["value"] if tc.get("validation_kind") == "SERVER" and peer else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if host is not None:
                    # The verdict is the conjunction of both checks; the cheap
                    # one runs first (cryptography's ServerVerifier also checks
                    # the leaf's name before it builds a path).
                    leaf = x509.load_pem_x509_certificate(leaf_pem)
                    self._hostname.check(leaf, host, profile=profile)
                path = check.check([leaf_pem, *inter_pems], host, at=_time(tc), allow_network=False)
                if has_crl and self._crl is not None:
                    self._crl(tc, path)
        except CertPolicyError as e:
            return "FAILURE", f"{type(e).__name__}({e.outcome}): {e.reason}"
        return "SUCCESS", f"path of {len(path)} certificate(s)"


class CryptographyHarness:
    """The bare cryptography verifier on the same cases (the reference)."""

    name = "cryptography"

    def evaluate(self, tc: dict[str, Any]) -> tuple[str, str]:
        from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

        _common_skips(tc)
        if tc.get("crls") or "has-crl" in (tc.get("features") or []):
            raise Skip("CRL support (cryptography has none)")
        eku = _eku(tc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            anchors = _pem_certs(tc.get("trusted_certs") or [])
            inter = _pem_certs(tc.get("untrusted_intermediates") or [])
            leaf = _pem_certs([tc["peer_certificate"]])[0]
        builder = PolicyBuilder().store(Store(anchors))
        at = _time(tc)
        if at is not None:
            builder = builder.time(at)
        if tc.get("max_chain_depth") is not None:
            builder = builder.max_chain_depth(tc["max_chain_depth"])
        try:
            if tc.get("validation_kind") == "CLIENT":
                if eku != ExtendedKeyUsageOID.CLIENT_AUTH:
                    raise Skip("non-clientAuth EKU for client validation")
                builder.build_client_verifier().verify(leaf, inter)
            else:
                if eku != ExtendedKeyUsageOID.SERVER_AUTH:
                    raise Skip("non-serverAuth EKU for server validation")
                peer = tc.get("expected_peer_name")
                if not peer:
                    return "FAILURE", "ServerVerifier needs a peer name"
                if peer["kind"] == "DNS":
                    subject: Any = x509.DNSName(peer["value"])
                elif peer["kind"] == "IP":
                    subject = x509.IPAddress(ipaddress.ip_address(peer["value"]))
                else:
                    raise Skip(f"{peer['kind']} peer names")
                builder.build_server_verifier(subject).verify(leaf, inter)
        except (VerificationError, ValueError) as e:
            return "FAILURE", f"{type(e).__name__}: {e}"
        return "SUCCESS", "chain built"


HARNESSES: dict[str, Callable[[], Any]] = {
    "certpolicy": CertpolicyHarness,
    "cryptography": CryptographyHarness,
}


# ---------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------


def run_cases(cases: Sequence[dict[str, Any]], harness: Any) -> list[CaseResult]:
    """Evaluate every case and classify it; an unexpected exception inside the
    harness is a failure of the case (never a crash of the run)."""
    results: list[CaseResult] = []
    for tc in cases:
        expected = tc["expected_result"]
        start = time.perf_counter()
        try:
            actual, reason = harness.evaluate(tc)
        except Skip as e:
            actual, reason = "SKIPPED", f"skipped: {e}"
        except Exception as e:  # a crash is a rejection, and is reported as such
            actual, reason = "FAILURE", f"unhandled {type(e).__name__}: {e}"
        seconds = time.perf_counter() - start
        if actual == "SKIPPED":
            status = SKIPPED
        elif actual == expected:
            status = PASS
        elif actual == "SUCCESS":
            status = BAD_ACCEPTED
        else:
            status = GOOD_REJECTED
        results.append(CaseResult(tc["id"], expected, actual, status, reason, seconds, profile_of(tc)))
    return results


def _prefix(case_id: str) -> str:
    return case_id.split("::", 1)[0]


def summary_tables(results: Sequence[CaseResult]) -> str:
    """One :func:`summary_table` per validation profile, each headed
    ``profile webpki:`` / ``profile rfc5280:``."""
    out = []
    for profile in ("webpki", "rfc5280"):
        mine = [r for r in results if r.profile == profile]
        if mine:
            out.append(f"profile {profile}:\n{summary_table(mine)}")
    return "\n\n".join(out) if out else summary_table([])


def summary_table(results: Sequence[CaseResult]) -> str:
    """A text table by id prefix: cases, pass, bad accepted, good rejected, skipped."""
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in results:
        rows[_prefix(r.id)][r.status] += 1
        rows["TOTAL"][r.status] += 1
    header = ("prefix", "cases", "pass", "bad chain accepted", "good chain rejected", "skipped")
    lines = [header]
    prefixes = sorted(k for k in rows if k != "TOTAL")
    for name in [*prefixes, "TOTAL"]:
        c = rows[name]
        total = sum(c.values())
        lines.append(
            (name, str(total), str(c[PASS]), str(c[BAD_ACCEPTED]), str(c[GOOD_REJECTED]), str(c[SKIPPED]))
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = []
    for i, row in enumerate(lines):
        out.append(
            "  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row))
        )
        if i == 0 or (prefixes and row[0] == prefixes[-1]):
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


@dataclass
class Report:
    """What :func:`evaluate` found."""

    results: list[CaseResult]
    unexpected: list[CaseResult]
    fixed: list[str]
    slow: list[CaseResult]
    wall: float

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.slow

    def counts(self) -> dict[str, int]:
        c = collections.Counter(r.status for r in self.results)
        return {k: c[k] for k in (PASS, BAD_ACCEPTED, GOOD_REJECTED, SKIPPED)}

    @property
    def slowest(self) -> CaseResult | None:
        return max(self.results, key=lambda r: r.seconds, default=None)


def evaluate(
    cases: Sequence[dict[str, Any]],
    harness: Any,
    known: dict[str, str],
) -> Report:
    """Run ``cases`` and compare with the known failures."""
    start = time.perf_counter()
    results = run_cases(cases, harness)
    wall = time.perf_counter() - start
    unexpected = [r for r in results if r.status in (BAD_ACCEPTED, GOOD_REJECTED) and r.id not in known]
    fixed = [r.id for r in results if r.id in known and r.status in (PASS, SKIPPED)]
    slow = [r for r in results if r.seconds > MAX_CASE_SECONDS]
    return Report(results, unexpected, fixed, slow, wall)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_limbo.py", description="Run x509-limbo cases through certpolicy's checks."
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_LIMBO, help="limbo.json(.gz)")
    parser.add_argument("--json", dest="json_out", type=Path, help="write one JSON line per case here")
    parser.add_argument("--only", action="append", default=[], metavar="PREFIX", help="only ids starting with PREFIX (repeatable)")
    parser.add_argument("--harness", choices=sorted(HARNESSES), default="certpolicy")
    parser.add_argument("--known-failures", type=Path, default=KNOWN_FAILURES)
    parser.add_argument("--quiet", action="store_true", help="print only the table and the verdict")
    args = parser.parse_args(argv)
    # The checks log revocations and refusals at WARNING; the table says it all.
    logging.getLogger("certpolicy").addHandler(logging.NullHandler())
    logging.getLogger("certpolicy").propagate = False

    if not args.path.exists():
        print(f"run_limbo.py: {args.path}: no such file", file=sys.stderr)
        return 2
    try:
        cases = load_cases(args.path)
    except (OSError, ValueError, KeyError) as e:
        print(f"run_limbo.py: {args.path}: {e}", file=sys.stderr)
        return 2
    if args.only:
        cases = [c for c in cases if any(c["id"].startswith(p) for p in args.only)]
        if not cases:
            print(f"run_limbo.py: no case id starts with {' or '.join(map(repr, args.only))}", file=sys.stderr)
            return 2
    known = load_known_failures(args.known_failures) if args.harness == "certpolicy" else {}
    harness = HARNESSES[args.harness]()
    report = evaluate(cases, harness, known)

    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            for r in report.results:
                f.write(r.to_json() + "\n")

    print(f"x509-limbo: {len(cases)} cases from {args.path} (harness: {harness.name})")
    print(summary_tables(report.results))
    slowest = report.slowest
    if slowest is not None:
        print(f"slowest case: {slowest.id} {slowest.seconds * 1000:.1f} ms (limit {MAX_CASE_SECONDS * 1000:.0f} ms)")
    print(f"wall time: {report.wall:.2f} s")
    if not args.quiet:
        bad = [r for r in report.results if r.status == BAD_ACCEPTED]
        if bad:
            print("bad chains accepted:")
            for r in bad:
                tag = "known" if r.id in known else "NEW"
                print(f"  [{tag}] {r.id}: {known.get(r.id, r.reason)}")
        good = [r for r in report.results if r.status == GOOD_REJECTED]
        if good:
            print("good chains rejected:")
            for r in good:
                tag = "known" if r.id in known else "NEW"
                print(f"  [{tag}] {r.id}: {r.reason}")
    for case_id in report.fixed:
        print(f"now passing (remove from {args.known_failures.name}): {case_id}")
    for r in report.slow:
        print(f"TOO SLOW: {r.id} took {r.seconds:.3f} s (limit {MAX_CASE_SECONDS} s)")
    if args.harness != "certpolicy":
        # a reference to compare with: its failures are in the table and the
        # JSON lines; the known-failures file is certpolicy's
        print(f"reference harness {args.harness}: exit status 0 whatever fails")
        return 0
    for r in report.unexpected:
        print(f"UNEXPECTED {r.status}: {r.id}: {r.reason}")
    print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
