"""Noticing app code that reads the real clock while a scenario runs on the virtual one.

``time.monotonic()`` and friends cannot follow the virtual clock safely (the loop,
the watchdog and every library share them), so the app's own reads are reported
instead: a deadline computed from ``time.monotonic()`` never comes on a clock that
jumps. Only reads from the scenario's context (its tasks), from the app's own code
(not the stdlib or the event loop's), count; the first read per line is noted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .._compat import caller_frame
from .._watch.frames import describe_frame, is_app_code
from .._watch.patches import Patch
from .._watch.workset import current_workset

_NAMES = ("monotonic", "time", "perf_counter", "monotonic_ns", "time_ns", "perf_counter_ns")
#: Only reads through the module are seen: `from time import monotonic` took its copy earlier.
_originals: dict[str, Callable[[], float]] = {name: getattr(time, name) for name in _NAMES}


def _reader(name: str, original: Callable[[], float]) -> Callable[[], float]:
    def read() -> float:
        workset = current_workset.get()
        if workset is not None and workset.notice_time_read is not None:
            frame = caller_frame(1)  # the direct caller only: the loop's own reads pass through here too
            if is_app_code(frame.f_code.co_filename):
                workset.notice_time_read(f"time.{name}()", describe_frame(frame))
        return original()

    read.__name__ = read.__qualname__ = name
    return read


#: Leased by each virtual scenario: installed while any runs (every read pays a ContextVar look-up).
_PATCHES = tuple(Patch(time, name, _reader(name, original)) for name, original in _originals.items())


def start() -> None:
    """While any virtual scenario runs, time.monotonic() and friends are watched."""
    for patch in _PATCHES:
        patch.acquire()


def stop() -> None:
    for patch in _PATCHES:
        patch.release()
