"""trio: an instrument sees every task; the child's context carries the scenario's ContextVar."""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from typing import Any

import trio

from .names import task_name
from .work import Work
from .workset import WorkSet, current_workset


class _Instrument(trio.abc.Instrument):
    """Attributes each new task to the scenario whose ContextVar its context carries.

    One per trio run, added on its first scenario and gone with the run: a task spawned
    outside a scenario costs one ContextVar read. An instrument that raises is silently
    disabled by trio, so every hook is guarded.
    """

    def __init__(self) -> None:
        self.by_task: dict[trio.lowlevel.Task, tuple[WorkSet, Work]] = {}

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        try:
            workset = task.context.get(current_workset)
            if workset is not None and workset.watched:
                self.by_task[task] = (workset, workset.started(task, task.coro, task_name(task.name, task.coro)))
        except Exception:  # pragma: no cover - defensive, see class docstring
            pass

    def __dir__(self) -> list[str]:
        # trio's add_instrument() and remove_instrument() look for hooks in dir(instrument):
        # naming only ours saves a sync run() on trio about 10 us (it adds one per run).
        return ["task_spawned", "task_exited"]

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        try:
            watched = self.by_task.pop(task, None)
            if watched is not None:
                watched[0].ended(watched[1], "ended")
        except Exception:  # pragma: no cover - defensive, see class docstring
            pass


_INSTRUMENT: trio.lowlevel.RunVar[_Instrument | None] = trio.lowlevel.RunVar(
    "pytest_disconnect_instrument", default=None)


def watch() -> None:
    """Have the run's instrument watch new tasks (added once per run, gone with it)."""
    if _INSTRUMENT.get() is None:
        instrument = _Instrument()
        trio.lowlevel.add_instrument(instrument)
        _INSTRUMENT.set(instrument)





class CallerTask:
    """The task that awaits the scenario, while the app call runs in it (inline).

    trio's cancellation is a state of the scopes around a task, not a request: a Cancelled
    the app call ends with, not the harness's, is the caller's own, and goes on up.
    """

    __slots__ = ("_context", "task")

    def __init__(self, context: contextvars.Context) -> None:
        self.task = trio.lowlevel.current_task()
        self._context = context

    def step(self, function: Callable[..., Any], *args: Any) -> Any:
        """One step of the app, in the scenario's context."""
        try:
            return self._context.run(function, *args)
        finally:
            del args  # a thrown exception's traceback holds this frame: no cycle through it

    def cancel_pending(self) -> bool:
        return trio.current_effective_deadline() == -math.inf

    def restore(self, poked: bool) -> None:
        """poke() is a no-op on trio, and a task cannot cancel itself: nothing to take back."""

    async def reraise(self) -> None:
        await trio.lowlevel.checkpoint()  # raises Cancelled: the scope around the caller is cancelled
