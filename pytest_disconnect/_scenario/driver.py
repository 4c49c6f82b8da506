"""drive(): run an ASGI app through one request, let the client leave, watch the work stop.

The app learns of the disconnect only through receive()/send(), as behind a real
server. The driver never cancels the app before the watch limit (>= tolerance)
has passed; when it does cancel, the verdict fails, so a handler is never passed
because the harness stopped it.
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

import anyio
import sniffio

from .._asgi.channel import Channel
from .._asgi.request import Request
from .._asgi.servers import PROFILES
from .._asgi.trigger import Trigger
from .._asgi.wrong_route import handler_matched
from .._clock.scenario_clock import ScenarioClock
from .._errors import LiveSetupError, NotAnASGIApp
from .._fronts.live import STOP_GRACE, LiveChannel, LiveRun, LiveServer
from .._result import Block, DisconnectResult, Entry, TimelineRecorder, Verdict
from .._settings import Settings
from .._types import ASGIApp, Scope, WaitableEvent
from .._watch import heavy as _heavy
from .._watch import loop_interrupt as _loop_interrupt
from .._watch import plain_threads as _plain_threads
from .._watch import processes as _processes
from .._watch import threads as _threads
from .._watch.abandon import AbandonableCall, Abandoned
from .._watch.close_tasks import close_stray_tasks
from .._watch.watchdog import WATCHDOG, Watch
from .._watch.workset import WorkSet

#: Seconds the harness waits for cancelled work to end before naming it as left behind.
CANCEL_GRACE = 1.0
#: Seconds past the longest a scenario takes on a responsive loop before a loop still blocked
#: is interrupted (see _watch/loop_interrupt.py).
INTERRUPT_GRACE = 1.0


def interrupt_after(settings: Settings, trigger: Trigger) -> float:
    """Real seconds from a scenario's start after which its loop, if blocked, is interrupted:
    the longest the scenario takes on a responsive loop, plus a grace. Never for a client that
    decides by itself when to leave (a transport's): it may wait as long as it likes."""
    if trigger.kind == "client":
        return math.inf
    return (trigger.seconds or 0.0) + 2 * settings.watch_limit + CANCEL_GRACE + INTERRUPT_GRACE


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


class _Waker:
    """Wakes the driver when anything changes: the client left, the app returned, work ended."""

    def __init__(self, new_event: Callable[[], WaitableEvent]) -> None:
        self._new_event = new_event
        self._event: WaitableEvent | None = None
        self._pending = False

    def set(self) -> None:
        self._pending = True
        if self._event is not None:
            self._event.set()

    async def wait_until(self, deadline: float) -> bool:
        """Wait for the next change, until ``deadline``; False if the deadline came first."""
        if not self._pending:
            self._event = self._new_event()
            with anyio.move_on_at(deadline):
                await self._event.wait()
        woken, self._pending, self._event = self._pending, False, None
        return woken


class _AppRunner:
    """Runs the app call in its own cancel scope, recording how it ended."""

    def __init__(self, app: ASGIApp, request: Request, settings: Settings, channel: Channel,
                 timeline: TimelineRecorder, workset: WorkSet, on_end: Callable[[], None],
                 state: Mapping[str, Any] | None = None) -> None:
        self.on_end = on_end
        self.returned_at: float | None = None
        self.app = app
        self.scope = request.scope(PROFILES[settings.server])
        #: The lifespan's state (run()/arun()'s, or the request's own): each request gets a shallow copy.
        self.state: Mapping[str, Any] = state if state is not None else (request.state or {})
        if state is not None:
            self.scope["state"] = dict(state)
        self.channel = channel
        self.timeline = timeline
        self.workset = workset
        self.cancel_scope = anyio.CancelScope()
        self.error: BaseException | None = None
        #: Cancelled by something other than the disconnect or the harness.
        self.cancelled_from_outside = False
        #: The app call returned (not raised, not cancelled): its response must then be whole.
        self.returned_normally = False
        #: The app call as awaited, so the harness can abandon it (see _abandon).
        self.call: AbandonableCall | None = None

    async def run(self) -> None:
        try:
            with self.cancel_scope:
                try:
                    awaitable = self.app(self.scope, self.channel.receive, self.channel.send)
                    if not inspect.isawaitable(awaitable):
                        raise NotAnASGIApp(
                            f"{_name(self.app)} is not an ASGI app: app(scope, receive, send) returned "
                            f"{type(awaitable).__name__}, not an awaitable. Is it a WSGI app?"
                        )
                    self.call = AbandonableCall(
                        awaitable if inspect.iscoroutine(awaitable) else awaitable.__await__())
                    await self.call
                except BaseException as exc:  # a server catches everything the app raises
                    if isinstance(exc, Abandoned):  # it resisted: still counted as running work
                        self.workset.works[0].abandoned = True
                        self.returned_at = self.workset.now()
                        self.timeline.add(self.returned_at, "harness",
                                          "harness abandoned the app call: it went on after the cancellation")
                        self.on_end()
                        return
                    if isinstance(exc, anyio.get_cancelled_exc_class()):
                        if self.cancel_scope.cancel_called:
                            raise  # the harness's own cancellation: the scope absorbs it
                        if self.channel.first_seen_at is None:
                            # Cancellation the app did not raise after seeing the disconnect,
                            # and the harness did not send: it proves nothing.
                            self.cancelled_from_outside = True
                            self._ended("cancelled from outside the channel")
                            return
                        # else: the app saw the disconnect and stopped by raising it (SSE idiom)
                    self.error = exc  # recorded; KeyboardInterrupt and SystemExit are re-raised later
                    # A server logs and drops it; holding its frames' locals would keep what the app
                    # abandoned (a streaming generator, its finally) from being collected.
                    traceback.clear_frames(exc.__traceback__)
                    self._ended(f"raised {type(exc).__name__}: {exc}".rstrip(": "))
                    return
        except BaseException:
            self.cancelled_from_outside = True
            self._ended("cancelled from outside the channel")
            raise
        if not self.cancel_scope.cancelled_caught:
            self.returned_normally = True
        self._ended("cancelled by the harness" if self.cancel_scope.cancelled_caught else "returned")

    def _ended(self, outcome: str) -> None:
        app_work = self.workset.works[0]  # the runner is always the first work registered
        self.returned_at = self.workset.now()
        self.timeline.add(self.returned_at, "app", f"app {outcome}")
        # Ended here, not in the task's done callback a loop iteration later.
        self.workset.ended(app_work, outcome, at=self.returned_at)
        self.on_end()


def restore_patches() -> None:
    """Undo the run-wide wrappers."""
    _loop_interrupt.uninstall()
    _threads.uninstall()
    _plain_threads.uninstall()
    _processes.uninstall()


def end_of_run() -> list[str]:
    """When pytest finishes: undo the wrappers, kill the apps' child processes still running
    (a test interrupted by Ctrl-C, say), and name the threads left behind."""
    restore_patches()
    notes = []
    killed = _processes.kill_all()
    if killed:
        notes.append(f"killed {len(killed)} child process(es) an app left running: "
                     + ", ".join(f"pid {pid}" for pid in killed))
    threads = _plain_threads.left_running()
    if threads:
        notes.append(f"{len(threads)} thread(s) an app started are still running and are left "
                     f"behind (daemon threads: they do not delay exit): {', '.join(threads)}")
    return notes


@contextmanager
def _watching(backend: str, workset: WorkSet, heavy: tuple[str, ...]) -> Iterator[bool]:
    _threads.install()
    _plain_threads.install()
    _processes.install()
    with ExitStack() as stack:
        for target in heavy:
            stack.enter_context(_heavy.marking(target))
        if backend == "trio":
            from .._watch import trio_tasks as _watch_trio

            yield stack.enter_context(_watch_trio.watching(workset))
        else:
            import asyncio

            from .._watch import asyncio_tasks as _watch_asyncio

            loop = asyncio.get_running_loop()
            _threads.watch_executor(loop)
            yield stack.enter_context(_watch_asyncio.watching(loop))


async def drive(app: ASGIApp, request: Request, settings: Settings, *,
                allow: frozenset[str] = frozenset(), heavy: tuple[str, ...] = (),
                trigger: Trigger | None = None,
                on_channel: Callable[[Channel], None] | None = None,
                entry: Entry = "fixture",
                state: Mapping[str, Any] | None = None) -> DisconnectResult:
    """Run one scenario on the current event loop and return what happened.

    ``trigger`` overrides ``settings.after`` (CLIENT_DECIDES: a client that leaves
    by itself, through ``Channel.leave``); ``on_channel`` gets the channel before
    the app starts, for a client that reads the response as it comes; ``state`` is
    the lifespan's state, copied into the request's scope.
    """
    backend = sniffio.current_async_library()
    post: Callable[[Callable[[], None]], None]
    if backend == "trio":
        import trio

        from .._watch import trio_tasks as hooks

        post = trio.lowlevel.current_trio_token().run_sync_soon
    else:
        import asyncio

        from .._watch import asyncio_tasks as hooks  # type: ignore[no-redef]

        loop = asyncio.get_running_loop()

        def post(callback: Callable[[], None]) -> None:
            loop.call_soon_threadsafe(callback)

    live_server: LiveServer | None = None
    if settings.live != "off":
        if backend != "asyncio":
            raise LiveSetupError(f"live mode runs on asyncio (uvicorn's loop), not {backend}")
        live_server = LiveServer(settings.server)
        await live_server.start()  # set-up, not part of the scenario: before its clock starts
    try:
        # The loop's own clock (what anyio.current_time() reads), bound once: done
        # callbacks and instrument hooks run where anyio cannot detect the backend.
        scenario_clock = ScenarioClock(backend, settings.clock)
        scenario_clock.start()  # before the start time: the virtual clock freezes from here
        try:
            return await _drive(app, request, settings, backend, hooks, post, scenario_clock, live_server,
                                allow=allow, heavy=heavy, trigger=trigger, on_channel=on_channel, entry=entry,
                                state=state)
        finally:
            scenario_clock.stop()
    finally:
        if live_server is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_GRACE * 3):
                await live_server.stop()


