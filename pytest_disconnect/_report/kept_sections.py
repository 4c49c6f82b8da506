"""Which scenario reports a test keeps for its report: what a person can read, in flat memory.

A test that loops over 2,000 scenarios would otherwise carry 2,000 report sections
(a megabyte of ``-rA`` output). It keeps the first failing ones and the last few of
the rest, and says how many it left out. It keeps the scenarios themselves and has them
written only when the report is made: of thousands of scenarios, a handful are ever shown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

#: Failing scenarios whose reports are kept (the first ones: later failures tend to repeat them).
FAILING_KEPT = 10
#: Reports kept of the last scenarios, whatever their verdict.
LAST_KEPT = 5

Shown = TypeVar("Shown")


class KeptSections(Generic[Shown]):
    """Scenarios in the order they ran, with at most FAILING_KEPT + LAST_KEPT kept for their section."""

    __slots__ = ("_failing", "_last", "failing", "seen")

    def __init__(self) -> None:
        self._failing: list[tuple[int, Shown]] = []
        self._last: deque[tuple[int, Shown]] = deque(maxlen=LAST_KEPT)
        self.seen = 0
        self.failing = 0

    def add(self, shown: Shown, *, failed: bool) -> None:
        number = self.seen
        self.seen += 1
        if failed:
            self.failing += 1
            if len(self._failing) < FAILING_KEPT:
                self._failing.append((number, shown))
                return
        self._last.append((number, shown))

    def take(self, write: Callable[[Shown], str]) -> list[str]:
        """The kept sections written, in run order, then a line on what was left out (if anything); resets."""
        kept = sorted({number: shown for number, shown in [*self._failing, *self._last]}.items(),
                      key=_number)
        texts = [write(shown) for _, shown in kept]
        left_out = self.seen - len(kept)
        if left_out:
            texts.append(f"{self.seen} scenarios ({self.failing} failing): the reports of "
                         f"{left_out} are left out; shown: the first {FAILING_KEPT} failing and the "
                         f"last {LAST_KEPT}")
        self.__init__()  # type: ignore[misc]
        return texts


def _number(entry: tuple[int, object]) -> int:
    return entry[0]
