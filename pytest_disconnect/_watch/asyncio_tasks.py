"""asyncio: a task factory, chained to any previous one, attributes tasks by ContextVar."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from .._compat import TaskConstructor, eager_constructor, eager_factory
from .names import task_name
from .patches import at_end_of_run
from .work import Work
from .workset import WorkSet, current_workset

new_event = asyncio.Event
_TaskFactory = Callable[..., "asyncio.Future[Any]"]


def _track(task: asyncio.Future[Any], coro: Coroutine[Any, Any, Any],
           context: contextvars.Context | None, name: str) -> tuple[Work, Callable[[Any], None]] | None:
    """Register ``task`` with the scenario whose ContextVar it carries, if any: its work, and the
    done callback that ends it."""
    workset = context.get(current_workset) if context is not None else current_workset.get()
    if workset is not None and workset.watched and not workset.knows(task):  # a factory chained over ours calls us too
        work = workset.started(task, coro, task_name(name, coro))

        def end(done: asyncio.Future[Any]) -> None:
            # Not done.exception(): that would silence 'exception was never retrieved'.
            workset.ended(work, "cancelled" if done.cancelled() else "ended")

        task.add_done_callback(end)
        return work, end
    return None


class _TrackingFactory:
    """Delegates to the previous factory, then registers the task with its scenario."""

    def __init__(self, previous: _TaskFactory | None) -> None:
        self.previous = previous
        self.users = 0
        #: What goes on the loop: this factory, or an eager one around a tracking constructor.
        self.installed: _TaskFactory = self

    def __call__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                 **kwargs: Any) -> asyncio.Future[Any]:
        if self.previous is not None:
            task = self.previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        _track(task, coro, kwargs.get("context"), str(kwargs.get("name") or ""))
        return task


class _EagerTrackingFactory(_TrackingFactory):
    """Keeps an eager factory eager (Python 3.12+).

    anyio spots an eager factory by its code and calls the task constructor inside it, so a
    plain wrapper would either hide its tasks or start them before anyio set up their cancel
    scopes. Instead, asyncio's own eager factory goes on the loop around a constructor that
    calls the previous factory's constructor and registers the task: anyio's tasks and every
    ``create_task()`` are attributed, and tasks start eagerly as before.
    """

    def __init__(self, previous: _TaskFactory, constructor: TaskConstructor) -> None:
        super().__init__(previous)
        self.constructor = constructor
        self.installed = eager_factory(self._construct)

    def _construct(self, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> asyncio.Task[Any]:
        # An eager task may have run its first step (and spawned children) by now: they carry
        # the same ContextVar, so they are attributed either way.
        task = self.constructor(coro, **kwargs)
        _track(task, coro, kwargs.get("context"), str(kwargs.get("name") or ""))
        return task


_factories: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TrackingFactory] = (
    weakref.WeakKeyDictionary()
)


def _tracking(previous: _TaskFactory | None) -> _TrackingFactory:
    constructor = eager_constructor(previous)
    if previous is not None and constructor is not None:
        return _EagerTrackingFactory(previous, constructor)
    return _TrackingFactory(previous)


def watch(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Have the tracking factory on ``loop`` while a scenario runs; returns what ends its watch.

    Installed on the loop's first scenario and left there between scenarios, since outside
    one it costs a task one ContextVar read; put back when the loop had a factory of its own
    (its owner may read it back), else at the end of the run. Installed anew, chained over
    whatever is there, if someone replaced it meanwhile.
    """
    factory = _factory_of(loop)
    if factory is None or loop.get_task_factory() is not factory.installed:
        factory = _tracking(loop.get_task_factory())
        _factories[loop] = factory
        loop.set_task_factory(factory.installed)
    _remember(loop, factory)
    factory.users += 1
    return lambda: _unwatch(loop, factory)


def _no_loop() -> None:
    return None


#: The last loop watched and its factory: a loop of scenarios asks for the same one each time,
#: and a weak dictionary's look-up makes a weak reference per call.
_last_loop: Callable[[], asyncio.AbstractEventLoop | None] = _no_loop
_last_factory: _TrackingFactory | None = None


def _factory_of(loop: asyncio.AbstractEventLoop) -> _TrackingFactory | None:
    """The tracking factory installed on ``loop``, if any (the last loop's without a look-up)."""
    return _last_factory if _last_loop() is loop else _factories.get(loop)


def _remember(loop: asyncio.AbstractEventLoop | None, factory: _TrackingFactory | None) -> None:
    global _last_loop, _last_factory
    if _last_factory is not factory:
        _last_loop = weakref.ref(loop) if loop is not None else _no_loop
        _last_factory = factory


def _unwatch(loop: asyncio.AbstractEventLoop, factory: _TrackingFactory) -> None:
    factory.users -= 1
    if factory.users == 0 and factory.previous is not None:
        _remove(loop, factory)


