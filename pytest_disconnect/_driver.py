"""drive(): run an ASGI app through one request, let the client leave, watch the work stop.

The app learns of the disconnect only through receive()/send(), as behind a real
server. The driver never cancels the app before the watch limit (>= tolerance)
has passed; when it does cancel, the verdict fails, so a handler is never passed
because the harness stopped it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import sniffio

from ._channel import Channel
from ._errors import NotAnASGIApp
from ._request import Request
from ._result import DisconnectResult, TimelineRecorder, Verdict
from ._servers import PROFILES
from ._settings import Settings
from ._types import ASGIApp
from ._watch import WorkSet

#: Seconds the harness waits for cancelled work to end before naming it as left behind.
CANCEL_GRACE = 1.0


#: Signatures already found callable as app(scope, receive, send), by code object or
#: class: inspect.signature() would otherwise be a quarter of a scenario's cost.
_ACCEPTED: set[object] = set()


def _signature_key(app: object) -> object:
    code = getattr(app, "__code__", None)
    if code is not None:
        return code
    if not isinstance(app, type) and callable(app) and not hasattr(app, "func"):
        return type(app)  # an instance of a callable class: its __call__ decides
    return None  # functools.partial and the like: the signature depends on the instance


def check_app(app: object) -> None:
    """Fail early, in plain words, on objects that cannot be an ASGI 3 app."""
    __tracebackhide__ = True
    key = _signature_key(app)
    if key is not None and key in _ACCEPTED:
        return
    if not callable(app):
        raise NotAnASGIApp(
            f"{app!r} is not an ASGI app: it is not callable. Pass the application object "
            "itself, e.g. `app` from `app = FastAPI()` or `app = Starlette(...)`."
        )
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # builtins and C callables: find out when called
        return
    try:
        signature.bind(object(), object(), object())
    except TypeError:
        hint = (" It looks like an ASGI 2 app (app(scope) returning a callable); wrap it with "
                "asgiref.compatibility.guarantee_single_callable()."
                if len(signature.parameters) == 1 else "")
        raise NotAnASGIApp(
            f"{_name(app)} is not an ASGI app: it cannot be called as app(scope, receive, send); "
            f"its signature is {signature}.{hint}"
        ) from None
    if key is not None:
        _ACCEPTED.add(key)


def _name(app: object) -> str:
    return getattr(app, "__qualname__", None) or type(app).__name__


class _AppRunner:
    """Runs the app call in its own cancel scope, recording how it ended."""

    def __init__(self, app: ASGIApp, request: Request, settings: Settings, channel: Channel,
                 timeline: TimelineRecorder, workset: WorkSet) -> None:
        self.app = app
        self.scope = request.scope(PROFILES[settings.server])
        self.channel = channel
        self.timeline = timeline
        self.workset = workset
        self.cancel_scope = anyio.CancelScope()
        self.error: BaseException | None = None
        self.error_before_disconnect = False

    async def run(self) -> None:
        with self.cancel_scope:
            try:
                awaitable = self.app(self.scope, self.channel.receive, self.channel.send)
                if not inspect.isawaitable(awaitable):
                    raise NotAnASGIApp(
                        f"{_name(self.app)} is not an ASGI app: app(scope, receive, send) returned "
                        f"{type(awaitable).__name__}, not an awaitable. Is it a WSGI app?"
                    )
                await awaitable
            except Exception as exc:  # the app's own exception: recorded, not re-raised here
                self.error = exc
                self.error_before_disconnect = not self.channel.left
                self._ended(f"raised {type(exc).__name__}: {exc}".rstrip(": "))
                return
        if self.cancel_scope.cancelled_caught:
            self._ended("cancelled by the harness")
        else:
            self._ended("returned")

    def _ended(self, outcome: str) -> None:
        app_work = self.workset.works[0]  # the runner is always the first work registered
        app_work.outcome = outcome
        self.timeline.add(self.workset.now(), "app", f"app {outcome}")


@contextmanager
def _watching(backend: str, workset: WorkSet) -> Iterator[bool]:
    if backend == "trio":
        from . import _watch_trio

        with _watch_trio.watching(workset) as tracked:
            yield tracked
    else:
        import asyncio

        from . import _watch_asyncio

        with _watch_asyncio.watching(asyncio.get_running_loop()) as tracked:
            yield tracked


async def drive(app: ASGIApp, request: Request, settings: Settings) -> DisconnectResult:
    """Run one scenario on the current event loop and return what happened."""
    backend = sniffio.current_async_library()
    clock: Callable[[], float]
    if backend == "trio":
        import trio

        from . import _watch_trio as hooks

        clock = trio.current_time
    else:
        import asyncio

        from . import _watch_asyncio as hooks  # type: ignore[no-redef]

        clock = asyncio.get_running_loop().time
    # The loop's own clock (what anyio.current_time() reads), bound once: done
    # callbacks and instrument hooks run where anyio cannot detect the backend.
    start = clock()

    def now() -> float:
        return clock() - start

    timeline = TimelineRecorder()
    wake = hooks.new_event()
    workset = WorkSet(now, timeline, hooks.new_event)
    workset.on_all_done = wake.set
    trigger = settings.after
    channel = Channel(request, profile=PROFILES[settings.server], trigger=trigger, now=now,
                      timeline=timeline, on_leave=wake.set, new_event=hooks.new_event)
    runner = _AppRunner(app, request, settings, channel, timeline, workset)
    limit = settings.watch_limit
    cancelled_at: float | None = None
    not_disconnected = False

    with _watching(backend, workset) as tracked:
        hooks.spawn(workset, runner.run, f"pytest-disconnect: {request.target}", tracked)
        try:
            # Phase 1: until the client leaves, or the work ends first.
            if not channel.left:
                if trigger.kind == "time":
                    assert trigger.seconds is not None
                    with anyio.move_on_at(start + trigger.seconds):
                        await wake.wait()
                    if not workset.done:
                        channel.leave(planned=trigger.seconds)
                    elif (workset.stopped_at or 0.0) > trigger.seconds:
                        channel.missed(trigger.seconds)
                else:
                    with anyio.move_on_at(start + limit):
                        await wake.wait()
                    not_disconnected = not channel.left and not workset.done
            # Phase 2: the client has left; the work has `tolerance`, then we watch up to `limit`.
            if channel.left and not workset.done:
                gone = start + (channel.disconnected_at or 0.0)
                with anyio.move_on_at(gone + settings.tolerance):
                    await workset.wait_done()
                if not workset.done:
                    workset.locate_running()
                    with anyio.move_on_at(gone + limit):
                        await workset.wait_done()
            # Phase 3: still running at the limit: cancel, and name what resists.
            if not workset.done:
                cancelled_at = now()
                if not_disconnected:
                    workset.locate_running()
                timeline.add(cancelled_at, "harness", "harness cancelled the app (watch limit reached)")
                runner.cancel_scope.cancel()
                hooks.cancel_stray_tasks(workset)
                with anyio.move_on_after(CANCEL_GRACE):
                    await workset.wait_done()
        finally:
            if not workset.done:  # cancelled from outside, or resisting: do not leave it running
                runner.cancel_scope.cancel()
                hooks.cancel_stray_tasks(workset)

    return DisconnectResult(
        method=request.method,
        path=request.target.split(" ", 1)[1],
        settings=settings,
        disconnected_at=channel.disconnected_at,
        delivered_at=channel.delivered_at,
        first_seen_at=channel.first_seen_at,
        stopped_at=workset.stopped_at if cancelled_at is None else None,
        cancelled_at=cancelled_at,
        status=channel.status,
        headers=channel.headers,
        body=b"".join(channel.body_parts),
        timeline=timeline.freeze(),
        work=tuple(work.freeze() for work in workset.works),
        verdict=_verdict(channel, workset, settings, cancelled_at, not_disconnected),
        app_error=runner.error,
        receive_calls=channel.receive_calls,
        receives_after_disconnect=channel.receives_after_disconnect,
        sends_after_disconnect=channel.sends_after_disconnect,
    )


def _verdict(channel: Channel, workset: WorkSet, settings: Settings,
             cancelled_at: float | None, not_disconnected: bool) -> Verdict:
    if not_disconnected:
        return "not-disconnected"
    if cancelled_at is not None:
        return "cancelled" if workset.done else "resisted"
    if channel.disconnected_at is None:
        return "finished"
    stopped = workset.stopped_at
    assert stopped is not None
    if stopped - channel.disconnected_at <= settings.tolerance:
        return "stopped"
    return "kept-running"