async def _drive(app: ASGIApp, request: Request, settings: Settings, backend: str, hooks: ModuleType,
                 post: Callable[[Callable[[], None]], None], scenario_clock: ScenarioClock,
                 live_server: LiveServer | None, *,
                 allow: frozenset[str], heavy: tuple[str, ...], trigger: Trigger | None,
                 on_channel: Callable[[Channel], None] | None, entry: Entry,
                 state: Mapping[str, Any] | None) -> DisconnectResult:
    clock = scenario_clock.read
    start = clock()

    def now() -> float:
        return clock() - start

    if scenario_clock.kind == "virtual":
        def now() -> float:  # 0.1 s from a start of 12345.678 is 0.1000000000003638
            return round(clock() - start, 9)

    timeline = TimelineRecorder()
    waker = _Waker(hooks.new_event)
    workset = WorkSet(now, timeline, hooks.new_event, post, allow | frozenset(settings.allow))
    workset.on_all_done = waker.set
    scenario_clock.watch(workset, start, timeline)
    trigger = settings.after if trigger is None else trigger
    channel_options: dict[str, Any] = {
        "profile": PROFILES[settings.server], "trigger": trigger, "now": now, "timeline": timeline,
        "on_leave": waker.set, "new_event": hooks.new_event}
    live: LiveRun | None = None
    channel: Channel
    if settings.live != "off":
        channel = LiveChannel(request, close=settings.live, **channel_options)
    else:
        channel = Channel(request, **channel_options)
    runner = _AppRunner(app, request, settings, channel, timeline, workset, on_end=waker.set, state=state)
    if isinstance(channel, LiveChannel):
        assert live_server is not None
        live = LiveRun(live_server, request, channel, runner, workset)
    workset.response_complete_at = lambda: channel.response_complete_at
    channel.stall_after = settings.watch_limit
    if on_channel is not None:
        on_channel(channel)
    blocks: list[Block] = []

    def on_block(block: Block) -> None:
        blocks.append(block)
        timeline.add(block.start, "loop", f"event loop blocked for {block.end - block.start:.2f} s"
                     + (f" at {block.where}" if block.where else ""))

    watch = Watch(post, workset.real_now, on_block, workset.poll,
                  interrupt_at=workset.real_now() + interrupt_after(settings, trigger))
    limit = settings.watch_limit
    cancelled_at: float | None = None
    not_disconnected = False
    leaked_from: float | None = None  # the app returned first, leaving work behind
    base = start  # what the tolerance counts from: the disconnect, or the app's return

    def app_left_work_behind() -> bool:
        return runner.returned_at is not None and not channel.left and not workset.done

    with _watching(backend, workset, heavy) as tracked:
        WATCHDOG.add(watch)
        try:
            if live is None:
                hooks.spawn(workset, runner.run, f"pytest-disconnect: {request.target}", tracked)
            else:
                await live.start()  # the server calls the app; a real client sends the request
            # Phase 1: until the client leaves (and the app can see it), the work ends, or the
            # app returns leaving work behind.
            began = start
            if not channel.left and trigger.kind == "time":
                assert trigger.seconds is not None
                moment = trigger.seconds
                began = start + moment
                if not await waker.wait_until(began):
                    # The moment came. What the app had due at this same instant (a tick of its
                    # own timer) runs first, one loop turn: a tie is decided the same way on
                    # every run and machine, and the client leaves after it.
                    await anyio.lowlevel.checkpoint()
                returned_first = runner.returned_at is not None and runner.returned_at < moment
                if workset.done:
                    if (workset.stopped_at or 0.0) > moment and not channel.answered_by(moment):
                        channel.missed(moment)  # the busy loop never told the app
                elif not (returned_first and app_left_work_behind()):
                    # The client left at `moment`, however late the loop gets to it; a no-op
                    # if the whole response had been sent by then.
                    channel.leave(planned=moment)
            while not (channel.left or workset.done or app_left_work_behind()):
                deadline = began + limit
                if trigger.kind == "client":
                    # A client that decides for itself waits as long as it likes (its own timeout),
                    # but once it has the whole response, the work gets `limit` to end.
                    complete = channel.response_complete_at
                    deadline = math.inf if complete is None else start + complete + limit
                if not await waker.wait_until(deadline):
                    not_disconnected = True
                    break
            if app_left_work_behind():
                leaked_from = runner.returned_at
                base = start + (leaked_from or 0.0)
            elif channel.left:
                base = start + (channel.disconnected_at or 0.0)
            # Phase 2: the work has `tolerance` from the disconnect (or from the app's return),
            # then we watch it up to `limit`.
            if not workset.done and not not_disconnected and not await _settle(
                    workset, clock, base + settings.tolerance):
                workset.locate_running()
                await _settle(workset, clock, base + limit)
            # Phase 3: still running at the limit (reached: _settle only gives up there): cancel,
            # and name what resists.
            if not workset.done:
                cancelled_at = now()
                if not_disconnected:
                    workset.locate_running()
                timeline.add(cancelled_at, "harness", "harness cancelled the app (watch limit reached)")
                runner.cancel_scope.cancel()
                hooks.cancel_stray_tasks(workset)
                workset.kill_processes()
                await _settle(workset, clock, clock() + CANCEL_GRACE)
                if not workset.done:
                    await _give_up(runner, workset, waker, hooks)
        finally:
            watch.flush()
            WATCHDOG.remove(watch)
            if not workset.done:  # cancelled from outside, or resisting: do not leave it running
                runner.cancel_scope.cancel()
                hooks.cancel_stray_tasks(workset)
                workset.kill_processes()
                if not workset.abandonment.requested:
                    with anyio.CancelScope(shield=True):  # bounded: the test's own cancellation waits
                        with anyio.move_on_after(CANCEL_GRACE):
                            await _until_returned(runner, waker)
                        await _give_up(runner, workset, waker, hooks)
            workset.reap_processes()
            if live is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_GRACE * 3):
                    await live.stop()
            scenario_clock.stop()  # delivers the last stretch the loop never slept
    for began_at, ended_at in scenario_clock.starved:
        timeline.add(began_at - start, "loop", f"event loop never slept for {ended_at - began_at:.2f} s: "
                                               "the virtual clock ran at the real rate")

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
        verdict=_verdict(channel, workset, settings, cancelled_at, not_disconnected,
                         runner.cancelled_from_outside, leaked_from),
        returned_at=runner.returned_at,
        app_error=runner.error,
        protocol_error=channel.protocol_error or (
            channel.unfinished_response(runner.returned_at) if runner.returned_normally else None),
        response_complete_at=channel.response_complete_at,
        route=_route(runner.scope),
        handler_matched=handler_matched(runner.scope),
        response_started_at=channel.response_started_at,
        chunks_thrown_away=channel.chunks_thrown_away,
        starved=tuple((began_at - start, ended_at - start) for began_at, ended_at in scenario_clock.starved),
        time_reads=tuple(f"{function} at {where}" for where, function in scenario_clock.time_reads.items()),
        blocks=tuple(blocks),
        receive_calls=channel.receive_calls,
        receives_after_disconnect=channel.receives_after_disconnect,
        sends_after_disconnect=channel.sends_after_disconnect,
        entry=entry,
    )


