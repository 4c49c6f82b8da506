"""Watching threads the app starts itself (``threading.Thread(...).start()``).

Cancellation never reaches a thread, so one the request started and left running is
work that outlived it. ``Thread.start`` is wrapped while scenarios run; a thread
started in a scenario's context (the ContextVar the app's tasks inherit) is watched
as that scenario's work, and made a daemon, so one that never ends cannot keep the
test process from exiting. Pool workers (anyio's, asyncio's executor, trio's thread
cache) are left to threads.py, which watches the calls they run, not the pool.
Cost: one ContextVar read per thread start outside scenarios.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from .._compat import thread_target
from .lifetime import known_thread_infrastructure
from .names import callable_name
from .patches import Patch
from .thread_work import register_from_thread, run_as
from .work import Work
from .workset import WorkSet, current_workset

_original_start = threading.Thread.start
#: Modules whose threads are pools serving many calls: their calls are watched instead.
_POOLS = ("concurrent.futures", "anyio.", "trio.", "asyncio.", "pytest_disconnect.")
#: Threads a scenario started, for naming those still alive when pytest ends.
started: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()


def _watched_start(self: threading.Thread) -> None:
    workset = current_workset.get()
    if workset is not None:
        if not self.daemon:
            self.daemon = True  # a thread the app left running must not hold pytest at exit
        if not _is_pool_worker(self):
            _watch(workset, self)
    _original_start(self)


#: Held for the rest of the run once a scenario runs (it passes through outside scenarios).
START = Patch(threading.Thread, "start", _watched_start)


def left_running() -> list[str]:
    """The names of the watched threads still alive."""
    return [name for thread, name in list(started.items()) if thread.is_alive()]


def _is_pool_worker(thread: threading.Thread) -> bool:
    target: object = thread_target(thread)
    module = getattr(target, "__module__", None) if target is not None else type(thread).__module__
    return str(module or "").startswith(_POOLS) or str(module) == "concurrent.futures.thread"


def _watch(workset: WorkSet, thread: threading.Thread) -> None:
    target: object = thread_target(thread)
    name = thread.name
    if name.startswith("Thread-") and target is not None:  # a default name: say what it runs
        name = callable_name(target)
    on_loop = threading.get_ident() == workset.loop_thread
    work = Work(None, None, name, "thread", workset.now() if on_loop else workset.thread_now())
    infrastructure = known_thread_infrastructure(target)
    if infrastructure is not None:  # app-lifetime: not judged, and not named as left behind at the end
        work.infrastructure = infrastructure.label
    else:
        started[thread] = name
    if on_loop:
        workset.register(work)
    else:  # posted before the thread starts, so before its end is
        register_from_thread(workset, work)
    run: Callable[[], None] = thread.run

    def watched_run() -> None:
        run_as(workset, work, run)

    thread.run = watched_run  # type: ignore[method-assign]
