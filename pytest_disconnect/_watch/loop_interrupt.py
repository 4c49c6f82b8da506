"""Interrupting app code that blocks a watched event loop for good: private reach-ins, in one place.

Under ``arun()`` the app runs on the test's own loop; an ``async def`` handler that never
yields (``while True: pass``, ``time.sleep(3600)``) leaves nothing on that loop able to
run, so the harness could never reach a verdict and the test would hang. The watchdog
thread sees the loop stop answering (see watchdog.py); once the scenario has run past the
longest it can take, it raises ``LoopInterrupted`` into the code that blocks the loop:

- On the main thread (where pytest's plugins run the test's loop: anyio's runs asyncio
  there, and trio in guest mode), by sending the thread ``SIGURG`` with a Python handler
  that raises. Python runs signal handlers between bytecodes, so this reaches pure-Python
  loops, and a blocking call that retries on ``EINTR`` (``time.sleep()``, ``select()``,
  ``Lock.acquire()``) checks for handlers and raises too. ``SIGURG`` because its default
  action is to ignore it: one that arrives after the handler is gone does nothing (Go's
  runtime preempts goroutines with it for the same reason). The handler is installed once,
  on the first scenario on the main thread, chains to any Python handler it replaced, and
  is removed at the end of the run; it is not installed over a handler set from C.
- On any other thread (``run()``'s loop thread), with ``PyThreadState_SetAsyncExc``, which
  only reaches Python code: a C call (``time.sleep()``) runs to its end first.

What cannot be interrupted: a C call that neither returns nor checks for signals (a C
extension's long computation, ``sum(range(10**12))``), and on other threads any C call.

Checked on CPython 3.11.7, 3.12.1 and 3.13.0, with asyncio and trio 0.35 (``trio.run`` and
guest mode under anyio 4.16's pytest plugin), on Linux. ``signal.pthread_kill`` is POSIX
only; ``ctypes.pythonapi`` is CPython only (_compat.raise_in_thread). Where either is missing, ``how()`` says so and
the failure message names what to use instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from .._compat import can_raise_in_thread, raise_in_thread

#: The signal used to interrupt the main thread; None where the platform has none (Windows).
SIGNAL: signal.Signals | None = getattr(signal, "SIGURG", None) if hasattr(signal, "pthread_kill") else None


class LoopInterrupted(BaseException):
    """Raised into app code that kept its event loop blocked past the scenario's longest time.

    Not an Exception: ``except Exception`` in the app must not swallow it.
    """


class _State:
    """The handler's state: which main-thread block it may end now, and what it replaced."""

    def __init__(self) -> None:
        self.installed = False
        self.previous: object = None
        #: Set by the watchdog thread just before it signals; read by the handler on the main thread:
        #: the frame to end, and whether the loop is still blocked.
        self.request: tuple[FrameType, Callable[[], bool]] | None = None


_STATE = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    request, _STATE.request = _STATE.request, None
    # Checked here, on the loop's own thread: if the loop answered meanwhile, or the frame to end
    # has ended, there is nothing to end (and raising would hit whatever runs now).
    if request is not None and request[1]() and _runs_in(request[0], frame):
        raise LoopInterrupted("pytest-disconnect interrupted code that blocked the event loop")
    previous = _STATE.previous
    if callable(previous):
        previous(signum, frame)


def _runs_in(target: FrameType, frame: FrameType | None) -> bool:
    while frame is not None:
        if frame is target:
            return True
        frame = frame.f_back
    return False


def prepare() -> None:
    """On a scenario's loop thread, before it runs: on the main thread, install the handler (once)."""
    if _STATE.installed or SIGNAL is None or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(SIGNAL)
    if previous is None:  # a handler set from C (faulthandler.register, say): it could not be restored
        return
    signal.signal(SIGNAL, _handler)
    _STATE.previous, _STATE.installed = previous, True


def uninstall() -> None:
    """At the end of the run: put back what the handler replaced, if it is still ours."""
    if not _STATE.installed or threading.current_thread() is not threading.main_thread():
        return
    assert SIGNAL is not None
    if signal.getsignal(SIGNAL) is _handler:
        previous = _STATE.previous
        signal.signal(SIGNAL, previous if callable(previous) or isinstance(previous, int) else signal.SIG_DFL)
    _STATE.installed = False


def how(thread_id: int) -> str | None:
    """How code on ``thread_id`` can be interrupted ('signal' or 'async-exc'), or None if not at all."""
    if (thread_id == threading.main_thread().ident and SIGNAL is not None
            and signal.getsignal(SIGNAL) is _handler):
        return "signal"
    return "async-exc" if can_raise_in_thread() else None


def interrupt(thread_id: int, target: FrameType, still_blocked: Callable[[], bool]) -> str | None:
    """On the watchdog thread: raise LoopInterrupted in ``target``, running on ``thread_id``.

    Returns how, or None if it cannot be done. The caller has seen ``target`` on the thread's
    stack twice running: for the signal the handler checks again, on the loop thread, that it
    still runs there and ``still_blocked()``; the asynchronous exception lands at the thread's
    next bytecode, wherever that is, so it relies on the caller's check.
    """
    method = how(thread_id)
    if method == "signal":
        assert SIGNAL is not None
        _STATE.request = (target, still_blocked)
        signal.pthread_kill(thread_id, SIGNAL)
    elif method == "async-exc" and not raise_in_thread(thread_id, LoopInterrupted):  # the thread has ended
        return None
    return method
