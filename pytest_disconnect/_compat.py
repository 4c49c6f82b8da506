"""Every reach-in into another library's internals, each with the versions it was checked on, why it
is needed, and a guard that fails with a message naming the library and version when a release moved
it (never a silently wrong verdict). No other module reads another library's private names: a test
(tests/test_structure.py) holds the package to that.
"""

from __future__ import annotations

import asyncio
import ctypes
import heapq
import importlib.metadata
import platform
import selectors
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import trio
    from trio._core._run import Runner


class InternalMoved(RuntimeError):
    """A library internal pytest-disconnect relies on is not where it was checked."""


def moved(library: str, what: str, checked: str, fix: str = "") -> NoReturn:
    """Fail, naming ``library`` and its installed version, the internal ``what`` and the versions
    it was ``checked`` against."""
    if library == "Python":
        version = f"{platform.python_implementation()} {platform.python_version()}"
    else:
        try:
            version = f"{library} {importlib.metadata.version(library)}"
        except importlib.metadata.PackageNotFoundError:
            version = library
    raise InternalMoved(f"pytest-disconnect relies on {what}, which {version} does not have (checked "
                        f"against {checked}){': ' + fix if fix else ''}; please report this with your "
                        f"{library} version")


# --- CPython: frames -------------------------------------------------------------------------
# sys._getframe and sys._current_frames (documented, CPython only): where app code is (the
# report's "still running at"), who called time.time() or Popen, whether Starlette's
# is_disconnected() is the caller. Checked on CPython 3.11.7, 3.12.1, 3.13.0.
_FRAMES_CHECKED = "CPython 3.11.7, 3.12.1 and 3.13.0"


def caller_frame(depth: int) -> FrameType:
    """The frame ``depth`` calls above the caller of this function (``sys._getframe(depth)`` there)."""
    getframe = getattr(sys, "_getframe", None)
    if getframe is None:
        moved("Python", "sys._getframe()", _FRAMES_CHECKED)
    frame: FrameType = getframe(depth + 1)
    return frame


def thread_frames() -> dict[int, FrameType]:
    """Each thread's current frame, by thread id (``sys._current_frames()``)."""
    current_frames = getattr(sys, "_current_frames", None)
    if current_frames is None:
        moved("Python", "sys._current_frames()", _FRAMES_CHECKED)
    frames: dict[int, FrameType] = current_frames()
    return frames


_HAS_TARGET = "_target" in vars(threading.Thread())


def thread_target(thread: threading.Thread) -> object:
    """What a Thread runs (``Thread._target``; None once it ended, as CPython deletes it then): names
    a thread the app started and tells a pool's workers apart. Checked on CPython 3.11.7, 3.12.1, 3.13.0."""
    if not _HAS_TARGET:
        moved("Python", "threading.Thread._target", _FRAMES_CHECKED)
    return getattr(thread, "_target", None)


def _set_async_exc() -> Callable[..., int] | None:
    """``PyThreadState_SetAsyncExc(unsigned long id, PyObject *exc)`` (an unsigned long id since 3.7),
    through ``ctypes.pythonapi`` (CPython only): ends app code that blocks run()'s loop thread for good
    (_watch/loop_interrupt.py). Checked on CPython 3.11.7, 3.12.1 and 3.13.0."""
    pythonapi = getattr(ctypes, "pythonapi", None)
    function = getattr(pythonapi, "PyThreadState_SetAsyncExc", None)
    if function is None:  # not CPython: the failure message says the loop could not be interrupted
        return None
    function.restype = ctypes.c_int  # no argtypes: None must pass as NULL, the undo
    return function  # type: ignore[no-any-return]


_SET_ASYNC_EXC = _set_async_exc()


def can_raise_in_thread() -> bool:
    """Whether raise_in_thread() works here (CPython); where not, the caller's message says so."""
    return _SET_ASYNC_EXC is not None


def raise_in_thread(thread_id: int, error: type[BaseException]) -> bool:
    """Raise ``error`` in thread ``thread_id`` at its next bytecode; False if no such thread runs."""
    if _SET_ASYNC_EXC is None:
        moved("Python", "the C API's PyThreadState_SetAsyncExc through ctypes.pythonapi", _FRAMES_CHECKED)
    changed = _SET_ASYNC_EXC(ctypes.c_ulong(thread_id), ctypes.py_object(error))
    if changed > 1:  # pragma: no cover - the C API's documented undo, for an id that matched twice
        _SET_ASYNC_EXC(ctypes.c_ulong(thread_id), None)
        return False
    return changed == 1


