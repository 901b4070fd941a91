"""Shared helpers of the OCSP tests (tests/test_ocsp*.py, tests/test_revocation_order.py):
a small private PKI built with certpolicy.pki, policies and contexts."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from certpolicy.checks.base import CheckContext
from certpolicy.checks.ocsp import OcspCheck
from certpolicy.pki import CA, IssuedCert
from certpolicy.policy import (
    SOFT_FAIL_OUTCOME_MAP,
    CheckMode,
    FetchLimits,
    Policy,
    PolicyKind,
    RevocationSettings,
)
from certpolicy.revocation.cache import RevocationCache

UTC = _dt.timezone.utc
#: the bug cases' reference time, used as the injected validation time
AT = _dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "ocsp"

#: small bounds so that failure tests end quickly
FAST_LIMITS = FetchLimits(connect_timeout=0.5, read_timeout=0.7, total_timeout=0.7, max_bytes=1_000_000)


def bugcase(case_id: str) -> dict[str, Any]:
    """A bug case copied from the shared catalogue (``"BR-16"`` -> tests/data/ocsp/br16.json)."""
    return json.loads((DATA / f"{case_id.lower().replace('-', '')}.json").read_text())  # type: ignore[no-any-return]


def case_der(b64: str) -> bytes:
    return base64.b64decode(b64)


def case_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def days(n: float) -> _dt.timedelta:
    return _dt.timedelta(days=n)


def settings(*, soft: bool = False, **kw: Any) -> RevocationSettings:
    kw.setdefault("ocsp_limits", FAST_LIMITS)
    s = RevocationSettings(**kw)
    if soft:
        s = replace(s, outcomes=SOFT_FAIL_OUTCOME_MAP)
    return s


def policy(
    name: str = "internet",
    *,
    ocsp: CheckMode = CheckMode.ENFORCE,
    crl: CheckMode = CheckMode.OFF,
    soft: bool = False,
    **rev: Any,
) -> Policy:
    return Policy(name=name, kind=PolicyKind.INTERNET, ocsp=ocsp, crl=crl, revocation=settings(soft=soft, **rev))


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


@dataclass
class Pki:
    root: CA
    inter: CA
    leaf: IssuedCert

    @property
    def path(self) -> list[x509.Certificate]:
        return [self.leaf.cert, self.inter.cert, self.root.cert]


def build_pki(
    ocsp_url: str | None,
    *,
    at: _dt.datetime = AT,
    inter_ocsp_url: str | None = None,
    crl_url: str | None = None,
    name: str = "www.example.test",
) -> Pki:
    """Root -> intermediate -> leaf, valid around ``at``; the leaf names
    ``ocsp_url`` (and ``crl_url``) in its AIA (CDP)."""
    root = CA.create("OCSP Test Root", not_before=at - days(400), not_after=at + days(3000))
    inter = root.create_intermediate(
        "OCSP Test Issuing CA", ocsp_url=inter_ocsp_url, not_before=at - days(300), not_after=at + days(2000)
    )
    leaf = issue_leaf(inter, ocsp_url, at=at, crl_url=crl_url, name=name)
    return Pki(root, inter, leaf)


def issue_leaf(
    ca: CA, ocsp_url: str | None, *, at: _dt.datetime = AT, crl_url: str | None = None, name: str = "www.example.test"
) -> IssuedCert:
    return ca.issue_server(name, ocsp_url=ocsp_url, crl_url=crl_url, not_before=at - days(30), not_after=at + days(300))


def responder_cert(ca: CA, *, at: _dt.datetime = AT, **kw: Any) -> IssuedCert:
    """A delegated responder certificate issued by ``ca`` (nocheck and EKU by default)."""
    kw.setdefault("not_before", at - days(10))
    kw.setdefault("not_after", at + days(60))
    return ca.issue_ocsp_responder("OCSP Responder of " + ca.name, **kw)


def ocsp_check(tmp_path: Path | None = None, **kw: Any) -> OcspCheck:
    """An OcspCheck with a private cache (memory only, or under tmp_path)."""
    kw.setdefault("cache", RevocationCache(tmp_path / "cache" if tmp_path is not None else None))
    return OcspCheck(**kw)


def closed_port_url(path: str = "/") -> str:
    """An http://127.0.0.1 URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
