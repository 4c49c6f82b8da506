"""``disconnect.results`` and ``transport.results``: a test's results, in flat memory.

A result holds its timeline and settings, about 2 KB. A test that loops over
thousands of scenarios (a long Hypothesis run, a hand-written sweep) would keep
them all; past ``LAST_KEPT`` results it keeps the first ``FAILING_KEPT`` failing
ones and the last ``LAST_KEPT``, in run order, and counts the rest. A test with
fewer results than that sees every one, as a plain list would show them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import overload

from .._result import DisconnectResult

#: The last results kept, whatever their verdict.
LAST_KEPT = 500
#: The first failing results kept once they are no longer among the last ones.
FAILING_KEPT = 100


class Results(Sequence[DisconnectResult]):
    """The kept results in the order their verdicts came; ``total`` counts every one, ``dropped`` the rest."""

    __slots__ = ("_failing", "_last", "_view", "total")

    def __init__(self) -> None:
        #: Every result recorded since the last clear(), kept or not.
        self.total = 0
        self._failing: list[tuple[int, DisconnectResult]] = []
        self._last: deque[tuple[int, DisconnectResult]] = deque(maxlen=LAST_KEPT)
        self._view: list[DisconnectResult] | None = []

    @property
    def dropped(self) -> int:
        """How many results were let go (0 until the test has more than LAST_KEPT)."""
        return self.total - len(self._list())

    def append(self, result: DisconnectResult) -> None:
        if len(self._last) == LAST_KEPT:
            oldest = self._last[0]
            if not oldest[1].passed and len(self._failing) < FAILING_KEPT:
                self._failing.append(oldest)  # about to leave the window: keep it as a failing one
        self._last.append((self.total, result))
        self.total += 1
        self._view = None

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _list(self) -> list[DisconnectResult]:
        if self._view is None:
            self._view = [result for _, result in self._failing] + [result for _, result in self._last]
        return self._view

    @overload
    def __getitem__(self, index: int) -> DisconnectResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[DisconnectResult]: ...
    def __getitem__(self, index: int | slice) -> DisconnectResult | list[DisconnectResult]:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._failing) + len(self._last)

    def __iter__(self) -> Iterator[DisconnectResult]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Results, list, tuple)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        dropped = f", {self.dropped} dropped" if self.dropped else ""
        return f"<results: {len(self)} kept of {self.total}{dropped}>"
