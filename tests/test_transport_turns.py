"""DisconnectTransport's app task on asyncio: how many loop turns a request costs, and that a task
started eagerly (Python 3.12+) is still the request's first work, under its own cancel scopes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from pytest_disconnect import ClientLeft, DisconnectTransport
from pytest_disconnect._types import Receive, Scope, Send
from pytest_disconnect._watch.asyncio_tasks import EAGER_START

from .apps import instant, respond, spawns_children

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client(transport: DisconnectTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def turns_during(call: Callable[[], Awaitable[Any]]) -> int:
    """Loop turns that began while ``call()`` ran: a callback that reschedules itself counts them."""
    loop = asyncio.get_running_loop()
    turns = 0
    counting = True

    def tick() -> None:
        nonlocal turns
        if counting:
            turns += 1
            loop.call_soon(tick)

    loop.call_soon(tick)  # runs at the next turn, which only begins if call() suspends
    try:
        await call()
    finally:
        counting = False
    return turns


async def test_an_app_that_never_suspends_costs_no_turn_eagerly_and_one_otherwise() -> None:
    async with client(DisconnectTransport(instant)) as http:
        await http.get("/")  # the first request installs the watch
        turns = await turns_during(lambda: http.get("/"))
    # Python 3.12+: the app's task runs its first step at its creation; before: one turn runs
    # the app's task and brings the caller back (an event wait took a second turn).
    assert turns == (0 if EAGER_START else 1)


async def _spawns_then_answers(scope: Scope, receive: Receive, send: Send) -> None:
    async def helper() -> None:
        await asyncio.sleep(0)

    child = asyncio.get_running_loop().create_task(helper())  # in the app's first step
    await respond(send)
    await child


async def test_the_app_task_is_the_first_work_even_when_it_spawns_in_its_first_step() -> None:
    transport = DisconnectTransport(_spawns_then_answers)
    async with client(transport) as http:
        response = await http.get("/")
    assert response.text == "ok"
    [result] = transport.results
    assert [record.kind for record in result.work] == ["app", "task"]
    assert "helper" in result.work[1].name
    assert result.verdict == "finished"


@pytest.mark.parametrize("eager_factory", [False, True])
async def test_an_eager_app_task_keeps_its_cancel_scopes(eager_factory: bool) -> None:
    """A task group opened in the app's first step; the harness cancels it at the watch limit."""
    if eager_factory and sys.version_info < (3, 12):
        pytest.skip("eager task factories are new in Python 3.12")
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    if eager_factory:
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    try:
        transport = DisconnectTransport(spawns_children, after=0.05, tolerance=0.05, patience=0.2, check=False)
        async with client(transport) as http:
            with pytest.raises(ClientLeft):
                await http.get("/")
    finally:
        loop.set_task_factory(previous)
    [result] = transport.results
    assert result.verdict == "cancelled"  # the harness cancelled it at the watch limit, cleanly
    assert result.app_error is None
    assert result.cancelled_at is not None
    assert [record.kind for record in result.work][:2] == ["app", "task"]
    assert "child_work" in result.work[1].name
    assert all(record.ended_at is not None for record in result.work), result.work
