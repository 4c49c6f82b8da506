"""Watching child processes a request starts: the blog's 'nuclear option' (run the work in a
process and kill it) needs its own check that the child really went away.

``subprocess.Popen`` is wrapped while scenarios run; asyncio's and anyio's
subprocess APIs and trio.run_process all create their children through it.
The watchdog thread polls each child's state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Any

from ._watch import current_workset, post_quietly

_original_init = subprocess.Popen.__init__


def _watched_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    workset = current_workset.get()
    if workset is not None:
        pid, command = self.pid, _command_line(self.args)
        if threading.get_ident() == workset.loop_thread:
            workset.process_started(pid, command)  # now: a post could arrive after the verdict
        else:
            post_quietly(workset.post, lambda: workset.process_started(pid, command))


def install() -> None:
    """Wrap Popen.__init__ for the rest of the run (it passes through outside scenarios)."""
    if subprocess.Popen.__init__ is _original_init:
        subprocess.Popen.__init__ = _watched_init  # type: ignore[method-assign]


def uninstall() -> None:
    if subprocess.Popen.__init__ is _watched_init:
        subprocess.Popen.__init__ = _original_init  # type: ignore[method-assign]


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
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _command_line(args: object) -> str:
    if isinstance(args, (str, bytes)):
        return os.fsdecode(args)
    try:
        return " ".join(os.fsdecode(arg) for arg in args)  # type: ignore[attr-defined]
    except TypeError:
        return repr(args)
