"""The policy model: what one row of the policy table says.

A :class:`Policy` is frozen and hashable. It says, for the endpoints it
applies to, which checks run and in which mode (:class:`CheckMode`), which
trust anchors the chain check uses (:class:`TrustSpec`), how revocation
outcomes map to actions (:class:`RevocationSettings`), the limits of every
network fetch (:class:`FetchLimits`) and, for overrides, when the row expires
and why it exists.

Policies are normally built by :class:`certpolicy.PolicyTable` from a TOML /
JSON file or a dict; :func:`parse_policy_row` turns one row (a mapping) into a
:class:`Policy` and raises :class:`PolicyConfigError` naming the field.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Literal

from .errors import PolicyConfigError
from .policy_values import ANY_POLICY, policy_oids
from .policy_values import boolean as _bool
from .policy_values import check_keys as _check_keys
from .policy_values import config_error as _err
from .policy_values import number as _number
from .policy_values import str_list as _str_list
from .targets import Target, parse_targets

__all__ = [
    "ANY_POLICY",
    "VALIDATION_PROFILES",
    "Action",
    "CheckMode",
    "ClientIdentitySpec",
    "FetchLimits",
    "Outcome",
    "Policy",
    "PolicyKind",
    "RetryPolicy",
    "RevocationSettings",
    "TrustSpec",
    "ValidationProfile",
    "parse_policy_row",
]


#: A validation profile: ``"webpki"`` or ``"rfc5280"`` (see :attr:`Policy.profile`).
ValidationProfile = Literal["webpki", "rfc5280"]
#: The validation profiles, strictest first.
VALIDATION_PROFILES: tuple[ValidationProfile, ...] = ("webpki", "rfc5280")


class PolicyKind(str, enum.Enum):
    """The four kinds of policy (SPEC "Policy semantics")."""

    INSTANCE = "instance"
    INTERNET = "internet"
    INTRANET = "intranet"
    OVERRIDE = "override"

    def __str__(self) -> str:
        return self.value


class CheckMode(str, enum.Enum):
    """How a check runs under a policy.

    ``ENFORCE``: a failure rejects the connection. ``AUDIT``: the check runs, a
    failure is logged at WARNING ("would fail") and the connection goes on.
    ``OFF``: the check does not run.
    """

    ENFORCE = "enforce"
    AUDIT = "audit"
    OFF = "off"

    def __str__(self) -> str:
        return self.value

    @property
    def active(self) -> bool:
        """``True`` for ``ENFORCE`` and ``AUDIT``."""
        return self is not CheckMode.OFF


class Outcome(str, enum.Enum):
    """The revocation outcome taxonomy (SPEC "Checks").

    ``GOOD`` and ``REVOKED`` are definite answers; every other outcome means the
    source could not give one.
    """

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    STALE = "stale"
    BAD_SIGNATURE = "bad-signature"
    UNAUTHORISED_SIGNER = "unauthorised-signer"
    NO_REVOCATION_INFO = "no-revocation-info"
    OVERSIZED = "oversized"
    MALFORMED = "malformed"

    def __str__(self) -> str:
        return self.value

    @property
    def definite(self) -> bool:
        """``True`` for ``GOOD`` and ``REVOKED`` (the answers that decide)."""
        return self in (Outcome.GOOD, Outcome.REVOKED)


class Action(str, enum.Enum):
    """What a policy does with a revocation outcome: ``FAIL`` rejects (in
    enforce mode), ``WARN`` logs a warning and passes, ``PASS`` passes silently."""

    FAIL = "fail"
    WARN = "warn"
    PASS = "pass"

    def __str__(self) -> str:
        return self.value


#: The agent's default: everything but good fails ("no answer counts as revoked").
DEFAULT_OUTCOME_MAP: Mapping[Outcome, Action] = MappingProxyType(
    {o: (Action.PASS if o is Outcome.GOOD else Action.FAIL) for o in Outcome}
)

#: ``revocation_failure = "soft"``: every non-definite outcome only warns.
SOFT_FAIL_OUTCOME_MAP: Mapping[Outcome, Action] = MappingProxyType(
    {
        o: (
            Action.PASS
            if o is Outcome.GOOD
            else Action.FAIL
            if o is Outcome.REVOKED
            else Action.WARN
        )
        for o in Outcome
    }
)


@dataclass(frozen=True)
class FetchLimits:
    """Bounds of one network fetch (OCSP request, CRL or caIssuers download).

    Attributes:
        connect_timeout: seconds to establish the TCP connection.
        read_timeout: seconds of silence allowed between two reads.
        total_timeout: seconds for the whole exchange, redirects included.
        max_bytes: largest accepted response body, in bytes.
        max_redirects: HTTP redirects followed (http→http/https only).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 20.0
    max_bytes: int = 20_000_000
    max_redirects: int = 3


