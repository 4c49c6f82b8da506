"""One piece of watched work (the app call, a task, a thread, a process, heavy work) while it runs."""

from __future__ import annotations

from types import FrameType
from typing import Literal

from .._compat import thread_frames
from .._result import WorkRecord, work_record
from .frames import describe_frame, innermost_app_frame, where
from .names import task_name

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
        #: App-lifetime work from the built-in list (see lifetime.py): why it is not judged.
        self.infrastructure: str | None = None
        self.heartbeats = 0
        #: The harness gave up on it after it resisted cancellation: its end does not count.
        self.abandoned = False

    def label(self) -> str:
        """The task's name, read late: asyncio names a task only after the factory returns."""
        get_name = getattr(self.task, "get_name", None)
        if callable(get_name) and self.kind != "app":  # inline, the app's task is the test's
            return task_name(str(get_name()), self.coro)
        return self.name

    def freeze(self) -> WorkRecord:
        owner_ended = self.owner.ended_at if self.owner is not None else None
        # By position: keywords cost a third of the call, once per piece of work per scenario.
        return work_record(self.label(), self.kind, self.started_at, self.ended_at, self.outcome,
                           self.where, owner_ended, self.allowed, self.heartbeats, self.infrastructure)

    def thread_frame(self) -> FrameType | None:
        """The frame its thread runs now, for work in a thread of its own."""
        return thread_frames().get(self.thread_ident) if self.thread_ident is not None else None

    def locate(self) -> None:
        """Note where this work is now, for the report."""
        if self.kind in ("thread", "heavy") and self.thread_ident is not None:
            frame = self.thread_frame()
            self.where = describe_frame(innermost_app_frame(frame)) if frame is not None else None
        elif self.coro is not None:
            self.where = where(self.coro)
        if self.where is None:
            self.where = "(no Python frame)"
