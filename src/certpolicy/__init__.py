"""certpolicy: per-endpoint TLS certificate-check policies.

Decide, for every outgoing TLS connection, which certificate-check policy
applies to the endpoint (:class:`PolicyResolver` over a :class:`PolicyTable`)
and enforce it (chain, hostname, OCSP, CRL) through an ``ssl.SSLContext``
made by :func:`create_ssl_context`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    CertificateRevoked,
    CertPolicyError,
    ChainError,
    CheckCrashed,
    ClientCertificateError,
    HostnameMismatch,
    MalformedInput,
    PolicyConfigError,
    RevocationError,
    policy_error_of,
)
from .policy import Action, CheckMode, Outcome, Policy, PolicyKind

__version__ = "0.1.0"

# Names provided by modules that are imported on first use.
_LAZY = {
    "PolicyTable": "certpolicy.table",
    "MidConfig": "certpolicy.midconfig",
    "PolicyResolver": "certpolicy.resolver",
    "Resolution": "certpolicy.resolver",
    "ChainCheck": "certpolicy.checks.chain",
    "HostnameCheck": "certpolicy.checks.hostname",
    "OcspCheck": "certpolicy.checks.ocsp",
    "CrlCheck": "certpolicy.checks.crl",
    "RevocationCheck": "certpolicy.checks.revocation",
    "Verifier": "certpolicy.engine",
    "Verdict": "certpolicy.engine",
    "create_ssl_context": "certpolicy.context",
    "PolicySSLContext": "certpolicy.context",
    "verdict_of": "certpolicy.context",
    "CA": "certpolicy.pki",
    "IssuedCert": "certpolicy.pki",
    "ClientIdentity": "certpolicy.identity",
    "lint_client_certificate": "certpolicy.clientcert",
    "LintReport": "certpolicy.clientcert",
    "Finding": "certpolicy.clientcert",
    "PublicCATable": "certpolicy.clientcert",
}

__all__ = [
    "Action",
    "CertPolicyError",
    "CertificateRevoked",
    "ChainError",
    "CheckCrashed",
    "CheckMode",
    "ClientCertificateError",
    "HostnameMismatch",
    "MalformedInput",
    "Outcome",
    "Policy",
    "PolicyConfigError",
    "PolicyKind",
    "RevocationError",
    "__version__",
    "policy_error_of",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'certpolicy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
