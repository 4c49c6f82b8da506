"""Where a test's lifespans live: one per app and event loop, started on first use, stopped after the test.

``arun()`` runs on the test's own loop, so the lifespan runs there too: what its
startup makes (an httpx client, a database pool, an asyncio lock) is bound to that
loop, and handlers can use it.

``run()`` normally gives every scenario a fresh loop in a worker thread. A lifespan
cannot live on a loop that ends with the scenario, and its state objects would be
unusable on the next one, so an app whose lifespan runs gets an ``AppLoop``: one loop
thread for the whole test, which starts the lifespan and then runs each of that app's
scenarios in turn. An app without a lifespan keeps the fresh loop per scenario.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio

from .._backends import current as current_backend
from .._backends.loops import SHUTDOWN_GRACE, loop_starter
from .._errors import LifespanError
from .._fronts.sync_runner import Backend, Reply, loop_blocked
from .._types import ASGIApp
from .lifespan import LIFESPAN_LIMIT, Lifespan, lifespan_does_nothing, may_speak_lifespan

T = TypeVar("T")
#: Extra seconds a sync caller waits beyond the lifespan's own limit.
_SLACK = 2.0


class AppLoop:
    """An event loop in a daemon thread that runs the jobs it is given, one at a time, until closed."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend = backend
        self.broken = False  # its loop stopped answering: left running, never used again
        self._post: Callable[[Callable[[], None]], None] | None = None
        self._cancelled: type[BaseException] = BaseException  # the loop's cancellation class, once it runs
        self._wake: Callable[[], None] = lambda: None
        #: Jobs for the loop; None asks it to stop.
        self._jobs: queue.SimpleQueue[Callable[[], Coroutine[Any, Any, None]] | None] = queue.SimpleQueue()
        ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._main, ready),
                                        name=f"pytest-disconnect {name}", daemon=True)
        self._thread.start()
        error = ready.get()
        if error is not None:
            raise error

    def call(self, main: Callable[[], Awaitable[T]], *, bound: float, target: str) -> T:
        """Run ``main()`` on the loop; wait at most ``bound`` seconds for it."""
        __tracebackhide__ = True
        assert self._post is not None and not self.broken
        reply: Reply[T] = Reply()
        # Only a cancellation goes on to the loop's task group: anything else is the caller's.
        self._jobs.put(lambda: reply.fill(main, self._cancelled))
        self._post(self._wake)
        if not reply.wait(bound):
            self.broken = True
            raise loop_blocked(self._thread, bound, target) from None
        return reply.take()

    def close(self) -> None:
        """End the loop (its leftover tasks are cancelled) and wait a little for the thread."""
        if self._post is not None and not self.broken:
            self._jobs.put(None)
            self._post(self._wake)
            self._thread.join(SHUTDOWN_GRACE)

    def _main(self, ready: queue.SimpleQueue[BaseException | None]) -> None:
        try:
            loop_starter(self.backend)(lambda: self._serve(ready))
        except BaseException as exc:  # pragma: no cover - a crash before the loop served
            ready.put(exc)

    async def _serve(self, ready: queue.SimpleQueue[BaseException | None]) -> None:
        self._cancelled = anyio.get_cancelled_exc_class()
        self._post = current_backend().post
        wake = anyio.Event()

        def set_wake() -> None:
            wake.set()

        self._wake = set_wake
        async with anyio.create_task_group() as group:
            ready.put(None)
            while True:
                await wake.wait()
                wake = anyio.Event()
                while not self._jobs.empty():
                    job = self._jobs.get()
                    if job is None:
                        group.cancel_scope.cancel()
                        return
                    group.start_soon(job)


class _Hosted:
    """One app's lifespan on an AppLoop (run()), or None for an app found not to use one."""

    def __init__(self, app: ASGIApp, loop: AppLoop | None, lifespan: Lifespan | None) -> None:
        self.app = app  # held, so that id(app) is not reused while the entry lives
        self.loop = loop
        self.lifespan = lifespan


