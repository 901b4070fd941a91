"""pytest fixtures of certpolicy (registered through the ``pytest11`` entry point).

Fixtures are added as the loopback servers are written; see
:mod:`certpolicy.testing`.
"""

from __future__ import annotations
