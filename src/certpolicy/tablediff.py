"""Policy table comparison: which rows, targets and switches changed between two tables, and the carry-over of unchanged rows.

:func:`diff_tables` says what changed between two :class:`~certpolicy.table.PolicyTable`
objects, row by row (added, removed, changed; for a changed row, the targets
added and removed and every other setting with its old and new value). It is
what ``certpolicy policy diff`` prints and what
:meth:`certpolicy.context.PolicySSLContext.replace_table` returns and logs.

:func:`carry_over` builds the table to put in force: each row equal to the
row of the same name in force keeps the very object in force, so verdict
caches, pooled connections and client-certificate contexts keyed by that
object stay valid across a swap, and only what changed is dropped.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .policy import Policy
from .table import PolicyTable

__all__ = ["RowChange", "TableDiff", "carry_over", "diff_tables", "document_digest"]


@dataclass(frozen=True)
class RowChange:
    """How one policy row changed.

    Attributes:
        name: the row's name.
        kind: the row's kind (``"instance"``, ``"internet"``, ``"intranet"``, ``"override"``).
        status: ``"added"``, ``"removed"`` or ``"changed"``.
        targets_added / targets_removed: target texts (changed rows).
        settings: ``{setting: (old, new)}`` for every other setting that
            changed (``"chain"``, ``"trust"``, ``"revocation"`` ...), values as text.
    """

    name: str
    kind: str
    status: str
    targets_added: tuple[str, ...] = ()
    targets_removed: tuple[str, ...] = ()
    settings: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``settings`` values as ``[old, new]``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "targets_added": list(self.targets_added),
            "targets_removed": list(self.targets_removed),
            "settings": {k: list(v) for k, v in self.settings.items()},
        }

    def lines(self) -> list[str]:
        """Human-readable lines (``"~ override 'corp': chain: audit -> enforce"``)."""
        mark = {"added": "+", "removed": "-", "changed": "~"}[self.status]
        head = f"{mark} {self.kind} {self.name!r}"
        if self.status != "changed":
            return [f"{head}: {self.status}"]
        out = [f"{head}: target added: {t}" for t in self.targets_added]
        out += [f"{head}: target removed: {t}" for t in self.targets_removed]
        out += [f"{head}: {k}: {old} -> {new}" for k, (old, new) in self.settings.items()]
        return out


@dataclass(frozen=True)
class TableDiff:
    """The differences between two tables (:func:`diff_tables`).

    Attributes:
        rows: one :class:`RowChange` per added, removed or changed row, in the
            new table's order, removed rows last.
        ranges_changed: whether the intranet address ranges changed.
        notes: the new table's :attr:`~certpolicy.table.PolicyTable.notes`
            when they differ from the old table's (else ``()``).
    """

    rows: tuple[RowChange, ...] = ()
    ranges_changed: bool = False
    notes: tuple[str, ...] = ()
    notes_changed: bool = False

    @property
    def changed(self) -> bool:
        """Whether anything changed."""
        return bool(self.rows) or self.ranges_changed or self.notes_changed

    @property
    def names(self) -> frozenset[str]:
        """Names of the rows added, removed or changed."""
        return frozenset(r.name for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: ``{"changed": bool, "rows": [...], "ranges_changed": bool, "notes": [...]}``."""
        return {
            "changed": self.changed,
            "rows": [r.to_dict() for r in self.rows],
            "ranges_changed": self.ranges_changed,
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """Human-readable lines; ``["no change"]`` when nothing changed."""
        out = [line for r in self.rows for line in r.lines()]
        if self.notes_changed:
            out += [f"note: {n}" for n in self.notes] or ["notes cleared"]
        return out or ["no change"]


def _text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return str(value)
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(value) + "]"
    return repr(value)


def _row_change(old: Policy, new: Policy) -> RowChange | None:
    if old == new:
        return None
    old_t = [t.text for t in old.targets]
    new_t = [t.text for t in new.targets]
    settings: dict[str, tuple[str, str]] = {}
    for f in dataclasses.fields(Policy):
        if f.name in ("name", "targets") or not f.compare:
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            settings[f.name] = (_text(a), _text(b))
    return RowChange(
        name=new.name,
        kind=new.kind.value,
        status="changed",
        targets_added=tuple(t for t in new_t if t not in old_t),
        targets_removed=tuple(t for t in old_t if t not in new_t),
        settings=settings,
    )


def diff_tables(old: PolicyTable, new: PolicyTable) -> TableDiff:
    """Compare two policy tables row by row (rows matched by name).

    Args:
        old: the table in force.
        new: the candidate table.

    Returns:
        the :class:`TableDiff` (``changed`` is ``False`` when the rows are equal).
    """
    before = {p.name: p for p in old.policies}
    rows: list[RowChange] = []
    for p in new.policies:
        prior = before.get(p.name)
        if prior is None:
            rows.append(RowChange(p.name, p.kind.value, "added"))
            continue
        change = _row_change(prior, p)
        if change is not None:
            rows.append(change)
    names = {p.name for p in new.policies}
    rows.extend(RowChange(p.name, p.kind.value, "removed") for p in old.policies if p.name not in names)
    notes_changed = old.notes != new.notes
    return TableDiff(
        rows=tuple(rows),
        ranges_changed=old.intranet_ranges != new.intranet_ranges,
        notes=new.notes if notes_changed else (),
        notes_changed=notes_changed,
    )


def carry_over(old: PolicyTable, new: PolicyTable) -> PolicyTable:
    """``new`` with each row that equals ``old``'s row of the same name
    replaced by ``old``'s object (so caches keyed by that object stay valid).

    Args:
        old: the table in force.
        new: the candidate table (validated).

    Returns:
        a table equal to ``new`` (``==``), sharing ``old``'s unchanged rows.
    """
    before = {p.name: p for p in old.policies}

    def keep(p: Policy) -> Policy:
        prior = before.get(p.name)
        return prior if prior is not None and prior == p else p

    return dataclasses.replace(
        new,
        instance=keep(new.instance),
        internet=keep(new.internet),
        intranet=keep(new.intranet),
        overrides=tuple(keep(p) for p in new.overrides),
    )


def document_digest(document: Any) -> str:
    """The SHA-256 of a table document's canonical JSON (sorted keys, no
    whitespace), as ``"sha256:<hex>"``: equal documents give equal digests.

    Args:
        document: a JSON-compatible mapping (:meth:`PolicyTable.from_dict` shape)
            or raw bytes (a file's content).
    """
    data = document if isinstance(document, bytes) else json.dumps(
        document, sort_keys=True, separators=(",", ":"), default=str
    ).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()
