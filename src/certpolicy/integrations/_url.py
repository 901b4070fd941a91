"""The request URL, handed from an integration to the SSL context.

The bare ``ssl.SSLContext`` only sees host and port; integrations that know
the URL set :data:`REQUEST_URL` around the request so the handshake resolves
the policy with URL-path rules (SPEC "Target matching and precedence")."""

from __future__ import annotations

import contextvars

REQUEST_URL: contextvars.ContextVar[str | None] = contextvars.ContextVar("certpolicy_request_url", default=None)
