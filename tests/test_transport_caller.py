"""DisconnectTransport drives each request from the caller's task: the app's task is the only one
it starts for a plain request and a response whole by its head is judged at once; a response still
coming keeps its phases beside the caller (a planned client leaves at its moment while the caller
waits for the next part, work is cancelled at the limit however late the caller reads)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import anyio
import httpx
import pytest

from pytest_disconnect import ClientLeft, DisconnectTransport
from pytest_disconnect._types import Receive, Scope, Send

from .apps import instant

pytestmark = pytest.mark.anyio


def client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def count_tasks(backend: str) -> list[str]:
    """Names of the tasks started on the running loop from now on."""
    started: list[str] = []
    if backend == "trio":
        import trio

        class Counter(trio.abc.Instrument):
            def task_spawned(self, task: trio.lowlevel.Task) -> None:
                started.append(task.name)

        trio.lowlevel.add_instrument(Counter())
        return started
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        started.append(getattr(coro, "__qualname__", repr(coro)))
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)  # type: ignore[arg-type]  # before the first request: the plugin's own factory chains to it
    return started


async def test_a_plain_request_starts_only_the_apps_task(anyio_backend_name: str) -> None:
    started = count_tasks(anyio_backend_name)
    async with client(DisconnectTransport(instant)) as ours:
        for _ in range(3):
            assert (await ours.get("/")).text == "hello"
    assert len(started) == 3, started  # no client task beside each app call


async def test_a_response_whole_by_its_head_is_judged_before_it_is_read() -> None:
    transport = DisconnectTransport(instant)
    async with client(transport) as ours:
        response = await ours.send(ours.build_request("GET", "/"), stream=True)
        assert [result.verdict for result in transport.results] == ["finished"]
        assert await response.aread() == b"hello"
        await response.aclose()
    assert len(transport.results) == 1


async def _part_then_listens(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends the head and a first part, then waits for the client to leave."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


async def test_a_planned_leaving_reaches_a_caller_waiting_for_the_next_part() -> None:
    transport = DisconnectTransport(_part_then_listens, after=0.1, tolerance=0.05, patience=0.2)
    async with client(transport) as ours, ours.stream("GET", "/") as response:
        parts = response.aiter_raw()
        assert await parts.__anext__() == b"first"
        with anyio.fail_after(5), pytest.raises(ClientLeft) as caught:  # nobody left at the moment: a hang
            await parts.__anext__()
    assert caught.value.result.disconnected_at == pytest.approx(0.1, abs=0.05)
    assert caught.value.result.verdict == "stopped"


async def _answers_then_works_on(scope: Scope, receive: Receive, send: Send) -> None:
    """A streamed response, complete after a moment; then work that never ends."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    await anyio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"last"})
    await anyio.sleep(100)


async def test_work_after_a_streamed_response_is_cancelled_at_the_limit_however_late_it_is_read() -> None:
    transport = DisconnectTransport(_answers_then_works_on, tolerance=0.05, patience=0.2, check=False)
    async with client(transport) as ours, ours.stream("GET", "/") as response:
        await anyio.sleep(1)  # the caller holds the response, unread, well past the limit
        assert await response.aread() == b"firstlast"
    [result] = transport.results
    assert result.response_complete_at is not None and result.cancelled_at is not None
    # Cancelled by the phases beside the caller at the limit, not when the caller came back at 1 s.
    assert result.cancelled_at - result.response_complete_at < 0.2 + 0.5


async def test_a_plain_request_leaves_no_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request's exchange, channel and scenario are freed by reference counting (the cyclic GC
    is off while they are made), though the test never yields to the loop between requests: weak
    references to them are dead at once. (On Python 3.12+ the app's task starts eagerly and ends in
    its first step; a done callback of its, queued for a loop turn that never came, held every
    request's scenario until the cyclic GC, a third of a request's time, ran.)"""
    import gc
    import weakref

    from pytest_disconnect._fronts import transport as transport_module
    from pytest_disconnect._scenario.machine import Scenario

    made: list[weakref.ref[object]] = []
    scenarios: list[weakref.ref[Scenario]] = []
    original, release = transport_module._Exchange.open, Scenario.release

    async def open_and_note(self: Any) -> Any:
        try:
            return await original(self)
        finally:
            made.extend((weakref.ref(self), weakref.ref(self.channel)))

    def release_and_note(self: Scenario) -> None:
        scenarios.append(weakref.ref(self))
        release(self)

    monkeypatch.setattr(transport_module._Exchange, "open", open_and_note)
    monkeypatch.setattr(Scenario, "release", release_and_note)
    transport = DisconnectTransport(instant)
    async with client(transport) as ours:
        await ours.get("/")  # the loop's hooks, installed once
        made.clear()
        scenarios.clear()
        gc.disable()
        try:
            for _ in range(10):
                await ours.get("/")
            alive = [ref() for ref in made if ref() is not None]
            # A scenario may wait for a loop turn that has not come yet: the last one's (its task's
            # done callback, where the task is not started eagerly) and one the watchdog thread
            # posted a late heartbeat for. Never one a request, as the piled-up callbacks held.
            scenarios_alive = [ref() for ref in scenarios if ref() is not None]
        finally:
            gc.enable()
    if any(result.blocks for result in transport.results):
        pytest.skip("a busy machine blocked the loop: a scenario with a blocked loop keeps a cycle")
    assert len(made) == 20 and alive == []
    assert len(scenarios) == 10 and len(scenarios_alive) <= 2


async def test_ctrl_c_reaches_the_app_in_its_own_task(anyio_backend_name: str) -> None:
    """The app's task is a trio system task, which shields KeyboardInterrupt by default: the app must
    stay interruptible, as in a test's own task (a busy handler then takes Ctrl-C), and what it raises
    reaches the caller. asyncio delivers Ctrl-C to the main task: nothing to turn off there."""
    seen: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if anyio_backend_name == "trio":
            import trio

            seen.append(trio.lowlevel.currently_ki_protected())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise KeyboardInterrupt  # as Ctrl-C would land in it

    async with client(DisconnectTransport(app)) as ours:
        with pytest.raises(KeyboardInterrupt):
            await ours.get("/")
    assert seen == ([False] if anyio_backend_name == "trio" else [])
