"""Watching the app's work: every task started on behalf of one scenario.

A ContextVar marks the scenario in the app runner's context; tasks inherit it,
so the backend hooks (an asyncio task factory, a trio instrument) can attribute
each new task without scanning (a scan of asyncio.all_tasks() saw none of 107
short-lived tasks an anyio app started).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar

from .._result import TimelineRecorder
from .._types import WaitableEvent
from .abandon import Abandonment
from .allow import AllowPolicy
from .names import callable_name, code_name, task_name
from .work import Work, WorkKind

__all__ = ["Work", "WorkKind", "WorkSet", "callable_name", "current_workset", "post_quietly", "task_name"]

current_workset: ContextVar[WorkSet | None] = ContextVar("pytest_disconnect_workset", default=None)


def post_quietly(post: Callable[[Callable[[], None]], None], callback: Callable[[], None]) -> None:
    """Post ``callback`` to the scenario's loop; nothing if the loop is closed (the scenario was
    decided and abandoned)."""
    try:
        post(callback)
    except RuntimeError:
        pass


class WorkSet:
    """The scenario's live and finished work, with an event for 'all of it ended'.

    Counting lives here; who may outlive the request is the AllowPolicy's, work in other
    threads is thread_work's, child processes are processes' (poll, kill_running, reap_all).
    """

    def __init__(self, now: Callable[[], float], timeline: TimelineRecorder,
                 new_event: Callable[[], WaitableEvent],
                 post: Callable[[Callable[[], None]], None] | None = None,
                 allow: frozenset[str] = frozenset(), *,
                 on_all_done: Callable[[], None] = lambda: None,
                 response_complete_at: Callable[[], float | None] = lambda: None,
                 thread_now: Callable[[], float] | None = None,
                 notice_time_read: Callable[[str, str], None] | None = None) -> None:
        self.now = now
        self.loop_thread = threading.get_ident()
        self.allow = AllowPolicy(allow)
        #: The same clock, readable from any thread (the loop's own clock may not be).
        self._real_start = time.monotonic() - now()
        #: Scenario time as read from worker threads, when not the real clock (the virtual one's).
        self._thread_now = thread_now
        #: Under the virtual clock: called when app code reads time.monotonic() and the like.
        self.notice_time_read = notice_time_read
        #: Runs a callback on the loop from another thread.
        self.post = post or (lambda callback: callback())
        self.timeline = timeline
        self._new_event = new_event
        self.works: list[Work] = []
        #: Worker-thread calls whose caller has not had its result yet.
        self.threads_in_flight = 0
        self._by_task: dict[object, Work] = {}  # tasks are hashable by identity
        self.live = 0
        self._all_done: WaitableEvent | None = None  # made on first wait
        #: Told when all the judged work has ended.
        self.on_all_done = on_all_done
        #: When the app sent its whole response, if it did (the channel knows).
        self.response_complete_at = response_complete_at
        self.done_at: float | None = None
        #: Thrown when the harness gives up on work that resists cancellation.
        self.abandonment = Abandonment()
        #: While the scenario's watch lasts: new tasks in its context are its work (the task hooks
        #: stay installed between scenarios and read this).
        self.watched = True

    @property
    def done(self) -> bool:
        return self.live == 0 and bool(self.works)

    def knows(self, task: object) -> bool:
        return task in self._by_task

    def real_now(self) -> float:
        return time.monotonic() - self._real_start

    def thread_now(self) -> float:
        """Scenario time, readable from any thread (a method, not a bound copy: no self-reference)."""
        clock = self._thread_now
        return time.monotonic() - self._real_start if clock is None else clock()

    def started(self, task: object, coro: object, name: str | None = None,
                kind: WorkKind | None = None) -> Work:
        kind = kind or ("app" if not self.works else "task")
        work = Work(task, coro, name or code_name(coro), kind, self.now())
        if task is not None and kind in ("app", "task"):
            self._by_task[task] = work
        self.register(work)
        return work

    def register(self, work: Work) -> None:
        """On the loop: count new work as live, unless it may outlive the request."""
        if self.live == 0 and self._all_done is not None and self._all_done.is_set():
            self._all_done = None  # a late spawn revives the scenario
        self.works.append(work)
        if self.allow.judged(work):
            self.live += 1

    def allow_by_stack(self, work: Work) -> None:
        """Work whose current stack runs an allowed function (a BackgroundTask, say) may go on."""
        if self.allow.allows_by_stack(work):
            self._let_go(work)

    def _let_go(self, work: Work) -> None:
        work.allowed = True
        self.live -= 1
        if self.live == 0:
            self._finish()

    def ended(self, work: Work, outcome: str, at: float | None = None) -> None:
        """Called on the loop; ``at`` when the end was measured elsewhere (in a thread)."""
        if work.ended_at is not None or work.abandoned:
            return
        work.ended_at = self.now() if at is None else at
        if work.outcome is None:
            work.outcome = outcome
        if work.allowed:
            return
        if work.kind != "app":
            self.timeline.add(work.ended_at, work.kind, "{} {}: {}", work.kind, work.outcome, work.label())
        self.live -= 1
        if self.live == 0:
            self._finish()

    def _finish(self) -> None:
        self.done_at = self.now()
        if self._all_done is not None:
            self._all_done.set()
        self.on_all_done()

    async def wait_done(self) -> None:
        if self.done:
            return
        if self._all_done is None:
            self._all_done = self._new_event()
        await self._all_done.wait()

    @property
    def stopped_at(self) -> float | None:
        """When the last judged work ended (allowed work does not count)."""
        if not self.done:
            return None
        # With every piece allowed (an app whose BackgroundTask may run on), the judged part
        # ended with the response.
        latest: float | None = None
        for work in self.works:  # a plain loop: max() over a generator cost twice as much
            ended = work.ended_at
            if ended is not None and not work.allowed and (latest is None or ended > latest):
                latest = ended
        return (self.response_complete_at() or self.done_at) if latest is None else latest

    def real_work_running(self) -> bool:
        """Threads or processes at work (allowed ones too): the virtual clock must not jump past them."""
        return self.threads_in_flight > 0 or any(work.ended_at is None and (work.kind in ("thread", "process") or (
            work.kind == "heavy" and work.thread_ident is not None)) for work in self.works)

    def running(self) -> list[Work]:
        """Judged work still running."""
        return [work for work in self.works if work.ended_at is None and not work.allowed]

    def locate_running(self) -> None:
        """Note where each running piece of work is, for the report; let allowed work go."""
        for work in self.running():
            work.locate()
            self.allow_by_stack(work)
        # A task only waiting for an allowed thread is allowed too; the app call only once its
        # response is complete (a BackgroundTask), never while the client still waits for it.
        for work in self.works:
            owner = work.owner
            if work.allowed and owner is not None and owner.ended_at is None and not owner.allowed and (
                    owner.kind != "app" or self.response_complete_at() is not None):
                self._let_go(owner)

    def release(self) -> None:
        """Once every piece of work has ended: drop the tasks and coroutines. A task's context
        holds this work set (the ContextVar), so keeping them made a reference cycle per scenario."""
        for work in self.works:
            work.task = work.coro = None
        self._by_task.clear()

    def all_ended(self) -> bool:
        """Every piece of work ended, allowed work too (``done`` counts judged work only)."""
        for work in self.works:  # noqa: SIM110 - a plain loop: all() over a generator cost twice as much
            if work.ended_at is None:
                return False
        return True

    def owner_of_current_task(self) -> Work | None:
        return self._by_task.get(_current_task())


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return trio.lowlevel.current_task()
        except RuntimeError:
            pass
    return None
