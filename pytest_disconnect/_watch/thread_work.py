"""Work that runs in other threads (worker-thread calls, threads the app starts, heavy() there):
counted on the loop, timed from the thread, its end posted back to the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from .names import callable_name
from .work import Work
from .workset import WorkSet, post_quietly

T = TypeVar("T")


def threaded(workset: WorkSet, func: Callable[..., T]) -> tuple[Callable[..., T], Callable[[], None]]:
    """Wrap ``func`` to run in a worker thread as watched work of ``workset``.

    Also returns ``never_started``, to call (on the loop) once the caller stopped
    waiting: a call cancelled before its thread began must not count as running.
    """
    work = workset.started(None, None, callable_name(func), "thread")
    work.owner = workset.owner_of_current_task()
    began = threading.Event()
    # Until the caller has its result, real work is in flight: the thread's end is posted
    # to the loop before the result is, and a virtual clock must not jump in between.
    workset.threads_in_flight += 1

    def never_started() -> None:
        workset.threads_in_flight -= 1
        if not began.is_set():
            workset.ended(work, "never started: the call was cancelled first")

    def in_thread(*args: object, **kwargs: object) -> T:
        began.set()
        return run_as(workset, work, lambda: func(*args, **kwargs))

    return in_thread, never_started


def run_as(workset: WorkSet, work: Work, call: Callable[[], T]) -> T:
    """Run ``call()`` in the current (worker) thread as ``work``; post its end and outcome."""
    work.thread_ident = threading.get_ident()
    outcome = "returned"
    try:
        return call()
    except BaseException as exc:
        outcome = f"raised {type(exc).__name__}"
        raise
    finally:
        ended = workset.thread_now()
        post_quietly(workset.post, lambda: workset.ended(work, outcome, at=ended))


def register_from_thread(workset: WorkSet, work: Work) -> None:
    """Count ``work`` from another thread: posted, so it is counted before its end is."""
    post_quietly(workset.post, lambda: workset.register(work))
