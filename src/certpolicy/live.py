"""Live policy: putting a new policy table in force in a running SSL context (the work behind ``PolicySSLContext.replace_table``).

The swap is built off the handshake path and published with single
assignments: the verifier's resolver (an immutable
:class:`~certpolicy.resolver.PolicyResolver`), the client identities and the
client-certificate contexts. Connections keep the resolver in force when
they were wrapped, so a handshake in flight finishes under the table it
started with. Rows equal to the rows in force keep their objects
(:func:`certpolicy.tablediff.carry_over`), hence their cached verdicts,
pooled connections and client-certificate contexts; everything keyed by a
changed or removed row is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .resolver import PolicyResolver
from .table import PolicyTable
from .tablediff import TableDiff, carry_over, diff_tables

__all__ = ["identities_for", "swap_table"]

logger = logging.getLogger("certpolicy")


def identities_for(ctx: Any, table: PolicyTable) -> Mapping[str, Any]:
    """The client identities (:class:`certpolicy.identity.ClientIdentity`,
    by policy name) of ``table`` for the context ``ctx``: a row whose object
    is unchanged keeps its loaded identity, the others are loaded now.

    Args:
        ctx: the root :class:`~certpolicy.context.PolicySSLContext`.
        table: the table about to be put in force.

    Returns:
        ``{policy name: ClientIdentity}`` (empty when the context presents
        no client certificates).

    Raises:
        ClientCertificateError: an identity cannot be loaded.
    """
    if not ctx._cp_client_identities:
        return {}
    from .identity import ClientIdentity

    current = ctx._cp_identities
    owners = ctx._cp_identity_owner
    out: dict[str, Any] = {}
    for p in table.policies:
        if p.client_identity is None:
            continue
        if owners.get(p.name) is p and p.name in current:
            out[p.name] = current[p.name]
        else:
            out[p.name] = ClientIdentity.load(p.client_identity, ctx._cp_passphrase_callback)
    ctx._cp_identity_owner = {p.name: p for p in table.policies if p.client_identity is not None}
    return out


def swap_table(root: Any, table: PolicyTable | PolicyResolver) -> TableDiff:
    """Put ``table`` in force in the context ``root`` (see
    :meth:`certpolicy.context.PolicySSLContext.replace_table`, which calls
    this and documents the behaviour).

    Args:
        root: the root :class:`~certpolicy.context.PolicySSLContext`.
        table: the new table, or a resolver built on it.

    Returns:
        the :class:`~certpolicy.tablediff.TableDiff` from the old table.

    Raises:
        PolicyConfigError, ClientCertificateError: the new table cannot be
            used; the table in force stays.
    """
    verifier = root.verifier
    with root._cp_swap_lock:
        old: PolicyResolver = verifier.resolver
        new_table = table.table if isinstance(table, PolicyResolver) else table
        diff = diff_tables(old.table, new_table)
        if not diff.changed:
            return diff
        new_table.check_files(client_identities=False)
        new_table = carry_over(old.table, new_table)
        owners = dict(root._cp_identity_owner)
        try:
            identities = identities_for(root, new_table)
        except BaseException:
            root._cp_identity_owner = owners
            raise
        clock = table._clock if isinstance(table, PolicyResolver) else old._clock
        resolver = PolicyResolver(new_table, clock=clock)
        # the swap: one assignment each, no lock on the handshake path
        root._cp_identities = identities
        with root._cp_lock:
            kept = {id(p) for p in new_table.policies}
            root._cp_identity_ctx = {
                name: entry for name, entry in root._cp_identity_ctx.items() if id(entry[0]) in kept
            }
        verifier.replace_resolver(resolver)
        root._cp_version += 1
        listeners = list(root._cp_listeners)
    logger.info(
        "certpolicy: policy table replaced (%s): %s",
        new_table.source,
        "; ".join(diff.lines()),
        extra={"certpolicy_event": "table-replaced", "changes": diff.to_dict()},
    )
    for ref in listeners:
        callback = ref()
        if callback is None:
            continue
        try:
            callback(new_table, diff)
        except Exception:  # a listener must not undo or break the swap
            logger.exception("certpolicy: a replace_table listener raised")
    return diff
