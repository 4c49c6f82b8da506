"""The test now running: its settings, and where its results go.

The ``disconnect`` fixture is handed these; DisconnectTransport, which a test may
build anywhere (a module-level client, a fixture), looks them up here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import pytest

from .._report import records as _scenarios
from .._report.kept_sections import KeptSections
from .._report.summary import EndpointStats, Tally, tally
from .._result import DisconnectResult
from .._settings import Settings, Source, apply, marker_layers, resolve


class TestContext:
    """One test's disconnect settings (markers resolved on first use) and results."""

    __test__ = False  # not a test class, whatever pytest's name rules say

    def __init__(self, item: pytest.Item, base: Settings) -> None:
        self.item = item
        self._base = base
        self._settings: Settings | None = None
        #: Requests still waiting for their verdict ('GET /events'), by whoever waits (a transport's exchange).
        self.pending: dict[object, str] = {}
        #: Per endpoint, folded as results come (the fixture keeps the results themselves).
        self._tallies: dict[str, Tally] = {}
        #: Every result, only when a report (JSON, CI) asks for every scenario.
        self.scenarios: list[DisconnectResult] | None = [] if _scenarios.wanted(item) else None
        #: The scenarios whose report section may be shown: written only when the report is made.
        self.sections: KeptSections[DisconnectResult] = KeptSections()

    @property
    def settings(self) -> Settings:
        """Raises SettingError for a bad marker (tests with the fixture fail at setup instead)."""
        if self._settings is None:
            self._settings = resolve(self._base, marker_layers(self.item))
        return self._settings

    @property
    def stats(self) -> dict[str, EndpointStats]:
        """Per endpoint, the results so far folded, in first-seen order."""
        return {endpoint: counts.stats() for endpoint, counts in self._tallies.items()}

    def override(self, source: Source, values: Mapping[str, object]) -> Settings:
        """A fixture's settings, over the marker's (call arguments still win)."""
        self._settings = apply(self.settings, source, values)
        return self._settings

    def record(self, result: DisconnectResult, *, section: bool = True) -> None:
        """Keep the result for the summary, and show it in the report.

        Inside a Hypothesis test the examples' results go to Hypothesis instead (notes and
        statistics), so a hundred passing examples do not flood the report.
        """
        tally(self._tallies, result)
        if self.scenarios is not None:
            self.scenarios.append(result)
        hypothesis = sys.modules.get("hypothesis")
        if hypothesis is not None and hypothesis.currently_in_test_context():
            _note_for_hypothesis(result)
            return
        if section:
            self.sections.add(result, failed=not result.passed)

    def flush_sections(self) -> None:
        """Put the kept reports in the test's report (before each phase's report is made)."""
        if not self.sections.seen:
            return
        from .._report.text import section_text

        for text in self.sections.take(section_text):
            self.item.add_report_section("call", "disconnect", text)

    def store_properties(self) -> None:
        """Per endpoint, as user properties: JUnit XML writes them, xdist carries them."""
        self.flush_sections()
        for stats in self.stats.values():
            self.item.user_properties.append(stats.to_property())
        for target in self.pending.values():  # the test ended (and its loop with it) before the verdict
            self.item.user_properties.append((UNJUDGED, target))
        if self.scenarios is not None:
            _scenarios.store(self.item, self.scenarios)  # every scenario, when a report (JSON, CI) asks


#: The user property naming a request that never reached its verdict.
UNJUDGED = "disconnect-unjudged"

_STACK: list[TestContext] = []  # a stack: pytester runs a test session inside a test


def push(context: TestContext) -> None:
    _STACK.append(context)


def pop(item: pytest.Item) -> TestContext | None:
    if _STACK and _STACK[-1].item is item:
        return _STACK.pop()
    return None


def current() -> TestContext | None:
    return _STACK[-1] if _STACK else None


def _note_for_hypothesis(result: DisconnectResult) -> None:
    """Inside a @given test: note the scenario for Hypothesis instead of the pytest report.

    The note is printed with the falsifying example; the verdict feeds
    ``--hypothesis-show-statistics``. Outside one (checked first: it is every scenario's
    cost once Hypothesis is imported), nothing is noted.
    """
    from hypothesis import event, note

    from .._report.text import headline

    note(f"disconnect: after={result.settings.after!r}: {headline(result)}")
    event(f"disconnect verdict: {result.verdict}")
