"""The app call in the task that awaits the scenario, and a referee that runs the phases beside it.

A task of its own for the app costs a spawn and two loop turns per scenario (to the app, back
to the driver): several times what a small app costs itself. So the caller's task runs the app
call, each of the app's steps inside the scenario's copy of the caller's context (tasks the app
starts carry the scenario's ContextVar; what the app sets stays out of the test's context).

The phases (until the client leaves, the tolerance, the cancellation at the watch limit and
the give-up) need a task that waits while the app runs: the referee. It is spawned the first
time the app yields to the loop, in a context without the scenario's ContextVar (it is not the
app's work). An app that ends without ever suspending costs no task and no loop turn: the
caller runs the phases itself once the app has returned. Either way only one task ever waits
on the scenario's waker: the caller stops the referee before it winds down.

Abandoning an app that resists cancellation pokes the caller's task (asyncio: a cancellation
request, taken back once the app call has ended), so the test's task is left with none pending.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable

import anyio

from .._backends import Backend
from .._types import WaitableEvent
from .._watch.workset import WorkSet, current_workset
from .app_call import AppCall, Inline


class Referee:
    """The phases, in a detached task of their own, while the app runs in the caller's task."""

    __slots__ = ("_done", "_error", "_grace", "_loop", "_name", "_phases", "_scope")

    def __init__(self, loop: Backend, phases: Callable[[], Awaitable[None]], name: str, grace: float) -> None:
        self._loop = loop
        self._phases = phases
        self._name = name
        self._grace = grace
        self._done: WaitableEvent | None = None
        self._scope: anyio.CancelScope | None = None  # made at start(): most apps never suspend
        self._error: BaseException | None = None

    @property
    def started(self) -> bool:
        return self._done is not None

    def start(self) -> None:
        """At the app's first suspension: the phases go on in a task of their own."""
        if self._done is not None:
            return
        self._done = self._loop.new_event()
        self._scope = anyio.CancelScope()
        context = contextvars.copy_context()
        context.run(current_workset.set, None)  # not the app's work: never counted, never cancelled
        self._loop.spawn_detached(self._run, f"{self._name} (referee)", context)

    async def _run(self) -> None:
        assert self._done is not None and self._scope is not None
        try:
            with self._scope:
                await self._phases()
        except BaseException as exc:  # raised in the caller: a detached task's error is only logged
            self._error = exc
        finally:
            self._done.set()

    async def finish(self) -> None:
        """The app call has ended: wait for the phases to end, raising what they raised."""
        assert self._done is not None
        await self._done.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def stop(self) -> None:
        """The caller winds down (maybe cancelled from outside): end the phases first, bounded."""
        done, scope = self._done, self._scope
        if done is None or scope is None or done.is_set():
            return
        scope.cancel()
        # Bounded: the give-up the referee may be in is shielded for at most one grace.
        with anyio.CancelScope(shield=True), anyio.move_on_after(2 * self._grace):
            await done.wait()


async def call_inline(loop: Backend, workset: WorkSet, call: AppCall, run: Callable[[], Awaitable[None]],
                      name: str, referee: Referee) -> None:
    """Run the app call in the current task, as the scenario's first work (work[0])."""
    context = contextvars.copy_context()
    context.run(current_workset.set, workset)
    caller = loop.caller(context)
    call.inline = Inline(context, caller, referee.start)
    workset.started(caller.task, None, name, "app")
    try:
        await run()
    finally:
        caller.restore(poked=workset.works[0].abandoned)  # the harness poked it to end the app call
    if caller.cancel_pending():
        await caller.reraise()
