"""The app's lifespan, run as a server runs it: startup before the first request, shutdown after.

uvicorn calls ``app({"type": "lifespan", "state": state}, receive, send)`` in a task of
its own, sends ``lifespan.startup``, waits for ``lifespan.startup.complete`` (or
``.failed``), serves requests, then sends ``lifespan.shutdown``. Each request's
``scope["state"]`` is a shallow copy of ``state``, which is how a Starlette or FastAPI
handler's ``request.state.X`` sees what the lifespan yielded.

Modes, as uvicorn's ``--lifespan``: ``on`` (an app that raises on the lifespan scope is
an error), ``off`` (never called), ``auto``: used if the app speaks the protocol. uvicorn
decides that by letting the app run until it answers or raises. A test tool calls many
throwaway apps that never check ``scope["type"]``, and such an app would run its HTTP
code (a one-second sleep, a child process) on the lifespan scope before failing. So in
``auto`` the app is called for the lifespan only if its code mentions "lifespan" (it
must, to tell the scope types apart): a function's own code, or the methods of an
object's classes and of what it wraps (``.app``, ``.router``), which finds Starlette,
FastAPI, Quart and Litestar through any middleware. It must then ask for
``lifespan.startup`` (call ``receive()``) before it first waits for anything else, as
those frameworks do.
Anything else (a first wait elsewhere, a second ``receive()`` before answering, an HTTP
message, an exception) means "does not support it" and the lifespan call is cancelled.

The lifespan runs in a task that belongs to no scenario, so what it starts (a pool, a
poller) is never counted as a request's work, and its startup and shutdown happen
outside every scenario's clock.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from types import CodeType
from typing import Any

import anyio

from .._backends import current as current_backend
from .._compat import is_default_lifespan
from .._errors import LifespanError
from .._types import ASGIApp, Message
from .._watch.workset import current_workset

#: Seconds the app may take to answer lifespan.startup or lifespan.shutdown.
LIFESPAN_LIMIT = 10.0


def may_speak_lifespan(app: object) -> bool:
    """auto mode's first filter: whether the app's code mentions 'lifespan' anywhere it could act on it.

    Looked for in a function's code, or in the methods of an object's classes, following
    what it wraps (``.app``, ``.router``): Starlette's router, FastAPI, Quart and Litestar
    all mention it; a throwaway test app, a plain middleware or Django do not.
    """
    seen: set[int] = set()
    layers: list[object] = [app]
    while layers and len(seen) < _MAX_LAYERS:
        layer = layers.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        code = getattr(layer, "__code__", None)
        if isinstance(code, CodeType):
            if _mentions_lifespan(code):
                return True
            continue
        if _class_mentions_lifespan(type(layer)):
            return True
        layers += [inner for inner in (getattr(layer, "app", None), getattr(layer, "router", None))
                   if inner is not None]
    return False


_MAX_LAYERS = 32


def lifespan_does_nothing(app: object) -> bool:
    """A Starlette or FastAPI app (through any middleware) with no lifespan and no startup or
    shutdown handlers: running its lifespan would change nothing, so auto mode skips it."""
    layer: object = app
    for _ in range(_MAX_LAYERS):
        router = getattr(layer, "router", layer)
        context = getattr(router, "lifespan_context", None)
        if context is not None:
            return (is_default_lifespan(context)
                    and not getattr(router, "on_startup", None) and not getattr(router, "on_shutdown", None))
        inner = getattr(layer, "app", None)
        if inner is None or inner is layer:
            return False
        layer = inner
    return False
_CLASSES: dict[type, bool] = {}


def _class_mentions_lifespan(cls: type) -> bool:
    known = _CLASSES.get(cls)
    if known is None:
        known = _CLASSES[cls] = any(
            _mentions_lifespan(code)
            for klass in cls.__mro__ if klass is not object
            for member in vars(klass).values()
            for code in [getattr(getattr(member, "__func__", member), "__code__", None)]
            if isinstance(code, CodeType))
    return known


def _mentions_lifespan(code: CodeType) -> bool:
    for constant in code.co_consts:
        if isinstance(constant, str) and "lifespan" in constant:
            return True
        if isinstance(constant, tuple) and any(isinstance(item, str) and "lifespan" in item for item in constant):
            return True
        if isinstance(constant, CodeType) and _mentions_lifespan(constant):
            return True
    return False


def app_name(app: object) -> str:
    """'examples.lifespan.app' for a function, "the FastAPI app 'Shop' (myshop.main)" for an instance."""
    if callable(app) and hasattr(app, "__qualname__"):
        return f"{getattr(app, '__module__', '?')}.{app.__qualname__}"
    kind = type(app)
    title = getattr(app, "title", None)
    titled = f" {title!r}" if isinstance(title, str) and title and title != "FastAPI" else ""
    return f"the {kind.__name__} app{titled}"


def startup_failed_message(name: str, mode: str, source: str, detail: str) -> str:
    return (f"{name}: lifespan startup failed, so no request was sent (lifespan={mode}, {source}).\n"
            f"{detail.rstrip()}\n"
            "Fix the startup, or pass lifespan='off' to test the app without it.")


def startup_timeout_message(name: str, limit: float) -> str:
    return (f"{name}: no answer to lifespan.startup within {limit:.2f} s, so no request was sent. "
            "Does its startup wait for something that never comes (a database, a server)? "
            "Pass lifespan='off' if the app does not speak the lifespan protocol.")


def shutdown_failed_message(name: str, detail: str) -> str:
    return f"{name}: lifespan shutdown failed after the test.\n{detail.rstrip()}"


@dataclass(frozen=True)
class _OnLoop:
    """What the lifespan needs on its event loop (anyio makes these only on a running loop)."""

    answered: anyio.Event
    ended: anyio.Event
    shutdown_asked: anyio.Event
    scope: anyio.CancelScope


class _FirstStep:
    """Awaits a coroutine and calls ``on_first_wait`` when it first suspends.

    A plain delegation (what ``await`` does), so both backends' traps pass through.
    """

    def __init__(self, coro: Coroutine[Any, Any, Any], on_first_wait: Callable[[], None]) -> None:
        self._coro = coro
        self._on_first_wait = on_first_wait

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, to_send, to_throw, first = self._coro, None, None, True
        while True:
            try:
                yielded = coro.throw(to_throw) if to_throw is not None else coro.send(to_send)
            except StopIteration as stop:
                return stop.value
            if first:
                first = False
                self._on_first_wait()
            try:
                to_send, to_throw = (yield yielded), None
            except BaseException as exc:  # delivered into the app, as await would
                to_send, to_throw = None, exc


class Lifespan:
    """One app's lifespan on the current event loop: ``await start()``, ``state``, ``await stop()``."""

    def __init__(self, app: ASGIApp, mode: str, source: str = "default") -> None:
        self.app = app
        self.mode = mode
        self.source = source
        self.name = app_name(app)
        #: The lifespan scope's state: what requests get a shallow copy of.
        self.state: dict[str, Any] = {}
        #: False when auto mode found that the app does not speak the protocol.
        self.supported = True
        self.error: BaseException | None = None
        self.shutdown_error: LifespanError | None = None
        self._on: _OnLoop | None = None  # made on the loop, in start()
        self._receives = 0
        self._startup: str | None = None  # 'complete' or 'failed'
        self._shutdown: str | None = None
        self._failure = ""
        self._stopped = False

    async def start(self) -> None:
        """Spawn the lifespan task and wait for the startup's answer. Raises LifespanError."""
        self._on = _OnLoop(anyio.Event(), anyio.Event(), anyio.Event(), anyio.CancelScope(shield=True))
        context = contextvars.copy_context()
        context.run(current_workset.set, None)  # app-lifetime work, never a request's
        current_backend().spawn_for_the_loop(self._host, f"pytest-disconnect lifespan: {self.name}", context,
                                             at_end=self._stop_with_the_loop)
        with anyio.move_on_after(LIFESPAN_LIMIT):
            await self._loop.answered.wait()
        if not self._loop.answered.is_set():
            self._loop.scope.cancel()
            raise LifespanError(startup_timeout_message(self.name, LIFESPAN_LIMIT))
        if self._startup == "complete" or not self.supported:
            return
        if self._startup == "failed" or (self.error is not None and self.mode == "on"):
            detail = self._failure or f"{type(self.error).__name__}: {self.error}"
            raise LifespanError(startup_failed_message(self.name, self.mode, self.source, detail)) from self.error
        if self.error is not None:  # auto: raised on the lifespan scope, so it does not speak the protocol
            self.supported, self.error = False, None
        # else: returned without a word, which uvicorn counts as started

    async def stop(self) -> None:
        """Send lifespan.shutdown and wait for the answer; raises LifespanError if it failed."""
        if self._stopped or self._on is None:
            self.raise_shutdown_failure()
            return
        self._stopped = True
        if self.supported and self._startup != "failed" and not self._loop.ended.is_set():
            self._loop.shutdown_asked.set()
            with anyio.move_on_after(LIFESPAN_LIMIT):
                await self._loop.ended.wait()
            if not self._loop.ended.is_set():
                self._loop.scope.cancel()
                self.shutdown_error = LifespanError(shutdown_failed_message(
                    self.name, f"no answer to lifespan.shutdown within {LIFESPAN_LIMIT:.2f} s"))
        elif not self._loop.ended.is_set():
            self._loop.scope.cancel()
        self.raise_shutdown_failure()

    def raise_shutdown_failure(self) -> None:
        """Raise the shutdown's failure, if it had one (once its task has ended)."""
        if self.shutdown_error is None and self.supported and self._startup == "complete" and (
                self._shutdown == "failed" or self.error is not None):
            detail = self._failure or f"{type(self.error).__name__}: {self.error}"
            self.shutdown_error = LifespanError(shutdown_failed_message(self.name, detail))
            self.shutdown_error.__cause__ = self.error
        if self.shutdown_error is not None:
            raise self.shutdown_error

    @property
    def _loop(self) -> _OnLoop:
        assert self._on is not None, "start() first"
        return self._on

    @property
    def ended(self) -> bool:
        return self._on is not None and self._on.ended.is_set()

    async def _host(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            # Shielded: on trio the loop's end cancels system tasks, and the shutdown must still run.
            with self._loop.scope:
                call = self.app(scope, self._receive, self._send)
                if self.mode == "auto" and inspect.iscoroutine(call):
                    await _FirstStep(call, self._first_wait)
                else:
                    await call
        except BaseException as exc:  # a server catches everything the lifespan raises
            if self.supported:
                self.error = exc
        finally:
            self._loop.answered.set()
            self._loop.ended.set()

    def _first_wait(self) -> None:
        if self._receives == 0 and self._startup is None:  # its first wait is not for lifespan.startup
            self._unsupported()

    def _unsupported(self) -> None:
        if self.mode == "auto" and self._startup is None:
            self.supported = False
            self._loop.scope.cancel()
            self._loop.answered.set()

    async def _receive(self) -> Message:
        self._receives += 1
        if self._receives == 1:
            return {"type": "lifespan.startup"}
        if self._startup is None:
            self._unsupported()
            raise RuntimeError("lifespan protocol: receive() called again before lifespan.startup was answered")
        try:
            await self._loop.shutdown_asked.wait()
        except anyio.get_cancelled_exc_class():
            # Not ours (the host's scope is shielded): asyncio's runner cancels every task once as
            # the loop closes; taken back, the lifespan shuts down as a server would.
            if self._loop.scope.cancel_called or not current_backend().take_back_cancellation():
                raise
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed") and self._startup is None:
            self._startup = kind.rsplit(".", 1)[1]
            self._failure = str(message.get("message") or "")
            self._loop.answered.set()
            return
        if kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed") and self._startup == "complete":
            self._shutdown = kind.rsplit(".", 1)[1]
            self._failure = str(message.get("message") or "")
            return
        self._unsupported()
        raise RuntimeError(f"lifespan protocol: unexpected {kind!r} message")

    async def _stop_with_the_loop(self) -> None:
        """When the loop ends before the test stopped the lifespan (trio cancels its system tasks)."""
        try:
            await self.stop()
        except LifespanError:
            pass  # kept in self.error / _shutdown; the test's teardown reports it