# --- asyncio -----------------------------------------------------------------------------------
def forget_task(task: asyncio.Task[object]) -> bool:
    """Take ``task`` out of ``asyncio.all_tasks()`` (``asyncio.tasks._unregister_task``), for a task
    parked for good, whose loop's shutdown would wake it and hang (see _watch/close_tasks.py). Checked
    on CPython 3.11.7, 3.12.1 and 3.13.0. False where it is missing: the shutdown then waits for the
    task as it did before this was added, a hang pytest's own timeout reports, not a wrong verdict."""
    unregister = getattr(asyncio.tasks, "_unregister_task", None)
    if not callable(unregister):
        return False
    unregister(task)
    return True


def make_current_anyio_scope(scope: object) -> bool:
    """Record ``scope`` as the current task's innermost anyio cancel scope again. After the harness
    closed an abandoned app call in the test's own task, the app's own anyio scopes inside it may
    never have exited, and anyio's record (``anyio._backends._asyncio._task_states``, checked on
    anyio 4.16) would still point at one: leaving the app call's scope would then raise
    RuntimeError. Entering them also took the task out of the scope's own task set and added
    them as its children (``CancelScope._tasks``, ``_child_scopes``): the task goes back in, so
    leaving the scope does not raise KeyError, and the dead children go, so cancelling it later
    reaches nothing through them. False where the record is missing: nothing to put back."""
    states = getattr(sys.modules.get("anyio._backends._asyncio"), "_task_states", None)
    task = asyncio.current_task() if states is not None else None
    state = states.get(task) if states is not None and task is not None else None
    if state is None or not hasattr(state, "cancel_scope"):
        return False
    state.cancel_scope = scope
    tasks, children = getattr(scope, "_tasks", None), getattr(scope, "_child_scopes", None)
    if isinstance(tasks, set):
        tasks.add(task)
    if isinstance(children, set):
        children.clear()  # the app call has ended: any scope still inside it was abandoned with it
    return True


def is_scope_misnesting(error: BaseException) -> bool:
    """trio's error on leaving a cancel scope while a scope entered inside it is still open, after
    it has closed both and made the task's state whole again (its message, checked on trio
    0.25-0.32). The harness meets it leaving the scope of an app call it abandoned inline."""
    return isinstance(error, RuntimeError) and str(error).startswith("Cancel scope stack corrupted")


def is_cancellation(error: BaseException) -> bool:
    """asyncio's CancelledError or trio's Cancelled, matched by name so that neither library need be
    imported (checked on CPython 3.11-3.13 and trio 0.25-0.32)."""
    return type(error).__name__ in {"CancelledError", "Cancelled"}


#: Starlette's ClientDisconnect (``starlette.requests``), matched by name so that apps built on
#: another framework need no Starlette: checked against Starlette 0.37 to 1.10.
CLIENT_DISCONNECT = "ClientDisconnect"


def stops_for_a_departed_client(error: BaseException) -> bool:
    """OSError from send(), Starlette's ClientDisconnect, cancellation: how apps stop."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return isinstance(error, OSError) or bool(names & {CLIENT_DISCONNECT, "CancelledError", "Cancelled"})


# --- Starlette and FastAPI ---------------------------------------------------------------------
#: Starlette's Request.is_disconnected() reads one message and throws a body chunk away: the report
#: says so when it was the caller, found by the function's name (checked against Starlette 0.37 to 1.10).
IS_DISCONNECTED = "is_disconnected"


def called_from_is_disconnected(depth: int) -> bool:
    """Whether Starlette's Request.is_disconnected() asked, ``depth`` frames above the caller (or a
    few more: through a middleware's receive wrapper or two)."""
    frame: FrameType | None = caller_frame(depth + 1)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_name == IS_DISCONNECTED:
            return True
        frame = frame.f_back
    return False


def sync_endpoint(func: object) -> object | None:
    """The endpoint inside FastAPI's ``partial(_run_sync_endpoint, function=endpoint, ...)``, which a
    sync ``def`` endpoint runs in a thread through (checked against FastAPI 0.110 to 0.128)."""
    wrapped = getattr(func, "keywords", {}).get("function")
    return wrapped if callable(wrapped) else None


