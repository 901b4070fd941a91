"""The policy table: every policy row, loaded and validated as a whole.

A :class:`PolicyTable` holds one instance, one internet and one intranet
policy plus any number of overrides. It is built from a TOML or JSON file
(:meth:`PolicyTable.load`), a dict (:meth:`PolicyTable.from_dict`), an agent
``config.xml`` (:meth:`certpolicy.midconfig.MidConfig.table`, which builds
it with :meth:`PolicyTable.from_dict` like any caller) or a preset
(:meth:`PolicyTable.fresh_install`, :meth:`PolicyTable.upgraded_install`).

File shape (SPEC "Public API")::

    [defaults]                  # inherited by every policy below
    chain = "enforce"; hostname = "enforce"; ocsp = "off"; crl = "off"

    [instance]
    targets = ["*.service-now.com"]

    [internet]
    crl = "enforce"

    [intranet]
    ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    chain = "audit"

    [[override]]
    name = "legacy-ldap-gateway"
    targets = "ldaps.corp.example, 10.10.10.0/24, 10.10.11.0-10.10.11.165"
    hostname = "off"
    expires = 2027-03-31

The agent's list form is accepted too: ``{"policies": [{"name": ..., "kind":
"override", "targets": ..., "checks": {"chain": true, ...}}, ...]}``.

Loading is all-or-nothing: any error raises :class:`PolicyConfigError` naming
the file, the row and the field, and no partially loaded table is returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import gc
import json
import os
import stat
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import PolicyConfigError
from .policy import CheckMode, Policy, PolicyKind, inheritable_keys, parse_policy_row
from .targets import HostTarget, IPRangeTarget, Target, UrlTarget, parse_targets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["DEFAULT_INSTANCE_TARGETS", "DEFAULT_INTRANET_RANGES", "AgentConfig", "PolicyTable"]

#: The agent's default instance endpoints.
DEFAULT_INSTANCE_TARGETS = ("*.service-now.com",)

#: SPEC: the IANA special-purpose registries' private and local blocks.
DEFAULT_INTRANET_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)

#: Largest policy file :meth:`PolicyTable.load` reads, in bytes.
MAX_POLICY_FILE_BYTES = 64 * 1024 * 1024

_TOP_KEYS = frozenset({"defaults", "instance", "internet", "intranet", "override", "overrides", "policies"})
_SINGLE_KINDS = (PolicyKind.INSTANCE, PolicyKind.INTERNET, PolicyKind.INTRANET)


class AgentConfig(Protocol):
    """What a table keeps of the agent configuration it was built from.

    :class:`certpolicy.midconfig.MidConfig` is the one implementation; the
    table names the shape, not the module, so that the agent configuration
    depends on the table and never the other way round.
    """

    def apply_instance_policies(
        self,
        rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        *,
        write_back: bool = False,
        preset: str = "fresh",
    ) -> PolicyTable:
        """Apply the policy rows downloaded from the instance; the table in force."""
        ...

    def describe(self) -> list[tuple[str, str, str]]:
        """``(parameter, value, origin)`` rows."""
        ...


@dataclass(frozen=True)
class PolicyTable:
    """A validated, immutable set of policies.

    Attributes:
        instance / internet / intranet: the three built-in policies.
        overrides: override rows, in file order (order never changes precedence).
        intranet_ranges: the address ranges that classify a peer as intranet.
        source: file name or ``"<dict>"``.
        warnings: load-time warnings (expired overrides, hostname checked
            without a chain, ...), as sentences.
        mid_config: the agent configuration the table was built from (a
            :class:`certpolicy.midconfig.MidConfig`, see :class:`AgentConfig`),
            else ``None``.
        notes: how the table came to be, shown as warnings of every
            resolution (``explain``), e.g. instance rows fetched but not
            applied because ``mid.ssl.use.instance.security.policy`` is false.
    """

    instance: Policy
    internet: Policy
    intranet: Policy
    overrides: tuple[Policy, ...] = ()
    source: str = "<dict>"
    warnings: tuple[str, ...] = ()
    mid_config: AgentConfig | None = field(default=None, compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    # -- construction -------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, today: _dt.date | None = None, max_bytes: int = MAX_POLICY_FILE_BYTES
    ) -> PolicyTable:
        """Load a policy file: TOML (``.toml``) or JSON (``.json``; other
        extensions are sniffed).

        Args:
            path: the file.
            today: the date used for the expired-row warnings (default: today, UTC).
            max_bytes: largest accepted file, in bytes (default 64 MiB, about
                700,000 rows).

        Raises:
            PolicyConfigError: unreadable file, syntax error (with the position),
                or any invalid row, field or target.
        """
        p = Path(path)
        src = str(path)
        try:
            st = p.stat()
            if not stat.S_ISREG(st.st_mode):
                raise PolicyConfigError("not a regular file", source=src)
            if st.st_size > max_bytes:
                raise PolicyConfigError(f"policy file is larger than {max_bytes} bytes ({st.st_size})", source=src)
            with p.open("rb") as f:
                raw = f.read(max_bytes + 1)
        except OSError as e:
            raise PolicyConfigError(f"cannot read policy file: {e.strerror or e}", source=src) from None
        if len(raw) > max_bytes:
            raise PolicyConfigError(f"policy file is larger than {max_bytes} bytes", source=src)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PolicyConfigError(f"policy file is not UTF-8 text ({e})", source=src) from None
        data: Any
        as_json = p.suffix.lower() == ".json" or (p.suffix.lower() != ".toml" and text.lstrip().startswith(("{", "[")))
        if as_json:
            try:
                data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except json.JSONDecodeError as e:
                raise PolicyConfigError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", source=src) from None
            except (ValueError, RecursionError) as e:
                raise PolicyConfigError(f"invalid JSON: {_short(e)}", source=src) from None
        else:
            try:
                data = tomllib.loads(text)
            except RecursionError:
                raise PolicyConfigError("invalid TOML: nested too deeply", source=src) from None
            except tomllib.TOMLDecodeError as e:
                # The SPEC writes several keys on one line separated by ';'
                # (not TOML); accept that form, nothing else.
                relaxed = _split_semicolons(text)
                if relaxed == text:
                    raise PolicyConfigError(f"invalid TOML: {e}", source=src) from None
                try:
                    data = tomllib.loads(relaxed)
                except (tomllib.TOMLDecodeError, RecursionError):
                    raise PolicyConfigError(f"invalid TOML: {e}", source=src) from None
        return cls.from_dict(data, source=src, today=today, base_dir=p.parent)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        source: str = "<dict>",
        today: _dt.date | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        mid_config: AgentConfig | None = None,
    ) -> PolicyTable:
        """Build a table from the file's data structure (see module docstring).

        Args:
            data: the SPEC shape (``defaults``/``instance``/``internet``/``intranet``/
                ``override``), or the list form (``{"policies": [...]}`` or a list of rows
                each with ``kind``).
            source: name used in error messages.
            today: date for expired-row warnings.
            base_dir: directory that relative file names (``trust.extra``,
                ``revocation.static_crls``, ``revocation.cache_dir``,
                ``client_cert``) are relative to; :meth:`load` passes the
                policy file's directory. ``None``: the working directory.
            mid_config: the agent configuration the data comes from, kept as
                :attr:`mid_config` (:meth:`certpolicy.midconfig.MidConfig.table`
                passes itself).

        Raises:
            PolicyConfigError: naming the source, row and field.
        """
        with gc_paused():
            table = cls._from_dict(data, source=source, today=today, base_dir=base_dir)
        if mid_config is not None:
            table = dataclasses.replace(table, mid_config=mid_config)
        return table

    @classmethod
    def _from_dict(
        cls,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        source: str,
        today: _dt.date | None,
        base_dir: str | os.PathLike[str] | None,
    ) -> PolicyTable:
        if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            data = {"policies": list(data)}
        if not isinstance(data, Mapping):
            raise PolicyConfigError(f"expected a table at the top level, got {type(data).__name__}", source=source)
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise PolicyConfigError(
                f"unknown top-level key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(_TOP_KEYS))}",
                source=source,
            )
        defaults = data.get("defaults", {})
        if not isinstance(defaults, Mapping):
            raise PolicyConfigError(f"expected a table, got {defaults!r}", source=source, row="defaults")
        if "override" in data and "overrides" in data:
            raise PolicyConfigError(
                "both 'override' and 'overrides' are given; use one of them (they are the same list)",
                source=source,
            )

        singles: dict[PolicyKind, tuple[str, Mapping[str, Any]]] = {}
        override_rows: list[tuple[str, Mapping[str, Any]]] = []

        for kind in _SINGLE_KINDS:
            if kind.value in data:
                row = data[kind.value]
                if not isinstance(row, Mapping):
                    raise PolicyConfigError("expected a table", source=source, row=kind.value)
                singles[kind] = (kind.value, row)
        ov_key = "override" if "override" in data else ("overrides" if "overrides" in data else None)
        if ov_key:
            rows = data[ov_key]
            if isinstance(rows, Mapping):
                rows = [rows]
            if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
                raise PolicyConfigError("expected an array of tables", source=source, row=ov_key)
            for i, row in enumerate(rows):
                override_rows.append((f"override[{i}]", row))
        if "policies" in data:
            rows = data["policies"]
            if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
                raise PolicyConfigError("expected an array of rows", source=source, row="policies")
            for i, row in enumerate(rows):
                label = f"policies[{i}]"
                if not isinstance(row, Mapping):
                    raise PolicyConfigError("expected a table", source=source, row=label)
                try:
                    kind = PolicyKind(str(row.get("kind", "")).strip().lower())
                except ValueError:
                    raise PolicyConfigError(
                        f"invalid kind {row.get('kind')!r}; expected one of {', '.join(k.value for k in PolicyKind)}",
                        source=source,
                        row=label,
                        field="kind",
                    ) from None
                body = {k: v for k, v in row.items() if k != "kind"}
                if kind is PolicyKind.OVERRIDE:
                    override_rows.append((label, body))
                else:
                    if kind in singles:
                        raise PolicyConfigError(
                            f"a second {kind.value!r} policy; the table has exactly one of each built-in kind",
                            source=source,
                            row=label,
                        )
                    singles[kind] = (label, body)

        if defaults:
            unknown_defaults = set(defaults) - inheritable_keys()
            if unknown_defaults:
                raise PolicyConfigError(
                    f"key(s) {', '.join(map(repr, sorted(unknown_defaults)))} cannot be inherited; "
                    f"[defaults] takes: {', '.join(sorted(inheritable_keys()))}",
                    source=source,
                    row="defaults",
                )

        try:
            defaults_base = parse_policy_row(defaults, kind=PolicyKind.OVERRIDE, name="<defaults>", defaults=None) if defaults else None
        except PolicyConfigError as e:
            raise e.located(source=source, row="defaults") from None
        def build(kind: PolicyKind, label: str, row: Mapping[str, Any], name: str) -> Policy:
            try:
                policy = parse_policy_row(
                    row, kind=kind, name=name, base=defaults_base, source=f"{source}: {_row_label(label, name)}"
                )
            except PolicyConfigError as e:
                raise e.located(source=source, row=_row_label(label, name)) from None
            return _rebase(policy, base_dir) if base_dir is not None else policy

        built: dict[PolicyKind, Policy] = {}
        for kind in _SINGLE_KINDS:
            label, row = singles.get(kind, (kind.value, {}))
            name = str(row.get("name") or kind.value)
            row = dict(row)
            row.pop("name", None)
            if kind is PolicyKind.INSTANCE and "targets" not in row:
                row["targets"] = list(DEFAULT_INSTANCE_TARGETS)
            if kind is PolicyKind.INTRANET and "targets" in row and "ranges" in row:
                raise PolicyConfigError(
                    "give the intranet ranges once, as 'ranges' (or 'targets'), not both",
                    source=source,
                    row=_row_label(label, name),
                    field="ranges",
                )
            if kind is PolicyKind.INTRANET and "targets" not in row and "ranges" not in row:
                row["ranges"] = list(DEFAULT_INTRANET_RANGES)
            if kind is PolicyKind.INTERNET:
                row.pop("targets", None)  # the internet policy applies to everything else
            for bad in ("expires",):
                if bad in row:
                    raise PolicyConfigError(
                        f"{bad!r} is only allowed on override rows", source=source, row=_row_label(label, name), field=bad
                    )
            built[kind] = build(kind, label, row, name)
        intranet = built[PolicyKind.INTRANET]
        for t in intranet.targets:
            if not isinstance(t, IPRangeTarget):
                raise PolicyConfigError(
                    f"intranet ranges must be addresses, CIDR blocks or dash ranges, not {t.text!r}",
                    source=source,
                    row=_row_label(singles.get(PolicyKind.INTRANET, ("intranet", {}))[0], intranet.name),
                    field="ranges",
                )

        overrides: list[Policy] = []
        for label, row in override_rows:
            if not isinstance(row, Mapping):
                raise PolicyConfigError("expected a table", source=source, row=label)
            raw_name = row.get("name")
            name = label if raw_name is None else raw_name
            if not isinstance(name, str) or not name.strip():
                raise PolicyConfigError(f"invalid name {name!r}", source=source, row=label, field="name")
            body = dict(row) if not isinstance(row, dict) else row
            if "targets" not in body:
                raise PolicyConfigError("an override needs 'targets'", source=source, row=_row_label(label, name), field="targets")
            if "ranges" in body:
                raise PolicyConfigError(
                    "'ranges' belongs to the intranet policy; overrides use 'targets'",
                    source=source,
                    row=_row_label(label, name),
                    field="ranges",
                )
            policy = build(PolicyKind.OVERRIDE, label, body, name)
            if not policy.targets:
                raise PolicyConfigError("an override needs at least one target", source=source, row=_row_label(label, name), field="targets")
            overrides.append(policy)

        names: dict[str, str] = {}
        for p in (*built.values(), *overrides):
            if p.name in names:
                raise PolicyConfigError(
                    f"duplicate policy name {p.name!r} (also {names[p.name]})", source=source, row=p.source.split(": ", 1)[-1]
                )
            names[p.name] = p.source

        _check_ties(overrides, source)
        _check_ties([built[PolicyKind.INSTANCE]], source)

        today = today or _dt.datetime.now(_dt.timezone.utc).date()
        warnings: list[str] = []
        for p in (*built.values(), *overrides):
            if p.hostname.active and not p.chain.active and not p.hostname_without_chain:
                warnings.append(
                    f"{p.source}: hostname is {p.hostname.value} but chain is off; the hostname check needs a "
                    "validated chain and will be skipped (set hostname_without_chain = true to run it anyway)"
                )
            if p.is_expired(today):
                warnings.append(f"{p.source}: override {p.name!r} expired on {p.expires}; it no longer matches")
        return cls(
            instance=built[PolicyKind.INSTANCE],
            internet=built[PolicyKind.INTERNET],
            intranet=intranet,
            overrides=tuple(overrides),
            source=source,
            warnings=tuple(warnings),
        )

    @classmethod
    def fresh_install(cls, *, instance_targets: Iterable[str] = DEFAULT_INSTANCE_TARGETS) -> PolicyTable:
        """The agent's fresh-install preset: every policy and every check on (enforce)."""
        on = {"chain": "enforce", "hostname": "enforce", "ocsp": "enforce", "crl": "enforce"}
        return cls.from_dict(
            {"defaults": on, "instance": {"targets": list(instance_targets)}, "internet": {}, "intranet": {}},
            source="<preset fresh-install>",
        )

    @classmethod
    def upgraded_install(cls, *, instance_targets: Iterable[str] = DEFAULT_INSTANCE_TARGETS) -> PolicyTable:
        """The agent's upgraded-install preset: instance and internet policies
        on, the intranet policy's checks off."""
        on = {"chain": "enforce", "hostname": "enforce", "ocsp": "enforce", "crl": "enforce"}
        off = {"chain": "off", "hostname": "off", "ocsp": "off", "crl": "off"}
        return cls.from_dict(
            {"defaults": on, "instance": {"targets": list(instance_targets)}, "internet": {}, "intranet": off},
            source="<preset upgraded-install>",
        )

    @classmethod
    def default(cls) -> PolicyTable:
        """certpolicy's own default: chain and hostname enforced everywhere,
        revocation off (the shape of the SPEC's example file without overrides)."""
        return cls.from_dict(
            {"defaults": {"chain": "enforce", "hostname": "enforce", "ocsp": "off", "crl": "off"}},
            source="<default>",
        )

    # -- access --------------------------------------------------------------

    @property
    def policies(self) -> tuple[Policy, ...]:
        """Every policy: instance, internet, intranet, then overrides."""
        return (self.instance, self.internet, self.intranet, *self.overrides)

    @property
    def intranet_ranges(self) -> tuple[IPRangeTarget, ...]:
        return tuple(t for t in self.intranet.targets if isinstance(t, IPRangeTarget))

    def check_files(self, *, client_identities: bool = True) -> None:
        """Read every file the policies name (trust anchors, static CRLs) once,
        so a missing or unreadable file is a configuration error now and not a
        failed connection later. :func:`certpolicy.create_ssl_context` and
        ``certpolicy policy validate`` call it.

        Raises:
            PolicyConfigError: naming the file, the policy and the field.
            ClientCertificateError: a policy's client certificate cannot be
                loaded (naming the file and why; passphrases from environment
                variables must be set).
        """
        from .trust import trust_anchors

        for p in self.policies:
            if p.chain.active and p.trust.extra:
                try:
                    trust_anchors(p.trust)
                except PolicyConfigError as e:
                    raise PolicyConfigError(e.bare_message, source=self.source, row=p.name, field="trust.extra") from None
            if client_identities and p.client_identity is not None:
                from .identity import ClientIdentity

                ClientIdentity.load(p.client_identity)  # raises ClientCertificateError naming the file
            if p.crl.active:
                for path in p.revocation.static_crls:
                    if not os.path.exists(path):
                        raise PolicyConfigError(
                            f"static CRL file or folder {path!r} does not exist",
                            source=self.source,
                            row=p.name,
                            field="revocation.static_crls",
                        )

    def get(self, name: str) -> Policy:
        """Return the policy named ``name``.

        Raises:
            KeyError: no such policy.
        """
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.policies)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (names, kinds, targets, modes)."""
        return {
            "source": self.source,
            "policies": [
                {
                    "name": p.name,
                    "kind": p.kind.value,
                    "targets": [t.text for t in p.targets],
                    "chain": p.chain.value,
                    "hostname": p.hostname.value,
                    "ocsp": p.ocsp.value,
                    "crl": p.crl.value,
                    "cn_fallback": p.cn_fallback,
                    "expires": p.expires.isoformat() if p.expires else None,
                    "reason": p.reason,
                    "owner": p.owner,
                }
                for p in self.policies
            ],
            "warnings": list(self.warnings),
        }


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects
    (a 100,000-row table loads about 40% faster); it is re-enabled after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON object hook: a key given twice is an error (TOML refuses it too),
    never "the last one wins"."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"key {k!r} is given twice in one object")
        out[k] = v
    return out


def _short(e: BaseException) -> str:
    return str(e)[:200]


def _split_semicolons(text: str) -> str:
    """Turn ``a = 1; b = 2`` lines into one key per line, outside strings,
    brackets and comments."""
    out_lines = []
    for line in text.splitlines():
        buf: list[str] = []
        quote: str | None = None
        depth = 0
        for i, ch in enumerate(line):
            if quote:
                buf.append(ch)
                if ch == quote:
                    quote = None
                continue
            if ch in "\"'":
                quote = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            elif ch == "#":
                buf.append(line[i:])
                break
            elif ch == ";" and depth == 0:
                buf.append("\n")
                continue
            buf.append(ch)
        out_lines.append("".join(buf))
    return "\n".join(out_lines) + ("\n" if text.endswith("\n") else "")


def _row_label(label: str, name: str) -> str:
    return label if label == name else f"{label} {name!r}"


def _rebase(policy: Policy, base_dir: str | os.PathLike[str]) -> Policy:
    """Make the relative file names of ``policy`` relative to ``base_dir``."""
    from dataclasses import replace

    def fix(path: str) -> str:
        expanded = os.path.expanduser(path)
        return expanded if os.path.isabs(expanded) else os.path.normpath(os.path.join(os.fspath(base_dir), expanded))

    trust = replace(policy.trust, extra=tuple(fix(p) for p in policy.trust.extra))
    rev = policy.revocation
    rev = replace(
        rev,
        static_crls=tuple(fix(p) for p in rev.static_crls),
        cache_dir=fix(rev.cache_dir) if rev.cache_dir else None,
    )
    ident = policy.client_identity
    if ident is not None:
        ident = replace(
            ident,
            cert=fix(ident.cert),
            key=fix(ident.key) if ident.key else None,
            chain=fix(ident.chain) if ident.chain else None,
        )
    return replace(policy, trust=trust, revocation=rev, client_identity=ident)


def _tie_key(t: Target) -> tuple[Any, ...] | None:
    """A key equal for two targets that tie at the same rank on some query;
    ``None`` for IP ranges (checked by overlap)."""
    if isinstance(t, HostTarget):
        return ("wild" if t.wildcard else "host", t.host)
    if isinstance(t, UrlTarget):
        return ("url", t.scheme, t.host, t.port, t.path)
    if isinstance(t, IPRangeTarget) and t.single:
        return ("ip", t.first.version, int(t.first))
    return None


def _check_ties(rows: Sequence[Policy], source: str) -> None:
    """Raise when two different rows tie at the same rank for some name or address."""
    seen: dict[tuple[Any, ...], tuple[Policy, Target]] = {}
    ranges: dict[tuple[int, int], list[tuple[int, int, Policy, IPRangeTarget]]] = defaultdict(list)
    for p in rows:
        for t in p.targets:
            key = _tie_key(t)
            if key is not None:
                other = seen.get(key)
                if other is not None and other[0] is not p:
                    raise PolicyConfigError(
                        f"target {t.text!r} ties with target {other[1].text!r} of row {other[0].name!r} "
                        f"at the same rank; make one of them more specific or merge the rows",
                        source=source,
                        row=p.source.split(": ", 1)[-1],
                        field="targets",
                    )
                seen[key] = (p, t)
            elif isinstance(t, IPRangeTarget):
                ranges[(t.version, t.size)].append((int(t.first), int(t.last), p, t))
    for group in ranges.values():
        group.sort(key=lambda r: (r[0], r[1]))
        # Same-size ranges that overlap tie for every address in the overlap.
        reach: tuple[int, int, Policy, IPRangeTarget] | None = None
        for r in group:
            if reach is not None and r[0] <= reach[1] and r[2] is not reach[2]:
                raise PolicyConfigError(
                    f"address range {r[3].text!r} overlaps {reach[3].text!r} of row {reach[2].name!r} "
                    f"and has the same size ({r[3].size} addresses), so they tie at the same rank",
                    source=source,
                    row=r[2].source.split(": ", 1)[-1],
                    field="targets",
                )
            if reach is None or r[1] > reach[1]:
                reach = r


# Re-exported for convenience in type hints.
_ = (CheckMode, parse_targets)