#: Defaults for CRL downloads (issue: 5 s connect, 15 s read, 20 s total, 20 MB).
CRL_FETCH_DEFAULTS = FetchLimits(5.0, 15.0, 20.0, 20_000_000)
#: Defaults for OCSP requests (3 s connect, 5 s total, 1 MB).
OCSP_FETCH_DEFAULTS = FetchLimits(3.0, 5.0, 5.0, 1_000_000)
#: Defaults for caIssuers (AIA) downloads of missing intermediates.
AIA_FETCH_DEFAULTS = FetchLimits(3.0, 5.0, 5.0, 100_000)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry policy for failed downloads (CRL refresh).

    Attributes:
        attempts: total attempts, the first one included (>= 1).
        backoff: seconds before the first retry; doubled each time.
        max_backoff: cap of one wait, seconds.
        jitter: fraction (0..1) of random jitter added to each wait.
        deadline: seconds for all attempts together.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.2
    deadline: float = 60.0


@dataclass(frozen=True)
class TrustSpec:
    """Which trust anchors the chain check uses.

    Attributes:
        system: include the operating system's trust store.
        extra: PEM files or folders of PEM files whose certificates are added as
            trust anchors (a private root, a private intermediate used as the
            anchor, or a self-signed endpoint certificate, as the agent's
            trust-store import does).
        aia_fetch: fetch missing intermediates from the leaf's authority
            information access caIssuers URL (bounded by ``aia_limits``).
        aia_limits: bounds of those downloads.
    """

    system: bool = True
    extra: tuple[str, ...] = ()
    aia_fetch: bool = False
    aia_limits: FetchLimits = AIA_FETCH_DEFAULTS


