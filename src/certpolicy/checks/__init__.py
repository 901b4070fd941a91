"""Checks: the chain, hostname, OCSP and CRL checks, and the protocol that user
checks implement (:class:`Check`)."""

from .base import Check, CheckContext, CheckResult, RevocationSource, RevocationStatus

__all__ = ["Check", "CheckContext", "CheckResult", "RevocationSource", "RevocationStatus"]
