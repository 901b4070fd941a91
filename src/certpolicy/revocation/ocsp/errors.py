"""The OCSP error: a response or request that cannot be used, with its taxonomy outcome."""

from __future__ import annotations

from ...policy import Outcome


class OcspError(Exception):
    """A response (or request) that cannot be used.

    Attributes:
        outcome: the taxonomy word (:class:`~certpolicy.policy.Outcome`).
        detail: one human sentence.
    """

    def __init__(self, outcome: Outcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail
        super().__init__(f"{outcome.value}: {detail}")
