"""The ``certpolicy`` command line.

One program with subcommands; each lives in its own module of this package
and registers itself on :data:`main`. Exit status: 0 when every enforced
check passes, 1 when a check fails, 2 for usage or configuration errors.
"""

from __future__ import annotations

import click

from ._common import EXIT_CONFIG, EXIT_FAIL, EXIT_OK

__all__ = ["EXIT_CONFIG", "EXIT_FAIL", "EXIT_OK", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="certpolicy")
def main() -> None:
    """certpolicy: per-endpoint TLS certificate-check policies."""


def _register() -> None:
    # Each subcommand module adds its commands to ``main`` on import.
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_register()
