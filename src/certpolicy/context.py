"""The SSL context that enforces the policy table on every connection.

:func:`create_ssl_context` returns a :class:`PolicySSLContext`, an
:class:`ssl.SSLContext` subclass accepted wherever an ``SSLContext`` is:
``http.client``, ``urllib.request``, urllib3, requests (through
:mod:`certpolicy.integrations.requests`), httpx, aiohttp and
``asyncio.open_connection``.

How it works (the one hard trick, isolated here, as truststore does):

* OpenSSL does the handshake with its own verification switched off
  (``CERT_NONE``, ``check_hostname=False``, set once at construction);
* right after the handshake succeeds, :class:`PolicySSLSocket` /
  :class:`PolicySSLObject` take the chain the server presented, find the
  peer address (:mod:`certpolicy.peer`), resolve the policy and run the
  :class:`~certpolicy.engine.Verifier`; an enforced failure closes the
  connection before any application data is sent and raises the check's
  :class:`~certpolicy.errors.CertPolicyError` (an
  ``ssl.SSLCertVerificationError``);
* reading or writing before the handshake was verified triggers the
  verified handshake first (an implicit handshake can never skip the checks);
* the context *reports* ``verify_mode == CERT_REQUIRED`` and
  ``check_hostname == True``; what callers write there (urllib3 on every
  connection, requests ``verify=False``) is recorded, logged once when it
  would weaken verification, and never applied: the policy table wins;
* resumed sessions present no chain, so ``session=`` is dropped and a
  connection without a chain fails closed;
* nothing on the shared context changes per handshake; no lock is held
  across handshakes.

Per-policy client certificates (mTLS) are presented through one child
context per identity, built once and configured like the parent.

Live policy: :meth:`PolicySSLContext.replace_table` puts a new table in
force without rebuilding any client. The swap is one attribute assignment
(the verifier's resolver, an immutable object), so the handshake path takes
no lock; each connection keeps the resolver in force when it was wrapped,
so a handshake in flight finishes under the table it started with.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .checks.base import Check
from .engine import Verdict, Verifier
from .errors import CertPolicyError, CheckCrashed, HostnameMismatch
from .fetch import IN_FETCH
from .integrations._url import REQUEST_URL
from .names import InvalidName, normalize_dns_name, parse_ip
from .peer import PEER, Peer, peer_from_frames, peer_from_socket, proxy_in_frames
from .policy import Policy
from .resolver import PolicyResolver, Resolution
from .table import PolicyTable
from .tablediff import TableDiff

__all__ = ["PolicySSLContext", "PolicySSLObject", "PolicySSLSocket", "create_ssl_context", "verdict_of"]

logger = logging.getLogger("certpolicy")

#: Integrations set a list here to collect the verdicts of new connections.
_COLLECTOR: contextvars.ContextVar[list[Verdict] | None] = contextvars.ContextVar("certpolicy_collector", default=None)

_real_verify_mode: Any = ssl._SSLContext.__dict__["verify_mode"]  # type: ignore[attr-defined]
_real_check_hostname: Any = ssl._SSLContext.__dict__["check_hostname"]  # type: ignore[attr-defined]
_ENCODING_DER = getattr(ssl, "_ssl").ENCODING_DER  # noqa: B009
#: The peer chain is public API from Python 3.13 (``get_unverified_chain``).
_PUBLIC_CHAIN_API = sys.version_info >= (3, 13)


def _normalize_server_hostname(name: str | bytes | None) -> str | None:
    if name is None:
        return None
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    ip = parse_ip(name)
    if ip is not None:
        return str(ip)
    try:
        return normalize_dns_name(name)
    except InvalidName as e:
        raise HostnameMismatch(
            f"invalid server name {name!r}: {e}", outcome="invalid-reference", host=str(name)
        ) from None


class _VerifyingMixin:
    """Shared by PolicySSLSocket and PolicySSLObject."""

    _sslobj: Any
    certpolicy_verdict: Verdict | None
    _cp_verified: bool
    _cp_peer: Peer | None
    _cp_host: str | None

    def _cp_context(self) -> PolicySSLContext:
        ctx = self.context  # type: ignore[attr-defined]
        return ctx._cp_parent if getattr(ctx, "_cp_parent", None) is not None else ctx  # type: ignore[no-any-return]

    def _cp_chain(self) -> list[bytes]:
        """The chain the server presented, leaf first, as DER."""
        if _PUBLIC_CHAIN_API:  # Python 3.13+: public, returns DER bytes (or None)
            base: Any = ssl.SSLObject if isinstance(self, ssl.SSLObject) else ssl.SSLSocket
            return list(base.get_unverified_chain(self) or [])
        sslobj = self._sslobj  # Python 3.10-3.12: the private _ssl object
        get = getattr(sslobj, "get_unverified_chain", None)
        if get is None:  # pragma: no cover - a Python without either API
            der = sslobj.getpeercert(True)
            return [der] if der else []
        chain = get()
        if not chain:
            return []
        return [c.public_bytes(_ENCODING_DER) for c in chain]

    def _cp_after_handshake(self, peer: Peer | None) -> None:
        if getattr(self, "_cp_verified", False):
            return
        ctx = self._cp_context()
        host = self._cp_host
        try:
            if IN_FETCH.get():
                # certpolicy's own fetches never use this context; refuse loudly.
                raise CheckCrashed("certpolicy context used for a revocation fetch (recursion refused)", check="context")
            chain = self._cp_chain()
            if not chain:
                from .errors import ChainError

                reused = False
                try:
                    reused = bool(self._sslobj.session_reused)
                except Exception:
                    pass
                why = "a resumed TLS session presents no certificate chain" if reused else "the server presented no certificate"
                raise ChainError(f"{why}; refusing (fail closed)", outcome="empty-chain", host=host)
            verdict = ctx._cp_verify(chain, host, peer, self, getattr(self, "_cp_resolver", None))
        except CertPolicyError:
            self._cp_abort()
            raise
        except Exception as exc:  # never let a bug look like "no verification"
            self._cp_abort()
            err = CheckCrashed(f"verification failed unexpectedly: {type(exc).__name__}: {exc}", host=host, outcome="internal-error")
            raise err from exc
        self.certpolicy_verdict = verdict
        self._cp_verified = True
        collector = _COLLECTOR.get()
        if collector is not None:
            collector.append(verdict)

    def _cp_abort(self) -> None:
        pass

    def _cp_ensure(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # Reading or writing before the handshake was verified runs the verified
    # handshake first: an implicit handshake can never skip the checks.
    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._cp_ensure()
        return super().read(len, buffer)  # type: ignore[misc]

    def write(self, data: Any) -> int:
        self._cp_ensure()
        return super().write(data)  # type: ignore[misc,no-any-return]

    def getpeercert(self, binary_form: bool = False) -> Any:
        """As :meth:`ssl.SSLSocket.getpeercert`: the dict form is returned for
        a connection that certpolicy verified (OpenSSL's own verification is
        off, so the dict is built from the verified leaf)."""
        if binary_form:
            return self._sslobj.getpeercert(True)
        if not getattr(self, "_cp_verified", False):
            return {} if self._sslobj is not None and self._sslobj.getpeercert(True) else None
        from ._peercert import peercert_dict

        der = self._sslobj.getpeercert(True)
        return peercert_dict(der) if der else None


class PolicySSLSocket(_VerifyingMixin, ssl.SSLSocket):
    """An :class:`ssl.SSLSocket` whose handshake ends with the policy's checks.

    Attributes:
        certpolicy_verdict: the :class:`~certpolicy.engine.Verdict` once verified.
    """

    certpolicy_verdict: Verdict | None = None
    _cp_verified = False
    _cp_peer: Peer | None = None
    _cp_host: str | None = None

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        if not self._cp_verified:
            self._cp_after_handshake(self._cp_discover_peer())

    def _cp_discover_peer(self) -> Peer | None:
        if self._cp_peer is not None:
            return self._cp_peer
        peer = PEER.get()
        if peer is not None:
            return peer
        if proxy_in_frames(3):
            return Peer(None, None, "proxy", proxied=True)
        return peer_from_socket(self)

    def _cp_abort(self) -> None:
        try:
            self._sslobj = None  # drop the TLS object: no read/write possible
            socket.socket.close(self)
        except OSError:
            pass

    def _cp_ensure(self) -> None:
        if not self._cp_verified and self._sslobj is not None:
            self.do_handshake()

    def send(self, data: Any, flags: int = 0) -> int:
        self._cp_ensure()
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._cp_ensure()
        super().sendall(data, flags)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._cp_ensure()
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._cp_ensure()
        return super().recv_into(buffer, nbytes, flags)


class PolicySSLObject(_VerifyingMixin, ssl.SSLObject):
    """An :class:`ssl.SSLObject` (asyncio, anyio) whose handshake ends with
    the policy's checks."""

    certpolicy_verdict: Verdict | None = None
    _cp_verified = False
    _cp_peer: Peer | None = None
    _cp_host: str | None = None
    _cp_failed: CertPolicyError | None = None

    def do_handshake(self) -> None:
        if self._cp_failed is not None:
            raise self._cp_failed
        super().do_handshake()
        if not self._cp_verified:
            peer = self._cp_peer or PEER.get() or peer_from_frames(2)
            try:
                self._cp_after_handshake(peer)
            except CertPolicyError as e:
                self._cp_failed = e
                raise

    def _cp_ensure(self) -> None:
        if self._cp_failed is not None:
            raise self._cp_failed
        if not self._cp_verified:
            self.do_handshake()


