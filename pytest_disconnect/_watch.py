"""Watching the app's work: every task started on behalf of one scenario.

A ContextVar marks the scenario in the app runner's context; tasks inherit it,
so the backend hooks (an asyncio task factory, a trio instrument) can attribute
each new task without scanning. See FACTS: 'Observing the work stopped'.
"""

from __future__ import annotations

import asyncio
import linecache
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from types import FrameType
from typing import Literal

import anyio

from ._result import TimelineRecorder, WorkRecord
from ._types import WaitableEvent

current_workset: ContextVar[WorkSet | None] = ContextVar("pytest_disconnect_workset", default=None)


class Work:
    """Mutable record of one watched task while the scenario runs."""

    __slots__ = ("coro", "ended_at", "kind", "name", "outcome", "started_at", "task", "where")

    def __init__(self, task: object, coro: object, name: str, kind: Literal["app", "task"],
                 started_at: float) -> None:
        self.task = task
        self.coro = coro
        self.name = name
        self.kind: Literal["app", "task"] = kind
        self.started_at = started_at
        self.ended_at: float | None = None
        self.outcome: str | None = None
        self.where: str | None = None

    def label(self) -> str:
        """The task's name, read late: asyncio names a task only after the factory returns."""
        get_name = getattr(self.task, "get_name", None)
        if callable(get_name):
            return task_name(str(get_name()), self.coro)
        return self.name

    def freeze(self) -> WorkRecord:
        return WorkRecord(self.label(), self.kind, self.started_at, self.ended_at, self.outcome,
                          self.where)


class WorkSet:
    """The scenario's live and finished work, with an event for 'all of it ended'."""

    def __init__(self, now: Callable[[], float], timeline: TimelineRecorder,
                 new_event: Callable[[], WaitableEvent]) -> None:
        self.now = now
        self._timeline = timeline
        self._new_event = new_event
        self.works: list[Work] = []
        self.live = 0
        self._all_done: WaitableEvent | None = None  # made on first wait
        self.on_all_done: Callable[[], None] = lambda: None

    @property
    def done(self) -> bool:
        return self.live == 0 and bool(self.works)

    def started(self, task: object, coro: object, name: str | None = None) -> Work:
        kind: Literal["app", "task"] = "app" if not self.works else "task"
        work = Work(task, coro, name or _name(coro), kind, self.now())
        if self.live == 0 and self._all_done is not None and self._all_done.is_set():
            self._all_done = None  # a late spawn revives the scenario
        self.works.append(work)
        self.live += 1
        return work

    def ended(self, work: Work, outcome: str) -> None:
        if work.ended_at is not None:
            return
        work.ended_at = self.now()
        if work.outcome is None:
            work.outcome = outcome
        if work.kind == "task":
            self._timeline.add(work.ended_at, "task", f"task {work.outcome}: {work.label()}")
        self.live -= 1
        if self.live == 0:
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
        if not self.done:
            return None
        return max(work.ended_at for work in self.works if work.ended_at is not None)

    def running(self) -> list[Work]:
        return [work for work in self.works if work.ended_at is None]

    def locate_running(self) -> None:
        """Note where each running task is, for the report."""
        for work in self.running():
            work.where = where(work.coro) or "(no Python frame)"


def _name(coro: object) -> str:
    return str(getattr(coro, "__qualname__", None) or type(coro).__name__)


def task_name(given: str, coro: object) -> str:
    """The name a task was given (anyio passes the function's), else its coroutine's."""
    if not given or given.startswith("Task-"):
        return _name(coro)
    return given.rsplit(".<locals>.", 1)[-1] if ".<locals>." in given else given


_PLUMBING = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (asyncio, anyio, sys.modules[__package__ or "pytest_disconnect"])
    if module.__file__
)


def where(coro: object) -> str | None:
    """The innermost frame of a suspended coroutine chain that is not event-loop plumbing.

    'examples/app.py:42 in no_context -> await heavy_work()'.
    """
    frames: list[FrameType] = []
    seen = 0
    while coro is not None and seen < 200:
        seen += 1
        frame = (getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                 or getattr(coro, "ag_frame", None))
        if isinstance(frame, FrameType):
            frames.append(frame)
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                or getattr(coro, "ag_await", None))
    own = [frame for frame in frames if not _is_plumbing(frame.f_code.co_filename)]
    if not (own or frames):
        return None
    frame = (own or frames)[-1]
    return describe_frame(frame)


_STDLIB = os.path.dirname(os.__file__) + os.sep
_SITE = (os.path.join(_STDLIB, "site-packages"), os.path.join(_STDLIB, "dist-packages"))


def innermost_app_frame(frame: FrameType) -> FrameType:
    """From a thread's current frame outwards, the first that is neither stdlib nor plumbing."""
    current: FrameType | None = frame
    while current is not None:
        filename = current.f_code.co_filename
        stdlib = filename.startswith(_STDLIB) and not filename.startswith(_SITE)
        if not (stdlib or _is_plumbing(filename)):
            return current
        current = current.f_back
    return frame


def describe_frame(frame: FrameType) -> str:
    filename = frame.f_code.co_filename
    line = linecache.getline(filename, frame.f_lineno).strip()
    location = f"{_short_path(filename)}:{frame.f_lineno} in {frame.f_code.co_name}"
    return f"{location} -> {line}" if line else location


def _is_plumbing(filename: str) -> bool:
    return filename.startswith(_PLUMBING) or "/trio/" in filename or "/sniffio/" in filename


def _short_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative
