"""asyncio: a task factory, chained to any previous one, attributes tasks by ContextVar."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Callable, Coroutine, Generator
from contextlib import contextmanager
from typing import Any

from ._watch import WorkSet, current_workset, task_name

new_event = asyncio.Event
_TaskFactory = Callable[..., "asyncio.Future[Any]"]


class _TrackingFactory:
    """Delegates to the previous factory, then registers the task with its scenario."""

    def __init__(self, previous: _TaskFactory | None) -> None:
        self.previous = previous
        self.users = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                 **kwargs: Any) -> asyncio.Future[Any]:
        if self.previous is not None:
            task = self.previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        workset = context.get(current_workset) if context is not None else current_workset.get()
        if workset is not None and not workset.knows(task):  # a factory chained over ours calls us too
            work = workset.started(task, coro, task_name(str(kwargs.get("name") or ""), coro))
            # Not task.exception(): that would silence 'exception was never retrieved'.
            task.add_done_callback(
                lambda done: workset.ended(work, "cancelled" if done.cancelled() else "ended"))
        return task


_factories: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TrackingFactory] = (
    weakref.WeakKeyDictionary()
)


def _is_eager(factory: object) -> bool:
    eager = getattr(asyncio, "eager_task_factory", None)
    return eager is not None and getattr(factory, "__code__", None) is getattr(eager, "__code__", 0)


@contextmanager
def watching(loop: asyncio.AbstractEventLoop) -> Generator[bool, None, None]:
    """Install the tracking factory on ``loop`` for the duration; yields False if it could not.

    Shared by concurrent scenarios on one loop; removed when the last one ends,
    unless someone replaced it meanwhile.
    """
    factory = _factories.get(loop)
    current: object = loop.get_task_factory()
    if factory is None or current is not factory:
        previous = loop.get_task_factory()
        if _is_eager(previous):  # pragma: no cover - Python 3.12+ only
            # anyio bypasses eager factories by identity; wrapping one breaks its task groups.
            yield False
            return
        factory = _TrackingFactory(previous)
        _factories[loop] = factory
        loop.set_task_factory(factory)  # type: ignore[arg-type]  # typeshed's Protocol is positional-only
    factory.users += 1
    try:
        yield True
    finally:
        factory.users -= 1
        current = loop.get_task_factory()
        if factory.users == 0 and current is factory:  # type: ignore[comparison-overlap]
            loop.set_task_factory(factory.previous)
            del _factories[loop]


def spawn(workset: WorkSet, runner: Callable[[], Coroutine[Any, Any, None]], name: str,
          tracked: bool) -> None:
    context = contextvars.copy_context()
    context.run(current_workset.set, workset)
    loop = asyncio.get_running_loop()
    coro = runner()
    task = loop.create_task(coro, name=name, context=context)
    if not tracked:  # pragma: no cover - only when the factory could not be installed
        work = workset.started(task, coro)
        task.add_done_callback(lambda done: workset.ended(work, "finished"))


def cancel_stray_tasks(workset: WorkSet) -> None:
    """Cancel tasks the app spawned outside any anyio cancel scope (plain create_task)."""
    for work in workset.running():
        if work.kind == "task" and isinstance(work.task, asyncio.Task):
            work.task.cancel()

