"""The runnable examples in docs/checks.md stay working.

Every fenced ``python`` block preceded by the line ``<!-- docs-test: run -->``
is executed, in document order, in one shared namespace (so an example may
define a class in one block and use it in the next). Other blocks are prose.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "checks.md"
MARKER = "<!-- docs-test: run -->"
_BLOCK = re.compile(
    r"^" + re.escape(MARKER) + r"[ \t]*\n(?:[ \t]*\n)*```python[ \t]*\n(.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def runnable_blocks(text: str) -> list[str]:
    """The source of each marked ``python`` block, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_every_marker_is_followed_by_a_python_block() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(MARKER) == len(runnable_blocks(text))


def test_user_check_example_in_docs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = runnable_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "docs/checks.md lost its runnable Check example"
    namespace: dict[str, Any] = {"__name__": "docs_checks_example"}
    for i, source in enumerate(blocks):
        code = compile(source, f"{DOC.name}[block {i + 1}]", "exec")
        exec(code, namespace)  # noqa: S102 - our own documentation
    out = capsys.readouterr().out
    assert "valid for 91 days" in out
    assert "max-validity too-long" in out
    assert "'api.example.com' matches dNSName SAN 'api.example.com'" in out
