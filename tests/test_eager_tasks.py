"""Python 3.12+: on a loop with an eager task factory, the app's tasks are watched as on any other."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from pytest_disconnect import Disconnect, Settings
from pytest_disconnect._compat import eager_constructor
from pytest_disconnect._types import Receive, Scope, Send
from tests import apps

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories are new in Python 3.12"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def disconnect() -> Disconnect:
    return Disconnect(Settings(tolerance=0.3, patience=3.0))


@contextmanager
def eager_loop(factory: Callable[..., Any] | None = None) -> Iterator[Callable[..., Any]]:
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    eager = factory or asyncio.eager_task_factory  # type: ignore[attr-defined,unused-ignore]
    loop.set_task_factory(eager)
    try:
        yield eager
    finally:
        loop.set_task_factory(previous)


async def test_task_group_children_are_attributed() -> None:
    with eager_loop():
        result = await disconnect().arun(apps.spawns_children, "GET", "/", after=0.05, check=False)
    assert result.verdict == "kept-running"
    assert any("child_work" in record.name for record in result.work), [r.name for r in result.work]


async def test_a_task_leaked_past_the_response_is_caught() -> None:
    with eager_loop():
        result = await disconnect().arun(apps.leaks_a_task, "GET", "/", after=0.05, check=False)
    assert result.verdict == "leaked"
    assert [record.name for record in result.still_running if record.kind == "task"] == ["background_work"]


async def test_a_handler_that_stops_passes_and_anyio_cancel_scopes_hold() -> None:
    with eager_loop():
        result = await disconnect().arun(apps.well_behaved, "GET", "/", after=0.05)
    assert result.verdict == "stopped"


class CountingTask(asyncio.Task):  # type: ignore[type-arg]
    made: list[CountingTask] = []  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        CountingTask.made.append(self)


async def test_the_factory_stays_eager_with_its_own_task_class_and_is_put_back() -> None:
    seen: list[object] = []
    steps: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(asyncio.get_running_loop().get_task_factory())

        async def first_step() -> None:
            steps.append("child ran")
            await anyio.sleep(0)

        task = asyncio.get_running_loop().create_task(first_step())
        steps.append("create_task returned")
        await task
        await apps.respond(send)

    custom = asyncio.create_eager_task_factory(CountingTask)  # type: ignore[attr-defined,unused-ignore]
    with eager_loop(custom):
        result = await disconnect().arun(app, "GET", "/", after=0.05)
        assert asyncio.get_running_loop().get_task_factory() is custom
    assert result.passed
    assert seen[0] is not custom and eager_constructor(seen[0]) is not None  # ours, and eager
    assert steps == ["child ran", "create_task returned"]  # started eagerly
    assert any(record.name == "first_step" for record in result.work)
    assert any(task.get_coro().__qualname__.endswith("first_step") for task in CountingTask.made)  # type: ignore[union-attr]
