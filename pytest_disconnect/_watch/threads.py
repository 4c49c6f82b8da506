"""Watching worker threads: cancellation never reaches them, so counting tasks alone passes
handlers whose thread runs on (docs/how-it-works.md: cancellation never reaches a thread).

Starlette's run_in_threadpool and FastAPI's sync endpoints look up
``anyio.to_thread.run_sync`` at call time, so wrapping that attribute while any
scenario runs catches them; asyncio.to_thread and loop.run_in_executor go through
the loop's ``run_in_executor``, wrapped once per loop. Outside a scenario both
wrappers pass straight through.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from .patches import Patch
from .thread_work import threaded
from .workset import WorkSet, current_workset, post_quietly

_original_run_sync = anyio.to_thread.run_sync


async def _watched_run_sync(func: Callable[..., Any], *args: Any, abandon_on_cancel: bool = False,
                            cancellable: bool | None = None, limiter: Any = None) -> Any:
    workset = current_workset.get()
    if workset is None or cancellable is not None:  # the deprecated spelling: anyio warns, as it should
        if workset is None:
            return await _original_run_sync(func, *args, abandon_on_cancel=abandon_on_cancel,
                                            cancellable=cancellable, limiter=limiter)
        abandon_on_cancel = bool(cancellable)
    wrapped, never_started = threaded(workset, func)
    try:
        if abandon_on_cancel:
            return await _original_run_sync(wrapped, *args, abandon_on_cancel=True, limiter=limiter)
        return await _wait_unless_abandoned(workset, wrapped, args, limiter)
    finally:
        never_started()


async def _wait_unless_abandoned(workset: WorkSet, func: Callable[..., Any], args: tuple[Any, ...],
                                 limiter: Any) -> Any:
    """``run_sync(abandon_on_cancel=False)``, except that the harness can stop the wait.

    anyio waits for the thread under a shield, which nothing can lift: an app whose thread
    never returns would hold the test's event loop for good. Here the call is made
    abandonable and a cancellation waits for the thread under our own shield, which the
    harness lifts when it gives up. The thread still sees the cancellation through
    ``anyio.from_thread.check_cancelled()``. Unlike anyio, a call cancelled before its
    thread began does not run at all, and a cancelled call raises once its thread returned
    rather than returning its value.
    """
    finished = anyio.Event()
    lock = threading.Lock()
    state = {"began": False, "skip": False}

    def in_thread(*call_args: Any) -> Any:
        with lock:
            if state["skip"]:
                return None
            state["began"] = True
        try:
            return func(*call_args)
        finally:
            post_quietly(workset.post, finished.set)

    try:
        return await _original_run_sync(in_thread, *args, abandon_on_cancel=True, limiter=limiter)
    except anyio.get_cancelled_exc_class():
        with lock:
            state["skip"] = not state["began"]
        if not state["skip"]:
            with anyio.CancelScope(shield=True) as waiting:
                unregister = workset.abandonment.on_abandon(waiting.cancel)
                try:
                    await finished.wait()
                finally:
                    unregister()
        raise


#: Held for the rest of the run once a scenario runs: it passes through outside scenarios, so
#: holding it is cheaper than installing it per scenario and cannot race between two loops.
RUN_SYNC = Patch(anyio.to_thread, "run_sync", _watched_run_sync)


_watched_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def watch_executor(loop: asyncio.AbstractEventLoop) -> None:
    """Shadow ``loop.run_in_executor`` with an instance attribute, once per loop."""
    if loop in _watched_loops:
        return
    original = loop.run_in_executor

    def run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        workset = current_workset.get()
        if workset is None:
            return original(executor, func, *args)
        wrapped, never_started = threaded(workset, func)
        future = original(executor, wrapped, *args)
        future.add_done_callback(lambda _: never_started())
        return future

    loop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]
    _watched_loops.add(loop)
