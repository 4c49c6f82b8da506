"""In-process verdicts against live servers, for every sample and catalogue case (slow: --agreement)."""

from __future__ import annotations

import pytest

from tests.agreement_script import load

pytestmark = pytest.mark.agreement


@pytest.mark.parametrize("close", ["fin", "rst", "half-close"])
def test_in_process_and_live_verdicts_agree(close: str) -> None:
    agreement = load()
    cases = agreement.sample_cases() + agreement.catalogue_cases()
    rows = list(agreement.rows(cases, ["uvicorn", "hypercorn"], close))
    print("\n".join(agreement.table(rows, 0.01)))
    # Verdicts must match; latencies only loosely here (a loaded CI machine), the table has the figures.
    assert [row.case for row in rows if row.agrees(slack=0.25) is False] == []