@dataclass(frozen=True)
class RevocationSettings:
    """How OCSP and CRL checks run and what their outcomes mean.

    Attributes:
        order: ``"ocsp-first"`` (default), ``"crl-first"`` or ``"both"`` (every
            active source must say good).
        scope: ``"leaf"`` (default) or ``"chain"`` (every certificate of the
            path below the trust anchor).
        outcomes: outcome -> action; ``revoked`` is always ``fail``.
        clock_skew: seconds of tolerance on thisUpdate / nextUpdate (900 = 15 min,
            the agent's JVM default).
        ocsp_max_age: seconds an OCSP response without nextUpdate stays fresh
            after its thisUpdate (7 days); also the cap of any OCSP response's
            cache lifetime (thisUpdate + ocsp_max_age, even when nextUpdate is later).
        crl_grace: seconds a CRL past its nextUpdate may still prove good
            standing (default 0: never).
        refresh_margin: seconds before nextUpdate at which a cached CRL is
            refreshed in the background.
        nonce: send an OCSP nonce (RFC 8954); a response echoing a different
            nonce is never used (outcome ``malformed``).
        ocsp_responder_check: what the OCSP check does with a delegated
            responder certificate without id-pkix-ocsp-nocheck (RFC 6960
            §4.2.2.2.1): ``"check"`` (default) checks the responder's own
            revocation status with OCSP, ``"require-nocheck"`` refuses it
            (``unauthorised-signer``), ``"ignore"`` accepts it unchecked.
        ocsp_responder: responder URL that overrides the AIA one.
        static_crls: CRL files or folders used before (or instead of) fetching.
        fetch_crls: download CRLs from distribution points (False: static only).
        cache_dir: folder of the on-disk revocation cache (``None``: platform default).
        cache_url: the shared revocation store of a fleet
            (``"redis://host:6379/0"``, ``rediss://``, ``redis+sentinel://``,
            ``redis+cluster://``; row key ``revocation_cache`` or
            ``revocation.cache_url``), used on top of
            the disk cache; ``None``: none (needs ``certpolicy[redis]``).
        crl_limits / ocsp_limits: fetch bounds.
        retry: retry policy of CRL downloads.
    """

    order: Literal["ocsp-first", "crl-first", "both"] = "ocsp-first"
    scope: Literal["leaf", "chain"] = "leaf"
    outcomes: Mapping[Outcome, Action] = field(default_factory=lambda: DEFAULT_OUTCOME_MAP)
    clock_skew: float = 900.0
    ocsp_max_age: float = 7 * 86400.0
    crl_grace: float = 0.0
    refresh_margin: float = 300.0
    nonce: bool = False
    ocsp_responder_check: Literal["check", "require-nocheck", "ignore"] = "check"
    ocsp_responder: str | None = None
    static_crls: tuple[str, ...] = ()
    fetch_crls: bool = True
    cache_dir: str | None = None
    cache_url: str | None = None
    crl_limits: FetchLimits = CRL_FETCH_DEFAULTS
    ocsp_limits: FetchLimits = OCSP_FETCH_DEFAULTS
    retry: RetryPolicy = RetryPolicy()

    def action_for(self, outcome: Outcome) -> Action:
        """Map ``outcome`` to its action; ``revoked`` always maps to ``fail``."""
        if outcome is Outcome.REVOKED:
            return Action.FAIL
        return self.outcomes.get(outcome, Action.FAIL)

    def __hash__(self) -> int:
        return hash(
            (
                self.order,
                self.scope,
                tuple(sorted((k.value, v.value) for k, v in self.outcomes.items())),
                self.clock_skew,
                self.ocsp_max_age,
                self.ocsp_responder_check,
                self.static_crls,
                self.cache_dir,
                self.cache_url,
            )
        )


@dataclass(frozen=True)
class ClientIdentitySpec:
    """A client certificate (mTLS identity) that a policy presents.

    Attributes:
        cert: PEM file with the leaf (and optionally its chain), or a PKCS#12 file.
        key: PEM key file (``None`` when ``cert`` holds the key or is PKCS#12).
        chain: PEM file with the intermediates to send after the leaf.
        passphrase_env: name of an environment variable holding the key /
            PKCS#12 passphrase (never the passphrase itself).
    """

    cert: str
    key: str | None = None
    chain: str | None = None
    passphrase_env: str | None = None


