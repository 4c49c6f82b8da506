"""Running a scenario from sync code: a fresh event loop in a thread the caller can give up on.

Like Starlette's TestClient, the app runs on its own loop in a worker thread. That
lets a sync test fail in bounded time even when the app blocks its loop for good,
and lets the loop be closed without waiting for work that resists cancellation.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from .._compat import thread_frames
from .._errors import EventLoopBlocked
from .._result import Block
from .._watch.frames import describe_frame, innermost_app_frame

T = TypeVar("T")
Backend = Literal["asyncio", "trio"]
#: Seconds the loop thread may take to shut down after the verdict before it is left behind.
SHUTDOWN_GRACE = 1.0


def run_in_loop_thread(main: Callable[[], Awaitable[T]], *, backend: Backend, bound: float,
                       target: str) -> T:
    """Run ``main()`` on a new ``backend`` loop in a daemon thread; wait at most ``bound`` s."""
    __tracebackhide__ = True
    box: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()

    async def deliver() -> None:
        try:
            box.put((True, await main()))
        except BaseException as exc:  # handed to the caller's thread, re-raised there
            box.put((False, exc))
            raise

    def loop_thread() -> None:
        try:
            if backend == "trio":
                import trio

                trio.run(deliver)
            else:
                run_asyncio(deliver)
        except BaseException as exc:  # already delivered, or a crash before deliver() ran
            box.put((False, exc))

    thread = threading.Thread(target=contextvars.copy_context().run, args=(loop_thread,),
                              name=f"pytest-disconnect {target}", daemon=True)
    thread.start()
    try:
        ok, value = box.get(timeout=bound)
    except queue.Empty:
        raise loop_blocked(thread, bound, target) from None
    thread.join(SHUTDOWN_GRACE)
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]


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


def run_asyncio(main: Callable[[], Awaitable[object]]) -> None:
    """asyncio.run(), minus the wait for tasks that ignore cancellation."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers, timeout=SHUTDOWN_GRACE))
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), SHUTDOWN_GRACE))
        finally:
            loop.close()  # tasks still pending here are abandoned, never to run again
