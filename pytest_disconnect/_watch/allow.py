"""Which work may outlive the request: known library infrastructure, and what the test allowed."""

from __future__ import annotations

from types import FrameType

from .frames import coroutine_frames
from .lifetime import known_infrastructure
from .work import Work


class AllowPolicy:
    """``run(allow=...)``'s names: a task or thread by name, a process by part of its command line,
    or any work whose stack runs an allowed function (a BackgroundTask's, say)."""

    __slots__ = ("names",)

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def judged(self, work: Work) -> bool:
        """Decide at its start whether ``work`` is judged; mark it allowed (and why) if not."""
        kind, names = work.kind, self.names
        if kind == "task" and work.infrastructure is None:
            infrastructure = known_infrastructure(work.coro)
            work.infrastructure = infrastructure.label if infrastructure is not None else None
        if work.infrastructure is not None:  # app-lifetime (a thread's is named at its start): not judged
            work.allowed = True
            return False
        if kind != "app" and names and (
                work.name in names or (kind == "process" and any(name in work.name for name in names))):
            work.allowed = True
            return False
        return True

    def allows_by_stack(self, work: Work) -> bool:
        """Whether running work's current stack runs an allowed function."""
        if work.allowed or not self.names or work.ended_at is not None:
            return False
        return bool(self.names & _stack_names(work))


def _stack_names(work: Work) -> set[str]:
    names = {work.name}
    frames: list[FrameType] = []
    if work.thread_ident is not None:
        frame = work.thread_frame()
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
    else:
        frames = coroutine_frames(work.coro)
    names.update(frame.f_code.co_name for frame in frames)
    return names
