"""Which scenario reports a test keeps for its report: what a person can read, in flat memory.

A test that loops over 2,000 scenarios would otherwise carry 2,000 report sections
(a megabyte of ``-rA`` output). It keeps the first failing ones and the last few of
the rest, and says how many it left out.
"""

from __future__ import annotations

from collections import deque

#: Failing scenarios whose reports are kept (the first ones: later failures tend to repeat them).
FAILING_KEPT = 10
#: Reports kept of the last scenarios, whatever their verdict.
LAST_KEPT = 5


class KeptSections:
    """Section texts in the order their scenarios ran, with at most FAILING_KEPT + LAST_KEPT kept."""

    __slots__ = ("_failing", "_last", "failing", "seen")

    def __init__(self) -> None:
        self._failing: list[tuple[int, str]] = []
        self._last: deque[tuple[int, str]] = deque(maxlen=LAST_KEPT)
        self.seen = 0
        self.failing = 0

    def add(self, text: str, *, failed: bool) -> None:
        number = self.seen
        self.seen += 1
        if failed:
            self.failing += 1
            if len(self._failing) < FAILING_KEPT:
                self._failing.append((number, text))
                return
        self._last.append((number, text))

    def take(self) -> list[str]:
        """The kept texts in run order, then a line on what was left out (if anything); resets."""
        kept = sorted({number: text for number, text in [*self._failing, *self._last]}.items())
        texts = [text for _, text in kept]
        left_out = self.seen - len(kept)
        if left_out:
            texts.append(f"{self.seen} scenarios ({self.failing} failing): the reports of "
                         f"{left_out} are left out; shown: the first {FAILING_KEPT} failing and the "
                         f"last {LAST_KEPT}")
        self.__init__()  # type: ignore[misc]
        return texts