@dataclass(frozen=True)
class Policy:
    """One row of the policy table.

    Attributes:
        name: unique row name (``str``).
        kind: :class:`PolicyKind`.
        targets: the row's targets (:class:`certpolicy.targets.Target`); for the
            intranet kind these are its address ranges.
        chain, hostname, ocsp, crl: :class:`CheckMode` of each check.
        cn_fallback: ``"never"`` (RFC 9525) or ``"legacy"`` (read the subject CN
            only when the certificate has no dNSName SAN, never for an address;
            RFC 6125 §6.4.4).
        hostname_without_chain: run the hostname check even when the chain check
            is off or failed (default ``False``: hostname needs a validated chain).
        trust: :class:`TrustSpec`.
        max_chain_depth: largest number of intermediates, or ``None`` for the default.
        profile: the validation profile of the chain and hostname checks:
            ``"webpki"`` (RFC 5280 plus the CA/Browser Forum Baseline
            Requirements, as cryptography's Web PKI profile and rustls-webpki
            apply them) or ``"rfc5280"`` (RFC 5280 alone, for private CAs);
            ``None``: the kind's default (:attr:`validation_profile`).
        certificate_policies: the user-initial-policy-set of RFC 5280
            §6.1.1(c): certificate policy OIDs (dotted strings) the path must
            be valid for; default ``(ANY_POLICY,)``, any policy.
        require_explicit_policy: initial-explicit-policy (RFC 5280
            §6.1.1(f)): the path must be valid for at least one policy of
            ``certificate_policies`` (RFC 5280 §6.1.5(g)). Default ``False``.
        inhibit_policy_mapping, inhibit_any_policy: initial-policy-mapping-inhibit
            and initial-any-policy-inhibit (RFC 5280 §6.1.1(e), (g)). Default ``False``.
        revocation: :class:`RevocationSettings`.
        client_identity: :class:`ClientIdentitySpec` or ``None``.
        expires: date after which an override no longer matches (``None``: never).
        owner, reason: free text shown by ``explain``.
        source: where the row came from (``"policies.toml: override[2]"``).
    """

    name: str
    kind: PolicyKind
    targets: tuple[Target, ...] = ()
    chain: CheckMode = CheckMode.ENFORCE
    hostname: CheckMode = CheckMode.ENFORCE
    ocsp: CheckMode = CheckMode.OFF
    crl: CheckMode = CheckMode.OFF
    cn_fallback: Literal["never", "legacy"] = "never"
    hostname_without_chain: bool = False
    trust: TrustSpec = TrustSpec()
    max_chain_depth: int | None = None
    profile: ValidationProfile | None = None
    certificate_policies: tuple[str, ...] = (ANY_POLICY,)
    require_explicit_policy: bool = False
    inhibit_policy_mapping: bool = False
    inhibit_any_policy: bool = False
    revocation: RevocationSettings = RevocationSettings()
    client_identity: ClientIdentitySpec | None = None
    expires: _dt.date | None = None
    owner: str | None = None
    reason: str | None = None
    source: str = field(default="<dict>", compare=False)

    @property
    def validation_profile(self) -> ValidationProfile:
        """The validation profile in force: :attr:`profile` when set, else
        ``"rfc5280"`` for the intranet kind (private CAs) and ``"webpki"`` for
        the instance, internet and override kinds."""
        if self.profile is not None:
            return self.profile
        return "rfc5280" if self.kind is PolicyKind.INTRANET else "webpki"

    def mode(self, check: str) -> CheckMode:
        """Return the mode of ``check`` (``"chain"``, ``"hostname"``, ``"ocsp"``,
        ``"crl"``); an unknown name returns :attr:`CheckMode.OFF`."""
        value = getattr(self, check, None) if check in _CHECK_NAMES else None
        return value if isinstance(value, CheckMode) else CheckMode.OFF

    def is_expired(self, today: _dt.date) -> bool:
        """``True`` when the row has an ``expires`` date before ``today``."""
        return self.expires is not None and today > self.expires

    def with_modes(self, **modes: CheckMode) -> Policy:
        """Return a copy with some check modes replaced."""
        return replace(self, **modes)  # type: ignore[arg-type]

    def summary(self) -> str:
        """One line: ``"chain=enforce hostname=enforce ocsp=off crl=off"``."""
        return " ".join(f"{c}={self.mode(c).value}" for c in _CHECK_NAMES)


_CHECK_NAMES = ("chain", "hostname", "ocsp", "crl")

# ---------------------------------------------------------------------------
# Parsing one row
# ---------------------------------------------------------------------------

