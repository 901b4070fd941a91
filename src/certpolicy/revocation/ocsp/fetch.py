"""The OCSP exchange with a responder: one bounded HTTP GET (small requests,
RFC 6960 appendix A.1, RFC 5019 §5) or POST through an injectable fetcher."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from typing import Protocol

from ...fetch import FetchHTTPStatus, FetchResponse
from ...policy import FetchLimits
from .request import OcspRequest

log = logging.getLogger("certpolicy.ocsp")

#: Largest encoded request (bytes) sent with GET: RFC 5019 §5 says "less than
#: 255 bytes"; larger requests go out as POST.
GET_MAX_URL_BYTES = 255

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"


def get_url(base_url: str, der: bytes) -> str | None:
    """The GET form of a request (RFC 6960 appendix A.1): ``base_url`` + ``/``
    + the URL-encoded base64 of the DER request, or ``None`` when that encoding
    is 255 bytes or more (RFC 5019 §5) and the request must go as POST."""
    encoded = urllib.parse.quote(base64.b64encode(der).decode("ascii"), safe="")
    if len(encoded) >= GET_MAX_URL_BYTES:
        return None
    return base_url.rstrip("/") + "/" + encoded


class Fetcher(Protocol):
    """The signature of :func:`certpolicy.fetch.fetch` (injectable for tests
    and for callers with their own HTTP stack)."""

    def __call__(
        self,
        url: str,
        *,
        limits: FetchLimits,
        method: str = ...,
        body: bytes | None = ...,
        content_type: str | None = ...,
        accept: str | None = ...,
        deadline: float | None = ...,
    ) -> FetchResponse: ...


def fetch_response(
    url: str,
    request: OcspRequest,
    *,
    limits: FetchLimits,
    fetcher: Fetcher,
    deadline: float | None = None,
    allow_get: bool = True,
) -> bytes:
    """Send ``request`` to the responder at ``url`` and return the response DER.

    GET is used when the request is small and ``allow_get`` is true (requests
    with a nonce are sent as POST by the caller so that no cache between us and
    the responder answers them); when a GET gets an HTTP error status the
    request is retried once as POST within the same deadline (some responders
    only implement POST).

    Args:
        url: the responder URL (``http://`` or ``https://``).
        request: from :func:`build_request`.
        limits: connect/read/total timeouts (seconds) and byte limit (bytes).
        fetcher: :func:`certpolicy.fetch.fetch` or a compatible callable.
        deadline: absolute ``time.monotonic()`` bound on the whole exchange.
        allow_get: permit GET for small requests.

    Returns:
        the response body (bytes, not yet parsed).

    Raises:
        certpolicy.fetch.FetchError: (and subclasses) timeouts, refused
            connections, HTTP errors, bodies over ``limits.max_bytes``.
    """
    get = get_url(url, request.der) if allow_get else None
    if get is not None:
        try:
            return fetcher(get, limits=limits, method="GET", accept=OCSP_RESPONSE_TYPE, deadline=deadline).body
        except FetchHTTPStatus as e:
            log.debug("OCSP GET %s failed (%s); retrying as POST", url, e)
    resp = fetcher(
        url,
        limits=limits,
        method="POST",
        body=request.der,
        content_type=OCSP_REQUEST_TYPE,
        accept=OCSP_RESPONSE_TYPE,
        deadline=deadline,
    )
    return resp.body