#: Starlette's default lifespan class, which runs only the on_startup/on_shutdown lists (checked
#: against Starlette 0.37 to 1.10), and its router class; matched by name: no Starlette import.
DEFAULT_LIFESPAN = "_DefaultLifespan"


def is_default_lifespan(context: object) -> bool:
    return type(context).__name__ == DEFAULT_LIFESPAN


def is_starlette_router(obj: object) -> bool:
    return any(cls.__module__.startswith("starlette.") and cls.__name__ == "Router" for cls in type(obj).__mro__)


#: The TestClient's transport --disconnect-audit patches (``starlette.testclient._TestClientTransport``,
#: what ``fastapi.testclient`` re-exports) and the fields the audit reads: app, portal_factory,
#: raise_server_exceptions, root_path, app_state and client since Starlette 0.37, to 1.10.
TESTCLIENT_TRANSPORT = "_TestClientTransport"
TESTCLIENT_FIELDS = ("app", "portal_factory", "raise_server_exceptions", "root_path", "app_state", "client")


def testclient_transport(testclient: object) -> Any:
    """``starlette.testclient._TestClientTransport`` if it has ``handle_request``, else None (the
    audit then says where it expected it, in its own words)."""
    kind: type | None = getattr(testclient, TESTCLIENT_TRANSPORT, None)
    return kind if kind is not None and hasattr(kind, "handle_request") else None


def testclient_extensions(handle_request: Callable[..., object]) -> dict[str, dict[str, object]]:
    """The scope extensions an audited TestClient offers, as its own would: http.response.debug
    always, http.response.trailers where its handle_request offers it (Starlette 1.x; read from the
    function's constants, checked against 1.10), since apps send trailers only when offered."""
    code = getattr(handle_request, "__code__", None)
    offers_trailers = code is not None and "http.response.trailers" in code.co_consts
    return {"http.response.debug": {}, **({"http.response.trailers": {}} if offers_trailers else {})}


def missing_testclient_field(transport: object) -> str | None:
    return next((name for name in TESTCLIENT_FIELDS if not hasattr(transport, name)), None)


def close_with_testclient(transport: object, close: Callable[[], None]) -> Callable[[], None]:
    """Have the TestClient's close() (the end of its ``with``) call ``close``, as it closes its own
    open responses (its transport's ``_open_requests`` set, checked against Starlette 0.37 to 1.10);
    returns what takes it off that list."""
    requests: set[Callable[[], None]] | None = getattr(transport, "_open_requests", None)
    if requests is None:
        moved("starlette", "starlette.testclient._TestClientTransport._open_requests", "starlette 0.37 to 1.10")
    requests.add(close)
    return lambda: requests.discard(close)


# --- the virtual clock: asyncio's selector, trio's runner clock, both loops' deadlines -------------
# asyncio (CPython 3.11.7, 3.12.1, 3.13.0): the clock times the loop's waits through
# ``loop._selector`` and tells real I/O from the loop's own self-pipe (``loop._ssock``).
def swap_selector(loop: asyncio.AbstractEventLoop,
                  wrap: Callable[[selectors.BaseSelector], selectors.BaseSelector]) -> None:
    """Replace a selector event loop's ``_selector`` with ``wrap(selector)``."""
    selector: selectors.BaseSelector | None = getattr(loop, "_selector", None)
    if selector is None:
        moved("Python", "asyncio's BaseSelectorEventLoop._selector", "CPython 3.11.7, 3.12.1 and 3.13.0",
              "turn the virtual clock off")
    loop._selector = wrap(selector)  # type: ignore[attr-defined]


def selector_and_self_pipe(loop: asyncio.AbstractEventLoop) -> tuple[selectors.BaseSelector | None, Any]:
    """A selector loop's selector and its own self-pipe socket; None for either once closed or
    on another kind of loop."""
    return getattr(loop, "_selector", None), getattr(loop, "_ssock", None)


