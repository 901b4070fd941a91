"""Revocation data: OCSP and CRL fetching, parsing, verification, caches and background refresh (the checks are in certpolicy.checks)."""