#: Keys a policy row (or ``[defaults]``) may carry.
ROW_KEYS = frozenset(
    {
        "name",
        "kind",
        "targets",
        "ranges",
        "chain",
        "hostname",
        "ocsp",
        "crl",
        "revocation_check",
        "checks",
        "cn_fallback",
        "hostname_without_chain",
        "trust",
        "max_chain_depth",
        "profile",
        "certificate_policies",
        "require_explicit_policy",
        "inhibit_policy_mapping",
        "inhibit_any_policy",
        "revocation",
        "revocation_failure",
        "revocation_cache",
        "client_cert",
        "expires",
        "owner",
        "reason",
    }
)
_INHERITABLE = ROW_KEYS - {"name", "kind", "targets", "ranges", "expires", "owner", "reason"}
TRUST_KEYS = frozenset({"system", "extra", "aia_fetch", "aia_limits"})
REVOCATION_KEYS = frozenset(
    {
        "order",
        "scope",
        "outcomes",
        "clock_skew",
        "ocsp_max_age",
        "crl_grace",
        "refresh_margin",
        "nonce",
        "ocsp_responder_check",
        "ocsp_responder",
        "static_crls",
        "fetch_crls",
        "cache_dir",
        "cache_url",
        "crl_limits",
        "ocsp_limits",
        "retry",
    }
)
LIMIT_KEYS = frozenset(
    {"connect_timeout", "read_timeout", "total_timeout", "max_bytes", "max_redirects"}
)
RETRY_KEYS = frozenset({"attempts", "backoff", "max_backoff", "jitter", "deadline"})
CLIENT_KEYS = frozenset({"cert", "key", "chain", "passphrase_env"})


def inheritable_keys() -> frozenset[str]:
    """Keys that ``[defaults]`` may set and every row inherits."""
    return _INHERITABLE


def parse_mode(value: Any, field_name: str) -> CheckMode:
    """Parse a check mode: ``"enforce" | "audit" | "off"`` or a boolean
    (``true`` = enforce, ``false`` = off)."""
    if isinstance(value, CheckMode):
        return value
    if isinstance(value, bool):
        return CheckMode.ENFORCE if value else CheckMode.OFF
    if isinstance(value, str):
        try:
            return CheckMode(value.strip().lower())
        except ValueError:
            pass
    raise _err(f"invalid mode {value!r}; expected 'enforce', 'audit', 'off' or a boolean", field_name)


def _parse_limits(value: Any, base: FetchLimits, field_name: str) -> FetchLimits:
    if not isinstance(value, Mapping):
        raise _err(f"expected a table, got {value!r}", field_name)
    _check_keys(value, LIMIT_KEYS, field_name)
    kwargs: dict[str, Any] = {}
    for k, v in value.items():
        if k in ("max_bytes", "max_redirects"):
            kwargs[k] = _number(v, f"{field_name}.{k}", minimum=0 if k == "max_redirects" else 1, integer=True)
        else:
            kwargs[k] = float(_number(v, f"{field_name}.{k}", minimum=0.001))
    return replace(base, **kwargs)


def _parse_retry(value: Any, field_name: str) -> RetryPolicy:
    if not isinstance(value, Mapping):
        raise _err(f"expected a table, got {value!r}", field_name)
    _check_keys(value, RETRY_KEYS, field_name)
    kwargs: dict[str, Any] = {}
    for k, v in value.items():
        if k == "attempts":
            kwargs[k] = _number(v, f"{field_name}.{k}", minimum=1, integer=True)
        elif k == "jitter":
            j = float(_number(v, f"{field_name}.{k}"))
            if j > 1:
                raise _err(f"must be between 0 and 1, got {v!r}", f"{field_name}.{k}")
            kwargs[k] = j
        else:
            kwargs[k] = float(_number(v, f"{field_name}.{k}"))
    return RetryPolicy(**kwargs)


def parse_outcome_map(value: Any, base: Mapping[Outcome, Action], field_name: str) -> Mapping[Outcome, Action]:
    """Parse ``{outcome: action}``; ``revoked`` may only map to ``fail``."""
    if not isinstance(value, Mapping):
        raise _err(f"expected a table of outcome = action, got {value!r}", field_name)
    result = dict(base)
    for k, v in value.items():
        try:
            outcome = Outcome(str(k).strip().lower().replace("_", "-"))
        except ValueError:
            raise _err(
                f"unknown outcome {k!r}; known outcomes: {', '.join(o.value for o in Outcome)}",
                field_name,
            ) from None
        try:
            action = Action(str(v).strip().lower())
        except ValueError:
            raise _err(f"invalid action {v!r} for {k!r}; expected 'fail', 'warn' or 'pass'", field_name) from None
        if outcome is Outcome.REVOKED and action is not Action.FAIL:
            raise _err("'revoked' always maps to 'fail' and cannot be set otherwise", field_name)
        if outcome is Outcome.GOOD and action is not Action.PASS:
            raise _err("'good' always maps to 'pass'", field_name)
        result[outcome] = action
    return MappingProxyType(result)