def trio_runner(current: trio.abc.Clock) -> Runner:
    """The trio run in progress, whose ``clock`` the virtual clock swaps (trio's private
    ``GLOBAL_RUN_CONTEXT.runner``, checked against trio 0.25 to 0.35)."""
    try:
        from trio._core._run import GLOBAL_RUN_CONTEXT

        runner = GLOBAL_RUN_CONTEXT.runner
        if runner.clock is not current or not isinstance(runner.clock_autojump_threshold, float):
            raise AttributeError("Runner.clock")
    except (ImportError, AttributeError) as exc:
        import trio

        raise RuntimeError(
            f"pytest-disconnect's virtual clock cannot be installed on this trio {trio.__version__} run: "
            f"it swaps trio._core._run.GLOBAL_RUN_CONTEXT.runner.clock, which is not there ({exc}). "
            "Pass clock=TrioClock() to trio.run, or turn the virtual clock off."
        ) from exc
    return runner


# Moving a running event loop's pending deadlines to a new epoch (private reach-ins, one place).
#
# The virtual clock counts from 0 rather than from the loop's clock (``time.monotonic()``, the
# machine's uptime, or trio's random offset): float sums like ``loop.time() + 0.05`` round
# differently at different magnitudes, and an app's tick that ties with the client's
# departure would fall either side of it depending on how long the machine has been up.
# A loop that already has deadlines when the clock is installed keeps them: each is moved
# by the same amount, so it falls due after the same wait as before.
#
# What is moved, each checked against the release named:
#
# * asyncio (CPython 3.11.7, 3.12.1, 3.13.0): every ``TimerHandle._when`` in
#   ``loop._scheduled`` (shifting every entry by one amount keeps the heap ordered);
#   for handles whose callback is a method of an anyio cancel scope (anyio 4.16's
#   ``CancelScope._timeout``) or an ``asyncio.Timeout`` (``Timeout._on_timeout``), the
#   deadline that object keeps too, since both compare it with the clock when they fire.
# * trio (0.35): the entries of ``Runner.deadlines`` and the ``_deadline`` and
#   ``_registered_deadline`` of each cancel scope there (entries trio left stale are dropped,
#   as trio's own pruning does).
#
# Anything else that holds a loop time read before the install (a time the test or a
# lifespan stored) stays in the old epoch: the docs say so.


def rebase_asyncio(loop: asyncio.AbstractEventLoop, shift: float) -> None:
    """Subtract ``shift`` from every pending timer of ``loop`` and the deadlines kept with them."""
    scheduled: list[asyncio.TimerHandle] | None = getattr(loop, "_scheduled", None)
    if scheduled is None:
        raise RuntimeError(
            f"pytest-disconnect's virtual clock cannot move the timers of this event loop "
            f"({type(loop).__qualname__}): it has no _scheduled heap. Turn the virtual clock off.")
    owners: set[int] = set()
    for handle in scheduled:
        handle._when -= shift  # type: ignore[attr-defined]
        owner = getattr(getattr(handle, "_callback", None), "__self__", None)
        if owner is not None and id(owner) not in owners:
            owners.add(id(owner))
            _rebase_owner(owner, shift)


def _rebase_owner(owner: Any, shift: float) -> None:
    module = type(owner).__module__
    if module == "anyio._backends._asyncio" and type(owner).__name__ == "CancelScope":
        owner._deadline -= shift
    elif type(owner).__module__ == "asyncio.timeouts" and type(owner).__name__ == "Timeout":
        when = owner._when
        if when is not None:
            owner._when = when - shift


def rebase_trio(runner: Runner, shift: float) -> None:
    """Subtract ``shift`` from every live deadline of a trio run."""
    deadlines = runner.deadlines
    moved = []
    seen: set[int] = set()
    for deadline, tiebreak, scope in deadlines._heap:
        if deadline != scope._registered_deadline or id(scope) in seen:
            continue  # stale or a duplicate: trio's own pruning drops these too
        seen.add(id(scope))
        scope._deadline -= shift
        scope._registered_deadline -= shift
        moved.append((deadline - shift, tiebreak, scope))
    heapq.heapify(moved)
    deadlines._heap = moved


# --- uvicorn (live mode) -----------------------------------------------------------------------
#: uvicorn's Server pieces live mode drives by hand, checked against uvicorn 0.54.
_UVICORN_CHECKED = "uvicorn 0.54"


