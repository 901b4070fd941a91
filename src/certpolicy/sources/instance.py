"""The instance's certificate check policy table, read over its REST Table API and mapped to policy rows.

:class:`InstanceSource` pages through ``GET /api/now/table/<table>``
(``sysparm_limit`` / ``sysparm_offset``) with basic or OAuth bearer
credentials, through the certpolicy context (under the instance policy of
the table in force), and maps each JSON ``result`` row to a policy row with
a :class:`FieldMap`. Tables differ between releases, so every field name is
configurable; the defaults are:

==================  ==========================  ==========================================
policy row key      Table API field (default)   value
==================  ==========================  ==========================================
``name``            ``name``                    text (rows without one are named ``row-N``)
``kind``            ``type``                    ``instance`` / ``internet`` / ``intranet`` /
                                                ``override`` (``custom``, ``endpoint`` mean override)
``targets``         ``target``                  comma-separated targets
``checks.chain``    ``check_cert_chain``        ``true`` / ``false``
``checks.hostname`` ``check_cert_hostname``     ``true`` / ``false``
``checks.ocsp``     ``check_cert_ocsp``         ``true`` / ``false``
``checks.crl``      ``check_cert_crl``          ``true`` / ``false``
(filter)            ``active``                  rows with ``false`` are skipped
(order)             ``order``                   rows are sorted by it (numbers)
==================  ==========================  ==========================================

A reference field given as ``{"value": ..., "link": ...}`` is read by its
``value``. With a :class:`~certpolicy.midconfig.MidConfig`, the rows are
applied as the agent applies them: replacing the bootstrap values when
``mid.ssl.use.instance.security.policy`` is true (and, with ``write_back``,
writing the instance switches into ``config.xml``), fetched but not applied
when it is false (the table in force is then the bootstrap table, whose
warnings say so).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PolicyConfigError
from ..midconfig import MidConfig
from ..policy import FetchLimits
from ..table import PolicyTable
from ..tablediff import document_digest
from .base import PolicySourceError, SourceResult
from .url import SOURCE_FETCH_DEFAULTS, https_get

__all__ = ["DEFAULT_TABLE", "FieldMap", "InstanceSource", "map_rows"]

#: The Table API table read by default.
DEFAULT_TABLE = "mid_cert_check_policy"
#: Rows read at most (all pages together).
MAX_ROWS = 10_000
_PAGE = 500
_KINDS = {
    "instance": "instance",
    "internet": "internet",
    "intranet": "intranet",
    "override": "override",
    "custom": "override",
    "endpoint": "override",
}


@dataclass(frozen=True)
class FieldMap:
    """Which Table API field holds each part of a policy row (see the module
    docstring for the defaults). ``None`` for a field the table lacks
    (``active=None``: every row is active; a missing check field leaves that
    check to the row kind's default)."""

    name: str | None = "name"
    kind: str | None = "type"
    targets: str | None = "target"
    chain: str | None = "check_cert_chain"
    hostname: str | None = "check_cert_hostname"
    ocsp: str | None = "check_cert_ocsp"
    crl: str | None = "check_cert_crl"
    active: str | None = "active"
    order: str | None = "order"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FieldMap:
        """A map from ``{"kind": "policy_type", ...}`` (unknown keys refused).

        Raises:
            PolicyConfigError: an unknown key or a value that is not text or null.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyConfigError(f"unknown field map key(s) {unknown}; known: {sorted(known)}", field="fields")
        for k, v in data.items():
            if v is not None and not isinstance(v, str):
                raise PolicyConfigError(f"expected a field name or null, got {v!r}", field=f"fields.{k}")
        return cls(**dict(data))

    def api_fields(self) -> list[str]:
        """The fields to ask for (``sysparm_fields``)."""
        return [v for v in dataclasses.astuple(self) if v]


def _value(row: Mapping[str, Any], key: str | None) -> Any:
    if key is None:
        return None
    v = row.get(key)
    if isinstance(v, Mapping):
        v = v.get("value")
    return v


def _flag(v: Any, where: str) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise PolicyConfigError(f"expected true or false, got {v!r}", field=where)


def map_rows(result: list[Any], fields: FieldMap = FieldMap(), *, source: str = "<instance>") -> list[dict[str, Any]]:
    """Map Table API ``result`` rows to policy rows (the agent's list form of
    :meth:`PolicyTable.from_dict`).

    Args:
        result: the ``result`` array of the Table API answer(s).
        fields: the field map.
        source: the name used in errors.

    Returns:
        ``[{"name", "kind", "targets", "checks": {...}}, ...]``, inactive rows
        left out, sorted by ``order``.

    Raises:
        PolicyConfigError: a row that is not an object, an unknown kind, a
            check field that is not a boolean (the error names the row).
    """
    out: list[tuple[float, int, dict[str, Any]]] = []
    for i, row in enumerate(result):
        if not isinstance(row, Mapping):
            raise PolicyConfigError(f"row {i} is not an object", source=source)
        label = str(_value(row, fields.name) or f"row-{i + 1}")
        try:
            if _flag(_value(row, fields.active), "active") is False:
                continue
            kind_text = str(_value(row, fields.kind) or "override").strip().lower()
            kind = _KINDS.get(kind_text)
            if kind is None:
                raise PolicyConfigError(f"unknown policy type {kind_text!r}; expected one of {sorted(_KINDS)}", field="kind")
            mapped: dict[str, Any] = {"name": label, "kind": kind}
            targets = _value(row, fields.targets)
            if targets not in (None, ""):
                mapped["targets"] = str(targets)
            checks = {}
            for check in ("chain", "hostname", "ocsp", "crl"):
                flag = _flag(_value(row, getattr(fields, check)), check)
                if flag is not None:
                    checks[check] = flag
            if checks:
                mapped["checks"] = checks
            order_raw = _value(row, fields.order)
            try:
                order = float(order_raw) if order_raw not in (None, "") else float("inf")
            except (TypeError, ValueError):
                raise PolicyConfigError(f"expected a number, got {order_raw!r}", field="order") from None
        except PolicyConfigError as e:
            raise PolicyConfigError(e.bare_message, source=source, row=label, field=e.field) from None
        out.append((order, i, mapped))
    out.sort(key=lambda t: (t[0], t[1]))
    return [m for _o, _i, m in out]


class InstanceSource:
    """The instance's policy table over the REST Table API.

    Args:
        instance: the instance URL (``https://acme.service-now.com``).
        ctx: the :class:`~certpolicy.context.PolicySSLContext` the requests go through.
        headers: the credentials (:func:`~certpolicy.sources.url.auth_header`).
        table: the Table API table (default :data:`DEFAULT_TABLE`).
        fields: the :class:`FieldMap`.
        mid_config: apply the rows as the agent does (see the module docstring).
        write_back: with ``mid_config`` and ``use.instance.security.policy``
            true, write the instance switches into ``config.xml`` once a
            table is in force (:meth:`commit`).
        defaults: the ``[defaults]`` row merged under every instance row: the
            settings the Table API does not carry (``trust``, ``revocation``,
            ``cn_fallback`` ...), as in a policy file.
        allow_empty: accept an answer without any active row (default
            ``False``: such an answer is refused and the table in force kept).
        limits: timeouts (seconds) and byte cap (bytes) of each page.
        interval: seconds between two polls when the sync names none (300).
    """

    remote = True

    def __init__(
        self,
        instance: str,
        ctx: Any,
        *,
        headers: Mapping[str, str] | None = None,
        table: str = DEFAULT_TABLE,
        fields: FieldMap = FieldMap(),
        mid_config: MidConfig | None = None,
        write_back: bool = False,
        defaults: Mapping[str, Any] | None = None,
        allow_empty: bool = False,
        limits: FetchLimits = SOURCE_FETCH_DEFAULTS,
        interval: float = 300.0,
    ) -> None:
        u = urllib.parse.urlsplit(instance)
        if u.scheme != "https" or not u.hostname:
            raise PolicyConfigError(f"the instance must be an https:// URL, got {instance!r}", field="instance")
        if not table or not all(c.isalnum() or c == "_" for c in table):
            raise PolicyConfigError(f"invalid table name {table!r}", field="table")
        self.instance = f"https://{u.netloc}"
        self.table = table
        self.name = f"{self.instance}/api/now/table/{table}"
        self.ctx = ctx
        self.headers = dict(headers or {})
        self.fields = fields
        self.mid_config = mid_config
        self.write_back = write_back
        self.defaults = dict(defaults or {})
        self.allow_empty = allow_empty
        self.limits = limits
        self.default_interval = float(interval)
        self._digest: str | None = None

    def __repr__(self) -> str:
        return f"InstanceSource({self.name!r})"

    def _page(self, offset: int) -> list[Any]:
        query = urllib.parse.urlencode(
            {
                "sysparm_limit": _PAGE,
                "sysparm_offset": offset,
                "sysparm_exclude_reference_link": "true",
                "sysparm_fields": ",".join(self.fields.api_fields()),
            }
        )
        resp = https_get(f"{self.name}?{query}", self.ctx, limits=self.limits, headers=self.headers)
        try:
            data = json.loads(resp.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise PolicySourceError(self.name, f"the Table API answer is not JSON ({e})") from None
        result = data.get("result") if isinstance(data, Mapping) else None
        if not isinstance(result, list):
            raise PolicySourceError(self.name, "the Table API answer has no 'result' array")
        return result

    def rows(self) -> list[Any]:
        """Every raw ``result`` row (all pages, at most :data:`MAX_ROWS`).

        Raises:
            PolicySourceError: a page cannot be fetched or decoded, or more
                than :data:`MAX_ROWS` rows.
        """
        rows: list[Any] = []
        while True:
            page = self._page(len(rows))
            rows.extend(page)
            if len(rows) > MAX_ROWS:
                raise PolicySourceError(self.name, f"more than {MAX_ROWS} rows")
            if len(page) < _PAGE:
                return rows

    def fetch(self) -> SourceResult:
        """Read the rows and build the table they give.

        Raises:
            PolicySourceError: the Table API cannot be read.
            PolicyConfigError: a row cannot be mapped or is invalid.
        """
        mapped = map_rows(self.rows(), self.fields, source=self.name)
        digest = document_digest(mapped)
        if digest == self._digest:
            return SourceResult(changed=False, digest=digest, detail=f"{len(mapped)} rows")
        if not mapped and not self.allow_empty:
            raise PolicySourceError(
                self.name,
                "the Table API returned no active row (an ACL hiding the rows, or an emptied table); "
                "the table in force is kept (allow_empty=True accepts an empty instance table)",
            )
        table = self._table(mapped, write_back=False)
        return SourceResult(
            changed=True, table=table, document=mapped, digest=digest, detail=f"{len(mapped)} rows", state=digest
        )

    def document(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The table document of mapped ``rows`` (with :attr:`defaults`)."""
        return {"defaults": self.defaults, "policies": rows} if self.defaults else {"policies": rows}

    def _table(self, rows: list[dict[str, Any]], *, write_back: bool) -> PolicyTable:
        mid = self.mid_config
        if mid is None:
            return PolicyTable.from_dict(self.document(rows), source=self.name)
        if not mid.use_instance_security_policy:
            # validate the rows all the same: a broken instance table is reported
            PolicyTable.from_dict(self.document(rows), source=self.name)
            table = mid.table()
            note = (
                f"the instance's policy table ({len(rows)} rows from {self.name}) was fetched but not applied: "
                "mid.ssl.use.instance.security.policy is false"
            )
            return dataclasses.replace(table, warnings=(*table.warnings, note), notes=(*table.notes, note))
        return mid.apply_instance_policies(self.document(rows), write_back=write_back)

    def commit(self, result: SourceResult) -> None:
        """Called once the table of ``result`` is in force: with
        ``write_back`` and ``use.instance.security.policy`` true, write the
        instance switches into ``config.xml`` (atomically; nothing is written
        otherwise)."""
        if result.state is not None:
            self._digest = result.state
        mid = self.mid_config
        if self.write_back and mid is not None and mid.use_instance_security_policy and result.document is not None:
            mid.apply_instance_policies(self.document(result.document), write_back=True)

    def load_document(self, document: Any) -> PolicyTable:
        """The table of rows this source returned before (no write-back).

        Raises:
            PolicyConfigError: invalid rows.
        """
        if not isinstance(document, list):
            raise PolicyConfigError("expected a list of policy rows", source=self.name)
        return self._table(document, write_back=False)