def _parse_revocation(value: Any, base: RevocationSettings, field_name: str = "revocation") -> RevocationSettings:
    if not isinstance(value, Mapping):
        raise _err(f"expected a table, got {value!r}", field_name)
    _check_keys(value, REVOCATION_KEYS, field_name)
    kwargs: dict[str, Any] = {}
    for k, v in value.items():
        f = f"{field_name}.{k}"
        if k == "order":
            order = str(v).strip().lower()
            aliases = {"ocsp,crl": "ocsp-first", "crl,ocsp": "crl-first"}
            order = aliases.get(order.replace(" ", ""), order)
            if order not in ("ocsp-first", "crl-first", "both"):
                raise _err(f"invalid order {v!r}; expected 'ocsp-first', 'crl-first' or 'both'", f)
            kwargs[k] = order
        elif k == "scope":
            if v not in ("leaf", "chain"):
                raise _err(f"invalid scope {v!r}; expected 'leaf' or 'chain'", f)
            kwargs[k] = v
        elif k == "outcomes":
            kwargs[k] = parse_outcome_map(v, base.outcomes, f)
        elif k in ("clock_skew", "ocsp_max_age", "crl_grace", "refresh_margin"):
            kwargs[k] = float(_number(v, f))
        elif k in ("nonce", "fetch_crls"):
            kwargs[k] = _bool(v, f)
        elif k == "ocsp_responder_check":
            if v not in ("check", "require-nocheck", "ignore"):
                raise _err(f"invalid value {v!r}; expected 'check', 'require-nocheck' or 'ignore'", f)
            kwargs[k] = v
        elif k in ("ocsp_responder", "cache_dir"):
            if v is not None and not isinstance(v, str):
                raise _err(f"expected a string, got {v!r}", f)
            if k == "ocsp_responder" and v and not str(v).lower().startswith(("http://", "https://")):
                raise _err(f"responder URL must be http:// or https://, got {v!r}", f)
            kwargs[k] = v
        elif k == "cache_url":
            kwargs[k] = parse_cache_url(v, f)
        elif k == "static_crls":
            kwargs[k] = _str_list(v, f)
        elif k == "crl_limits":
            kwargs[k] = _parse_limits(v, base.crl_limits, f)
        elif k == "ocsp_limits":
            kwargs[k] = _parse_limits(v, base.ocsp_limits, f)
        elif k == "retry":
            kwargs[k] = _parse_retry(v, f)
    return replace(base, **kwargs)


#: URL schemes of the shared revocation store (:mod:`certpolicy.revocation.redis_store`).
CACHE_URL_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")