class Lifespans:
    """One test's lifespans: started on first use per app (and loop), stopped by ``close()``."""

    def __init__(self) -> None:
        self._threads: dict[tuple[int, str], _Hosted] = {}
        self._loops: dict[tuple[int, int], tuple[ASGIApp, Lifespan, object]] = {}
        #: Whether an app's lifespan runs, per (app, mode), for this test: finding out walks the
        #: app's layers (a few microseconds), on every scenario of a loop otherwise.
        self._wanted: dict[tuple[int, str], tuple[ASGIApp, bool]] = {}

    def wanted(self, app: ASGIApp, mode: str) -> bool:
        """Whether ``app``'s lifespan runs in ``mode`` ('auto' looks at the app once per test)."""
        known = self._wanted.get((id(app), mode))
        if known is not None and known[0] is app:
            return known[1]
        wanted = _wanted(app, mode)
        self._wanted[(id(app), mode)] = (app, wanted)  # the app held: its id is not reused meanwhile
        return wanted

    def host(self, app: ASGIApp, backend: Backend, mode: str, source: str,
             target: str) -> tuple[AppLoop, dict[str, Any]] | None:
        """For run(): the loop and state of ``app``'s lifespan, started now if need be; None without one."""
        __tracebackhide__ = True
        if not self.wanted(app, mode):
            return None
        key = (id(app), backend)
        hosted = self._threads.get(key)
        if hosted is not None and hosted.loop is not None and hosted.loop.broken:
            hosted = None  # its loop was left blocked: start again on a new one
        if hosted is None:
            lifespan = Lifespan(app, mode, source)
            loop = AppLoop(backend, f"lifespan: {lifespan.name}")
            try:
                loop.call(lifespan.start, bound=LIFESPAN_LIMIT + _SLACK, target=f"{target} (lifespan startup)")
            except BaseException:
                loop.close()
                raise
            if not lifespan.supported:
                loop.close()
                hosted = _Hosted(app, None, None)
            else:
                hosted = _Hosted(app, loop, lifespan)
            self._threads[key] = hosted
        if hosted.loop is None or hosted.lifespan is None:
            return None
        return hosted.loop, hosted.lifespan.state

    async def state(self, app: ASGIApp, mode: str, source: str) -> dict[str, Any] | None:
        """For arun(): the state of ``app``'s lifespan on the running loop, started now if need be."""
        __tracebackhide__ = True
        if not self.wanted(app, mode):
            return None
        loop = _current_loop()
        key = (id(app), id(loop))
        entry = self._loops.get(key)
        if entry is None or entry[2] is not loop:
            lifespan = Lifespan(app, mode, source)
            self._loops[key] = (app, lifespan, loop)
            try:
                await lifespan.start()
            except BaseException:
                del self._loops[key]  # the next scenario tries again, and fails the same way
                raise
        else:
            lifespan = entry[1]
        return lifespan.state if lifespan.supported else None

    async def aclose(self) -> None:
        """Stop the lifespans on the running loop, then the rest as close() does."""
        __tracebackhide__ = True
        here = _current_loop()
        failures: list[BaseException] = []
        for key, (_, lifespan, loop) in list(self._loops.items()):
            if loop is here:
                del self._loops[key]
                try:
                    await lifespan.stop()
                except BaseException as exc:
                    failures.append(exc)
        try:
            self.close()
        except BaseException as exc:
            failures.append(exc)
        if failures:
            raise failures[0]

    def close(self) -> None:
        """Stop every lifespan (after the test); raise the first failure, after stopping them all."""
        __tracebackhide__ = True
        failures: list[BaseException] = []
        for hosted in self._threads.values():
            if hosted.loop is None or hosted.lifespan is None or hosted.loop.broken:
                continue
            try:
                hosted.loop.call(hosted.lifespan.stop, bound=LIFESPAN_LIMIT + _SLACK,
                                 target=f"{hosted.lifespan.name} (lifespan shutdown)")
            except BaseException as exc:
                failures.append(exc)
            finally:
                hosted.loop.close()
        for _, lifespan, loop in self._loops.values():
            try:
                _stop_on_its_loop(lifespan, loop)
            except BaseException as exc:
                failures.append(exc)
        self._threads.clear()
        self._loops.clear()
        self._wanted.clear()
        if failures:
            raise failures[0]


def _wanted(app: ASGIApp, mode: str) -> bool:
    if mode == "off":
        return False
    return mode == "on" or (may_speak_lifespan(app) and not lifespan_does_nothing(app))


def _current_loop() -> object:
    """The running loop (asyncio) or run (trio), as an identity."""
    return current_backend().identity


def _stop_on_its_loop(lifespan: Lifespan, loop: object) -> None:
    """An arun() lifespan after its test: stopped with the loop already, or stopped now if the loop is idle."""
    if lifespan.ended or not lifespan.supported:
        lifespan.raise_shutdown_failure()
        return
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed() and not loop.is_running():
        loop.run_until_complete(lifespan.stop())  # a loop kept for more tests (a session-scoped one)
        return
    # A loop still running elsewhere: the lifespan stops when that loop ends (see docs/lifespan-and-routes.md).


__all__ = ["AppLoop", "LifespanError", "Lifespans"]
