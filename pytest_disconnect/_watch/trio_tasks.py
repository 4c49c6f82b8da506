"""trio: an instrument sees every task; the child's context carries the scenario's ContextVar."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine, Generator
from contextlib import contextmanager
from typing import Any

import trio

from .workset import Work, WorkSet, current_workset, task_name

new_event = trio.Event


class _Instrument(trio.abc.Instrument):
    """An instrument that raises is silently disabled by trio, so every hook is guarded."""

    def __init__(self, workset: WorkSet) -> None:
        self.workset = workset
        self.by_task: dict[trio.lowlevel.Task, Work] = {}

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        try:
            if task.context.get(current_workset) is self.workset:
                self.by_task[task] = self.workset.started(task, task.coro, task_name(task.name, task.coro))
        except Exception:  # pragma: no cover - defensive, see class docstring
            pass

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        try:
            work = self.by_task.pop(task, None)
            if work is not None:
                self.workset.ended(work, "ended")
        except Exception:  # pragma: no cover - defensive, see class docstring
            pass


@contextmanager
def watching(workset: WorkSet) -> Generator[bool, None, None]:
    instrument = _Instrument(workset)
    trio.lowlevel.add_instrument(instrument)
    try:
        yield True
    finally:
        trio.lowlevel.remove_instrument(instrument)


def spawn(workset: WorkSet, runner: Callable[[], Coroutine[Any, Any, None]], name: str,
          tracked: bool) -> None:
    # A system task, so the driver can return (and report) even if the app resists
    # cancellation; a nursery would make the driver wait for it forever.
    context = contextvars.copy_context()
    context.run(current_workset.set, workset)
    # System tasks shield KeyboardInterrupt by default; the app must stay interruptible (Ctrl-C).
    trio.lowlevel.spawn_system_task(trio.lowlevel.disable_ki_protection(runner), name=name,
                                    context=context)


def cancel_stray_tasks(workset: WorkSet) -> None:
    """trio tasks always live in a nursery under the app's cancel scope: nothing extra to do."""


def poke(task: object) -> None:
    """A cancelled trio task takes its next step at its next checkpoint; nothing can wake it sooner."""
