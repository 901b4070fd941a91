"""The x509-limbo runner (tests/conformance/run_limbo.py), loaded as a module for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

RUNNER = Path(__file__).resolve().parent / "conformance" / "run_limbo.py"


def load_runner() -> ModuleType:
    """The runner module (loaded once per process, as ``run_limbo``)."""
    if "run_limbo" in sys.modules:
        return sys.modules["run_limbo"]
    spec = importlib.util.spec_from_file_location("run_limbo", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_limbo"] = module
    spec.loader.exec_module(module)
    return module


run_limbo = load_runner()
