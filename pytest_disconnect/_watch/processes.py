"""Watching child processes a request starts: the blog's 'nuclear option' (run the work in a
process and kill it) needs its own check that the child really went away.

``subprocess.Popen`` is wrapped while scenarios run; asyncio's and anyio's
subprocess APIs and trio.run_process all create their children through it.
The watchdog thread polls each child's state.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import threading
from typing import Any

from .._compat import caller_frame
from .patches import Patch
from .workset import WorkSet, current_workset, post_quietly

_original_init = subprocess.Popen.__init__


class _Child:
    """A child process a scenario started, as the harness may still have to end it."""

    __slots__ = ("by_asyncio", "popen", "started")

    def __init__(self, popen: subprocess.Popen[Any] | None, started: bytes | None, by_asyncio: bool = False) -> None:
        #: asyncio's child watcher reaps it at once and then tells the loop: only then has it ended
        #: for the app (a loop closed before that leaves 'subprocess N is still running' behind).
        self.by_asyncio = by_asyncio
        #: The Popen object, when nobody else reaps the child (asyncio's and trio's APIs do). Held
        #: until reaped: an app's frame freed first (cancelled, abandoned) would otherwise free it
        #: with its child still running ('subprocess N is still running').
        self.popen = popen
        #: The kernel's start time of the pid: a pid reused by another process is never killed.
        self.started = started


#: Every child a scenario started that may still be running: killed at the end of the run
#: (after Ctrl-C, say), so none outlives pytest.
_children: dict[int, _Child] = {}
#: Modules whose subprocess APIs wait for (reap) their children themselves.
_SELF_REAPING = ("asyncio.", "trio.", "anyio.")


def _watched_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    workset = current_workset.get()
    if workset is not None:
        pid, command = self.pid, _command_line(self.args)
        caller = str(caller_frame(1).f_globals.get("__name__", ""))
        _forget_reaped()
        _children[pid] = _Child(None if caller.startswith(_SELF_REAPING) else self, _start_time(pid),
                                by_asyncio=caller.startswith("asyncio."))
        if threading.get_ident() == workset.loop_thread:
            _started(workset, pid, command)  # now: a post could arrive after the verdict
        else:
            post_quietly(workset.post, lambda: _started(workset, pid, command))


def _started(workset: WorkSet, pid: int, command: str) -> None:
    """On the loop: a child process the request started."""
    work = workset.started(pid, None, f"pid {pid}: {command}", "process")
    workset.timeline.add(work.started_at, "process", "process started: pid {}: {}", pid, command)


def poll(workset: WorkSet) -> None:
    """On the watchdog thread: notice the scenario's child processes that ended."""
    for work in list(workset.works):
        if work.kind == "process" and work.ended_at is None and work.outcome is None:
            outcome = ended(int(work.task))  # type: ignore[call-overload]
            if outcome is not None:
                work.outcome = outcome
                post_quietly(workset.post, functools.partial(workset.ended, work, "", at=workset.thread_now()))


def kill_running(workset: WorkSet) -> None:
    """Kill the scenario's child processes still running: none may outlive the test."""
    for work in workset.running():
        if work.kind == "process":
            kill(int(work.task))  # type: ignore[call-overload]


def reap_all(workset: WorkSet) -> None:
    """Collect the exit status of the scenario's children that exited and nobody waited for (no
    zombie, no 'subprocess N is still running' warning in a later test)."""
    for work in workset.works:
        if work.kind == "process":
            reap(int(work.task))  # type: ignore[call-overload]


#: Held for the rest of the run once a scenario runs (it passes through outside scenarios).
POPEN = Patch(subprocess.Popen, "__init__", _watched_init)


def state(pid: int) -> str:
    """'running', 'exited' (a zombie: not reaped yet) or 'reaped'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except FileNotFoundError:
        return "reaped"
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "reaped"
        return "running"
    return "exited" if fields[0] in (b"Z", b"X") else "running"


def kill(pid: int) -> None:
    child = _children.get(pid)
    if child is None or child.started != _start_time(pid):
        return  # not ours, or the pid now names another process
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def ended(pid: int) -> str | None:
    """'exited' or 'exited, not reaped yet' once the child is gone for its owner; None while it runs."""
    now = state(pid)
    if now == "running":
        return None
    child = _children.get(pid)
    if now == "exited" and child is not None and child.by_asyncio:
        return None  # asyncio's watcher is about to reap it and tell the loop: wait for that
    return "exited, not reaped yet" if now == "exited" else "exited"


def reap(pid: int) -> None:
    """Collect the exit status of a child that exited, when its owner will not (a plain Popen)."""
    child = _children.get(pid)
    popen = child.popen if child is not None else None
    if popen is None:
        return
    if popen.returncode is None and state(pid) == "exited":
        popen.poll()  # through the app's own Popen: its later wait() gets the status
    if popen.returncode is not None:
        del _children[pid]


def kill_all() -> list[int]:
    """Kill (and reap) every child a scenario started that is still running; returns their pids."""
    killed = []
    for pid in list(_children):
        if state(pid) == "running" and _children[pid].started == _start_time(pid):
            kill(pid)
            killed.append(pid)
    for pid in killed:
        child = _children.get(pid)
        popen = child.popen if child is not None else None
        if popen is not None:
            try:
                popen.wait(timeout=1.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL takes microseconds
                pass
    _children.clear()
    return killed


def _forget_reaped() -> None:
    for pid in [pid for pid, child in _children.items() if child.started != _start_time(pid)]:
        del _children[pid]


def _start_time(pid: int) -> bytes | None:
    """The process's start time (ticks since boot) from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _command_line(args: object) -> str:
    if isinstance(args, (str, bytes)):
        return os.fsdecode(args)
    try:
        return " ".join(os.fsdecode(arg) for arg in args)  # type: ignore[attr-defined]
    except TypeError:
        return repr(args)
