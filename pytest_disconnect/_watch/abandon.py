"""Giving up on work that resists cancellation, so no app can hang the test that runs it.

Cancelling is the last thing the harness asks; some apps refuse (they catch the
cancellation forever, or wait for a thread that never returns). The event loop
cannot end a task that refuses, and both asyncio's and trio's shutdown wait for
every task, so under ``arun()`` such an app would hang the test's loop for good.
Abandoning ends the app call anyway: the app's coroutine is closed from inside its
own task (``GeneratorExit`` at its await, its ``finally`` blocks run), and waits for
worker threads are lifted (the threads run on, named in the report).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any

#: Coroutines that ignored GeneratorExit: kept referenced, so the garbage collector does not
#: close them again later and report the failure into some unrelated test.
_unclosable: list[object] = []


class Abandoned(BaseException):
    """Ends the app call the harness gave up on. Not an Exception: the app must not catch it."""


class Abandonment:
    """One scenario's switch: once thrown, every registered wait is lifted."""

    __slots__ = ("_callbacks", "requested")

    def __init__(self) -> None:
        self.requested = False
        self._callbacks: list[Callable[[], None]] = []

    def on_abandon(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the loop) when the harness gives up; returns an unregister function."""
        if self.requested:
            callback()
            return _nothing
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def abandon(self) -> None:
        self.requested = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class AbandonableCall:
    """Awaits the app's coroutine step by step; once abandoned, closes it at its next step.

    An iterator with send/throw/close, so ``await`` delegates to it exactly as to the
    coroutine itself (one Python call per step of the app, a fraction of a microsecond).
    ``cr_await`` lets report code walk through it to the app's frames.

    Run in the caller's own task (inline), each step goes through ``step``, which runs it in the
    scenario's copy of the caller's context: tasks the app starts carry its ContextVar, and what
    the app sets stays out of the caller's context. ``on_suspend`` is called once, the first time
    the app's coroutine yields to the loop.
    """

    __slots__ = ("_abandoned", "_coro", "_on_suspend", "_step")

    def __init__(self, coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any],
                 step: Callable[..., Any] | None = None, on_suspend: Callable[[], None] | None = None) -> None:
        self._coro = coro
        self._abandoned = False
        self._step = step
        self._on_suspend = on_suspend

    @property
    def cr_await(self) -> object:
        return self._coro

    def abandon(self) -> None:
        self._abandoned = True

    def __await__(self) -> Generator[Any, None, Any]:
        return self  # an iterator with send/throw, as await needs

    def __iter__(self) -> AbandonableCall:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        if self._abandoned:
            self._end()
        step = self._step
        if step is None:
            return self._coro.send(value)
        yielded = step(self._coro.send, value)
        if self._on_suspend is not None:  # it yields to the loop: it did not end in one go
            on_suspend, self._on_suspend = self._on_suspend, None
            on_suspend()
        return yielded

    def throw(self, *args: Any) -> Any:
        if self._abandoned:
            self._end()
        try:
            if self._step is None:
                return self._coro.throw(*args)
            return self._step(self._coro.throw, *args)
        finally:
            del args  # the exception's traceback holds this frame: no cycle through it

    def close(self) -> None:
        if self._step is None:
            self._coro.close()
        else:
            self._step(self._coro.close)

    def _end(self) -> None:
        try:
            self.close()  # GeneratorExit at the app's await, in its own task
        except BaseException:  # it awaited again, or raised in a finally: leave it as it is
            _unclosable.append(self._coro)
        raise Abandoned


def _nothing() -> None:
    pass
