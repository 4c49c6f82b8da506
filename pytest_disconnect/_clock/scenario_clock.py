"""One scenario's clock: the loop's own, or the virtual clock and what keeps it honest.

Under the virtual clock the scenario says when real work is in flight (its threads,
processes, an asyncio socket), collects the stretches the loop never slept (the clock
ran at the real rate) and the app's direct reads of the real clock.
"""

from __future__ import annotations

from collections.abc import Callable

from .._backends import Backend
from .._result import TimelineRecorder
from .._watch.workset import WorkSet
from . import time_reads as _time_reads
from .virtual import ALIGN


class ScenarioClock:
    """Install (virtual), then ``start()`` before reading the start time; ``stop()`` is idempotent."""

    def __init__(self, backend: Backend, kind: str) -> None:
        self.kind = kind
        self._virtual = backend.virtual_clock() if kind == "virtual" else None
        self._io_pending: Callable[[], bool] = backend.io_pending if kind == "virtual" else _never
        self.read: Callable[[], float] = backend.clock()  # after the install, which shadows asyncio's
        self._workset: WorkSet | None = None
        self._deactivate: Callable[[], None] | None = None
        #: (start, end) in the clock's own seconds: the loop never slept, time ran at the real rate.
        self.starved: list[tuple[float, float]] = []
        #: 'time.monotonic() at app.py:12 in handler -> ...', first read per line.
        self.time_reads: dict[str, str] = {}

    def start(self) -> None:
        if self._virtual is None:
            return
        self._deactivate = self._virtual.activate(
            self._real_pending, on_starved=lambda span: self.starved.append((span.start, span.end)),
            align=ALIGN)
        _time_reads.start()

    def thread_now(self, start: float) -> Callable[[], float] | None:
        """The work set's scenario time from any thread, as the driver's now(); None: the real clock."""
        virtual = self._virtual
        if virtual is None:
            return None

        def now() -> float:
            return round(virtual.now() - start, 9)

        return now

    def time_read_notice(self, start: float, timeline: TimelineRecorder) -> Callable[[str, str], None] | None:
        """What the work set calls when app code reads the real clock (virtual only), until stop()."""
        if self._virtual is None:
            return None
        read = self.read

        def noticed(function: str, where: str) -> None:
            if self._workset is not None and where not in self.time_reads:  # watched, not yet stopped
                self.time_reads[where] = function
                at = round(read() - start, 9)  # as the scenario's now(), on the loop
                timeline.add(at, "app", "app read the real clock: {} at {}", function, where)

        return noticed

    def watch(self, workset: WorkSet) -> None:
        """The work whose threads and processes keep the virtual clock from jumping (until stop())."""
        if self._virtual is not None:
            self._workset = workset

    def stop(self) -> None:
        if self._deactivate is not None:
            deactivate, self._deactivate = self._deactivate, None
            deactivate()
            _time_reads.stop()
        self._workset = None  # also ends the notices (and the cycle through the work set's hook)

    def _real_pending(self) -> bool:
        workset = self._workset
        return self._io_pending() or (workset is not None and workset.real_work_running())


#: The last real clock made, with its backend: on the loop's own clock a ScenarioClock keeps
#: nothing of its scenario's, so a loop's scenarios share it.
_last_real: tuple[Backend, ScenarioClock] | None = None


def scenario_clock(backend: Backend, kind: str) -> ScenarioClock:
    """The clock for a scenario on ``backend``: shared by a loop's scenarios on the real clock."""
    global _last_real
    last = _last_real
    if kind == "real" and last is not None and last[0] is backend:
        return last[1]
    clock = ScenarioClock(backend, kind)
    # Made after a virtual install, a real clock reads the loop's time as it is shadowed then.
    _last_real = (backend, clock) if kind == "real" else None
    return clock


def _never() -> bool:
    return False
