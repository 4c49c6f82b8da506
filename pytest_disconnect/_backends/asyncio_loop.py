"""The asyncio backend: one object per event loop."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio

from .._clock.virtual import VirtualClock, asyncio_io_pending, install_asyncio
from .._types import WaitableEvent
from .._watch import asyncio_tasks
from .._watch.threads import watch_executor

if TYPE_CHECKING:
    from .._watch.workset import WorkSet

_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncioBackend] = weakref.WeakKeyDictionary()


#: The last loop's backend: a loop of scenarios asks for the same one each time, and a weak
#: dictionary's look-up makes a weak reference per call.
_last: AsyncioBackend | None = None


def current() -> AsyncioBackend:
    global _last
    loop = asyncio.get_running_loop()
    last = _last
    if last is not None and last._loop() is loop:
        return last
    backend = _by_loop.get(loop)
    if backend is None:
        backend = _by_loop[loop] = AsyncioBackend(loop)
    _last = backend
    return backend


#: anyio's asyncio CancelScope class. ``anyio.CancelScope()`` looks the running library up
#: (sniffio) on every call to pick it; a scenario makes one per app call, and the class is
#: always the same on asyncio.
_scope_class: type[anyio.CancelScope] | None = None


def _first_cancel_scope(shield: bool) -> anyio.CancelScope:
    global _scope_class
    scope = anyio.CancelScope(shield=shield)
    _scope_class = type(scope)
    return scope


class AsyncioBackend:
    name = "asyncio"
    new_event: Callable[[], WaitableEvent] = asyncio.Event

    def new_cancel_scope(self, shield: bool = False) -> anyio.CancelScope:
        scope_class = _scope_class
        if scope_class is None:
            return _first_cancel_scope(shield)
        return scope_class(shield=shield)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        #: Held weakly: the loop's own table of backends must not keep it alive.
        self._loop = weakref.ref(loop)
        #: The last spawn() queued its task for the loop's next turn (it did not start eagerly).
        self._queued = False
        self._executor_watched = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:  # pragma: no cover - only used while its loop runs
            raise RuntimeError("the event loop is gone")
        return loop

    @property
    def identity(self) -> object:
        return self.loop

    def post(self, callback: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(callback)

    def clock(self) -> Callable[[], float]:
        return self.loop.time  # read after the virtual clock's install, which shadows it

    def now(self) -> float:
        return self.loop.time()

    async def wait(self, event: WaitableEvent, deadline: float | None) -> bool:
        if deadline is None:
            await event.wait()
            return True
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            event.set()

        # A timer rather than a cancel scope: a third of a short request's cost.
        timer = self.loop.call_at(deadline, expire)
        try:
            await event.wait()
        finally:
            timer.cancel()
        return not expired

    def spawn_detached(self, run: Callable[[], Coroutine[Any, Any, None]], name: str,
                       context: contextvars.Context | None = None) -> object:
        return self.loop.create_task(run(), name=name, context=context or contextvars.copy_context())

    def spawn_for_the_loop(self, run: Callable[[], Coroutine[Any, Any, None]], name: str,
                           context: contextvars.Context, at_end: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = self.loop.create_task(run(), name=name, context=context)
        _KEEP.add(task)
        task.add_done_callback(_KEEP.discard)

    def take_back_cancellation(self) -> bool:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    def watch_tasks(self) -> Callable[[], None]:
        loop = self.loop
        if not self._executor_watched:  # once per loop: it stays watched
            watch_executor(loop)
            self._executor_watched = True
        return asyncio_tasks.watch(loop)

    def spawn(self, workset: WorkSet, runner: Callable[[], Awaitable[None]], name: str) -> None:
        self._queued = not asyncio_tasks.spawn(workset, runner, name)

    async def first_step(self) -> None:
        if self._queued:
            self._queued = False
            # The spawned task is first in the loop's ready queue: it runs its step, then this
            # task, in the same loop turn (an event wait would take a second turn to come back).
            await asyncio.sleep(0)

    def caller(self, context: contextvars.Context) -> asyncio_tasks.CallerTask:
        return asyncio_tasks.CallerTask(context)

    def cancel_stray_tasks(self, workset: WorkSet) -> None:
        asyncio_tasks.cancel_stray_tasks(workset)

    def poke(self, task: object) -> None:
        asyncio_tasks.poke(task)

    def virtual_clock(self) -> VirtualClock:
        return install_asyncio(self.loop)

    def io_pending(self) -> bool:
        return asyncio_io_pending(self.loop)


#: asyncio keeps only weak references to tasks: hold the ones started for the loop's life.
_KEEP: set[asyncio.Task[None]] = set()
