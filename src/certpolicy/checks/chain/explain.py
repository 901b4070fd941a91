"""Explanations of the chain check: why no certification path was found, and what the found path was.

cryptography says *that* path building failed ("candidates exhausted"); the
user needs *which* certificate and *which* rule: the leaf's validity period, a
self-signed certificate that is not a trust anchor, the issuer that is
neither presented nor trusted (with what caIssuers fetching found), the
presented certificates that are out of their validity period, and the CA
certificate that certpolicy's rules refused.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.verification import VerificationError

from ...aia import AiaResult
from ...errors import ChainError, MalformedInput
from ...trust import TrustAnchors
from .parse import extensions_problem, malformed
from .rules import self_signed, subject_text, validity_problem

__all__ = ["PathData", "chain_error", "clean_message", "explain_failure", "role_of"]


def chain_error(
    reason: str, cert: x509.Certificate | None, outcome: str = "invalid", **details: Any
) -> ChainError:
    """A :class:`~certpolicy.errors.ChainError` of the chain check."""
    return ChainError(reason, check="chain", outcome=outcome, certificate=cert, details=details or None)


def clean_message(msg: str) -> str:
    """cryptography's message without its wrapping ("validation failed: ",
    and the "Python extension validator failed: ValueError: " around
    certpolicy's own rules, whose messages say what failed)."""
    msg = msg.strip()
    if msg.startswith("validation failed: "):
        msg = msg[len("validation failed: ") :]
    return msg.replace("Python extension validator failed: ValueError: ", "")


def role_of(i: int, n: int) -> str:
    """``"leaf"``, ``"intermediate"`` or ``"trust anchor"``: the role of
    certificate ``i`` on a path of ``n``."""
    if i == 0:
        return "leaf"
    return "trust anchor" if i == n - 1 else "intermediate"


class PathData(Mapping[str, Any]):
    """``{"path": [subject, ...], "trust_anchor": subject}``, with the subject
    strings of the path made only when read (logs, ``--json``), not on every
    handshake."""

    __slots__ = ("_anchor", "_certs", "_subjects")

    def __init__(self, certs: list[x509.Certificate], anchor: str) -> None:
        self._certs = certs
        self._anchor = anchor
        self._subjects: list[str] | None = None

    def __getitem__(self, key: str) -> Any:
        if key == "trust_anchor":
            return self._anchor
        if key == "path":
            if self._subjects is None:
                self._subjects = [subject_text(c) for c in self._certs]
            return self._subjects
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("path", "trust_anchor"))

    def __len__(self) -> int:
        return 2


def explain_failure(
    error: VerificationError,
    certs: list[x509.Certificate],
    anchors: TrustAnchors,
    at: _dt.datetime,
    aia: AiaResult | None,
) -> ChainError | MalformedInput:
    leaf = certs[0]
    msg = clean_message(str(error))
    if "duplicate extension" in msg or "invalid extension" in msg:
        for i, c in enumerate(certs):
            ext_problem = extensions_problem(c)
            if ext_problem is not None:
                return malformed(f"certificate #{i} of the chain: {ext_problem}", c)
    problem = validity_problem(leaf, at)
    if problem is not None:
        return chain_error(
            f"leaf certificate {subject_text(leaf)!r} {problem[1]} (RFC 5280 §6.1.3(a)(2))",
            leaf,
            problem[0],
            cryptography=msg,
        )
    if len(certs) == 1 and self_signed(leaf) and not anchors.contains(leaf):
        return chain_error(
            f"self-signed certificate {subject_text(leaf)!r} is not a trust anchor of this policy "
            "(to trust this endpoint, add the certificate to the policy's trust.extra, "
            "usually in an override for the endpoint) (RFC 5280 §6.1)",
            leaf,
            "self-signed",
            cryptography=msg,
        )
    if "no interior errors" in msg:
        pool = [*certs, *(aia.certificates if aia is not None else ())]
        subjects = {c.subject.public_bytes() for c in pool}
        missing = [
            c
            for c in pool
            if c.issuer.public_bytes() not in subjects and not anchors.may_issue(c)
        ]
        if missing:
            top = missing[0]
            reason = (
                f"unknown issuer: {subject_text(top)!r} is issued by "
                f"{top.issuer.rfc4514_string()!r}, which is neither presented by the "
                "server nor a trust anchor"
            )
            if aia is not None:
                reason += f" (caIssuers: {aia.describe()})"
            else:
                reason += " (RFC 5280 §6.1; the server may be missing an intermediate)"
            return chain_error(reason, top, "unknown-issuer", cryptography=msg)
    hints = []
    outcome = "invalid"
    for c in certs[1:]:
        p = validity_problem(c, at)
        if p is not None:
            hints.append(f"presented certificate {subject_text(c)!r} {p[1]}")
            if "not valid at validation time" in msg and outcome == "invalid":
                outcome = p[0]
    if outcome == "invalid" and "not valid at validation time" in msg:
        outcome = "expired"
    reason = f"no valid certification path from {subject_text(leaf)!r} to a trust anchor: {msg}"
    if hints:
        reason += "; " + "; ".join(hints)
    if aia is not None and aia.errors:
        reason += f" (caIssuers: {aia.describe()})"
    # certpolicy's own CA rules name the certificate they refused
    culprit = next((c for c in certs[1:] if f"CA certificate {subject_text(c)!r}" in msg), leaf)
    return chain_error(reason, culprit, outcome, cryptography=msg)