def parse_cache_url(value: Any, field_name: str) -> str | None:
    """Parse ``revocation_cache``: a Redis / Valkey URL, or ``None`` / ``""`` for none.

    Raises:
        PolicyConfigError: not a string, or a scheme other than
            :data:`CACHE_URL_SCHEMES`.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _err(f"expected a redis:// URL, got {value!r}", field_name)
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in CACHE_URL_SCHEMES:
        raise _err(f"unsupported revocation cache URL {value!r}; expected one of {', '.join(s + '://' for s in CACHE_URL_SCHEMES)}", field_name)
    return value


def _parse_trust(value: Any, base: TrustSpec) -> TrustSpec:
    if not isinstance(value, Mapping):
        raise _err(f"expected a table like {{ system = true, extra = [...] }}, got {value!r}", "trust")
    _check_keys(value, TRUST_KEYS, "trust")
    kwargs: dict[str, Any] = {}
    for k, v in value.items():
        if k in ("system", "aia_fetch"):
            kwargs[k] = _bool(v, f"trust.{k}")
        elif k == "extra":
            kwargs[k] = _str_list(v, "trust.extra")
        elif k == "aia_limits":
            kwargs[k] = _parse_limits(v, base.aia_limits, "trust.aia_limits")
    return replace(base, **kwargs)


def _parse_client(value: Any) -> ClientIdentitySpec | None:
    if value is None or value is False:
        return None
    if isinstance(value, str):
        return ClientIdentitySpec(cert=value)
    if not isinstance(value, Mapping):
        raise _err(f"expected a table {{ cert = ..., key = ..., chain = ..., passphrase_env = ... }}, got {value!r}", "client_cert")
    _check_keys(value, CLIENT_KEYS, "client_cert")
    if "passphrase" in value:  # pragma: no cover - rejected by _check_keys already
        raise _err("a passphrase is never read from the policy file; use passphrase_env", "client_cert")
    cert = value.get("cert")
    if not isinstance(cert, str) or not cert:
        raise _err("'cert' (a PEM or PKCS#12 file) is required", "client_cert.cert")
    for k in ("key", "chain", "passphrase_env"):
        if value.get(k) is not None and not isinstance(value.get(k), str):
            raise _err(f"expected a string, got {value.get(k)!r}", f"client_cert.{k}")
    return ClientIdentitySpec(
        cert=cert, key=value.get("key"), chain=value.get("chain"), passphrase_env=value.get("passphrase_env")
    )


def _parse_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return _dt.date.fromisoformat(text) if len(text) == 10 else _dt.datetime.fromisoformat(text).date()
        except ValueError:
            pass
    raise _err(f"expected a date (YYYY-MM-DD), got {value!r}", "expires")


def parse_policy_row(
    row: Mapping[str, Any],
    *,
    kind: PolicyKind,
    name: str,
    defaults: Mapping[str, Any] | None = None,
    base: Policy | None = None,
    source: str | None = None,
) -> Policy:
    """Build a :class:`Policy` from one row of a policy file.

    Args:
        row: the row's keys (see :data:`ROW_KEYS`). Check modes take
            ``"enforce" | "audit" | "off"`` or booleans; ``checks = {chain = true, ...}``
            and ``revocation_check`` (both OCSP and CRL) are accepted as in the
            agent's table; ``revocation_failure = "soft" | "hard"`` is a shorthand
            for the outcome map.
        kind: the row's kind.
        name: the row's name.
        defaults: ``[defaults]`` keys inherited by the row (the row wins).
        base: a policy whose settings are the starting point (presets).
        source: where the row comes from (for messages), e.g. ``"p.toml: override[2]"``.

    Returns:
        the frozen :class:`Policy`.

    Raises:
        PolicyConfigError: an unknown key (the message lists the known ones), a bad
            value, an invalid target; the error names the field.
    """
    if not isinstance(row, Mapping):
        raise PolicyConfigError(f"expected a table, got {type(row).__name__}")
    if not ROW_KEYS.issuperset(row):
        _check_keys(row, ROW_KEYS, "<row>")
    if defaults:
        # ``[defaults]`` is parsed into the base policy; the row's keys then win.
        _check_keys(defaults, _INHERITABLE, "defaults")
        base = parse_policy_row(defaults, kind=kind, name=name, base=base)
    merged = row

    p = base or _DEFAULT_POLICY
    kwargs: dict[str, Any] = {"name": name, "kind": kind}
    if source is not None:
        kwargs["source"] = source

    checks = merged.get("checks")
    if checks is not None:
        if not isinstance(checks, Mapping):
            raise _err(f"expected a table like {{ chain = true, ... }}, got {checks!r}", "checks")
        _check_keys(checks, frozenset(_CHECK_NAMES) | {"revocation"}, "checks")
        for c, v in checks.items():
            if c == "revocation":
                kwargs["ocsp"] = kwargs["crl"] = parse_mode(v, "checks.revocation")
            else:
                kwargs[c] = parse_mode(v, f"checks.{c}")
    if "revocation_check" in merged:
        kwargs["ocsp"] = kwargs["crl"] = parse_mode(merged["revocation_check"], "revocation_check")
    for c in _CHECK_NAMES:
        if c in merged:
            kwargs[c] = parse_mode(merged[c], c)

    if "cn_fallback" in merged:
        v = merged["cn_fallback"]
        if v not in ("never", "legacy"):
            raise _err(f"invalid value {v!r}; expected 'never' or 'legacy'", "cn_fallback")
        kwargs["cn_fallback"] = v
    if "hostname_without_chain" in merged:
        kwargs["hostname_without_chain"] = _bool(merged["hostname_without_chain"], "hostname_without_chain")
    if "trust" in merged:
        kwargs["trust"] = _parse_trust(merged["trust"], p.trust)
    if "max_chain_depth" in merged:
        v = merged["max_chain_depth"]
        kwargs["max_chain_depth"] = None if v is None else _number(v, "max_chain_depth", minimum=0, integer=True)
        if v is not None and v > 255:
            raise _err(f"must be between 0 and 255, got {v!r}", "max_chain_depth")

    if "profile" in merged:
        v = merged["profile"]
        if v not in VALIDATION_PROFILES:
            raise _err(f"invalid value {v!r}; expected 'webpki' or 'rfc5280'", "profile")
        kwargs["profile"] = v
    if "certificate_policies" in merged:
        kwargs["certificate_policies"] = policy_oids(merged["certificate_policies"], "certificate_policies")
    for k in ("require_explicit_policy", "inhibit_policy_mapping", "inhibit_any_policy"):
        if k in merged:
            kwargs[k] = _bool(merged[k], k)

    rev = p.revocation
    if "revocation" in merged:
        # starts from the base's (the defaults') settings: row keys win.
        rev = _parse_revocation(merged["revocation"], rev)
    if "revocation_failure" in merged:
        v = str(merged["revocation_failure"]).strip().lower()
        if v not in ("soft", "hard"):
            raise _err(f"invalid value {merged['revocation_failure']!r}; expected 'soft' or 'hard'", "revocation_failure")
        rev = replace(rev, outcomes=SOFT_FAIL_OUTCOME_MAP if v == "soft" else DEFAULT_OUTCOME_MAP)
        if "revocation" in merged and isinstance(merged["revocation"], Mapping) and "outcomes" in merged["revocation"]:
            rev = replace(rev, outcomes=parse_outcome_map(merged["revocation"]["outcomes"], rev.outcomes, "revocation.outcomes"))
    if "revocation_cache" in merged:
        rev = replace(rev, cache_url=parse_cache_url(merged["revocation_cache"], "revocation_cache"))
    kwargs["revocation"] = rev

    if "client_cert" in merged:
        kwargs["client_identity"] = _parse_client(merged["client_cert"])

    tgt_key = "targets" if "targets" in row else ("ranges" if "ranges" in row else None)
    if tgt_key is not None:
        try:
            kwargs["targets"] = parse_targets(row[tgt_key])
        except PolicyConfigError as e:
            raise e.located(field=tgt_key) from None
    if "expires" in row:
        kwargs["expires"] = None if row["expires"] is None else _parse_date(row["expires"])
    for k in ("owner", "reason"):
        if k in row:
            if row[k] is not None and not isinstance(row[k], str):
                raise _err(f"expected a string, got {row[k]!r}", k)
            kwargs[k] = row[k]
    # Faster than dataclasses.replace (large tables load row by row).
    values = {f: getattr(p, f) for f in _POLICY_FIELDS}
    values.update(kwargs)
    return Policy(**values)


_DEFAULT_POLICY = Policy(name="<default>", kind=PolicyKind.OVERRIDE)
_POLICY_FIELDS = tuple(f.name for f in fields(Policy))
