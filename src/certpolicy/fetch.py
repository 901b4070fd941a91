"""Bounded HTTP fetches for revocation data and missing intermediates.

Every download certpolicy makes (CRLs, OCSP requests, caIssuers
certificates) goes through :func:`fetch`: ``http.client`` only, never a
client that uses a certpolicy context (no recursion), with

* a connect timeout, a read timeout (silence between two reads) and a
  **total** deadline for the whole exchange, redirects included;
* a byte cap on the body (``Content-Length`` checked first, then counted);
* redirects followed only to ``http``/``https`` and at most ``max_redirects``;
* the ``http_proxy`` / ``no_proxy`` environment honoured for ``http`` URLs;
* a re-entrancy guard (:data:`IN_FETCH`) that the SSL context consults so
  a fetch over HTTPS is never itself policy-checked.

Errors are :class:`FetchError` subclasses whose :attr:`FetchError.outcome`
is the revocation taxonomy word (``"unreachable"`` or ``"oversized"``).
"""

from __future__ import annotations

import contextvars
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from .policy import FetchLimits

__all__ = [
    "IN_FETCH",
    "FetchError",
    "FetchHTTPStatus",
    "FetchResponse",
    "FetchTimeout",
    "FetchTooLarge",
    "fetch",
]

#: ``True`` while certpolicy itself is fetching (re-entrancy guard).
IN_FETCH: contextvars.ContextVar[bool] = contextvars.ContextVar("certpolicy_in_fetch", default=False)

_CHUNK = 65536
_USER_AGENT = "certpolicy-fetch/1"


class FetchError(Exception):
    """A fetch failed. ``outcome`` is ``"unreachable"`` or ``"oversized"``;
    ``url`` the URL; ``str(err)`` says why."""

    outcome = "unreachable"

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class FetchTimeout(FetchError):
    """The connect, read or total deadline passed."""


class FetchHTTPStatus(FetchError):
    """The server answered with a non-2xx status. ``status`` holds it."""

    def __init__(self, url: str, status: int, reason: str) -> None:
        self.status = status
        super().__init__(url, f"HTTP {status} {reason}".strip())


class FetchTooLarge(FetchError):
    """The body is larger than ``max_bytes``."""

    outcome = "oversized"


@dataclass(frozen=True)
class FetchResponse:
    """A successful fetch: final ``url``, ``status``, ``content_type``,
    ``body`` bytes and the response ``headers`` (lower-case names)."""

    url: str
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _proxy_for(url: urllib.parse.SplitResult) -> str | None:
    if url.scheme != "http":
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get("http")
    if not proxy:
        return None
    if urllib.request.proxy_bypass(url.hostname or ""):
        return None
    return proxy


def fetch(
    url: str,
    *,
    limits: FetchLimits,
    method: str = "GET",
    body: bytes | None = None,
    content_type: str | None = None,
    accept: str | None = None,
    deadline: float | None = None,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    https_only: bool = False,
) -> FetchResponse:
    """Fetch ``url`` within ``limits``.

    Args:
        url: an ``http://`` or ``https://`` URL.
        limits: connect / read / total timeouts (seconds), byte cap (bytes),
            redirect limit.
        method: ``"GET"`` or ``"POST"``.
        body: request body for POST.
        content_type: request ``Content-Type`` for POST.
        accept: request ``Accept`` header.
        deadline: an absolute ``time.monotonic()`` deadline that further bounds
            the total time (the earlier of the two applies).
        headers: extra request headers (``If-None-Match``, ``Authorization``);
            ``Authorization`` is not sent after a redirect to another origin.
            With ``If-None-Match``, a ``304 Not Modified`` answer is returned
            (``status`` 304, empty body) instead of raised.
        ssl_context: the context for ``https`` URLs (default: a verifying
            stdlib context). A certpolicy context checks the connection under
            the policy that resolves for the URL (the live-policy sources do
            this); the re-entrancy guard is then not set.
        https_only: refuse a URL or redirect target that is not ``https``.

    Returns:
        :class:`FetchResponse`.

    Raises:
        FetchTimeout: a timeout or the total deadline passed.
        FetchHTTPStatus: a non-2xx final status.
        FetchTooLarge: the body exceeds ``limits.max_bytes``.
        FetchError: refused connection, DNS failure, bad scheme, too many redirects,
            a protocol error.
    """
    start = time.monotonic()
    end = start + limits.total_timeout
    if deadline is not None:
        end = min(end, deadline)
    guarded = ssl_context is None or not hasattr(ssl_context, "replace_table")
    token = IN_FETCH.set(True) if guarded else None
    extra = dict(headers or {})
    origin = _origin(url)
    try:
        current = url
        for _ in range(limits.max_redirects + 1):
            if https_only and urllib.parse.urlsplit(current).scheme.lower() != "https":
                raise FetchError(url, f"only https is allowed, and {current!r} is not (a redirect to http is refused)")
            sent = extra if _origin(current) == origin else {k: v for k, v in extra.items() if k.lower() != "authorization"}
            result = _fetch_once(current, limits, method, body, content_type, accept, end, sent, ssl_context)
            if isinstance(result, FetchResponse):
                return result
            current = result  # redirect target
            if method == "POST":
                method, body = "GET", None
        raise FetchError(url, f"more than {limits.max_redirects} redirects")
    finally:
        if token is not None:
            IN_FETCH.reset(token)


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        u = urllib.parse.urlsplit(url)
        return (u.scheme, (u.hostname or "").lower(), u.port)
    except ValueError:
        return ("", url, None)


