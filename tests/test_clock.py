"""The virtual clock: unit tests on a hand-driven real clock, then on live asyncio and trio loops."""

from __future__ import annotations

import asyncio
import contextlib
import math
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import cast

import anyio
import anyio.to_thread
import pytest
import sniffio
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_disconnect._clock import virtual as _clock
from pytest_disconnect._clock.virtual import (
    STARVE_AFTER,
    Starvation,
    TrioClock,
    VirtualClock,
    asyncio_io_pending,
    install_asyncio,
    install_trio,
)

#: Generous wall-time bound for work that takes tens of virtual seconds.
INSTANT = 1.0


class Hand:
    """A real clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def never() -> bool:
    return False


def assert_spans(spans: list[Starvation], *expected: tuple[float, float]) -> None:
    assert len(spans) == len(expected), spans
    for span, (start, end) in zip(spans, expected, strict=True):
        assert span.start == start and math.isclose(span.end, end), spans


# Tier 1: VirtualClock on a hand-driven real clock -------------------------------------


def test_inactive_it_is_the_wrapped_clock() -> None:
    real = Hand()
    clock = VirtualClock(real)
    assert clock.now() == 1000.0
    real.t += 2.5
    assert clock.now() == 1002.5
    assert clock.sleep_time(3.0) == 3.0 and clock.now() == 1002.5  # no jump when no scenario is active


def test_active_it_stands_still_and_a_sleep_jumps_exactly_to_the_deadline() -> None:
    real = Hand()
    clock = VirtualClock(real)
    clock.activate(never)
    real.t += STARVE_AFTER / 2  # callbacks running: no virtual time passes
    deadline = clock.now() + 3.0
    assert clock.sleep_time(deadline - clock.now()) == 0.0
    assert clock.now() == deadline == 1003.0


@pytest.mark.parametrize("timeout", [None, 0.0, -1.0, math.inf])
def test_polls_and_endless_waits_are_not_jumped(timeout: float | None) -> None:
    clock = VirtualClock(Hand())
    clock.activate(never)
    assert clock.sleep_time(timeout) == timeout
    assert clock.now() == 1000.0


def test_real_work_holds_the_clock_at_the_real_rate() -> None:
    real, pending = Hand(), [True]
    clock = VirtualClock(real)
    clock.activate(lambda: pending[0])
    assert clock.sleep_time(10.0) == 10.0  # the loop really waits
    real.t += 0.25
    assert clock.now() == 1000.25
    pending[0] = False
    assert clock.sleep_time(9.75) == 0.0
    assert clock.now() == 1010.0


def test_a_jump_after_real_time_lands_on_the_deadline_the_loop_computed() -> None:
    real, pending = Hand(), [True]
    clock = VirtualClock(real)
    clock.activate(lambda: pending[0])
    clock.sleep_time(10.0)
    real.t += 0.25
    pending[0] = False
    timeout = 1010.0 - clock.now()  # what the loop computes, then calls select() a little later
    real.t += 0.001
    assert clock.sleep_time(timeout) == 0.0
    assert clock.now() == 1010.0


def test_a_loop_that_never_sleeps_gets_real_time_counted_from_its_last_sleep() -> None:
    real, spans = Hand(), list[Starvation]()
    clock = VirtualClock(real)
    clock.activate(never, on_starved=spans.append)
    clock.sleep_time(1.0)
    real.t += STARVE_AFTER / 2
    assert clock.now() == 1001.0  # still frozen
    real.t += STARVE_AFTER  # busy past the limit
    assert clock.now() == pytest.approx(1001.0 + 1.5 * STARVE_AFTER)  # counted from the sleep, not from now
    real.t += 0.5
    assert clock.now() == pytest.approx(1001.5 + 1.5 * STARVE_AFTER)
    assert spans == []  # reported when it ends
    clock.sleep_time(2.0)
    assert_spans(spans, (1001.0, 1001.5 + 1.5 * STARVE_AFTER))
    assert clock.now() == pytest.approx(1003.5 + 1.5 * STARVE_AFTER)  # frozen and jumping again
    real.t += STARVE_AFTER / 2
    assert clock.now() == pytest.approx(1003.5 + 1.5 * STARVE_AFTER)


def test_deactivate_returns_to_the_real_rate() -> None:
    real = Hand()
    clock = VirtualClock(real)
    deactivate = clock.activate(never)
    clock.sleep_time(5.0)
    deactivate()
    deactivate()  # idempotent
    real.t += 0.03125  # less than STARVE_AFTER: this is the real rate, not a starvation
    assert clock.now() == 1005.03125 and not clock.active
    assert clock.sleep_time(1.0) == 1.0


def test_deactivate_ends_an_open_span() -> None:
    real, spans = Hand(), list[Starvation]()
    clock = VirtualClock(real)
    deactivate = clock.activate(never, on_starved=spans.append)
    clock.sleep_time(5.0)
    real.t += 1.0
    deactivate()
    assert spans == [Starvation(1005.0, 1006.0)]
    real.t += 1.0
    assert clock.now() == 1007.0


def test_two_scenarios_share_the_clock() -> None:
    real, first_pending, spans = Hand(), [False], list[Starvation]()
    clock = VirtualClock(real)
    end_first = clock.activate(lambda: first_pending[0])
    clock.sleep_time(1.0)
    end_second = clock.activate(never, on_starved=spans.append)
    first_pending[0] = True
    assert clock.sleep_time(1.0) == 1.0  # either scenario's real work holds the clock
    first_pending[0] = False
    end_first()
    assert clock.sleep_time(1.0) == 0.0  # the second is still active
    real.t += 2 * STARVE_AFTER
    end_second()
    assert_spans(spans, (1002.0, 1002.0 + 2 * STARVE_AFTER))
    assert clock.sleep_time(1.0) == 1.0


def test_a_span_is_clipped_to_the_scenario_that_joined_it() -> None:
    real, spans = Hand(), list[Starvation]()
    clock = VirtualClock(real)
    clock.activate(never)
    real.t += 2 * STARVE_AFTER
    joined_at = clock.now()
    clock.activate(never, on_starved=spans.append)
    real.t += 1.0
    clock.sleep_time(1.0)
    assert_spans(spans, (joined_at, joined_at + 1.0))


operations = st.lists(st.one_of(
    st.tuples(st.just("advance"), st.floats(0, 0.2)),
    st.tuples(st.just("sleep"), st.one_of(st.none(), st.floats(-1, 5))),
    st.tuples(st.sampled_from(["read", "activate", "deactivate", "pending", "idle"]), st.none()),
), max_size=40)


@given(operations)
@example([("activate", None), ("advance", 0.125), ("sleep", 0.0625), ("read", None)])  # blocked past a deadline
def test_it_never_goes_backwards(ops: list[tuple[str, float | None]]) -> None:
    real, pending, ends, spans = Hand(), [False], list[Callable[[], None]](), list[Starvation]()
    clock = VirtualClock(real)
    last = clock.now()
    for op, value in ops:
        last = max([last, *(span.end for span in spans)])  # a reported span has happened
        if op == "advance":
            assert value is not None
            real.t += value
        elif op == "sleep":
            clock.sleep_time(value)
        elif op == "read":
            now = clock.now()
            assert now >= last
            last = now
        elif op == "activate":
            ends.append(clock.activate(lambda: pending[0], on_starved=spans.append))
        elif op == "deactivate" and ends:
            ends.pop()()
        else:
            pending[0] = op == "pending"
    assert clock.now() >= last


# Tier 2: live loops -------------------------------------------------------------------


def install() -> VirtualClock:
    if sniffio.current_async_library() == "trio":
        return install_trio()
    return install_asyncio(asyncio.get_running_loop())


@contextmanager
def wall_time_below(seconds: float) -> Iterator[None]:
    began = time.monotonic()
    yield
    assert time.monotonic() - began < seconds


@pytest.mark.anyio
async def test_a_long_sleep_is_instant_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # Exact however long a busy machine holds the process up between two of the loop's sleeps
    # (past STARVE_AFTER the clock would count that stretch at the real rate, by design).
    monkeypatch.setattr(_clock, "STARVE_AFTER", 60.0)
    clock = install()
    deactivate = clock.activate(never)
    start = anyio.current_time()
    ended: list[float] = []

    async def app() -> None:
        await anyio.sleep(3)
        ended.append(anyio.current_time())

    with wall_time_below(INSTANT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(app)
            await anyio.sleep_until(start + 0.5)
            disconnected_at = anyio.current_time()
    deactivate()
    assert disconnected_at - start == 0.5
    assert ended[0] - disconnected_at == 2.5


@pytest.mark.anyio
async def test_timeouts_fire_at_the_exact_virtual_moment() -> None:
    clock = install()
    deactivate = clock.activate(never)
    start = anyio.current_time()
    with wall_time_below(INSTANT), pytest.raises(TimeoutError):
        with anyio.fail_after(1.5):
            await anyio.sleep(60)
    assert anyio.current_time() - start == 1.5
    deactivate()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_asyncio_wait_for_fires_at_the_exact_virtual_moment() -> None:
    loop = asyncio.get_running_loop()
    install_asyncio(loop).activate(never)
    start = loop.time()
    with wall_time_below(INSTANT), pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(60), 1.5)
    assert loop.time() - start == 1.5


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_asyncio_timers_scheduled_before_install_fire_in_order_at_their_moment() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []
    late = loop.call_later(2.0, lambda: fired.append(("late", loop.time())))
    early = loop.call_later(0.3, lambda: fired.append(("early", loop.time())))
    install_asyncio(loop).activate(never)
    with wall_time_below(INSTANT):
        await asyncio.sleep(5)
    assert fired == [("early", early.when()), ("late", late.when())]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_deadlines_anyio_and_asyncio_keep_move_to_the_new_epoch_with_their_timers() -> None:
    """The clock restarts at 0: a cancel scope entered before keeps its wait, not its old deadline."""
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []

    async def anyio_waiter() -> None:
        with anyio.move_on_after(0.5):
            await anyio.sleep(60)
        fired.append(("anyio", anyio.current_time()))

    async def asyncio_waiter() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3) as timeout:
                await asyncio.sleep(60)
        fired.append(("asyncio", loop.time()))
        assert timeout.when() == pytest.approx(loop.time())

    tasks = [loop.create_task(anyio_waiter()), loop.create_task(asyncio_waiter())]
    await asyncio.sleep(0)  # both are waiting, their deadlines read from the old clock
    install_asyncio(loop).activate(never)
    with wall_time_below(INSTANT):
        await asyncio.gather(*tasks)
    assert [name for name, _ in fired] == ["asyncio", "anyio"]
    assert [at for _, at in fired] == [pytest.approx(0.3, abs=0.05), pytest.approx(0.5, abs=0.05)]


def test_trio_deadlines_set_before_install_fire_in_order_at_their_moment() -> None:
    import trio

    fired: list[tuple[str, float, float]] = []

    async def waiter(name: str, delay: float, task_status: trio.TaskStatus[None]) -> None:
        with trio.CancelScope(deadline=trio.current_time() + delay) as scope:
            task_status.started()
            await trio.sleep_forever()
        fired.append((name, trio.current_time(), scope.deadline))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(waiter, "late", 2.0)
            await nursery.start(waiter, "early", 0.3)
            install_trio().activate(never)
        assert [name for name, _, _ in fired] == ["early", "late"]
        assert all(at == deadline for _, at, deadline in fired)

    with wall_time_below(INSTANT):
        trio.run(main)


# Real clocks: a MockClock would be detached by install_trio anyway; this is the common case.
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_a_worker_thread_holds_the_clock_until_it_is_done() -> None:
    clock = install()
    in_thread = [True]  # cleared on the loop, when the loop has the result: no race with a jump
    deactivate = clock.activate(lambda: in_thread[0])
    start = anyio.current_time()
    order: list[tuple[str, float]] = []

    async def worker() -> None:
        try:
            await anyio.to_thread.run_sync(time.sleep, 0.2)
        finally:
            in_thread[0] = False
        order.append(("thread", anyio.current_time() - start))

    async def sleeper() -> None:
        await anyio.sleep(10)
        order.append(("sleep", anyio.current_time() - start))

    with wall_time_below(5.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker)
            tg.start_soon(sleeper)
    deactivate()
    assert [name for name, _ in order] == ["thread", "sleep"]
    assert order[0][1] >= 0.15  # the thread's 0.2 s counted at the real rate (less the hand-offs)
    assert order[1][1] == pytest.approx(10.0, abs=1e-6)


@pytest.mark.anyio
async def test_a_busy_loop_starves_into_real_time_and_is_reported() -> None:
    clock = install()
    spans: list[Starvation] = []
    deactivate = clock.activate(never, on_starved=spans.append)
    start, give_up = anyio.current_time(), time.monotonic() + 5.0
    with anyio.move_on_after(0.3) as scope:
        while time.monotonic() < give_up:  # like polling request.is_disconnected(); frozen, it spins forever
            await anyio.sleep(0)
    assert scope.cancelled_caught
    deactivate()
    assert anyio.current_time() - start >= 0.3
    assert len(spans) == 1 and spans[0].end - spans[0].start >= 0.3 - STARVE_AFTER


@pytest.mark.anyio
async def test_a_blocked_loop_is_counted_retroactively() -> None:
    clock = install()
    spans: list[Starvation] = []
    deactivate = clock.activate(never, on_starved=spans.append)
    before = anyio.current_time()
    time.sleep(0.2)  # the workload under test: an async handler blocking its loop
    assert anyio.current_time() - before >= 0.2
    await anyio.sleep(1)
    deactivate()
    assert len(spans) == 1 and spans[0].end - spans[0].start >= 0.2


@pytest.mark.anyio
async def test_after_deactivate_sleeps_take_real_time() -> None:
    clock = install()
    clock.activate(never)()
    before_real, before = time.monotonic(), anyio.current_time()
    await anyio.sleep(0.05)
    assert time.monotonic() - before_real >= 0.04  # a jump would take microseconds
    assert anyio.current_time() - before >= 0.05


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_two_scenarios_at_once_do_not_jump_past_each_others_threads() -> None:
    clock = install()
    in_thread = [True]
    end_threaded = clock.activate(lambda: in_thread[0])
    end_sleeping = clock.activate(never)
    order: list[str] = []

    async def threaded() -> None:
        try:
            await anyio.to_thread.run_sync(time.sleep, 0.1)
        finally:
            in_thread[0] = False
        order.append("thread")
        end_threaded()

    async def sleeping() -> None:
        await anyio.sleep(30)
        order.append("sleep")

    with wall_time_below(5.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(threaded)
            tg.start_soon(sleeping)
    assert clock.active
    end_sleeping()
    assert order == ["thread", "sleep"] and not clock.active


# asyncio specifics --------------------------------------------------------------------


def test_refuses_a_loop_without_a_selector() -> None:
    class ProactorLike:  # uvloop and the Windows proactor have no _selector to wrap
        pass

    with pytest.raises(RuntimeError, match=r"needs asyncio's selector event loop, not .*ProactorLike"):
        install_asyncio(cast(asyncio.AbstractEventLoop, ProactorLike()))


def test_install_asyncio_is_idempotent_and_leaves_the_selector_working() -> None:
    loop = asyncio.new_event_loop()
    try:
        clock = install_asyncio(loop)
        assert install_asyncio(loop) is clock
        assert loop.time == clock.now
        assert loop.run_until_complete(asyncio.sleep(0, "done")) == "done"
    finally:
        loop.close()


def test_asyncio_io_pending_ignores_only_the_self_pipe() -> None:
    loop = asyncio.new_event_loop()
    left, right = socket.socketpair()
    try:
        install_asyncio(loop)
        assert not asyncio_io_pending(loop)
        loop.add_reader(left.fileno(), lambda: None)
        assert asyncio_io_pending(loop)
        loop.remove_reader(left.fileno())
        assert not asyncio_io_pending(loop)
    finally:
        left.close()
        right.close()
        loop.close()
    assert not asyncio_io_pending(loop)  # closed


def test_the_wrapped_selector_delegates_registration() -> None:
    inner = selectors.DefaultSelector()
    wrapped = _clock._ClockedSelector(inner, VirtualClock(Hand()))
    left, right = socket.socketpair()
    try:
        key = wrapped.register(left, selectors.EVENT_READ, "data")
        assert wrapped.get_key(left) == key == inner.get_key(left)
        assert wrapped.modify(left, selectors.EVENT_WRITE, "data").events == selectors.EVENT_WRITE
        assert [key.fileobj for key in wrapped.get_map().values()] == [left]
        assert [key.data for key, _ in wrapped.select(0)] == ["data"]  # a socket is writable
        wrapped.unregister(left)
        assert not inner.get_map()
    finally:
        wrapped.close()
        left.close()
        right.close()


# trio specifics -----------------------------------------------------------------------


def test_trio_run_accepts_a_trio_clock() -> None:
    import trio

    clock = TrioClock()
    assert isinstance(clock, trio.abc.Clock)

    async def main() -> float:
        assert install_trio() is clock.virtual
        clock.virtual.activate(never)
        start = trio.current_time()
        await trio.sleep(100)
        return trio.current_time() - start

    with wall_time_below(INSTANT):
        assert trio.run(main, clock=clock) == 100.0


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_install_trio_is_idempotent_and_time_restarts_from_zero() -> None:
    import trio

    clock = install_trio()
    assert install_trio() is clock
    assert 0.0 <= trio.current_time() < INSTANT


def test_install_trio_over_a_mock_clock_takes_over_its_autojump() -> None:
    import trio
    import trio.testing

    mock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> None:
        start = trio.current_time()
        install_trio()
        # A thread with nothing pending declared: the old autojump would crash on our clock.
        await trio.to_thread.run_sync(time.sleep, 0.01)
        assert trio.current_time() - start >= 0.01

    trio.run(main, clock=mock)


def test_install_trio_needs_a_run() -> None:
    with pytest.raises(RuntimeError):
        install_trio()


@pytest.mark.parametrize("context", [
    SimpleNamespace(),  # GLOBAL_RUN_CONTEXT.runner moved
    SimpleNamespace(runner=SimpleNamespace(clock=None, clock_autojump_threshold=math.inf)),  # clock unused
])
def test_install_trio_refuses_unknown_internals(monkeypatch: pytest.MonkeyPatch, context: SimpleNamespace) -> None:
    import trio
    import trio._core._run

    async def main() -> None:
        with monkeypatch.context() as patch:  # no checkpoint inside: trio itself never sees it
            patch.setattr(trio._core._run, "GLOBAL_RUN_CONTEXT", context)
            with pytest.raises(RuntimeError, match=r"cannot be installed on this trio .*runner\.clock"):
                install_trio()

    trio.run(main)
