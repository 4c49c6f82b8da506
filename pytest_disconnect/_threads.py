"""Watching worker threads: cancellation never reaches them, so counting tasks alone passes
handlers whose thread runs on (FACTS: 'Threads are where cancellation does not reach').

Starlette's run_in_threadpool and FastAPI's sync endpoints look up
``anyio.to_thread.run_sync`` at call time, so wrapping that attribute while any
scenario runs catches them; asyncio.to_thread and loop.run_in_executor go through
the loop's ``run_in_executor``, wrapped per loop. Outside a scenario both wrappers
pass straight through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread

from ._watch import current_workset

_original_run_sync = anyio.to_thread.run_sync
_users = 0


async def _watched_run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    workset = current_workset.get()
    if workset is not None:
        func = workset.threaded(func)
    return await _original_run_sync(func, *args, **kwargs)


@contextmanager
def watching_anyio_threads() -> Generator[None, None, None]:
    global _users
    if _users == 0:
        anyio.to_thread.run_sync = _watched_run_sync  # type: ignore[assignment]
    _users += 1
    try:
        yield
    finally:
        _users -= 1
        if _users == 0 and anyio.to_thread.run_sync is _watched_run_sync:
            anyio.to_thread.run_sync = _original_run_sync


_executor_users: dict[asyncio.AbstractEventLoop, int] = {}


@contextmanager
def watching_executor(loop: asyncio.AbstractEventLoop) -> Generator[None, None, None]:
    """Shadow ``loop.run_in_executor`` with an instance attribute while scenarios run on it."""
    if loop not in _executor_users:
        original = loop.run_in_executor

        def run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
            workset = current_workset.get()
            if workset is not None:
                func = workset.threaded(func)
            return original(executor, func, *args)

        loop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]
        _executor_users[loop] = 0
    _executor_users[loop] += 1
    try:
        yield
    finally:
        _executor_users[loop] -= 1
        if _executor_users[loop] == 0:
            del _executor_users[loop]
            del loop.run_in_executor  # back to the class's method
