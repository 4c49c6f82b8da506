"""One record per scenario, for reports CI reads (JSON, GitHub annotations, the baseline).

Records travel as test user properties, as the summary's endpoint stats do, so
they reach the xdist controller; they are only stored when a report asks for
them (JUnit XML would otherwise carry one property per Hypothesis example).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, final

import pytest

from .._result import DisconnectResult

PROPERTY = "disconnect scenario"
#: Set by the reports plugin when a report needs every scenario.
WANTED_KEY = pytest.StashKey[bool]()
_WHERE = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+)\b")


@final
@dataclass(frozen=True)
class KeptRunning:
    """Work that ran past the tolerance, and where it was."""

    name: str
    kind: str
    where: str | None
    ended_at_s: float | None
    outcome: str | None


@final
@dataclass(frozen=True)
class Scenario:
    test: str
    endpoint: str
    method: str
    path: str
    moment: str
    verdict: str
    passed: bool
    clock: str
    headline: str
    #: Seconds from the disconnect to the end of the work; None when it did not stop on its own.
    latency_s: float | None
    disconnected_at_s: float | None
    tolerance_s: float
    kept_running: tuple[KeptRunning, ...] = field(default=())

    @classmethod
    def of(cls, test: str, result: DisconnectResult) -> Scenario:
        from .text import headline

        return cls(test, result.endpoint, result.method, result.path, result.settings.show("after"),
                   result.verdict, result.passed, result.clock, headline(result), result.latency,
                   result.disconnected_at, result.settings.tolerance,
                   tuple(KeptRunning(record.name, record.kind, record.where, record.ended_at, record.outcome)
                         for record in result.still_running))

    def to_property(self) -> tuple[str, str]:
        return PROPERTY, json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_property(cls, name: str, value: object) -> Scenario | None:
        if name != PROPERTY or not isinstance(value, str):
            return None
        try:
            fields: dict[str, Any] = json.loads(value)
            kept = tuple(KeptRunning(**entry) for entry in fields.pop("kept_running", ()))
            return cls(**fields, kept_running=kept)
        except (TypeError, ValueError):
            return None

    def location(self) -> tuple[str, int] | None:
        """The innermost app frame of the first work that kept running ('app.py', 21), if known."""
        for record in self.kept_running:
            match = _WHERE.match(record.where or "")
            if match:
                return match["file"], int(match["line"])
        return None


def wanted(item: pytest.Item) -> bool:
    """Whether a report asks for every scenario (then each test keeps them until teardown)."""
    return item.config.stash.get(WANTED_KEY, False)


def store(item: pytest.Item, results: Iterable[DisconnectResult]) -> None:
    """Called with each test's results at teardown: add one property per scenario if a report wants them."""
    if not item.config.stash.get(WANTED_KEY, False):
        return
    for result in results:
        item.user_properties.append(Scenario.of(item.nodeid, result).to_property())
