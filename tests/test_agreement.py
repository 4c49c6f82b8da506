"""In-process verdicts against live servers, for every sample and catalogue case (slow: --agreement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.agreement


def _script() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "agreement.py"
    spec = importlib.util.spec_from_file_location("agreement_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("close", ["fin", "rst", "half-close"])
def test_in_process_and_live_verdicts_agree(close: str) -> None:
    agreement = _script()
    cases = agreement.sample_cases() + agreement.catalogue_cases()
    rows = list(agreement.rows(cases, ["uvicorn", "hypercorn"], close))
    print("\n".join(agreement.table(rows, 0.01)))
    # Verdicts must match; latencies only loosely here (a loaded CI machine), the table has the figures.
    assert [row.case for row in rows if row.agrees(slack=0.25) is False] == []
