"""Adapters that plug a certpolicy context into HTTP clients.

* :mod:`certpolicy.integrations.requests`: ``PolicyAdapter`` and ``session()``;
* :mod:`certpolicy.integrations.urllib3`: ``PolicyPoolManager``;
* :mod:`certpolicy.integrations.httpx`: ``PolicyTransport``, ``AsyncPolicyTransport``,
  ``client()`` and ``async_client()``;
* :mod:`certpolicy.integrations.aiohttp`: ``connector()`` and ``session()``.

The requests, urllib3 and httpx integrations know the full URL, so URL-path
rules apply, and they key their connection pools by policy: a connection
verified under one policy is never reused for a request under another. The
requests and urllib3 integrations also resolve the host's address themselves
and pin the connection to it, so the address the policy was chosen for is the
address connected to (also for intranet ranges and CIDR overrides).
Each module imports its client library only when used.
"""
