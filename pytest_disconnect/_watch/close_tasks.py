"""Ending asyncio tasks the app spawned that swallow cancellation for good.

A task the app started with ``create_task()`` outside any task group is cancelled at
the watch limit; one that catches ``CancelledError`` and awaits again would stay on
the loop. Under ``arun()`` that is the test's loop, whose shutdown (``asyncio.Runner``,
which anyio's and pytest-asyncio's runners use) cancels every task and waits for it:
the test's teardown would hang. So, once the grace after the cancellation is over, the
harness closes such a task's coroutine where it is suspended (``GeneratorExit`` at its
``await``; its ``finally`` blocks run), then cancels the task, whose next step ends it:
a closed coroutine raises ``RuntimeError('cannot reuse already awaited coroutine')``,
which is retrieved here so that asyncio does not log it. A ``with`` block of anyio's
cancel scopes in the task raises ``RuntimeError`` as it exits in the closing task; the
coroutine is closed all the same.

A coroutine that catches ``GeneratorExit`` as well (a bare ``except:``) and awaits again
cannot be closed. Its new ``await`` went to ``close()``, not to the task, which still waits
for the future the coroutine left: nothing will resolve it (``asyncio.sleep()`` cancelled
its timer on the way out), so the task never steps again unless it is cancelled. It is
not cancelled, and it is removed from ``asyncio.all_tasks()`` (``asyncio.tasks._unregister_task``,
private), whose cancel-and-wait at the loop's shutdown would wake it into its loop again and
hang. Both objects are kept referenced for the rest of the run, so no garbage collection
reports them into another test. Checked on CPython 3.11.7, 3.12.1 and 3.13.0 with anyio 4.16.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .._compat import forget_task
from .._harness_lines import closed_task, unclosable_task
from .workset import Work

#: Tasks and coroutines that ignored GeneratorExit: kept referenced, so the garbage collector
#: does not try to close them again later and report the failure into some unrelated test.
_unclosable: list[object] = []


def close_stray_tasks(works: Iterable[Work]) -> list[str]:
    """Close the suspended asyncio tasks among ``works``; returns a timeline line for each."""
    lines = []
    for work in works:
        task = work.task
        if work.kind != "task" or not isinstance(task, asyncio.Task) or task.done():
            continue
        if task is asyncio.current_task():  # pragma: no cover - the harness never runs in app work
            continue
        work.abandoned = True  # its end is the harness's doing: it still counts as running
        name = work.label()
        lines.append(closed_task(name) if _close(task) else unclosable_task(name))
    return lines


def _close(task: asyncio.Task[object]) -> bool:
    coro = task.get_coro()
    close = getattr(coro, "close", None)
    if close is None:  # pragma: no cover - a task around an object that is not a coroutine
        return False
    try:
        close()
    except BaseException:  # it awaited again, or a with block's exit raised in this task
        if getattr(coro, "cr_frame", None) is not None:
            _park(task, coro)
            return False
    task.add_done_callback(_retrieve)
    task.cancel()
    return True


def _park(task: asyncio.Task[object], coro: object) -> None:
    _unclosable.append((task, coro))
    forget_task(task)  # missing in a later release: the shutdown would wait for it, as before


def _retrieve(task: asyncio.Task[object]) -> None:
    """The closed coroutine's RuntimeError is the harness's doing, not the app's: nothing to log."""
    if not task.cancelled():
        task.exception()
