"""The NIST PKITS runner (tests/conformance/run_pkits.py), loaded as a module for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

RUNNER = Path(__file__).resolve().parent / "conformance" / "run_pkits.py"


def load_runner() -> ModuleType:
    """The runner module (loaded once per process, as ``run_pkits``)."""
    if "run_pkits" in sys.modules:
        return sys.modules["run_pkits"]
    spec = importlib.util.spec_from_file_location("run_pkits", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_pkits"] = module
    spec.loader.exec_module(module)
    return module


run_pkits = load_runner()
