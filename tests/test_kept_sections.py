"""A test's report sections: kept as scenarios, written only when the report is made; the
per-endpoint tally folds as ``fold()`` does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_disconnect import DisconnectResult
from pytest_disconnect._fronts.current import TestContext
from pytest_disconnect._report.kept_sections import FAILING_KEPT, LAST_KEPT, KeptSections
from pytest_disconnect._report.summary import fold
from pytest_disconnect._settings import Settings

from .test_report import KEPT_RUNNING

PASSING = replace(KEPT_RUNNING, stopped_at=0.2, verdict="stopped", receives_after_disconnect=1)


def test_only_the_kept_sections_are_written() -> None:
    sections: KeptSections[int] = KeptSections()
    for number in range(1000):
        sections.add(number, failed=number % 100 == 0)
    written: list[int] = []

    def write(number: int) -> str:
        written.append(number)
        return f"scenario {number}"

    texts = sections.take(write)
    failing = list(range(0, 1000, 100))[:FAILING_KEPT]
    last = list(range(1000 - LAST_KEPT, 1000))
    assert written == failing + last
    assert texts[:-1] == [f"scenario {number}" for number in failing + last]
    assert texts[-1].startswith(f"1000 scenarios (10 failing): the reports of {1000 - len(written)} are left out")
    assert sections.take(write) == []  # take() resets


class _Item:
    """What TestContext reads of a pytest item, and where it puts the sections."""

    def __init__(self) -> None:
        self.config = pytest.Config.__new__(pytest.Config)
        self.config.stash = pytest.Stash()
        self.user_properties: list[tuple[str, object]] = []
        self.sections: list[tuple[str, str, str]] = []

    def add_report_section(self, when: str, key: str, content: str) -> None:
        self.sections.append((when, key, content))


def test_record_writes_no_section_until_the_report_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_disconnect._report import text

    written: list[DisconnectResult] = []
    section_text = text.section_text

    def counting(result: DisconnectResult) -> str:
        written.append(result)
        return section_text(result)

    monkeypatch.setattr(text, "section_text", counting)
    item = _Item()
    context = TestContext(item, Settings())  # type: ignore[arg-type]
    for _ in range(100):
        context.record(PASSING)
    context.record(KEPT_RUNNING)
    assert written == []
    context.flush_sections()
    assert written == [PASSING] * LAST_KEPT + [KEPT_RUNNING]  # the failing one is kept apart
    assert [content for _, _, content in item.sections][-2] == section_text(KEPT_RUNNING)


def test_the_tally_folds_as_fold_does() -> None:
    cancelled = replace(KEPT_RUNNING, stopped_at=None, cancelled_at=5.0, verdict="cancelled")
    other = replace(PASSING, path="/other")
    results = [PASSING, KEPT_RUNNING, cancelled, other, PASSING, replace(PASSING, disconnected_at=None,
                                                                        verdict="finished")]
    context = TestContext(_Item(), Settings())  # type: ignore[arg-type]
    for result in results:
        context.record(result, section=False)
    assert context.stats == fold(results)
    assert list(context.stats) == ["GET /events", "GET /other"]
