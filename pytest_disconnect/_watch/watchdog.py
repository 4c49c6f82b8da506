"""A watchdog thread beside the event loop.

The loop cannot time its own stalls: while an ``async def`` handler calls
time.sleep(), no timer of the loop's runs. So one daemon thread, shared by all
scenarios, posts a heartbeat to each watched loop every few milliseconds; a beat
that runs late means the loop was blocked from when it was posted until it ran,
and while it is late the thread samples the loop thread's stack to say where.
The same thread polls the child processes a scenario started (see processes.py), and
interrupts a loop still blocked once the scenario has run past the longest it can take
(see loop_interrupt.py), so a blocked loop cannot hang the test.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from types import FrameType

from .._compat import thread_frames
from .._result import Block
from . import loop_interrupt as _loop_interrupt
from .frames import describe_frame, innermost_app_frame, outermost_app_frame

#: How often the watchdog looks, in seconds.
PERIOD = 0.02  # a thread waking more often costs scenarios ~20 % on 2 cores (GIL hand-offs)
#: A loop that did not answer for this long counts as blocked.
BLOCK_NOTICE = 0.05
#: Seconds the watchdog keeps ticking after the last scenario before it sleeps.
LINGER = 1.0


class Watch:
    """One scenario's loop, as the watchdog sees it."""

    def __init__(self, post: Callable[[Callable[[], None]], None], real_now: Callable[[], float],
                 on_block: Callable[[Block], None], poll: Callable[[], None],
                 interrupt_at: float = math.inf) -> None:
        self.post = post
        self.real_now = real_now
        self.on_block = on_block
        self.poll = poll
        self.loop_thread = threading.get_ident()
        self.pending_since: float | None = None
        self.where: str | None = None
        self.closed = False
        #: On the real clock: a loop still blocked from here on is interrupted (see loop_interrupt.py).
        self.interrupt_at = interrupt_at
        #: How the current block was interrupted ('signal', 'async-exc'), 'impossible', or None.
        self.interrupted: str | None = None
        self._stuck_in: FrameType | None = None
        _loop_interrupt.prepare()

    def tick(self) -> None:
        """On the watchdog thread."""
        self.poll()
        now = self.real_now()
        if self.pending_since is None:
            self.pending_since = now
            try:
                self.post(self._beat)
            except RuntimeError:  # the loop closed under us
                self.closed = True
        elif now - self.pending_since >= BLOCK_NOTICE and (self.where is None or now >= self.interrupt_at):
            frame = thread_frames().get(self.loop_thread)
            if frame is not None and self.where is None:
                self.where = describe_frame(innermost_app_frame(frame))
            if now >= self.interrupt_at:
                self._interrupt(frame)

    def _interrupt(self, frame: FrameType | None) -> None:
        """On the watchdog thread: end the code that has blocked the loop past ``interrupt_at``.

        Only code seen running in the same app frame at two looks in a row: the loop has not
        moved, so the exception lands in the app, not in the loop's own machinery.
        """
        anchor = outermost_app_frame(frame) if frame is not None else None
        stuck, self._stuck_in = anchor is not None and anchor is self._stuck_in, anchor
        if not stuck or anchor is None:
            return
        how = _loop_interrupt.interrupt(self.loop_thread, anchor, self._still_blocked)
        if self.interrupted is None or how is not None:
            self.interrupted = how or "impossible"

    def _still_blocked(self) -> bool:
        """On the loop thread (in the signal handler)."""
        since = self.pending_since
        return since is not None and self.real_now() - since >= BLOCK_NOTICE

    def flush(self) -> None:
        """On the loop thread, at the scenario's end: a beat still pending counts now.

        trio may run the driver before its queue of posted callbacks, so the beat that
        would report a block can arrive after the verdict.
        """
        if self.pending_since is not None:
            self._beat()
        self.closed = True

    def _beat(self) -> None:
        """On the loop thread: the loop answered."""
        posted, now = self.pending_since, self.real_now()
        where, self.where = self.where, None
        interrupted, self.interrupted, self._stuck_in = self.interrupted, None, None
        self.pending_since = None
        if posted is not None and now - posted >= BLOCK_NOTICE and not self.closed:
            self.on_block(Block(posted, now, where, interrupted))


class _Watchdog:
    """One daemon thread for all scenarios. It lingers a while after the last scenario, so a
    suite of quick scenarios does not pay a thread wake-up (a GIL hand-off) for each.

    add() and remove() take no lock on a scenario's path: appending to and removing from a
    list, and copying it, are each one step the other thread sees whole (the GIL, and a
    per-object lock on a free-threaded build). Only starting the thread or waking it takes
    the lock; see add() and _sleep() for why no watch is left unticked.
    """

    def __init__(self) -> None:
        self._watches: list[Watch] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = True
        self._thread: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forked)

    def add(self, watch: Watch) -> None:
        self._watches.append(watch)
        # Appended first, read second; _sleep() does the opposite (marks itself idle, then looks
        # at the list): either it sees this watch, or this sees it idle and wakes it.
        if self._idle:
            self._start_or_wake()

    def _start_or_wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._idle = False
                self._thread = threading.Thread(target=self._run, name="pytest-disconnect watchdog",
                                                daemon=True)
                self._thread.start()
            elif self._idle:
                self._wake.set()

    def _forked(self) -> None:
        """In a forked child: no watchdog thread runs there, and the lock may have been held."""
        self._lock, self._wake = threading.Lock(), threading.Event()
        self._idle = True  # the next add() starts a thread

    def forget_thread(self, loop_thread: int) -> None:
        """Drop the watches of a loop thread given up on (its driver will never remove them)."""
        for watch in [watch for watch in self._watches if watch.loop_thread == loop_thread]:
            self.remove(watch)

    def remove(self, watch: Watch) -> None:
        watch.closed = True
        try:
            self._watches.remove(watch)
        except ValueError:  # removed already (forget_thread, then the driver after all)
            pass

    def _run(self) -> None:
        last_busy = time.monotonic()
        while True:
            watches = self._watches.copy()
            now = time.monotonic()
            if watches:
                last_busy = now
            elif now - last_busy > LINGER:
                self._sleep()
                last_busy = time.monotonic()
                continue
            for watch in watches:
                try:
                    watch.tick()
                except Exception:  # pragma: no cover - a watchdog must never die
                    pass
            time.sleep(PERIOD)

    def _sleep(self) -> None:
        """Sleep until add() wakes the thread, unless a watch came in meanwhile.

        Cleared first, so a wake-up is never lost: add() sets the event only after reading
        ``_idle`` as True, which happens after this clear().
        """
        self._wake.clear()
        self._idle = True  # first marked idle, then the list read: the reverse of add()
        if not self._watches:
            self._wake.wait()
        self._idle = False


WATCHDOG = _Watchdog()
