"""Scan inventories: the list of endpoints ``certpolicy scan`` connects to.

An inventory is text, in one of two forms:

* one endpoint a line: ``https://host[:port][/path]`` or ``host[:port]``
  (IPv6 literals in brackets: ``[::1]:8443``); blank lines and lines starting
  with ``#`` are ignored;
* a CSV file whose header row has a ``url`` column (the endpoint, as above)
  and optionally an ``address`` column: the IP address to connect to instead
  of resolving the host name (like ``curl --resolve``); other columns are
  ignored.

:func:`parse_inventory` reads the text, :func:`load_inventory` a file name
(``"-"`` for standard input). Both raise :class:`InventoryError` on a line
that is not an endpoint, naming the line.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Endpoint", "InventoryError", "load_inventory", "parse_endpoint", "parse_inventory"]


class InventoryError(ValueError):
    """An inventory line that is not an endpoint, or an unreadable inventory
    (the message names the line number and why)."""


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of an inventory.

    Attributes:
        text: the endpoint as written in the inventory.
        url: the normalised ``https://`` URL (``https://host:port/path``).
        host: the host name or IP literal (no brackets), as the client asks for it.
        port: the TCP port (443 when the line names none).
        address: the address to connect to instead of resolving ``host``, or ``None``.
        line: the 1-based line number in the inventory (0 when built by hand).
    """

    text: str
    url: str
    host: str
    port: int
    address: str | None = None
    line: int = 0


def parse_endpoint(text: str, *, address: str | None = None, line: int = 0) -> Endpoint:
    """Parse one endpoint (``https://host[:port][/path]`` or ``host[:port]``).

    Args:
        text: the endpoint.
        address: an IP address to connect to instead of resolving the host.
        line: its line number, for messages.

    Returns:
        the :class:`Endpoint`.

    Raises:
        InventoryError: not an ``https`` URL or ``host[:port]``, a bad port or address.
    """
    raw = text.strip()
    where = f"line {line}: " if line else ""
    if not raw:
        raise InventoryError(f"{where}empty endpoint")
    u = urllib.parse.urlsplit(raw if "://" in raw else f"https://{raw}")
    if u.scheme.lower() != "https":
        raise InventoryError(f"{where}{raw!r}: only https:// URLs (or host[:port]) can be scanned")
    if not u.hostname:
        raise InventoryError(f"{where}{raw!r}: no host name")
    try:
        port = u.port or 443
    except ValueError as e:
        raise InventoryError(f"{where}{raw!r}: invalid port ({e})") from None
    if address is not None:
        address = address.strip() or None
    if address is not None:
        try:
            address = str(ipaddress.ip_address(address.strip("[]")))
        except ValueError:
            raise InventoryError(f"{where}{address!r} is not an IP address") from None
    host = u.hostname
    netloc = f"[{host}]" if ":" in host else host
    url = urllib.parse.urlunsplit(("https", f"{netloc}:{port}", u.path or "/", u.query, ""))
    return Endpoint(text=raw, url=url, host=host, port=port, address=address, line=line)


def parse_inventory(text: str) -> list[Endpoint]:
    """Parse an inventory (one endpoint a line, or CSV with a ``url`` column).

    Args:
        text: the inventory's content.

    Returns:
        the endpoints in inventory order (duplicates kept: each is scanned).

    Raises:
        InventoryError: a line that is not an endpoint; a CSV without a ``url`` column.
    """
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    header = [c.strip().lower() for c in next(csv.reader([first]))] if first else []
    if "," in first and "url" in header:
        return _parse_csv(text)
    if "," in first:
        raise InventoryError("a CSV inventory needs a header row with a 'url' column")
    out: list[Endpoint] = []
    for n, ln in enumerate(lines, start=1):
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        if s.lower() == "url":  # a one-column CSV's header
            continue
        out.append(parse_endpoint(s, line=n))
    return out


def _parse_csv(text: str) -> list[Endpoint]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
    url_key, addr_key = fields["url"], fields.get("address")
    out: list[Endpoint] = []
    for row in reader:
        n = reader.line_num
        value = (row.get(url_key) or "").strip()
        if not value or value.startswith("#"):
            continue
        addr = (row.get(addr_key) or "") if addr_key else ""
        out.append(parse_endpoint(value, address=addr or None, line=n))
    return out


def load_inventory(path: str) -> list[Endpoint]:
    """Read and parse the inventory file ``path`` (``"-"``: standard input).

    Raises:
        InventoryError: unreadable file, or as :func:`parse_inventory`.
    """
    if path == "-":
        return parse_inventory(sys.stdin.read())
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InventoryError(f"cannot read inventory {path!r}: {e}") from None
    return parse_inventory(text)
