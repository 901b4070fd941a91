"""Value parsers of the policy table: numbers, booleans, string lists, key sets and certificate policy OIDs.

Each parser takes the raw value of one key and the key's dotted name
(``"revocation.crl_limits.max_bytes"``) and returns the typed value, or raises
a :class:`~certpolicy.errors.PolicyConfigError` that names the key and says
what was expected. :mod:`certpolicy.policy` builds its rows from them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import PolicyConfigError

__all__ = [
    "ANY_POLICY",
    "boolean",
    "check_keys",
    "config_error",
    "number",
    "policy_oids",
    "str_list",
]

#: The special policy identifier anyPolicy (RFC 5280 §4.2.1.4): as an
#: initial policy set, every policy is acceptable.
ANY_POLICY = "2.5.29.32.0"

#: A dotted OID: first arc 0-2, then arcs without leading zeros (X.660).
_DOTTED_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
#: Names accepted for anyPolicy besides its OID.
_ANY_POLICY_NAMES = frozenset({"anypolicy", "any-policy", "any_policy"})


def config_error(msg: str, field_name: str) -> PolicyConfigError:
    """A :class:`~certpolicy.errors.PolicyConfigError` about ``field_name``."""
    return PolicyConfigError(msg, field=field_name)


def check_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    """Refuse keys of ``data`` outside ``allowed``; the error lists the known keys.

    Raises:
        PolicyConfigError: an unknown key, naming ``where``.
    """
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise config_error(
            f"unknown key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(allowed))}",
            where,
        )


#: Upper bounds of numeric settings (a larger value is a configuration
#: mistake, and NaN or infinity would break every connection later).
_MAXIMA = {
    "attempts": 100,
    "max_bytes": 1 << 30,
    "max_redirects": 20,
    "max_chain_depth": 255,
    "clock_skew": 86400.0,
    "ocsp_max_age": 366 * 86400.0,
    "crl_grace": 366 * 86400.0,
    "refresh_margin": 366 * 86400.0,
}
_MAX_SECONDS = 3600.0  # timeouts, backoffs, deadlines


def number(value: Any, field_name: str, *, minimum: float = 0.0, integer: bool = False) -> Any:
    """A finite number of at least ``minimum`` (a whole one when ``integer``),
    at most the key's upper bound.

    Raises:
        PolicyConfigError: not a number (booleans are not), NaN or infinite,
            out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise config_error(f"expected a number, got {value!r}", field_name)
    if integer and not isinstance(value, int):
        raise config_error(f"expected a whole number, got {value!r}", field_name)
    if isinstance(value, float) and not math.isfinite(value):
        raise config_error(f"must be a finite number, got {value!r}", field_name)
    if value < minimum:
        raise config_error(f"must be >= {minimum}, got {value!r}", field_name)
    key = field_name.rsplit(".", 1)[-1]
    maximum = _MAXIMA.get(key, _MAX_SECONDS if not integer else None)
    if maximum is not None and value > maximum:
        raise config_error(f"must be <= {maximum:g}, got {value!r}", field_name)
    return value


def boolean(value: Any, field_name: str) -> bool:
    """``true`` or ``false``, nothing else.

    Raises:
        PolicyConfigError: any other value.
    """
    if not isinstance(value, bool):
        raise config_error(f"expected true or false, got {value!r}", field_name)
    return value


def str_list(value: Any, field_name: str) -> tuple[str, ...]:
    """A string, or a list of strings, as a tuple.

    Raises:
        PolicyConfigError: any other value.
    """
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise config_error(f"expected a string or a list of strings, got {value!r}", field_name)


def policy_oids(value: Any, field_name: str) -> tuple[str, ...]:
    """A set of certificate policy identifiers (RFC 5280 §4.2.1.4), such as
    the user-initial-policy-set of RFC 5280 §6.1.1(c).

    Args:
        value: one dotted OID (``"2.23.140.1.2.1"``) or a list of them;
            ``"anyPolicy"`` names :data:`ANY_POLICY`.
        field_name: the key, for errors.

    Returns:
        the OIDs, in the given order without repeats; ``(ANY_POLICY,)`` when
        anyPolicy is among them (it accepts every policy, RFC 5280 §6.1.1(c)).

    Raises:
        PolicyConfigError: not a string or list of strings, an empty list (it
            would accept no policy at all), or an entry that is not a dotted
            OID (first arc 0, 1 or 2, second arc below 40 under 0 and 1).
    """
    oids: list[str] = []
    items = str_list(value, field_name)
    if not items:
        raise config_error(
            "an empty set of certificate policies accepts no certification path; list at least one "
            f"policy OID, or anyPolicy ({ANY_POLICY}) for every policy",
            field_name,
        )
    for item in items:
        text = item.strip()
        if text.lower() in _ANY_POLICY_NAMES:
            text = ANY_POLICY
        arcs = text.split(".")
        if not _DOTTED_OID.match(text) or (arcs[0] in ("0", "1") and int(arcs[1]) >= 40):
            raise config_error(
                f"{item!r} is not a certificate policy OID; expected a dotted OID such as "
                f"'2.23.140.1.2.1', or 'anyPolicy' ({ANY_POLICY})",
                field_name,
            )
        if text not in oids:
            oids.append(text)
    return (ANY_POLICY,) if ANY_POLICY in oids else tuple(oids)