async def _settle(workset: WorkSet, clock: Callable[[], float], deadline: float) -> bool:
    """Wait until all the work has ended (True) or the loop's clock reaches ``deadline`` (False).

    'All ended' can be undone: a task started in the request's context after the rest had
    ended (asyncio's async-generator finalizer runs ``aclose()`` in a new task, after the
    app returned) revives the scenario. So every wake re-checks, and only the deadline
    itself ends the wait with work still running.
    """
    while not workset.done:
        if clock() >= deadline:
            return False
        with anyio.move_on_at(deadline):
            await workset.wait_done()
    return True


async def _until_returned(runner: _AppRunner, waker: _Waker) -> None:
    while runner.returned_at is None:
        await waker.wait_until(math.inf)


async def _give_up(runner: _AppRunner, workset: WorkSet, waker: _Waker, hooks: ModuleType) -> None:
    """Work went on after the cancellation: end the app call anyway, within a bounded grace.

    Waits for worker threads are lifted (the threads run on, named in the report) and the
    app's coroutine is closed at its next step (see _abandon), so neither the test's event
    loop nor run()'s loop thread is held by it. The verdict is already a failure.
    """
    workset.abandonment.abandon()
    for line in close_stray_tasks(workset.running()):  # asyncio tasks that swallow cancellation
        runner.timeline.add(workset.now(), "harness", line)
    if runner.returned_at is None and runner.call is not None:
        runner.call.abandon()
        hooks.poke(workset.works[0].task)  # a task parked on a future takes its next step now
    with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
        await _until_returned(runner, waker)


def _route(scope: Scope) -> str | None:
    """The route template the app's router matched, when it says (Starlette and FastAPI do)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return None
    return f"{scope.get('root_path') or ''}{path}"  # under a Mount, the prefix it matched


def _verdict(channel: Channel, workset: WorkSet, settings: Settings, cancelled_at: float | None,
             not_disconnected: bool, from_outside: bool, leaked_from: float | None) -> Verdict:
    if from_outside:
        return "cancelled-from-outside"
    if not_disconnected:
        return "not-disconnected"
    if leaked_from is not None:
        stopped = workset.stopped_at
        if cancelled_at is None and stopped is not None and stopped - leaked_from <= settings.tolerance:
            return "finished"
        return "leaked"
    if cancelled_at is not None:
        return "cancelled" if workset.done else "resisted"
    if channel.disconnected_at is None:
        return "finished"
    stopped = workset.stopped_at
    assert stopped is not None
    if stopped - channel.disconnected_at <= settings.tolerance:
        return "stopped"
    return "kept-running"