async def start_uvicorn(uvicorn: Any, app: Callable[..., Awaitable[None]],
                        sock: socket.socket) -> Callable[[], Awaitable[None]]:
    """uvicorn serving ``app`` on ``sock``; returns what stops it, closing its connections at once.

    Not ``Server.serve()``, which would take over the signal handlers: ``Config.load()``,
    ``Server.lifespan`` from ``Config.lifespan_class``, ``Server.startup(sockets=...)``, and to stop,
    ``Server.servers`` and ``Server.server_state.connections``.
    """
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                            proxy_headers=False, ws="none", http="h11", interface="asgi3")
    config.load()
    server = uvicorn.Server(config)
    for owner, kind, name in ((config, "Config", "lifespan_class"), (server, "Server", "startup"),
                              (server, "Server", "server_state")):
        if not hasattr(owner, name):
            moved("uvicorn", f"uvicorn's {kind}.{name}", _UVICORN_CHECKED, "use live=off")
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    if not hasattr(server, "servers") or not hasattr(server.server_state, "connections"):
        moved("uvicorn", "uvicorn's Server.servers and ServerState.connections", _UVICORN_CHECKED, "use live=off")

    async def stop() -> None:
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        for listener in server.servers:
            await listener.wait_closed()

    return stop


# --- pytest ------------------------------------------------------------------------------------
def fixture_functions(metafunc: Any, name: str) -> Iterable[Callable[..., object]]:
    """The functions of the fixtures named ``name`` visible to ``metafunc``'s test, nearest last.

    pytest has no public way to reach a fixture's function at collection; ``Metafunc._arg2fixturedefs``
    holds it (checked on pytest 8.4 to 9.2). The sweep calls it to list an app's routes.
    """
    definitions = getattr(metafunc, "_arg2fixturedefs", None)
    if definitions is None:
        moved("pytest", "pytest's Metafunc._arg2fixturedefs", "pytest 8.4 to 9.2",
              "pass sweep(app='package.module:app') instead of a fixture")
    return [definition.func for definition in definitions.get(name, ())]


# --- CPython 3.12/3.13 task factories ------------------------------------------------------------

#: CPython 3.13.0-3.13.2: with a custom task factory, ``loop.create_task()`` does not pass
#: ``name`` to the factory and calls ``task.set_name(name)`` after it returns, even when no
#: name was given (CPython issue 130033), so an unnamed task reads ``'None'``. Checked on
#: 3.11.7, 3.12.1 and 3.13.0; 3.13.3 sets the name only when one was given.
SET_NAME_NONE = (3, 13) <= sys.version_info[:3] < (3, 13, 3)


def given_name(name: str) -> str:
    """The name a task was given, or ``''`` when the only name it has is the 3.13.0-3.13.2 ``'None'``."""
    return "" if SET_NAME_NONE and name == "None" else name


#: The code object of ``asyncio.create_eager_task_factory``'s factories (Python 3.12+). anyio
#: recognises an eager factory by this code object and, to set up a task's cancel scope before
#: it first runs, calls the task constructor held in the factory's closure instead of the
#: factory. Checked on 3.12.1 and 3.13.0 with anyio 4.16.
_EAGER_CODE = getattr(getattr(asyncio, "eager_task_factory", None), "__code__", None)

TaskConstructor = Callable[..., "asyncio.Task[Any]"]


def eager_constructor(factory: object) -> TaskConstructor | None:
    """The task constructor inside an eager task factory, or None if ``factory`` is not one."""
    if _EAGER_CODE is None or getattr(factory, "__code__", None) is not _EAGER_CODE:
        return None
    closure = getattr(factory, "__closure__", None)
    if not closure:  # pragma: no cover - a CPython release that reshaped the factory
        raise RuntimeError("pytest-disconnect: asyncio.create_eager_task_factory() no longer keeps its "
                           "task constructor in its closure; please report this with your Python version")
    constructor = closure[0].cell_contents
    assert callable(constructor)
    return constructor  # type: ignore[no-any-return]


def eager_factory(constructor: TaskConstructor) -> Callable[..., asyncio.Task[Any]]:
    """An eager task factory around ``constructor``, one that anyio recognises as eager."""
    create: Callable[[TaskConstructor], Callable[..., asyncio.Task[Any]]] = (
        asyncio.create_eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    return create(constructor)


# Still in a module of its own, with the versions it was checked on: _watch/close_tasks.py (closing a
# suspended asyncio task's coroutine from outside it: public calls on a task in a state asyncio
# does not expect).
