"""The reach-ins that end code blocking a watched loop (pytest_disconnect/_watch/loop_interrupt.py).

End to end (arun() and run(), asyncio and trio, a busy loop and time.sleep()) in
tests/test_hostile.py; here the pieces: the signal handler is a good neighbour, the
asynchronous exception reaches a busy thread, and the messages say what to do.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import pytest

from pytest_disconnect import EventLoopBlocked
from pytest_disconnect._fronts.sync_runner import loop_interrupted
from pytest_disconnect._result import Block
from pytest_disconnect._watch import loop_interrupt as interrupts

pytestmark = pytest.mark.skipif(interrupts.SIGNAL is None, reason="POSIX signals only")


def test_the_handler_chains_to_the_one_it_replaced_and_puts_it_back() -> None:
    assert interrupts.SIGNAL is not None
    interrupts.uninstall()
    seen: list[int] = []

    def theirs(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    signal.signal(interrupts.SIGNAL, theirs)
    try:
        interrupts.prepare()
        assert interrupts.how(threading.main_thread().ident or 0) == "signal"
        signal.raise_signal(interrupts.SIGNAL)  # not ours to act on: theirs gets it
        assert seen == [interrupts.SIGNAL]
        interrupts.uninstall()
        assert signal.getsignal(interrupts.SIGNAL) is theirs
    finally:
        signal.signal(interrupts.SIGNAL, signal.SIG_DFL)


def test_a_busy_loop_on_another_thread_gets_the_exception() -> None:
    started, caught = threading.Event(), threading.Event()
    spin = {"on": True}

    def spin_while_on() -> None:
        while spin["on"]:
            pass

    def busy() -> None:
        # The exception lands at the thread's next bytecode: perhaps still in started.set(), and
        # on 3.13.0 in a `while` loop's condition it skips the loop's own handler: caught a frame up.
        try:
            started.set()
            spin_while_on()
        except interrupts.LoopInterrupted:
            caught.set()

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    started.wait()
    frame = sys._current_frames()[thread.ident or 0]
    try:
        assert interrupts.interrupt(thread.ident or 0, frame, lambda: True) == "async-exc"
        # The busy thread looks at the exception when it next hands over the GIL (3.13 checks only
        # then): waking often asks for it, as the watchdog thread does.
        for _ in range(1000):
            if caught.wait(0.01):
                break
        assert caught.is_set()
    finally:
        spin["on"] = False
        thread.join()


def test_the_failure_says_where_the_loop_was_blocked_and_what_to_do() -> None:
    where = "app.py:12 in handler -> time.sleep(3600)"
    interrupted = loop_interrupted("GET /", Block(0.1, 2.8, where, "signal"))
    assert isinstance(interrupted, EventLoopBlocked)
    assert str(interrupted) == (
        "GET /: the event loop stopped answering for 2.70 s, so no verdict could be reached; the app "
        "blocks it (time.sleep(), CPU work or blocking I/O in async code) at:\n"
        f"    {where}\n"
        "  The harness interrupted it there (raised LoopInterrupted) once the scenario had run past its "
        "longest time; a call that ignores signals cannot be interrupted, and under arun() hangs the "
        "test: use disconnect.run() for such an app.")
    impossible = loop_interrupted("GET /", Block(0.1, 9.1, where, "impossible"))
    assert str(impossible).endswith(
        "  It could not be interrupted (a C call that ignores signals, or on this Python and platform), "
        "so the test waited until it returned. Under arun() such a call hangs the test; use "
        "disconnect.run(), which gives up on its loop thread.")
