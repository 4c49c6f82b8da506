"""The trio backend: one object per trio run (imported only when a trio run asks for it)."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import trio

from .._clock.virtual import VirtualClock, install_trio
from .._types import WaitableEvent
from .._watch import trio_tasks
from .._watch.workset import current_workset

if TYPE_CHECKING:
    from .._watch.workset import WorkSet

_BACKEND: trio.lowlevel.RunVar[TrioBackend | None] = trio.lowlevel.RunVar("pytest_disconnect_backend",
                                                                           default=None)


def current() -> TrioBackend:
    backend = _BACKEND.get()
    if backend is None:
        backend = TrioBackend(trio.lowlevel.current_trio_token())
        _BACKEND.set(backend)
    return backend


class TrioBackend:
    name = "trio"
    new_event: Callable[[], WaitableEvent] = trio.Event

    def new_cancel_scope(self, shield: bool = False) -> trio.CancelScope:
        return trio.CancelScope(shield=shield)

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token

    @property
    def identity(self) -> object:
        return self.token

    def post(self, callback: Callable[[], None]) -> None:
        self.token.run_sync_soon(callback)

    def clock(self) -> Callable[[], float]:
        # The run's clock itself (the virtual one, once installed): trio.current_time() reaches
        # it through two more calls, and a scenario reads the time several times.
        return trio.lowlevel.current_clock().current_time

    def now(self) -> float:
        return trio.current_time()

    async def wait(self, event: WaitableEvent, deadline: float | None) -> bool:
        if deadline is None:
            await event.wait()
            return True
        with trio.move_on_at(deadline):
            await event.wait()
        return event.is_set()

    def spawn_detached(self, run: Callable[[], Coroutine[Any, Any, None]], name: str,
                       context: contextvars.Context | None = None) -> object:
        # A system task: cancelling the caller must not reach it (see _interruptible for Ctrl-C).
        trio.lowlevel.spawn_system_task(_interruptible, run, name=name, context=context or contextvars.copy_context())
        return None

    def spawn_for_the_loop(self, run: Callable[[], Coroutine[Any, Any, None]], name: str,
                           context: contextvars.Context, at_end: Callable[[], Coroutine[Any, Any, None]]) -> None:
        # System tasks, with trio's KeyboardInterrupt protection left on (see spawn_detached).
        trio.lowlevel.spawn_system_task(run, name=name, context=context)
        trio.lowlevel.spawn_system_task(_at_the_runs_end, at_end, name=f"{name} (its end with the run)",
                                        context=context)

    def take_back_cancellation(self) -> bool:
        return False

    def watch_tasks(self) -> Callable[[], None]:
        trio_tasks.watch()
        return _stays  # the instrument stays for the run: outside a scenario, a ContextVar read a task

    def spawn(self, workset: WorkSet, runner: Callable[[], Awaitable[None]], name: str) -> None:
        # A system task, so the driver can return (and report) even if the app resists
        # cancellation; a nursery would make the driver wait for it forever.
        context = contextvars.copy_context()
        context.run(current_workset.set, workset)
        trio.lowlevel.spawn_system_task(_interruptible, runner, name=name, context=context)

    async def first_step(self) -> None:
        # trio runs a batch of runnable tasks in a random order: half the time this task comes
        # back after the app's first step in the same batch, else it waits as before.
        await trio.lowlevel.checkpoint()

    def caller(self, context: contextvars.Context) -> trio_tasks.CallerTask:
        return trio_tasks.CallerTask(context)

    def cancel_stray_tasks(self, workset: WorkSet) -> None:
        """trio tasks always live in a nursery under the app's cancel scope: nothing extra to do."""

    def poke(self, task: object) -> None:
        """A cancelled trio task takes its next step at its next checkpoint; nothing can wake it sooner."""

    def virtual_clock(self) -> VirtualClock:
        return install_trio()

    def io_pending(self) -> bool:
        """trio's clock is asked only when no task is runnable; real I/O shows as the threads' work."""
        return False


@trio.lowlevel.disable_ki_protection
async def _interruptible(run: Callable[[], Awaitable[None]]) -> None:
    """A system task's body, where Ctrl-C reaches the app. System tasks shield KeyboardInterrupt;
    trio decides by the code of the frames on the task's stack, so the protection is turned off on
    this function, the task's outermost frame, once (turning it off on ``run``, whose frame is
    gone by the time its coroutine runs, did nothing)."""
    await run()


def _stays() -> None:
    pass


async def _at_the_runs_end(at_end: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Wait for the run's end (it cancels system tasks), then run ``at_end()`` shielded."""
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await at_end()
