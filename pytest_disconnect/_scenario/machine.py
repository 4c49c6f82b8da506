"""One scenario as a state machine: the client leaves, the app returns, the work ends, limits pass.

Callbacks move its state (the channel says the client left or the response is complete, the
app call says it ended, the work set says all work ended); the phases wait for those moves:

1. until the client leaves (its planned moment, an event on the channel, or its own decision),
   the work ends, or the app returns leaving work behind;
2. the work gets ``tolerance`` from then, and is watched up to the watch limit;
3. still running at the limit: the harness cancels it and names what resists.

The app learns of the disconnect only through receive()/send(), as behind a real server. The
harness never cancels the app before the watch limit (>= tolerance) has passed; when it does,
the verdict fails, so a handler is never passed because the harness stopped it.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio

from .._asgi.channel import ChannelOptions, ClientSide
from .._asgi.request import Request
from .._asgi.servers import PROFILES, ServerProfile
from .._asgi.trigger import Trigger
from .._asgi.wrong_route import handler_matched
from .._backends import Backend
from .._clock.scenario_clock import ScenarioClock
from .._result import Block, DisconnectResult, Entry, TimelineRecorder, scenario_result
from .._settings import Settings
from .._types import ASGIApp
from .._watch import processes
from .._watch.close_tasks import close_stray_tasks
from .._watch.watchdog import WATCHDOG, Watch
from .._watch.workset import WorkSet
from .app_call import AppCall
from .inline import Referee, call_inline
from .outcome import route, verdict
from .serving import Serving
from .waker import waker_for
from .watching import watching

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


@dataclass(slots=True)
class Plan:
    """What one scenario is asked to do (drive()'s arguments)."""

    app: ASGIApp
    request: Request
    settings: Settings
    trigger: Trigger
    allow: frozenset[str]
    heavy: tuple[str, ...]
    entry: Entry
    #: The lifespan's state, copied into the request's scope.
    state: Mapping[str, Any] | None
    #: A client that reads the response as it comes (the transport's caller), or None.
    client: ClientSide | None


@dataclass(frozen=True, slots=True)
class _Fixed:
    """What a scenario takes from its settings and trigger alone: the same for a loop of scenarios."""

    settings: Settings
    trigger: Trigger
    profile: ServerProfile
    allow: frozenset[str]
    stall_after: float
    interrupt_after: float


_last_fixed: list[_Fixed] = []


def _fixed(settings: Settings, trigger: Trigger) -> _Fixed:
    """The last scenario's, when it had the same settings and trigger objects (a loop reuses them)."""
    if _last_fixed:
        last = _last_fixed[0]
        if last.settings is settings and last.trigger is trigger:
            return last
    fixed = _Fixed(settings, trigger, PROFILES[settings.server], frozenset(settings.allow),
                   settings.watch_limit, interrupt_after(settings, trigger))
    _last_fixed[:] = [fixed]
    return fixed


class Scenario:
    """One request's life from the app's start to the verdict: begin(), then conclude(), once."""

    # The state the phases move through, as it starts (class defaults: set when it changes).
    cancelled_at: float | None = None
    not_disconnected = False
    leaked_from: float | None = None  # the app returned first, leaving work behind
    #: The app call, when the in-process server has it run inline (see inline.py), and its referee.
    inline: tuple[Callable[[], Awaitable[None]], str] | None = None
    referee: Referee | None = None

    def __init__(self, plan: Plan, loop: Backend, clock: ScenarioClock, serving: Serving) -> None:
        self.plan, self.settings, self.loop = plan, plan.settings, loop
        self.clock, self.serving = clock, serving
        self.read = clock.read
        self.start = clock.read()
        self.now = self._now_virtual if clock.kind == "virtual" else self._now_real
        self.timeline = TimelineRecorder()
        self.trigger = plan.trigger
        fixed = _fixed(plan.settings, plan.trigger)
        self.waker = waker_for(loop.name)
        # The client leaving, the response complete, the app returning, all work ending: each
        # only wakes the phases, which look at the state themselves.
        wake = self.waker.set
        self.workset = WorkSet(self.now, self.timeline, loop.new_event, loop.post,
                               plan.allow | fixed.allow if fixed.allow else plan.allow, on_all_done=wake,
                               response_complete_at=self._response_complete_at,
                               thread_now=clock.thread_now(self.start),
                               notice_time_read=clock.time_read_notice(self.start, self.timeline))
        clock.watch(self.workset)
        client = plan.client
        self.channel = serving.channel(plan.request, ChannelOptions(  # by position: once per scenario
            fixed.profile, self.trigger, self.now, self.timeline, wake, loop.new_event, fixed.stall_after,
            client.on_change if client is not None else None, client.gives_up_at if client is not None else None))
        self.call = AppCall(plan.app, self.channel, self.timeline, self.workset,
                            on_end=wake if client is None else self.app_returned,
                            cancel_scope=loop.new_cancel_scope())
        self._watching = watching(loop, self.workset, plan.heavy)
        self.blocks: list[Block] = []
        self.watch = Watch(loop.post, self.workset.real_now, self._blocked, partial(processes.poll, self.workset),
                           interrupt_at=self.workset.real_now() + fixed.interrupt_after)

    # --- clocks ------------------------------------------------------------------------

    def _now_real(self) -> float:
        return self.read() - self.start

    def _now_virtual(self) -> float:
        return round(self.read() - self.start, 9)  # 0.1 s from 12345.678 is 0.1000000000003638

    # --- callbacks that move the state ---------------------------------------------------

    def app_returned(self) -> None:
        """With a client reading the response as it comes: it sees the connection end too."""
        self.waker.set()
        if self.plan.client is not None:
            self.plan.client.on_change()

    # --- what the work set and the watchdog ask ---------------------------------------------

    def _response_complete_at(self) -> float | None:
        return self.channel.response_complete_at

    def _blocked(self, block: Block) -> None:
        self.blocks.append(block)
        if block.where:
            self.timeline.add(block.start, "loop", "event loop blocked for {:.2f} s at {}", block.end - block.start,
                              block.where)
        else:
            self.timeline.add(block.start, "loop", "event loop blocked for {:.2f} s", block.end - block.start)

    def _left_work_behind(self) -> bool:
        return self.call.returned_at is not None and not self.channel.left and not self.workset.done

    # --- the phases ------------------------------------------------------------------------

    async def begin(self) -> None:
        """The first half: the watch is on and the app started (in a task of its own for a client
        that reads the response as it comes, else made ready for conclude() to call inline). The
        transport's caller runs the second half, conclude(), when it is done with the response,
        in whichever task is then running: no task waits for the phases."""
        self._watching.__enter__()
        WATCHDOG.add(self.watch)
        try:
            await self.serving.begin(self.call, self.plan.request, self.plan.state, self.workset, self._spawn)
        except BaseException:
            try:
                await self._wind_down()
            finally:
                self._watching.__exit__(None, None, None)
            raise

    async def conclude(self) -> DisconnectResult:
        """The second half: the app call when it runs inline, the phases, from wherever the client is
        now (their deadlines count from the scenario's start, however late this runs), then the verdict."""
        try:
            try:
                if self.inline is not None:
                    await self._call_inline(*self.inline)
                else:  # the app runs in a task of its own (or in a live server's)
                    await self._phases()
            finally:
                await self._wind_down()
        finally:
            self._watching.__exit__(None, None, None)
        return self._result()

    def _spawn(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        # A task of its own when the caller reads the response while the app runs, or when
        # allow=... may let the app call itself outlive the request (a BackgroundTask's
        # function): inline, the verdict would wait for the app call to end.
        if self.plan.client is not None or self.workset.allow.names:
            self.loop.spawn(self.workset, run, name)
        else:
            self.inline = (run, name)

    async def _call_inline(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        """The app call in this task; the phases in a referee once the app suspends, else after it."""
        referee = self.referee = Referee(self.loop, self._phases, name, CANCEL_GRACE)
        await call_inline(self.loop, self.workset, self.call, run, name, referee)
        if referee.started:
            await referee.finish()
        else:
            await self._phases()

    async def _phases(self) -> None:
        if self.workset.done and self.trigger.kind != "time":
            return  # all work ended and no moment to keep: nothing to wait for (most scenarios)
        began = await self._until_the_moment()
        await self._until_client_leaves(began)
        await self._tolerate(self._tolerance_base())
        if not self.workset.done:
            await self._cancel_at_limit()

    async def _until_the_moment(self) -> float:
        """Phase 1, a timed client: it leaves at its moment. Returns when the watch limit counts from."""
        channel, trigger = self.channel, self.trigger
        if channel.left or trigger.kind != "time":
            return self.start
        assert trigger.seconds is not None
        moment = trigger.seconds
        if not await self.waker.wait_until(self.start + moment):
            # The moment came. What the app had due at this same instant (a tick of its own
            # timer) runs first, one loop turn: a tie is decided the same way on every run and
            # machine, and the client leaves after it.
            await anyio.lowlevel.checkpoint()
        returned = self.call.returned_at
        if self.workset.done:
            if (self.workset.stopped_at or 0.0) > moment and not channel.answered_by(moment):
                channel.missed(moment)  # the busy loop never told the app
        elif not (returned is not None and returned < moment and self._left_work_behind()):
            # The client left at `moment`, however late the loop gets to it; a no-op if the
            # whole response had been sent by then.
            channel.leave(planned=moment)
        return self.start + moment

    async def _until_client_leaves(self, began: float) -> None:
        """Phase 1: until the client leaves, the work ends, or the app returns leaving work behind."""
        channel, limit = self.channel, self.settings.watch_limit
        while not (channel.left or self.workset.done or self._left_work_behind()):
            deadline = began + limit
            if self.trigger.kind == "client":
                # A client that decides for itself waits as long as it likes (its own timeout),
                # but once it has the whole response, the work gets `limit` to end.
                complete = channel.response_complete_at
                deadline = math.inf if complete is None else self.start + complete + limit
            if not await self.waker.wait_until(deadline):
                self.not_disconnected = True
                return

    def _tolerance_base(self) -> float:
        """What the tolerance counts from: the app's return (leaving work behind), or the disconnect."""
        if self._left_work_behind():
            self.leaked_from = self.call.returned_at
            return self.start + (self.leaked_from or 0.0)
        if self.channel.left:
            return self.start + (self.channel.disconnected_at or 0.0)
        return self.start

    async def _tolerate(self, base: float) -> None:
        """Phase 2: the work has `tolerance` from ``base``, then is watched up to the limit."""
        if self.workset.done or self.not_disconnected:
            return
        if not await self._settle(base + self.settings.tolerance):
            self.workset.locate_running()
            await self._settle(base + self.settings.watch_limit)

    async def _cancel_at_limit(self) -> None:
        """Phase 3: still running at the limit (_settle only gives up there): cancel, name what resists."""
        self.cancelled_at = self.now()
        if self.not_disconnected:
            self.workset.locate_running()
        self.timeline.add(self.cancelled_at, "harness", "harness cancelled the app (watch limit reached)")
        self._cancel_all()
        await self._settle(self.read() + CANCEL_GRACE)
        if not self.workset.done:
            await self._give_up()

    def _cancel_all(self) -> None:
        self.call.cancel_scope.cancel()
        self.loop.cancel_stray_tasks(self.workset)
        processes.kill_running(self.workset)

    async def _wind_down(self) -> None:
        """Whatever happened: no work left running, no child unreaped, the server told."""
        if self.referee is not None and self.referee.started:
            await self.referee.stop()  # from here on, only this task waits on the waker
        self.watch.flush()
        WATCHDOG.remove(self.watch)
        if not self.workset.done:  # cancelled from outside, or resisting: do not leave it running
            self._cancel_all()
            if not self.workset.abandonment.requested:
                with anyio.CancelScope(shield=True):  # bounded: the test's own cancellation waits
                    with anyio.move_on_after(CANCEL_GRACE):
                        await self._until_returned()
                    await self._give_up()
        processes.reap_all(self.workset)
        if self.serving.has_hooks:
            await self.serving.finish()
        self.clock.stop()  # delivers the last stretch the loop never slept

    async def _settle(self, deadline: float) -> bool:
        """Wait until all the work has ended (True) or the loop's clock reaches ``deadline`` (False).

        'All ended' can be undone: a task started in the request's context after the rest had
        ended (asyncio's async-generator finalizer runs ``aclose()`` in a new task, after the
        app returned) revives the scenario. So every wake re-checks, and only the deadline
        itself ends the wait with work still running.
        """
        workset = self.workset
        while not workset.done:
            if self.read() >= deadline:
                return False
            await self.waker.wait_until(deadline)  # the work set wakes it when all work ended
        return True

    async def _until_returned(self) -> None:
        while self.call.returned_at is None:
            await self.waker.wait_until(math.inf)

    async def _give_up(self) -> None:
        """Work went on after the cancellation: end the app call anyway, within a bounded grace.

        Waits for worker threads are lifted (the threads run on, named in the report) and the
        app's coroutine is closed at its next step (see _watch/abandon.py), so neither the test's event
        loop nor run()'s loop thread is held by it. The verdict is already a failure.
        """
        workset, call = self.workset, self.call
        workset.abandonment.abandon()
        for line in close_stray_tasks(workset.running()):  # asyncio tasks that swallow cancellation
            self.timeline.add(workset.now(), "harness", line)
        if call.returned_at is None and call.call is not None:
            call.call.abandon()
            self.loop.poke(workset.works[0].task)  # a task parked on a future takes its next step now
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            await self._until_returned()

    # --- the result --------------------------------------------------------------------------

    def _result(self) -> DisconnectResult:
        start, channel, workset, call = self.start, self.channel, self.workset, self.call
        starved = tuple([(began - start, ended - start) for began, ended in self.clock.starved])
        for began, ended in starved:
            self.timeline.add(began, "loop", "event loop never slept for {:.2f} s: the virtual clock ran at "
                                             "the real rate", ended - began)
        request, settings, returned_at = self.plan.request, self.settings, call.returned_at
        time_reads = self.clock.time_reads
        # By position, in the fields' order (see scenario_result: a keyword call cost more than the rest).
        return scenario_result(
            request.method, request.target.split(" ", 1)[1], settings,
            channel.disconnected_at, channel.delivered_at, channel.first_seen_at,
            workset.stopped_at if self.cancelled_at is None else None, self.cancelled_at,  # stopped, cancelled
            channel.status, channel.headers, b"".join(channel.body_parts),
            self.timeline.freeze(), tuple([work.freeze() for work in workset.works]),
            verdict(channel, workset, settings, self.cancelled_at, self.not_disconnected,
                    call.cancelled_from_outside, self.leaked_from),
            call.error, returned_at,  # app_error, returned_at
            channel.protocol_error or (
                channel.unfinished_response(returned_at) if call.returned_normally else None),
            channel.response_complete_at, tuple(self.blocks),
            channel.receive_calls, channel.receives_after_disconnect, channel.sends_after_disconnect,
            channel.response_started_at, channel.chunks_thrown_away,
            route(call.scope), handler_matched(call.scope), starved,
            tuple(f"{function} at {where}" for where, function in time_reads.items()) if time_reads else (),
            self.plan.entry,
        )

    def release(self) -> None:
        """After the result, in a scenario that ended clean (the app returned normally, every piece
        of work ended): let go of the parts, so the scenario is freed by reference counting, not
        left to the cyclic GC (its parts hold its bound methods). A scenario with work left keeps
        everything: freeing a suspended coroutine would move its finalisation.

        Only the parts that hold its bound methods are dropped: a late callback (the client
        leaving after the end wakes the waker) still finds what it uses.
        """
        workset = self.workset
        if not (self.call.returned_normally and self.cancelled_at is None and workset.all_ended()):
            return
        workset.release()
        drop = self.__dict__.pop
        for name in _HOLD_BOUND_METHODS:
            drop(name, None)


#: The scenario's parts that hold its bound methods (and ``now``, one itself): the cycles.
_HOLD_BOUND_METHODS = ("workset", "channel", "call", "watch", "now", "_watching", "inline", "referee")
