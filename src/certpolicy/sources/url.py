"""An HTTPS URL serving a policy table document, fetched through the certpolicy context itself.

:class:`UrlSource` downloads a JSON or TOML table document (the
:meth:`PolicyTable.from_dict` shape) over HTTPS. The connection is checked by
the certpolicy context it is given, under the policy that the table in force
resolves for that URL (at the first fetch, the bootstrap table), so a policy
server is trusted exactly as the table says. Conditional requests
(``If-None-Match`` with the last ``ETag``) make an unchanged table cost one
``304``; every fetch has a connect, read and total timeout and a byte cap.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ..errors import CertPolicyError
from ..fetch import FetchError, FetchResponse, FetchTooLarge, fetch
from ..integrations._url import REQUEST_URL
from ..policy import FetchLimits
from ..table import PolicyTable
from ..tablediff import document_digest
from .base import PolicySourceError, SourceResult, parse_document, table_from_document

__all__ = ["SOURCE_FETCH_DEFAULTS", "UrlSource", "auth_header", "https_get"]

#: Bounds of one policy download: 5 s connect, 15 s between reads, 30 s in
#: all, 8 MiB, 3 redirects.
SOURCE_FETCH_DEFAULTS = FetchLimits(5.0, 15.0, 30.0, 8 * 1024 * 1024, 3)


def auth_header(*, user: str | None = None, password: str | None = None, token: str | None = None) -> dict[str, str]:
    """The ``Authorization`` header for HTTP basic (``user``/``password``,
    RFC 7617) or OAuth bearer (``token``, RFC 6750) credentials; ``{}`` for none.

    Raises:
        ValueError: both a token and a user are given, or a user without password.
    """
    if token is not None and user is not None:
        raise ValueError("give either a bearer token or a user and password, not both")
    if token is not None:
        return {"Authorization": f"Bearer {token}"}
    if user is not None:
        if password is None:
            raise ValueError("a user needs a password")
        raw = f"{user}:{password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    return {}


def https_get(
    url: str, ctx: Any, *, limits: FetchLimits, headers: Mapping[str, str] | None = None, accept: str = "application/json"
) -> FetchResponse:
    """GET ``url`` over HTTPS through the certpolicy context ``ctx``, bounded
    by ``limits`` (seconds, bytes).

    Returns:
        the :class:`~certpolicy.fetch.FetchResponse` (status 304 with an
        empty body when ``If-None-Match`` matched).

    Raises:
        PolicySourceError: not an ``https`` URL (redirects to ``http`` are
            refused too; a redirect to another ``https`` origin is followed,
            checked under the policy of that origin, without the
            ``Authorization`` header), the connection was refused
            by the policy in force (the message says which check), a timeout,
            an HTTP error status or an oversized answer.
    """
    if urllib.parse.urlsplit(url).scheme != "https":
        raise PolicySourceError(url, "policy sources are fetched over https only")
    token = REQUEST_URL.set(url)
    try:
        return fetch(url, limits=limits, accept=accept, headers=headers, ssl_context=ctx, https_only=True)
    except FetchTooLarge as e:
        raise PolicySourceError(url, f"the answer is too large: {e.reason}") from None
    except FetchError as e:
        cause = e.__context__
        while cause is not None and not isinstance(cause, CertPolicyError):
            cause = cause.__context__
        if isinstance(cause, CertPolicyError):
            raise PolicySourceError(url, f"the connection was refused by the policy in force: {cause}") from None
        raise PolicySourceError(url, e.reason) from None
    except CertPolicyError as e:
        raise PolicySourceError(url, f"the connection was refused by the policy in force: {e}") from None
    finally:
        REQUEST_URL.reset(token)


class UrlSource:
    """An HTTPS URL serving a table document (JSON or TOML).

    Args:
        url: the ``https://`` URL.
        ctx: the :class:`~certpolicy.context.PolicySSLContext` the fetch goes
            through (normally the one the sync updates).
        headers: extra request headers (``Authorization`` ...; see :func:`auth_header`).
        limits: timeouts (seconds) and byte cap (bytes); default
            :data:`SOURCE_FETCH_DEFAULTS`.
        interval: seconds between two polls when the sync names none (300).
    """

    remote = True

    def __init__(
        self,
        url: str,
        ctx: Any,
        *,
        headers: Mapping[str, str] | None = None,
        limits: FetchLimits = SOURCE_FETCH_DEFAULTS,
        interval: float = 300.0,
    ) -> None:
        self.url = url
        self.name = url
        self.ctx = ctx
        self.headers = dict(headers or {})
        self.limits = limits
        self.default_interval = float(interval)
        self._etag: str | None = None
        self._digest: str | None = None

    def __repr__(self) -> str:
        return f"UrlSource({self.url!r})"

    def fetch(self) -> SourceResult:
        """Download the document (conditionally, with the last ``ETag``).

        Raises:
            PolicySourceError: see :func:`https_get`; an undecodable answer.
            PolicyConfigError: the document holds an invalid table.
        """
        headers = dict(self.headers)
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        resp = https_get(self.url, self.ctx, limits=self.limits, headers=headers, accept="application/json, application/toml")
        if resp.status == 304:
            return SourceResult(changed=False, digest=self._digest or "", detail=f"304 Not Modified, ETag {self._etag}")
        document = parse_document(resp.body, resp.content_type, self.url)
        digest = document_digest(document)
        etag = resp.headers.get("etag")
        if digest == self._digest:
            self._etag = etag
            return SourceResult(changed=False, digest=digest, detail="same document")
        table = table_from_document(document, self.url)
        return SourceResult(
            changed=True,
            table=table,
            document=document,
            digest=digest,
            detail=f"ETag {etag}" if etag else "",
            state=(etag, digest),
        )

    def commit(self, result: SourceResult) -> None:
        """Remember the ``ETag`` and digest once the table is in force (a
        refused table is downloaded again at the next poll)."""
        if result.state is not None:
            self._etag, self._digest = result.state

    def load_document(self, document: Any) -> PolicyTable:
        """The table of a document this source returned before.

        Raises:
            PolicyConfigError: an invalid table.
        """
        return table_from_document(document, self.url)
