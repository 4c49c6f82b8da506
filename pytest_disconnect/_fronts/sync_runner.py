"""Running a scenario from sync code: a fresh event loop in a thread the caller can give up on.

Like Starlette's TestClient, the app runs on its own loop in a worker thread. That
lets a sync test fail in bounded time even when the app blocks its loop for good,
and lets the loop be closed without waiting for work that resists cancellation.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from .._backends.loops import SHUTDOWN_GRACE as SHUTDOWN_GRACE  # run()'s callers bound their wait with it
from .._backends.loops import LoopName, loop_starter
from .._compat import thread_frames
from .._errors import EventLoopBlocked
from .._result import Block
from .._watch.frames import describe_frame, innermost_app_frame

T = TypeVar("T")
Backend = LoopName


class Reply(Generic[T]):
    """One call's outcome, handed from the loop's thread to the caller's (shared by run()'s fresh
    loops and the lifespan's AppLoop)."""

    __slots__ = ("_outcome", "_ready")

    def __init__(self) -> None:
        self._outcome: tuple[bool, object] | None = None
        self._ready = threading.Lock()  # held until the outcome is in: wait() acquires it
        self._ready.acquire()

    async def fill(self, main: Callable[[], Awaitable[T]],
                   reraise: type[BaseException] | tuple[type[BaseException], ...]) -> None:
        """On the loop: await ``main()`` and keep what it gave; re-raise what ``reraise`` names."""
        try:
            self._put((True, await main()))
        except BaseException as exc:  # handed to the caller's thread, re-raised there
            self._put((False, exc))
            if isinstance(exc, reraise):
                raise

    def fail(self, exc: BaseException) -> None:
        """A crash before fill() answered (the loop did not start); ignored after an answer."""
        self._put((False, exc))

    def _put(self, outcome: tuple[bool, object]) -> None:
        if self._outcome is not None:
            return
        try:
            self._outcome = outcome
        finally:  # an interrupt raised into the loop thread right here must not keep the caller waiting
            self._ready.release()

    def wait(self, timeout: float) -> bool:
        """From the caller's thread: wait at most ``timeout`` s for the outcome; whether it came."""
        return self._ready.acquire(timeout=timeout)

    def take(self) -> T:
        """The value main() returned, or raise what it raised."""
        __tracebackhide__ = True
        assert self._outcome is not None
        ok, value = self._outcome
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]


def run_in_loop_thread(main: Callable[[], Awaitable[T]], *, backend: Backend, bound: float,
                       target: str) -> T:
    """Run ``main()`` on a new ``backend`` loop in a daemon thread; wait at most ``bound`` s for it,
    then at most SHUTDOWN_GRACE for the loop to close (a loop that takes longer is left behind)."""
    __tracebackhide__ = True
    reply: Reply[T] = Reply()
    start = loop_starter(backend)

    def loop_thread() -> None:
        try:
            start(lambda: reply.fill(main, BaseException))
        except BaseException as exc:  # already answered, or a crash before fill() ran
            reply.fail(exc)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(loop_thread,),
                              name=f"pytest-disconnect {target}", daemon=True)
    thread.start()
    if not reply.wait(bound):
        raise loop_blocked(thread, bound, target)
    thread.join(SHUTDOWN_GRACE)
    return reply.take()


def loop_blocked(thread: threading.Thread, bound: float, target: str) -> EventLoopBlocked:
    """The error for a loop thread that gave no answer within ``bound`` seconds; it is left running."""
    from .._watch.watchdog import WATCHDOG

    WATCHDOG.forget_thread(thread.ident or -1)
    frame = thread_frames().get(thread.ident or -1)
    where = describe_frame(innermost_app_frame(frame)) if frame is not None else "(unknown)"
    return EventLoopBlocked(
        f"{target}: the event loop stopped answering for {bound:.2f} s, so no verdict could "
        f"be reached; the app blocks it (time.sleep(), CPU work or blocking I/O in async "
        f"code) at:\n    {where}\n  The loop thread was left running."
    )


def loop_interrupted(target: str, block: Block) -> EventLoopBlocked:
    """The error for a loop the watchdog found blocked past the scenario's longest time."""
    where = block.where or "(unknown)"
    if block.interrupted == "impossible":
        outcome = ("It could not be interrupted (a C call that ignores signals, or on this Python "
                   "and platform), so the test waited until it returned. Under arun() such a call "
                   "hangs the test; use disconnect.run(), which gives up on its loop thread.")
    else:
        outcome = ("The harness interrupted it there (raised LoopInterrupted) once the scenario had "
                   "run past its longest time; a call that ignores signals cannot be interrupted, "
                   "and under arun() hangs the test: use disconnect.run() for such an app.")
    return EventLoopBlocked(
        f"{target}: the event loop stopped answering for {block.end - block.start:.2f} s, so no verdict "
        f"could be reached; the app blocks it (time.sleep(), CPU work or blocking I/O in async code) "
        f"at:\n    {where}\n  {outcome}"
    )
