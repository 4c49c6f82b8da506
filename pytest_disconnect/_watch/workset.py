"""Watching the app's work: every task started on behalf of one scenario.

A ContextVar marks the scenario in the app runner's context; tasks inherit it,
so the backend hooks (an asyncio task factory, a trio instrument) can attribute
each new task without scanning (a scan of asyncio.all_tasks() saw none of 107
short-lived tasks an anyio app started).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import FrameType
from typing import Literal, TypeVar

from .._compat import given_name, sync_endpoint, thread_frames
from .._result import TimelineRecorder, WorkRecord
from .._types import WaitableEvent
from .abandon import Abandonment
from .frames import coroutine_frames, describe_frame, innermost_app_frame, where
from .lifetime import known_infrastructure

T = TypeVar("T")

current_workset: ContextVar[WorkSet | None] = ContextVar("pytest_disconnect_workset", default=None)


WorkKind = Literal["app", "task", "thread", "process", "heavy"]


class Work:
    """Mutable record of one piece of watched work while the scenario runs."""

    __slots__ = ("abandoned", "allowed", "coro", "ended_at", "heartbeats", "infrastructure", "kind", "name",
                 "outcome", "owner", "started_at", "task", "thread_ident", "where")

    def __init__(self, task: object, coro: object, name: str, kind: WorkKind,
                 started_at: float) -> None:
        self.task = task
        self.coro = coro
        self.name = name
        self.kind: WorkKind = kind
        self.started_at = started_at
        self.ended_at: float | None = None
        self.outcome: str | None = None
        self.where: str | None = None
        #: For a thread: the task that waited for it (its 'owner'), and the thread's id once running.
        self.owner: Work | None = None
        self.thread_ident: int | None = None
        #: Allowed to outlive the request (run(allow=...)): not waited for, not judged.
        self.allowed = False
        #: App-lifetime work from the built-in list (see _lifetime): why it is not judged.
        self.infrastructure: str | None = None
        self.heartbeats = 0
        #: The harness gave up on it after it resisted cancellation: its end does not count.
        self.abandoned = False

    def label(self) -> str:
        """The task's name, read late: asyncio names a task only after the factory returns."""
        get_name = getattr(self.task, "get_name", None)
        if callable(get_name):
            return task_name(str(get_name()), self.coro)
        return self.name

    def freeze(self) -> WorkRecord:
        owner_ended = self.owner.ended_at if self.owner is not None else None
        return WorkRecord(self.label(), self.kind, self.started_at, self.ended_at, self.outcome,
                          self.where, owner_ended_at=owner_ended, allowed=self.allowed,
                          heartbeats=self.heartbeats, infrastructure=self.infrastructure)

    def locate(self) -> None:
        """Note where this work is now, for the report."""
        if self.kind in ("thread", "heavy") and self.thread_ident is not None:
            frame = thread_frames().get(self.thread_ident)
            self.where = describe_frame(innermost_app_frame(frame)) if frame is not None else None
        elif self.coro is not None:
            self.where = where(self.coro)
        if self.where is None:
            self.where = "(no Python frame)"