class PolicySSLContext(ssl.SSLContext):
    """An :class:`ssl.SSLContext` that enforces a policy table. Build it with
    :func:`create_ssl_context`; one per process is the intended use (contexts
    cannot be copied or pickled).

    Attributes:
        resolver: the :class:`PolicyResolver`.
        verifier: the :class:`~certpolicy.engine.Verifier`.
    """

    sslsocket_class = PolicySSLSocket
    sslobject_class = PolicySSLObject

    _cp_parent: PolicySSLContext | None = None

    def __new__(cls, protocol: int = ssl.PROTOCOL_TLS_CLIENT, *args: Any, **kwargs: Any) -> PolicySSLContext:
        return super().__new__(cls, protocol)

    def __init__(
        self,
        protocol: int = ssl.PROTOCOL_TLS_CLIENT,
        *,
        verifier: Verifier | None = None,
        parent: PolicySSLContext | None = None,
        honour_load_verify_locations: bool = False,
    ) -> None:
        if protocol != ssl.PROTOCOL_TLS_CLIENT:
            raise ValueError("certpolicy contexts are client contexts (PROTOCOL_TLS_CLIENT)")
        _real_check_hostname.__set__(self, False)
        _real_verify_mode.__set__(self, ssl.CERT_NONE)
        self._cp_parent = parent
        self._cp_verifier = verifier
        self._cp_lock = threading.Lock()
        self._cp_reported_verify_mode = ssl.CERT_REQUIRED
        self._cp_reported_check_hostname = True
        self._cp_caller_writes: list[tuple[str, Any]] = []
        self._cp_warned_weakening = False
        self._cp_loaded_locations: set[tuple[Any, ...]] = set()
        self._cp_extra_anchor_pem: list[str] = []
        self._cp_honour_lvl = honour_load_verify_locations
        self._cp_identity_ctx: dict[str, tuple[Policy, PolicySSLContext]] = {}
        self._cp_alpn: list[str] | None = None
        self._cp_identities: Mapping[str, Any] = {}
        self._cp_identity_owner: dict[str, Policy] = {}
        self._cp_client_identities = False
        self._cp_passphrase_callback: Callable[[str], str | bytes] | None = None
        self._cp_swap_lock = threading.Lock()
        self._cp_version = 0
        self._cp_listeners: list[Callable[[], Any]] = []

    # -- reported verification state ------------------------------------------

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return ssl.VerifyMode(getattr(self, "_cp_reported_verify_mode", ssl.CERT_REQUIRED))

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        if not hasattr(self, "_cp_caller_writes"):
            _real_verify_mode.__set__(self, value)
            return
        self._cp_record("verify_mode", value)
        if value == ssl.CERT_NONE:
            self._cp_warn_weakening("verify_mode=CERT_NONE")

    @property
    def check_hostname(self) -> bool:
        return bool(getattr(self, "_cp_reported_check_hostname", True))

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        if not hasattr(self, "_cp_caller_writes"):
            _real_check_hostname.__set__(self, value)
            return
        self._cp_record("check_hostname", value)
        if not value:
            self._cp_warn_weakening("check_hostname=False")

    def _cp_record(self, what: str, value: Any) -> None:
        writes = self._cp_caller_writes
        if len(writes) < 64:
            writes.append((what, value))

    def _cp_warn_weakening(self, what: str) -> None:
        if not self._cp_warned_weakening:
            self._cp_warned_weakening = True
            logger.warning(
                "certpolicy: a caller set %s on the certpolicy context; ignored: the policy table decides "
                "(use a policy with chain/hostname 'off' or 'audit' to relax a check)",
                what,
            )

    @property
    def caller_settings(self) -> list[tuple[str, Any]]:
        """What callers wrote to ``verify_mode`` / ``check_hostname`` (recorded, not applied)."""
        return list(self._cp_caller_writes)

    # -- trust loading ---------------------------------------------------------

    def load_verify_locations(self, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        """Recorded and de-duplicated (requests and urllib3 call it on every
        connection). The certificates become extra trust anchors for every
        policy only when the context was created with
        ``honour_load_verify_locations=True``; otherwise the policy's trust
        settings alone decide."""
        key = (str(cafile) if cafile else None, str(capath) if capath else None, hash(cadata) if isinstance(cadata, (str, bytes)) else None)
        with self._cp_lock:
            if key in self._cp_loaded_locations:
                return
            self._cp_loaded_locations.add(key)
        super().load_verify_locations(cafile, capath, cadata)
        if self._cp_honour_lvl and self._cp_verifier is not None:
            self._cp_verifier.add_anchors_from(cafile=cafile, capath=capath, cadata=cadata)

    def load_default_certs(self, purpose: Any = ssl.Purpose.SERVER_AUTH) -> None:
        """Recorded only: system trust comes from each policy's ``trust.system``."""
        self._cp_record("load_default_certs", purpose)

    def set_default_verify_paths(self) -> None:
        """Recorded only: system trust comes from each policy's ``trust.system``."""
        self._cp_record("set_default_verify_paths", None)

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        protocols = list(alpn_protocols)
        self._cp_alpn = protocols
        super().set_alpn_protocols(protocols)
        for _policy, child in list(self._cp_identity_ctx.values()):
            child.set_alpn_protocols(protocols)

    # -- wrapping --------------------------------------------------------------

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> PolicySSLSocket:
        if server_side:
            raise ValueError("certpolicy contexts are client-side only")
        host = _normalize_server_hostname(server_hostname)
        resolver = self._cp_live_resolver()
        target = self._cp_target_context(host, sock, resolver=resolver)
        # session=: resumed sessions carry no chain; never resume (fail-closed design).
        wrapped = target.sslsocket_class._create(  # type: ignore[attr-defined]
            sock=sock,
            server_side=False,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=host,
            context=target,
            session=None,
        )
        wrapped._cp_host = host
        wrapped._cp_resolver = resolver
        peer = PEER.get()
        if peer is None and proxy_in_frames(2):
            peer = Peer(None, None, "proxy", proxied=True)
        if peer is not None:
            wrapped._cp_peer = peer
        if do_handshake_on_connect:
            try:
                wrapped.getpeername()
                connected = True
            except OSError:
                connected = False
            if connected:
                timeout = wrapped.gettimeout()
                if timeout == 0.0:
                    raise ValueError("do_handshake_on_connect should not be specified for non-blocking sockets")
                try:
                    wrapped.do_handshake()
                except (OSError, ValueError):
                    wrapped.close()
                    raise
            else:
                wrapped.do_handshake_on_connect = True
        return wrapped  # type: ignore[no-any-return]

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> PolicySSLObject:
        if server_side:
            raise ValueError("certpolicy contexts are client-side only")
        host = _normalize_server_hostname(server_hostname)
        peer = PEER.get() or peer_from_frames(2)
        resolver = self._cp_live_resolver()
        target = self._cp_target_context(host, None, peer, resolver=resolver)
        obj = target.sslobject_class._create(  # type: ignore[attr-defined]
            incoming, outgoing, server_side=False, server_hostname=host, session=None, context=target
        )
        obj._cp_host = host
        obj._cp_resolver = resolver
        if peer is not None:
            obj._cp_peer = peer
        return obj  # type: ignore[no-any-return]

    def _cp_live_resolver(self) -> PolicyResolver | None:
        verifier = self._cp_verifier
        return verifier.resolver if verifier is not None else None

    def _cp_target_context(
        self, host: str | None, sock: socket.socket | None, peer: Peer | None = None, *, resolver: PolicyResolver | None = None
    ) -> PolicySSLContext:
        """The context whose client identity fits the connection's policy."""
        identities = self._cp_identities
        if not identities or resolver is None or host is None:
            return self
        if peer is None and sock is not None:
            peer = PEER.get() or peer_from_socket(sock)
        res = resolver.resolve(host, peer_ip=peer.ip if peer and not peer.proxied else None, port=peer.port if peer else None)
        policy = res.policy
        identity = identities.get(policy.name)
        if policy.client_identity is None or identity is None:
            return self
        children = self._cp_identity_ctx
        found = children.get(policy.name)
        if found is not None and found[0] is policy:
            return found[1]
        child = PolicySSLContext(verifier=self._cp_verifier, parent=self)
        child.options = self.options
        child.minimum_version = self.minimum_version
        child.maximum_version = self.maximum_version
        if self._cp_alpn:
            child.set_alpn_protocols(self._cp_alpn)
        identity.apply(child)
        with self._cp_lock:
            if self._cp_identity_ctx is not children:  # the table was replaced meanwhile
                return child
            found = children.setdefault(policy.name, (policy, child))
            if found[0] is not policy:
                found = children[policy.name] = (policy, child)
            return found[1]

    # -- live policy -------------------------------------------------------------

    @property
    def table(self) -> PolicyTable:
        """The :class:`PolicyTable` in force."""
        return self.resolver.table

    @property
    def table_version(self) -> int:
        """How many times :meth:`replace_table` put a new table in force
        (``0``: the table the context was built with)."""
        root = self._cp_parent or self
        return root._cp_version

    def add_replace_listener(self, callback: Callable[[PolicyTable, TableDiff], None]) -> None:
        """Call ``callback(new_table, diff)`` after each :meth:`replace_table`
        that changed something (the integrations drop the pooled connections
        of changed policies this way). A raising callback is logged and does
        not undo the swap.

        Args:
            callback: a callable; held weakly when it is a bound method (an
                integration's session does not stay alive for it).
        """
        import weakref

        root = self._cp_parent or self
        ref: Callable[[], Any]
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref = weakref.WeakMethod(callback)
        else:

            def ref() -> Any:
                return callback

        with root._cp_lock:
            root._cp_listeners = [r for r in root._cp_listeners if r() is not None] + [ref]

    def replace_table(self, table: PolicyTable | PolicyResolver) -> TableDiff:
        """Put ``table`` in force for every connection wrapped from now on.

        The new table is checked first as :func:`create_ssl_context` checks
        one (trust-anchor and static CRL files readable, client identities
        loadable); if that fails, the table in force stays and the error is
        raised. Then one assignment swaps it in: a handshake in flight
        finishes under the table it started with, the verdicts cached under
        a changed or removed row are dropped, the client-certificate
        contexts of changed rows are rebuilt, and the listeners
        (:meth:`add_replace_listener`, the integrations' pools) drop the
        pooled connections of changed rows. Rows equal to the rows in force
        keep their cached verdicts and pooled connections. Thread-safe.

        Args:
            table: the new :class:`PolicyTable` (or a :class:`PolicyResolver`
                built on one; its clock is kept).

        Returns:
            the :class:`~certpolicy.tablediff.TableDiff` between the old and
            the new table (``changed`` is ``False`` for an equal table, which
            replaces nothing).

        Raises:
            PolicyConfigError: a file the new table names cannot be read.
            ClientCertificateError: a client identity of the new table cannot
                be loaded.
        """
        from .live import swap_table

        return swap_table(self._cp_parent or self, table)

    def _cp_identities_for(self, table: PolicyTable) -> Mapping[str, Any]:
        from .live import identities_for

        return identities_for(self, table)

    # -- verification ------------------------------------------------------------

    def _cp_verify(
        self, chain: Sequence[bytes], host: str | None, peer: Peer | None, conn: Any, resolver: PolicyResolver | None = None
    ) -> Verdict:
        verifier = self._cp_verifier
        if verifier is None:  # pragma: no cover - a context built by hand
            raise CheckCrashed("PolicySSLContext without a verifier; use certpolicy.create_ssl_context()", host=host)
        if resolver is None:
            resolver = verifier.resolver
        ip = peer.ip if peer is not None and not peer.proxied else None
        port = peer.port if peer is not None else None
        url = _url_for(host)
        resolution = None
        if host and url is not None:
            resolution = resolver.resolve(url=url, peer_ip=ip, port=port)
        elif host:
            resolution = resolver.resolve(host, peer_ip=ip, port=port)
        if resolution is None:
            raise HostnameMismatch("no server name was given (server_hostname=None); refusing", outcome="invalid-reference")
        if peer is not None and peer.proxied:
            resolution = _with_warning(resolution, "connected through a proxy: the proxy's address was not used to classify the target")
        return verifier.verify(chain, host, peer_ip=ip, port=port, resolution=resolution, allow_network=not _on_event_loop())

    def verify_chain(self, chain: Sequence[bytes], host: str, *, peer_ip: str | None = None, port: int | None = None, url: str | None = None) -> Verdict:
        """Verify a chain outside a handshake (integrations that know the URL).

        Raises:
            CertPolicyError: as :meth:`certpolicy.engine.Verifier.verify`.
        """
        assert self._cp_verifier is not None
        return self._cp_verifier.verify(chain, host, peer_ip=peer_ip, port=port, url=url)

    @property
    def verifier(self) -> Verifier:
        assert self._cp_verifier is not None
        return self._cp_verifier

    @property
    def resolver(self) -> PolicyResolver:
        return self.verifier.resolver

    def __reduce__(self) -> Any:
        raise TypeError("a certpolicy context cannot be pickled or copied; build one per process with create_ssl_context()")

    def __copy__(self) -> Any:
        raise TypeError("a certpolicy context cannot be copied; build one per process with create_ssl_context()")

    __deepcopy__ = __copy__


def _url_for(host: str | None) -> str | None:
    """The request URL set by an integration, when it names ``host``."""
    url = REQUEST_URL.get()
    if url is None or host is None:
        return None
    try:
        u = urllib.parse.urlsplit(url)
        if not u.hostname:
            return None
        name = u.hostname
        ip = parse_ip(name)
        norm = str(ip) if ip is not None else normalize_dns_name(name)
    except (ValueError, InvalidName):
        return None
    return url if norm == host else None


def _with_warning(res: Resolution, warning: str) -> Resolution:
    from dataclasses import replace

    return replace(res, warnings=(*res.warnings, warning))


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def create_ssl_context(
    resolver: PolicyResolver | PolicyTable | None = None,
    *,
    checks: Mapping[str, Check] | None = None,
    extra_checks: Sequence[Check] = (),
    audit: bool = False,
    verdict_ttl: float = 300.0,
    on_verdict: Callable[[Verdict], None] | None = None,
    clock: Any = None,
    honour_load_verify_locations: bool = False,
    client_identities: bool = True,
    passphrase_callback: Callable[[str], str | bytes] | None = None,
    alpn_protocols: Sequence[str] | None = None,
) -> PolicySSLContext:
    """Build the SSL context that enforces ``resolver``'s policy table.

    Args:
        resolver: a :class:`PolicyResolver`, a :class:`PolicyTable`, or ``None``
            for :meth:`PolicyTable.default`.
        checks: replacements for the built-in ``"chain"``, ``"hostname"`` and
            ``"revocation"`` checks.
        extra_checks: user checks run after the built-ins (the
            :class:`~certpolicy.checks.Check` protocol).
        audit: report-only mode for the whole context: failures are logged at
            WARNING on logger ``certpolicy`` and connections go through.
        verdict_ttl: seconds a passing verdict (same chain, host, policy) is
            reused; ``0`` disables the verdict cache.
        on_verdict: callable receiving every :class:`~certpolicy.engine.Verdict`.
        clock: callable returning the validation time (tests).
        honour_load_verify_locations: make CA files loaded by callers extra
            trust anchors for every policy (default: recorded and ignored).
        client_identities: present each policy's client certificate (mTLS):
            the identities are loaded and checked here, once.
        passphrase_callback: ``callback(path) -> passphrase`` for encrypted
            client keys whose policy names no ``passphrase_env``.
        alpn_protocols: ALPN protocols to offer.

    Returns:
        a :class:`PolicySSLContext` (client side, TLS 1.2 minimum).

    Raises:
        PolicyConfigError: a trust-anchor or static CRL file the table names
            cannot be read (:meth:`PolicyTable.check_files`).
        ClientCertificateError: a policy's client identity cannot be loaded
            (the message names the file and why).
    """
    if resolver is None:
        resolver = PolicyTable.default()
    if isinstance(resolver, PolicyTable):
        resolver = PolicyResolver(resolver)
    resolver.table.check_files(client_identities=False)  # identities are loaded below, with the callback
    verifier = Verifier(
        resolver,
        checks=checks,
        extra_checks=extra_checks,
        audit=audit,
        verdict_ttl=verdict_ttl,
        on_verdict=on_verdict,
        clock=clock,
    )
    ctx = PolicySSLContext(verifier=verifier, honour_load_verify_locations=honour_load_verify_locations)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn_protocols:
        ctx.set_alpn_protocols(alpn_protocols)
    ctx._cp_client_identities = client_identities
    ctx._cp_passphrase_callback = passphrase_callback
    ctx._cp_identities = ctx._cp_identities_for(resolver.table)
    return ctx


def verdict_of(conn: Any) -> Verdict | None:
    """The :class:`~certpolicy.engine.Verdict` of a connection: an SSL socket,
    an ``SSLObject``, an asyncio transport, or an object wrapping one
    (``.sock``, ``._sslobj``, ``get_extra_info("ssl_object")``)."""
    seen = 0
    obj = conn
    while obj is not None and seen < 6:
        seen += 1
        v = getattr(obj, "certpolicy_verdict", None)
        if isinstance(v, Verdict):
            return v
        get = getattr(obj, "get_extra_info", None)
        if callable(get):
            ssl_obj = get("ssl_object")
            if ssl_obj is not None and ssl_obj is not obj:
                obj = ssl_obj
                continue
        obj = getattr(obj, "sock", None) or getattr(obj, "_sock", None)
    return None
