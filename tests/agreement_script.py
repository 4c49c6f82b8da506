"""scripts/agreement.py, loaded as a module for the slow agreement tests."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

#: Rows the library agreement test ran, for the table at the end of the run (tests/conftest.py).
LIBRARY_ROWS = pytest.StashKey[list[Any]]()
#: Latency difference that still agrees; loose for a loaded machine (the table has the figures).
SLACK = 0.25


@cache
def load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "agreement.py"
    spec = importlib.util.spec_from_file_location("agreement_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_library_table(config: pytest.Config, reporter: Any) -> None:
    rows = config.stash.get(LIBRARY_ROWS, [])
    if rows:
        reporter.section("library agreement: in process vs live (close=fin)")
        for line in load().table(rows, SLACK):
            reporter.write_line(line)
