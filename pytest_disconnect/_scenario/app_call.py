"""The app call: one ``app(scope, receive, send)`` under the harness's cancel scope, and how it ended.

It runs either in a task of its own (a client that reads the response while the app runs) or
inline, in the task that awaits the scenario (see _scenario/inline.py).
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

import anyio

from .._asgi.channel import Channel
from .._backends import AppScope, CallerTask
from .._compat import is_scope_misnesting, make_current_anyio_scope
from .._errors import NotAnASGIApp
from .._harness_lines import ABANDONED_APP
from .._result import TimelineRecorder
from .._types import ASGIApp, Scope
from .._watch.abandon import AbandonableCall, Abandoned
from .._watch.workset import WorkSet


@dataclass(slots=True)
class Inline:
    """How the app call runs in the caller's own task."""

    #: The scenario's copy of the caller's context, where every step of the app runs.
    context: Context
    #: The caller's task, which runs each step in that context.
    caller: CallerTask
    #: Told the first time the app yields to the loop.
    on_suspend: Callable[[], None]


class AppCall:
    """Runs the app once, recording how it ended; ``on_end`` is told when it has."""

    # How every call starts (class defaults: set on the instance only when they change).
    returned_at: float | None = None
    error: BaseException | None = None
    #: Cancelled by something other than the disconnect or the harness.
    cancelled_from_outside = False
    #: The app call returned (not raised, not cancelled): its response must then be whole.
    returned_normally = False
    #: The app call as awaited, so the harness can abandon it (see _watch/abandon.py).
    call: AbandonableCall | None = None
    #: Set when the app call runs in the caller's task rather than a task of its own.
    inline: Inline | None = None

    def __init__(self, app: ASGIApp, channel: Channel, timeline: TimelineRecorder, workset: WorkSet,
                 on_end: Callable[[], None], cancel_scope: AppScope | None = None) -> None:
        self.app = app
        self.channel = channel
        self.timeline = timeline
        self.workset = workset
        self.on_end = on_end
        #: The scope the app was called with (the in-process one, or the live server's).
        self.scope: Scope = {}
        self.cancel_scope: AppScope = cancel_scope if cancel_scope is not None else anyio.CancelScope()

    async def run(self, scope: Scope) -> None:
        self.scope = scope
        try:
            with self.cancel_scope:
                try:
                    self.call = self._start(scope)
                    if self.inline is not None:
                        self.workset.works[0].coro = self.call  # where it runs, for the report
                    await self.call
                except BaseException as exc:  # a server catches everything the app raises
                    if self._caught(exc):
                        raise  # the harness's own cancellation (the scope absorbs it), or the caller's
                    return
        except BaseException as exc:
            if self.inline is not None and self.workset.works[0].abandoned and is_scope_misnesting(exc):
                return  # trio: the abandoned app's own scopes, left open, closed with the app call's
            self.cancelled_from_outside = True
            self._ended("cancelled from outside the channel")
            raise
        if not self.cancel_scope.cancelled_caught:
            self.returned_normally = True
        self._ended("cancelled by the harness" if self.cancel_scope.cancelled_caught else "returned")

    def _start(self, scope: Scope) -> AbandonableCall:
        inline, receive, send = self.inline, self.channel.receive, self.channel.send
        # Inline, in the scenario's context too: what a class's __call__ sets stays in it.
        awaitable = self.app(scope, receive, send) if inline is None else inline.context.run(
            self.app, scope, receive, send)
        if type(awaitable) is CoroutineType:  # an async def's call: most apps
            coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any] = awaitable
        elif inspect.isawaitable(awaitable):
            coro = awaitable if inspect.iscoroutine(awaitable) else awaitable.__await__()
        else:
            raise NotAnASGIApp(
                f"{app_name(self.app)} is not an ASGI app: app(scope, receive, send) returned "
                f"{type(awaitable).__name__}, not an awaitable. Is it a WSGI app?"
            )
        if inline is None:
            return AbandonableCall(coro)
        return AbandonableCall(coro, inline.caller.step, inline.on_suspend)

    def _caught(self, exc: BaseException) -> bool:
        """Record what the app raised; True for the harness's own cancellation (to re-raise)."""
        if isinstance(exc, Abandoned):  # it resisted: still counted as running work
            if self.inline is not None and isinstance(self.cancel_scope, anyio.CancelScope):
                make_current_anyio_scope(self.cancel_scope)  # the closed app's own scopes never exited
            self.workset.works[0].abandoned = True
            self.returned_at = self.workset.now()
            self.timeline.add(self.returned_at, "harness", ABANDONED_APP)
            self.on_end()
            return False
        if self.inline is not None and isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self.error = exc  # inline, the app's task is the test's: Ctrl-C ends the test now
            return True
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            if self.cancel_scope.cancel_called:
                return True
            if self.inline is not None and self.inline.caller.cancel_pending():
                return True  # the test's own task is cancelled: it goes on up, recorded as from outside
            if self.channel.first_seen_at is None:
                # Cancellation the app did not raise after seeing the disconnect,
                # and the harness did not send: it proves nothing.
                self.cancelled_from_outside = True
                self._ended("cancelled from outside the channel")
                return False
            # else: the app saw the disconnect and stopped by raising it (SSE idiom)
        self.error = exc  # recorded; KeyboardInterrupt and SystemExit are re-raised later
        # A server logs and drops it; holding its frames' locals would keep what the app
        # abandoned (a streaming generator, its finally) from being collected.
        traceback.clear_frames(exc.__traceback__)
        self._ended(f"raised {type(exc).__name__}: {exc}".rstrip(": "))
        return False

    def _ended(self, outcome: str) -> None:
        app_work = self.workset.works[0]  # the app call is always the first work registered
        self.returned_at = self.workset.now()
        self.timeline.add(self.returned_at, "app", f"app {outcome}")
        # Ended here, not in the task's done callback a loop iteration later.
        self.workset.ended(app_work, outcome, at=self.returned_at)
        self.on_end()


def app_name(app: object) -> str:
    return getattr(app, "__qualname__", None) or type(app).__name__