def _remove(loop: asyncio.AbstractEventLoop, factory: _TrackingFactory) -> None:
    if loop.get_task_factory() is factory.installed:
        loop.set_task_factory(factory.previous)
    if _factories.get(loop) is factory:
        del _factories[loop]
    if _last_factory is factory:
        _remember(None, None)


def _remove_all() -> None:
    """At the end of the run: no loop that outlives it keeps our factory."""
    for loop, factory in list(_factories.items()):
        _remove(loop, factory)


at_end_of_run(_remove_all)


#: Python 3.12+: a task can run its first step at its creation (``eager_start``).
EAGER_START = sys.version_info >= (3, 12)


def spawn(workset: WorkSet, runner: Callable[[], Awaitable[None]], name: str) -> bool:
    """Start the app runner in a task of its own, as the scenario's first work; True if it took
    its first step already (an app that never suspends has then ended: no loop turn)."""
    context = contextvars.copy_context()
    context.run(current_workset.set, workset)
    loop = asyncio.get_running_loop()
    coro = cast(Coroutine[Any, Any, None], runner())  # an async def's call
    factory = _factory_of(loop)
    if isinstance(factory, _EagerTrackingFactory):
        constructor: TaskConstructor | None = factory.constructor  # the loop's own eager tasks
    elif EAGER_START and factory is not None and factory.previous is None:
        constructor = asyncio.Task  # what create_task() would make, started eagerly
    else:
        constructor = None  # a task factory of the test's own: its tasks as it makes them
    if constructor is None:
        loop.create_task(coro, name=name, context=context)  # noqa: RUF006 - its work holds it
        return False
    # Eagerly: its first step runs now, with current_task() the new task (anyio's cancel scopes
    # take it as their host), and the task registers itself before the app's first line.
    constructor(_registered(coro, name), loop=loop, name=name, context=context, eager_start=True)
    return True


async def _registered(coro: Coroutine[Any, Any, None], name: str) -> None:
    """The app runner's task, registered from inside it: the scenario's first work even when it
    starts eagerly and spawns tasks in that first step (before the factory returns it)."""
    task = asyncio.current_task()
    assert task is not None
    tracked = _track(task, coro, None, name)
    try:
        await coro
    finally:
        if tracked is not None and tracked[0].ended_at is not None:
            # The app call ended its work itself (AppCall._ended). The done callback would only
            # be scheduled, and a loop of requests that never yields to the loop (an eager start
            # of an app that answers at once, every time) would pile them up, each holding its
            # scenario: the cyclic GC then took a third of a request's time on Python 3.12.
            task.remove_done_callback(tracked[1])


def cancel_stray_tasks(workset: WorkSet) -> None:
    """Cancel tasks the app spawned outside any anyio cancel scope (plain create_task)."""
    for work in workset.running():
        if work.kind == "task" and isinstance(work.task, asyncio.Task):
            work.task.cancel()



def poke(task: object) -> None:
    """Make a task parked on a future take its next step (the harness abandons it then)."""
    if isinstance(task, asyncio.Task):
        task.cancel()




class CallerTask:
    """The task that awaits the scenario, while the app call runs in it (inline).

    asyncio's cancellation is a request counted on the task, and the app's task is now the
    test's: who asked is told by when. A request made during one of the app's steps is the app
    cancelling its own task (``current_task().cancel()``): it is the app's, recorded as
    'cancelled from outside the channel' and taken back once the app call ends. One made while
    the app is suspended (a timeout around the test, Ctrl-C, the loop's shutdown) is the
    caller's own: it goes on up, even when the app swallowed it.
    """

    __slots__ = ("_base", "_context", "_own", "task")

    def __init__(self, context: contextvars.Context) -> None:
        task = asyncio.current_task()
        assert task is not None  # a scenario runs in a task
        self.task: asyncio.Task[Any] = task
        self._context = context
        self._base = task.cancelling()
        self._own = 0  # requests the app made on its own task

    def step(self, function: Callable[..., Any], *args: Any) -> Any:
        """One step of the app, in the scenario's context."""
        task = self.task
        before = task.cancelling()
        try:
            return self._context.run(function, *args)
        finally:
            del args  # a thrown exception's traceback holds this frame: no cycle through it
            after = task.cancelling()
            if after > before:
                self._own += after - before

    def cancel_pending(self) -> bool:
        return self._own == 0 and self.task.cancelling() > self._base

    def restore(self, poked: bool) -> None:
        """Take back the requests poke() and the app itself added: the test's task is left as it was."""
        for _ in range(self._own + poked):
            self.task.uncancel()

    async def reraise(self) -> None:
        raise asyncio.CancelledError  # the app swallowed the caller's cancellation
