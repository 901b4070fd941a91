"""Shared helpers of the CRL tests (tests/test_crl*.py): policies, contexts and
a small private PKI built with certpolicy.pki."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certpolicy.checks.base import CheckContext
from certpolicy.checks.crl import CrlCheck
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import (
    SOFT_FAIL_OUTCOME_MAP,
    CheckMode,
    FetchLimits,
    Policy,
    PolicyKind,
    RetryPolicy,
    RevocationSettings,
)
from certpolicy.revocation.cache import RevocationCache

UTC = _dt.timezone.utc
#: the bug cases' reference time
AT = _dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "crl"

#: small bounds so that failure tests end quickly
FAST_LIMITS = FetchLimits(connect_timeout=0.5, read_timeout=0.5, total_timeout=1.5, max_bytes=1_000_000)
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, jitter=0.1, deadline=5.0)


def bugcase(case_id: str) -> dict[str, Any]:
    return json.loads((DATA / "bugcases_crl.json").read_text())[case_id]  # type: ignore[no-any-return]


def hours(n: float) -> _dt.timedelta:
    return _dt.timedelta(hours=n)


def days(n: float) -> _dt.timedelta:
    return _dt.timedelta(days=n)


def settings(**kw: Any) -> RevocationSettings:
    kw.setdefault("crl_limits", FAST_LIMITS)
    kw.setdefault("retry", FAST_RETRY)
    soft = kw.pop("soft", False)
    s = RevocationSettings(**kw)
    if soft:
        s = replace(s, outcomes=SOFT_FAIL_OUTCOME_MAP)
    return s


def policy(name: str = "internet", *, soft: bool = False, **rev: Any) -> Policy:
    return Policy(
        name=name,
        kind=PolicyKind.INTERNET,
        crl=CheckMode.ENFORCE,
        revocation=settings(soft=soft, **rev),
    )


def context(
    path: list[x509.Certificate],
    pol: Policy,
    *,
    at: _dt.datetime = AT,
    allow_network: bool = True,
    host: str | None = "www.example.test",
) -> CheckContext:
    return CheckContext(
        host=host, chain=list(path), policy=pol, at=at, verified_path=list(path), allow_network=allow_network
    )


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(Encoding.DER)


def pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(Encoding.PEM)


@dataclass
class Pki:
    root: CA
    inter: CA
    leaf: IssuedCert
    other: IssuedCert

    @property
    def path(self) -> list[x509.Certificate]:
        return [self.leaf.cert, self.inter.cert, self.root.cert]

    @property
    def other_path(self) -> list[x509.Certificate]:
        return [self.other.cert, self.inter.cert, self.root.cert]


def build_pki(leaf_crl_url: str | None = "http://crl.example.test/inter.crl", inter_crl_url: str | None = None) -> Pki:
    root = CA.create("CRL Test Root", not_before=AT - days(400), not_after=AT + days(3000))
    inter = root.create_intermediate(
        "CRL Test Intermediate", crl_url=inter_crl_url, not_before=AT - days(300), not_after=AT + days(2000)
    )
    leaf = inter.issue_server(
        "www.example.test", crl_url=leaf_crl_url, not_before=AT - days(30), not_after=AT + days(300)
    )
    other = inter.issue_server(
        "other.example.test", crl_url=leaf_crl_url, not_before=AT - days(30), not_after=AT + days(300)
    )
    return Pki(root, inter, leaf, other)


def crl_check(tmp_path: Path, **kw: Any) -> CrlCheck:
    """A CrlCheck with a private cache under tmp_path and a fixed wall clock."""
    kw.setdefault("cache", RevocationCache(tmp_path / "cache"))
    kw.setdefault("clock", lambda: AT)
    return CrlCheck(**kw)