def _remaining(url: str, end: float) -> float:
    left = end - time.monotonic()
    if left <= 0:
        raise FetchTimeout(url, "total deadline exceeded")
    return left


def _fetch_once(
    url: str,
    limits: FetchLimits,
    method: str,
    body: bytes | None,
    content_type: str | None,
    accept: str | None,
    end: float,
    extra: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchResponse | str:
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as e:
        raise FetchError(url, f"invalid URL ({e})") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise FetchError(url, f"unsupported URL scheme {u.scheme!r} (only http and https are fetched)")
    connect_timeout = min(limits.connect_timeout, _remaining(url, end))
    proxy = _proxy_for(u)
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        ctx = ssl_context if ssl_context is not None else ssl.create_default_context()
        conn = http.client.HTTPSConnection(u.hostname, port, timeout=connect_timeout, context=ctx)
        path = urllib.parse.urlunsplit(("", "", u.path or "/", u.query, ""))
    elif proxy:
        p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        conn = http.client.HTTPConnection(p.hostname or "", p.port or 80, timeout=connect_timeout)
        path = url
    else:
        conn = http.client.HTTPConnection(u.hostname, port, timeout=connect_timeout)
        path = urllib.parse.urlunsplit(("", "", u.path or "/", u.query, ""))
    # The total deadline also holds inside http.client's own reads (a status
    # line, headers or chunk sizes dripped a byte at a time): a watchdog shuts
    # the socket down when it passes, which ends any blocked read.
    expired = threading.Event()

    def _kill() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(max(end - time.monotonic(), 0.0), _kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        result = _exchange(conn, url, path, limits, method, body, content_type, accept, end, expired, extra or {})
        if expired.is_set():  # cut short by the watchdog: whatever was read is incomplete
            raise FetchTimeout(url, "total deadline exceeded (the server was too slow)")
        return result
    finally:
        watchdog.cancel()
        conn.close()


def _exchange(
    conn: http.client.HTTPConnection,
    url: str,
    path: str,
    limits: FetchLimits,
    method: str,
    body: bytes | None,
    content_type: str | None,
    accept: str | None,
    end: float,
    expired: threading.Event,
    extra: Mapping[str, str],
) -> FetchResponse | str:
    headers = {"User-Agent": _USER_AGENT, "Connection": "close", **extra}
    if accept:
        headers["Accept"] = accept
    if body is not None:
        headers["Content-Type"] = content_type or "application/octet-stream"
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise FetchTimeout(url, f"connect timeout after {conn.timeout:.1f} s") from None
        except OSError as e:
            raise FetchError(url, f"connection failed: {e.strerror or e}") from None
        assert conn.sock is not None
        conn.sock.settimeout(min(limits.read_timeout, _remaining(url, end)))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
        except TimeoutError:
            raise FetchTimeout(url, "timed out waiting for the response") from None
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(url, f"HTTP exchange failed: {e}") from None
        if resp.status in (301, 302, 303, 307, 308):
            location = resp.getheader("Location")
            if not location:
                raise FetchError(url, f"HTTP {resp.status} redirect without Location")
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
                raise FetchError(url, f"redirect to a non-HTTP URL refused: {target}")
            return target
        if resp.status == 304 and any(k.lower() == "if-none-match" for k in extra):
            return FetchResponse(url, 304, resp.getheader("Content-Type") or "", b"", _headers(resp))
        if not 200 <= resp.status < 300:
            raise FetchHTTPStatus(url, resp.status, resp.reason or "")
        length = resp.getheader("Content-Length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > limits.max_bytes:
                raise FetchTooLarge(url, f"Content-Length {declared} bytes exceeds the limit of {limits.max_bytes} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            conn.sock.settimeout(min(limits.read_timeout, _remaining(url, end))) if conn.sock else None
            try:
                chunk = resp.read1(_CHUNK) if hasattr(resp, "read1") else resp.read(_CHUNK)
            except TimeoutError:
                raise FetchTimeout(url, "read timeout (server stalled)") from None
            except (OSError, http.client.HTTPException) as e:
                raise FetchError(url, f"reading the body failed: {e}") from None
            if not chunk:
                break
            total += len(chunk)
            if total > limits.max_bytes:
                raise FetchTooLarge(url, f"body exceeds the limit of {limits.max_bytes} bytes")
            chunks.append(chunk)
            _remaining(url, end)
        return FetchResponse(url, resp.status, resp.getheader("Content-Type") or "", b"".join(chunks), _headers(resp))
    except FetchError as e:
        if expired.is_set() and not isinstance(e, (FetchTimeout, FetchTooLarge)):
            raise FetchTimeout(url, "total deadline exceeded (the server was too slow)") from None
        raise


def _headers(resp: http.client.HTTPResponse) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.getheaders()}
