"""The virtual clock: sleeps cost no wall time, latencies are exact, and what it cannot reach runs in real time."""

from __future__ import annotations

import inspect
import time
from typing import Literal

import anyio
import anyio.to_thread
import httpx
import pytest

from pytest_disconnect import Disconnect, DisconnectTransport, HandlerKeptRunning
from pytest_disconnect._types import ASGIApp, Receive, Scope, Send

from .apps import (
    crunch,
    echo,
    ignores_disconnect,
    instant,
    leaks_a_task,
    starlette_app,
    starlette_behind_middleware,
    thread_outlives_task,
    thread_stops_cooperatively,
    well_behaved,
)

Backend = Literal["asyncio", "trio"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")
#: Generous: the point is "not 3 s", not a timing figure (benchmarks measure that).
QUICK_WALL = 1.0


async def three_seconds_of_work(scope: Scope, receive: Receive, send: Send) -> None:
    """The sample app's /no-context: 3 s of work, no disconnect handling."""
    await anyio.sleep(3)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


async def reads_the_real_clock(scope: Scope, receive: Receive, send: Send) -> None:
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        await anyio.sleep(0.05)


async def busy_poller(scope: Scope, receive: Receive, send: Send) -> None:
    """Spins on receive() until the client leaves: the loop never sleeps."""
    with anyio.CancelScope() as scope_:
        while True:
            with anyio.CancelScope() as probe:
                probe.cancel()
                message = await receive()  # returns at once after the disconnect, as is_disconnected() sees
            if message["type"] == "http.disconnect":
                scope_.cancel()
            await anyio.sleep(0)


async def thread_for_real(scope: Scope, receive: Receive, send: Send) -> None:
    """0.3 s of real work in a thread, and a 10 s sleep beside it that must not end first."""
    async with anyio.create_task_group() as group:
        group.start_soon(anyio.to_thread.run_sync, crunch, 0.3)
        await anyio.sleep(0.1)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_seconds_of_work_take_no_wall_time_and_give_exact_numbers(
        disconnect: Disconnect, backend: Backend) -> None:
    for _ in range(3):  # the same numbers every run
        started = time.perf_counter()
        result = disconnect.run(three_seconds_of_work, "GET", "/no-context", after=0.5, clock="virtual",
                                backend=backend, check=False)
        assert time.perf_counter() - started < QUICK_WALL
        assert (result.verdict, result.disconnected_at, result.latency) == ("kept-running", 0.5, 2.5)
        assert result.clock == "virtual"


@pytest.mark.anyio
async def test_arun_on_the_tests_own_loop(disconnect: Disconnect) -> None:
    started = time.perf_counter()
    with pytest.raises(HandlerKeptRunning) as caught:
        await disconnect.arun(three_seconds_of_work, "GET", "/", after=0.5, clock="virtual")
    assert time.perf_counter() - started < QUICK_WALL
    assert caught.value.result.latency == 2.5
    assert str(caught.value).startswith(
        "GET / kept running 2.50 s after http.disconnect (tolerance 1.00 s) [virtual clock]")


CASES: list[tuple[ASGIApp, str]] = [
    (well_behaved, "/"), (ignores_disconnect, "/"), (instant, "/"), (echo, "/"), (leaks_a_task, "/"),
    (thread_outlives_task, "/"), (thread_stops_cooperatively, "/"), (starlette_app, "/poll"),
    (starlette_app, "/stream"), (starlette_behind_middleware, "/poll"), (thread_for_real, "/"),
]


@pytest.mark.parametrize(("app", "path"), CASES,
                         ids=[f"{getattr(app, '__name__', type(app).__name__)}{path}" for app, path in CASES])
def test_the_virtual_clock_reaches_the_real_clocks_verdict(disconnect: Disconnect, app: ASGIApp,
                                                           path: str) -> None:
    verdicts = {clock: disconnect.run(app, "GET", path, after=0.1, tolerance=0.5, patience=1.5,
                                      clock=clock, check=False).verdict
                for clock in ("real", "virtual")}
    assert verdicts["virtual"] == verdicts["real"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_thread_runs_in_real_time_and_the_clock_waits_for_it(disconnect: Disconnect, backend: Backend) -> None:
    result = disconnect.run(thread_for_real, "GET", "/", after=1.0, clock="virtual", backend=backend,
                            check=False)
    [thread] = [record for record in result.work if record.kind == "thread"]
    assert result.verdict == "finished"  # the app answered at +0.3 s, before the client left
    assert thread.ended_at is not None and 0.3 <= thread.ended_at < 1.0
    assert result.returned_at is not None and result.returned_at >= thread.ended_at


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_busy_poller_starves_the_clock_which_then_runs_at_the_real_rate(
        disconnect: Disconnect, backend: Backend) -> None:
    started = time.perf_counter()
    result = disconnect.run(busy_poller, "GET", "/", after=0.3, clock="virtual", backend=backend,
                            check=False)
    assert time.perf_counter() - started < 10  # bounded: it never hangs
    assert result.verdict == "stopped"
    assert result.starved and result.starved[0][1] - result.starved[0][0] >= 0.25
    assert "the virtual clock ran at the real rate" in " ".join(result.timeline.texts())


@pytest.mark.parametrize("backend", BACKENDS)
def test_reading_the_real_clock_is_reported(disconnect: Disconnect, backend: Backend) -> None:
    result = disconnect.run(reads_the_real_clock, "GET", "/", after=0.1, clock="virtual", backend=backend,
                            check=False)
    first = inspect.getsourcelines(reads_the_real_clock)[1] + 1
    assert result.time_reads == (
        f"time.monotonic() at tests/test_virtual_time.py:{first} in reads_the_real_clock "
        "-> deadline = time.monotonic() + 0.3",
        f"time.monotonic() at tests/test_virtual_time.py:{first + 1} in reads_the_real_clock "
        "-> while time.monotonic() < deadline:",
    )
    # On the real clock nobody is watching: the reads are only wrong on a clock that jumps.
    assert disconnect.run(reads_the_real_clock, "GET", "/", after=0.1, check=False).time_reads == ()


@pytest.mark.anyio
async def test_a_client_timeout_through_the_transport_runs_on_the_virtual_clock() -> None:
    transport = DisconnectTransport(three_seconds_of_work, clock="virtual")
    started = time.perf_counter()
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(HandlerKeptRunning) as caught:
            await client.get("/", timeout=0.5)
    assert time.perf_counter() - started < QUICK_WALL
    assert (caught.value.result.disconnected_at, caught.value.result.latency) == (0.5, 2.5)
