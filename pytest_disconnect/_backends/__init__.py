"""One seam per event-loop library: what a scenario needs from asyncio or trio, behind one interface.

``current()`` gives the running loop's backend (one object per asyncio loop or trio run,
made on first use), so callers ask it for events, the clock, posting from another
thread, spawning outside the caller's cancel scopes, the task watch and the virtual
clock, rather than switching on the library's name. trio is imported only when a trio
run asks (it is optional and slow to import).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import ExitStack
from contextvars import Context
from typing import TYPE_CHECKING, Any, Protocol

import sniffio

from .._types import WaitableEvent
from .._watch.heavy import marking
from .._watch.plain_threads import START
from .._watch.processes import POPEN
from .._watch.threads import RUN_SYNC
from . import asyncio_loop

if TYPE_CHECKING:
    from .._clock.virtual import VirtualClock
    from .._watch.workset import WorkSet


class AppScope(Protocol):
    """The cancel scope the app call runs under (anyio's on asyncio, trio's own on trio)."""

    @property
    def cancel_called(self) -> bool: ...

    @property
    def cancelled_caught(self) -> bool: ...

    def cancel(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any, /) -> bool | None: ...


class CallerTask(Protocol):
    """The task that awaits the scenario, while the app call runs in it (inline)."""

    @property
    def task(self) -> object: ...

    def step(self, function: Callable[..., Any], *args: Any) -> Any:
        """One step of the app's coroutine, in the scenario's context."""

    def cancel_pending(self) -> bool:
        """The caller itself is cancelled from outside: a cancellation the app call ends with goes on up."""

    def restore(self, poked: bool) -> None:
        """After the app call: take back what poke() and the app added to the caller's task."""

    async def reraise(self) -> None:
        """Raise the caller's own cancellation (the app swallowed it)."""


class Backend(Protocol):
    """The running asyncio loop or trio run, as a scenario uses it. Methods run on the loop's thread
    unless they say otherwise."""

    #: 'asyncio' or 'trio', as sniffio names it.
    name: str
    #: The native event (a few times cheaper than anyio's wrapper).
    new_event: Callable[[], WaitableEvent]

    @property
    def identity(self) -> object:
        """The loop (asyncio) or the run's token (trio): equal for everything on one loop."""

    def post(self, callback: Callable[[], None]) -> None:
        """From any thread: run ``callback`` on the loop soon (RuntimeError once it is closed)."""

    def clock(self) -> Callable[[], float]:
        """The loop's clock (what anyio.current_time() reads), read after any virtual clock install."""

    def now(self) -> float:
        """The loop's clock now, looked up on each call (a virtual clock installed later shadows it)."""

    async def wait(self, event: WaitableEvent, deadline: float | None) -> bool:
        """Wait for ``event`` until ``deadline`` (the loop's clock); False if the deadline came first."""

    def spawn_detached(self, run: Callable[[], Coroutine[Any, Any, None]], name: str,
                       context: Context | None = None) -> object:
        """Start ``run()`` outside the caller's cancel scopes (cancelling the caller must not reach
        it), in ``context`` (default: a copy of the current one); its task, to keep, if it has one."""

    def spawn_for_the_loop(self, run: Callable[[], Coroutine[Any, Any, None]], name: str, context: Context,
                           at_end: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``run()`` for the rest of the loop's life (an app's lifespan), outside every
        caller's cancel scopes, in ``context``. Unlike ``spawn_detached``, Ctrl-C stays the
        library's: trio keeps KeyboardInterrupt out of it, so a lifespan's ``except BaseException``
        never takes one for the app's error. Where the loop's end cancels it with no way back (trio's
        system tasks), ``at_end()`` runs first, shielded; asyncio's runner cancels it like any task."""

    def take_back_cancellation(self) -> bool:
        """In a task started by ``spawn_for_the_loop`` that the loop's end cancelled: take the
        cancellation back so it can shut down as a server would (asyncio's runner cancels every
        task once); False where that cannot be done (trio), and the cancellation goes on."""

    def watch_tasks(self) -> Callable[[], None]:
        """Attribute new tasks to the scenario their context carries (the hooks are installed once);
        returns what to call when the scenario's watch ends."""

    def spawn(self, workset: WorkSet, runner: Callable[[], Awaitable[None]], name: str) -> None:
        """Start the app runner as the scenario's first work, outside the driver's cancel scopes
        (asyncio on Python 3.12+: eagerly, its first step taken before this returns)."""

    async def first_step(self) -> None:
        """Let the task the last spawn() started take its first step before the caller goes on,
        if it has not (costs the caller one checkpoint; nothing on an eager start)."""

    def new_cancel_scope(self, shield: bool = False) -> AppScope:
        """A cancel scope for the app call, or ``shield``ed for a caller that must get its verdict
        even when cancelled (trio's own is cheaper than anyio's, which looks the library up on each
        call; on asyncio only anyio's respects the shielded scopes in the app)."""

    def caller(self, context: Context) -> CallerTask:
        """The current task, about to run the app call itself, each step in ``context``."""

    def cancel_stray_tasks(self, workset: WorkSet) -> None:
        """Cancel tasks the app spawned outside any cancel scope (plain create_task)."""

    def poke(self, task: object) -> None:
        """Make a task parked on a future take its next step (the harness abandons it then)."""

    def virtual_clock(self) -> VirtualClock:
        """Put the loop on a VirtualClock (once; later calls return the same one)."""

    def io_pending(self) -> bool:
        """Whether the loop waits on real I/O (the virtual clock must not jump past it)."""


def current() -> Backend:
    """The backend of the loop running in this thread (RuntimeError-free: sniffio raises outside one)."""
    named = sniffio.thread_local.name  # trio names itself there while it runs
    if named is None and sniffio.current_async_library_cvar.get() is None:
        # asyncio's loop, looked up without sniffio's search for the current task, a few
        # microseconds on every scenario.
        try:
            return asyncio_loop.current()
        except RuntimeError:
            pass  # no running loop: sniffio says so in its words
    if (named or sniffio.current_async_library()) == "trio":
        from . import trio_run  # lazy: trio is optional and slow to import

        return trio_run.current()
    return asyncio_loop.current()


class watching:  # lower case: read as a function, `with watching(backend, workset, heavy):`
    """Watch ``workset``'s tasks, threads and processes while the block runs.

    The wrappers that pass through outside scenarios are installed by the first scenario
    and held for the run (see _watch.patches); functions marked heavy only for this one.
    A class rather than a generator: entering and leaving is on every scenario's path.
    """

    __slots__ = ("_backend", "_heavy", "_markings", "_unwatch", "_workset")

    def __init__(self, backend: Backend, workset: WorkSet, heavy: tuple[str, ...] = ()) -> None:
        self._backend = backend
        self._workset = workset
        self._heavy = heavy
        self._markings: ExitStack | None = None
        self._unwatch: Callable[[], None] | None = None

    def __enter__(self) -> None:
        RUN_SYNC.hold()
        START.hold()
        POPEN.hold()
        if self._heavy:
            with ExitStack() as stack:
                for target in self._heavy:
                    stack.enter_context(marking(target))
                self._markings = stack.pop_all()
        self._unwatch = self._backend.watch_tasks()

    def __exit__(self, *exc_info: object) -> None:
        self._workset.watched = False  # tasks spawned in its context from now on are nobody's
        try:
            if self._unwatch is not None:
                self._unwatch()
        finally:
            if self._markings is not None:
                self._markings.close()
