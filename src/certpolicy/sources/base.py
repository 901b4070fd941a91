"""The policy source protocol: what a source of policy tables returns, and the errors it raises.

A source (a watched file, an HTTPS URL, the instance's Table API) is asked
for the table it holds now (:meth:`PolicySource.fetch`). It answers with a
:class:`SourceResult`: unchanged since the last answer, or a validated
:class:`~certpolicy.table.PolicyTable` with the JSON document it was built
from (what the last-known-good file keeps) and that document's digest.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import PolicyConfigError
from ..table import PolicyTable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["PolicySource", "PolicySourceError", "SourceResult", "parse_document", "table_from_document"]


class PolicySourceError(Exception):
    """A source could not be read: unreachable, an HTTP error, a timeout, an
    oversized or undecodable answer. (An answer that decodes but holds an
    invalid table raises :class:`~certpolicy.errors.PolicyConfigError`.)

    Attributes:
        source: the source's name (a path or URL).
        reason: why, as a sentence.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class SourceResult:
    """One answer of a source.

    Attributes:
        changed: ``False`` when the source holds what it held at the last
            answer (a file with the same content, HTTP 304); ``table`` and
            ``document`` are then ``None``.
        table: the validated table (``changed`` answers).
        document: the JSON-compatible document the table was built from, as
            the last-known-good file stores it (``None`` for a local file).
        digest: ``"sha256:<hex>"`` of the answer (:func:`certpolicy.tablediff.document_digest`).
        detail: extra words for the log (``"ETag \"v7\""``, ``"12 rows"``).
        state: what the source remembers once the table is in force (its
            ``commit``); a table refused by ``replace_table`` is not
            remembered, so the next fetch tries it again.
    """

    changed: bool
    table: PolicyTable | None = None
    document: Any = None
    digest: str = ""
    detail: str = ""
    state: Any = None


@runtime_checkable
class PolicySource(Protocol):
    """What :class:`~certpolicy.sources.PolicySync` needs of a source.

    Attributes:
        name: the source for messages and logs (a path or URL).
        remote: whether accepted tables are kept in the last-known-good file.
        default_interval: seconds between two polls when the sync names none.
    """

    name: str
    remote: bool
    default_interval: float

    def fetch(self) -> SourceResult:
        """The table the source holds now.

        Raises:
            PolicySourceError: the source cannot be read.
            PolicyConfigError: it holds an invalid table.
        """
        ...

    def commit(self, result: SourceResult) -> None:
        """Called once the table of ``result`` is in force (or equal to the
        table in force): remember ``result.state`` so that the next fetch
        answers "unchanged" for the same content."""
        ...

    def load_document(self, document: Any) -> PolicyTable:
        """Rebuild a table from a document this source returned before (the
        last-known-good file).

        Raises:
            PolicyConfigError: the document holds an invalid table.
        """
        ...


def parse_document(body: bytes, content_type: str, source: str) -> Any:
    """Decode a table document: JSON or TOML, as the ``Content-Type`` says
    (``application/json`` / ``application/toml``); without one that says,
    JSON is tried first and TOML second. A JSON object may not repeat a key
    (as :meth:`PolicyTable.load` refuses it).

    Args:
        body: the bytes received (already bounded by the fetch).
        content_type: the ``Content-Type`` header ("" when unknown).
        source: the name used in errors.

    Returns:
        the decoded document (a mapping, or a list of rows).

    Raises:
        PolicySourceError: not UTF-8, or not a valid JSON / TOML document.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicySourceError(source, f"the answer is not UTF-8 text ({e})") from None
    kind = content_type.lower()
    if "toml" in kind:
        return _toml(text, source)
    if "json" in kind:
        return _json(text, source)
    if text.lstrip().startswith("{"):
        return _json(text, source)
    try:
        return _json(text, source)
    except PolicySourceError as as_json:
        try:
            return _toml(text, source)
        except PolicySourceError as as_toml:
            raise PolicySourceError(source, f"{as_json.reason}; {as_toml.reason}") from None


def _json(text: str, source: str) -> Any:
    from ..table import _no_duplicate_keys

    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as e:
        raise PolicySourceError(source, f"the answer is not valid JSON ({e})") from None


def _toml(text: str, source: str) -> Any:
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise PolicySourceError(source, f"the answer is not valid TOML ({e})") from None


def table_from_document(document: Any, source: str) -> PolicyTable:
    """:meth:`PolicyTable.from_dict` on a decoded document, with its errors
    naming ``source``.

    Raises:
        PolicyConfigError: the document holds an invalid table.
    """
    if not isinstance(document, (Mapping, list)):
        raise PolicyConfigError(f"expected a table document, got {type(document).__name__}", source=source)
    return PolicyTable.from_dict(document, source=source)