class WorkSet:
    """The scenario's live and finished work, with an event for 'all of it ended'."""

    def __init__(self, now: Callable[[], float], timeline: TimelineRecorder,
                 new_event: Callable[[], WaitableEvent],
                 post: Callable[[Callable[[], None]], None] | None = None,
                 allow: frozenset[str] = frozenset(), *,
                 on_all_done: Callable[[], None] = lambda: None,
                 response_complete_at: Callable[[], float | None] = lambda: None) -> None:
        self.now = now
        self.loop_thread = threading.get_ident()
        self._allow = allow
        #: The same clock, readable from any thread (the loop's own clock may not be).
        self._real_start = time.monotonic() - now()
        #: Scenario time as read from worker threads; the driver points it at the virtual clock.
        self.thread_now: Callable[[], float] = self.real_now
        #: Set under the virtual clock: called when app code reads time.monotonic() and the like.
        self.notice_time_read: Callable[[str, str], None] | None = None
        #: Runs a callback on the loop from another thread.
        self.post = post or (lambda callback: callback())
        self._timeline = timeline
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

    @property
    def done(self) -> bool:
        return self.live == 0 and bool(self.works)

    def knows(self, task: object) -> bool:
        return task in self._by_task

    def real_now(self) -> float:
        return time.monotonic() - self._real_start

    def started(self, task: object, coro: object, name: str | None = None,
                kind: WorkKind | None = None) -> Work:
        kind = kind or ("app" if not self.works else "task")
        work = Work(task, coro, name or _name(coro), kind, self.now())
        if task is not None and kind in ("app", "task"):
            self._by_task[task] = work
        self._register(work)
        return work

    def register(self, work: Work) -> None:
        """Count new work as live, unless the test allowed it by name (on the loop)."""
        self._register(work)

    def _register(self, work: Work) -> None:
        """Count new work as live, unless the test allowed it by name."""
        if self.live == 0 and self._all_done is not None and self._all_done.is_set():
            self._all_done = None  # a late spawn revives the scenario
        self.works.append(work)
        kind, allow = work.kind, self._allow
        infrastructure = known_infrastructure(work.coro) if kind == "task" else None
        if infrastructure is not None:  # app-lifetime: never judged, never cancelled
            work.allowed, work.infrastructure = True, infrastructure.label
        elif kind != "app" and allow and (
                work.name in allow or (kind == "process" and any(name in work.name for name in allow))):
            work.allowed = True
        else:
            self.live += 1

    def heavy_started(self, name: str, on_loop: bool) -> Work:
        """From heavy(): on the loop directly; from a worker thread through post()."""
        if on_loop:
            return self.started(None, None, name, "heavy")
        work = Work(None, None, name, "heavy", self.thread_now())
        work.thread_ident = threading.get_ident()
        post_quietly(self.post, lambda: self._register(work))
        return work

    def heavy_ended(self, work: Work, outcome: str, on_loop: bool) -> None:
        if on_loop:
            self.ended(work, outcome)
        else:
            ended = self.thread_now()
            post_quietly(self.post, lambda: self.ended(work, outcome, at=ended))

    def allow_by_stack(self, work: Work) -> None:
        """Work whose current stack runs an allowed function (a BackgroundTask, say) may go on."""
        if work.allowed or not self._allow or work.ended_at is not None:
            return
        if self._allow & _stack_names(work):
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
            self._timeline.add(work.ended_at, "task" if work.kind == "task" else work.kind,
                               f"{work.kind} {work.outcome}: {work.label()}")
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
        fallback = self.response_complete_at() or self.done_at
        return max((work.ended_at for work in self.works if work.ended_at is not None and not work.allowed),
                   default=fallback)

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
                owner.allowed = True
                self.live -= 1
                if self.live == 0:
                    self._finish()

    def process_started(self, pid: int, command: str) -> None:
        """On the loop: a child process the request started (see _processes)."""
        work = self.started(pid, None, f"pid {pid}: {command}", "process")
        self._timeline.add(work.started_at, "process", f"process started: pid {pid}: {command}")

    def poll(self) -> None:
        """On the watchdog thread: notice child processes that ended."""
        from .processes import ended

        for work in list(self.works):
            if work.kind == "process" and work.ended_at is None and work.outcome is None:
                outcome = ended(int(work.task))  # type: ignore[call-overload]
                if outcome is not None:
                    work.outcome = outcome
                    post_quietly(self.post, functools.partial(self.ended, work, "", at=self.thread_now()))

    def kill_processes(self) -> None:
        """Kill child processes still running: none may outlive the test."""
        from .processes import kill

        for work in self.running():
            if work.kind == "process":
                kill(int(work.task))  # type: ignore[call-overload]

    def reap_processes(self) -> None:
        """Collect the exit status of children that exited and nobody waited for (no zombie, no
        'subprocess N is still running' warning in a later test)."""
        from .processes import reap

        for work in self.works:
            if work.kind == "process":
                reap(int(work.task))  # type: ignore[call-overload]

    def owner_of_current_task(self) -> Work | None:
        return self._by_task.get(_current_task())

    def threaded(self, func: Callable[..., T]) -> tuple[Callable[..., T], Callable[[], None]]:
        """Wrap ``func`` to run in a worker thread as watched work of this scenario.

        Also returns ``never_started``, to call (on the loop) once the caller stopped
        waiting: a call cancelled before its thread began must not count as running.
        """
        work = self.started(None, None, callable_name(func), "thread")
        work.owner = self.owner_of_current_task()
        began = threading.Event()
        # Until the caller has its result, real work is in flight: the thread's end is posted
        # to the loop before the result is, and a virtual clock must not jump in between.
        self.threads_in_flight += 1

        def never_started() -> None:
            self.threads_in_flight -= 1
            if not began.is_set():
                self.ended(work, "never started: the call was cancelled first")

        def in_thread(*args: object, **kwargs: object) -> T:
            began.set()
            return self.run_as(work, lambda: func(*args, **kwargs))

        return in_thread, never_started

    def run_as(self, work: Work, call: Callable[[], T]) -> T:
        """Run ``call()`` in the current (worker) thread as ``work``; post its end and outcome."""
        work.thread_ident = threading.get_ident()
        outcome = "returned"
        try:
            return call()
        except BaseException as exc:
            outcome = f"raised {type(exc).__name__}"
            raise
        finally:
            ended = self.thread_now()
            post_quietly(self.post, lambda: self.ended(work, outcome, at=ended))


def _stack_names(work: Work) -> set[str]:
    names = {work.name}
    frames: list[FrameType] = []
    if work.thread_ident is not None:
        frame = thread_frames().get(work.thread_ident)
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
    else:
        frames = coroutine_frames(work.coro)
    names.update(frame.f_code.co_name for frame in frames)
    return names


def post_quietly(post: Callable[[Callable[[], None]], None], callback: Callable[[], None]) -> None:
    try:
        post(callback)
    except RuntimeError:  # the loop is closed: the scenario was decided and abandoned
        pass


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


def callable_name(func: object) -> str:
    inner = getattr(func, "func", func)  # functools.partial, as run_in_threadpool makes
    if getattr(inner, "__qualname__", "") == "Context.run":  # asyncio.to_thread's partial(ctx.run, f)
        inner = getattr(func, "args", (inner,))[0]
    wrapped = sync_endpoint(func)  # FastAPI's _run_sync_endpoint(function=...)
    if wrapped is not None:
        inner = wrapped
    return _name(inner)


def _name(coro: object) -> str:
    qualname = str(getattr(coro, "__qualname__", None) or type(coro).__name__)
    return qualname.rsplit(".<locals>.", 1)[-1]


def task_name(given: str, coro: object) -> str:
    """The name a task was given (anyio passes the function's), else its coroutine's."""
    given = given_name(given)  # 3.13.0-3.13.2 name an unnamed task 'None'
    if not given or given.startswith("Task-"):
        return _name(coro)
    return given.rsplit(".<locals>.", 1)[-1] if ".<locals>." in given else given

