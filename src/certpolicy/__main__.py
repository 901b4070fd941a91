"""``python -m certpolicy``: the command line (same as the ``certpolicy`` program)."""

from .cli import main

main()
