"""Watching worker threads: cancellation never reaches them, so counting tasks alone passes
handlers whose thread runs on (FACTS: 'Threads are where cancellation does not reach').

Starlette's run_in_threadpool and FastAPI's sync endpoints look up
``anyio.to_thread.run_sync`` at call time, so wrapping that attribute while any
scenario runs catches them; asyncio.to_thread and loop.run_in_executor go through
the loop's ``run_in_executor``, wrapped once per loop. Outside a scenario both
wrappers pass straight through.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from ._watch import current_workset

_original_run_sync = anyio.to_thread.run_sync


async def _watched_run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    workset = current_workset.get()
    if workset is None:
        return await _original_run_sync(func, *args, **kwargs)
    wrapped, never_started = workset.threaded(func)
    try:
        return await _original_run_sync(wrapped, *args, **kwargs)
    finally:
        never_started()


def install() -> None:
    """Wrap anyio.to_thread.run_sync for the rest of the run (it passes through outside scenarios).

    Installed once rather than per scenario: cheaper, and no race between scenarios
    running at once on two loops in two threads.
    """
    if anyio.to_thread.run_sync is _original_run_sync:
        anyio.to_thread.run_sync = _watched_run_sync  # type: ignore[assignment]


def uninstall() -> None:
    if anyio.to_thread.run_sync is _watched_run_sync:
        anyio.to_thread.run_sync = _original_run_sync


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
        wrapped, never_started = workset.threaded(func)
        future = original(executor, wrapped, *args)
        future.add_done_callback(lambda _: never_started())
        return future

    loop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]
    _watched_loops.add(loop)
