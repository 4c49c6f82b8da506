"""The app call runs in the test's own task (inline): the test's task and context come back as they were."""

from __future__ import annotations

import contextvars

import anyio
import pytest

from pytest_disconnect import Disconnect, Settings, Trigger
from pytest_disconnect._types import Receive, Scope, Send
from tests import hostile_apps

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])]

TEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_var", default="unset")
APP_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("app_var", default="unset")


def disconnect(**settings: object) -> Disconnect:
    values: dict[str, object] = {"tolerance": 0.1, "patience": 0.3, **settings}
    return Disconnect(Settings(**values))  # type: ignore[arg-type]


async def answer(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("suspends", [False, True])
async def test_the_app_sees_the_tests_context_and_its_own_stays_out(suspends: bool) -> None:
    seen: list[str] = []

    async def sets_vars(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(TEST_VAR.get())
        TEST_VAR.set("app")
        APP_VAR.set("app")
        if suspends:
            await anyio.sleep(0)
        seen.append(TEST_VAR.get())
        await answer(send)

    TEST_VAR.set("test")
    result = await disconnect().arun(sets_vars, "GET", "/", after=Trigger.never())
    assert result.status == 200
    assert seen == ["test", "app"]
    assert TEST_VAR.get() == "test" and APP_VAR.get() == "unset"


async def test_a_test_cancelled_from_outside_leaves_nothing_running(anyio_backend: str) -> None:
    ended: list[str] = []

    async def child() -> None:
        try:
            await anyio.sleep(30)
        finally:
            ended.append("child")

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(child)
                await anyio.sleep(30)
        finally:
            ended.append("app")

    before = _tasks(anyio_backend)
    with anyio.move_on_after(0.2) as outside:
        await disconnect(patience=30.0).arun(slow, "GET", "/", after=10.0)
    assert outside.cancelled_caught
    assert sorted(ended) == ["app", "child"]
    await anyio.sleep(0.01)  # the test's task is usable, and no task of the scenario is left
    assert _tasks(anyio_backend) - before == set()


async def test_an_app_that_swallows_cancellation_is_abandoned_and_the_task_is_usable(anyio_backend: str) -> None:
    result = await disconnect().arun(hostile_apps.swallows_cancellation, "GET", "/", after=0.1, check=False)
    assert result.verdict != "stopped"
    assert [record.kind for record in result.resisted] == ["app"]
    if anyio_backend == "asyncio":
        import asyncio

        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the harness's poke was taken back
    with anyio.fail_after(5):
        await anyio.sleep(0.01)  # not cancelled: the test goes on


async def test_an_abandoned_app_stuck_inside_its_own_cancel_scope_leaves_the_task_usable(anyio_backend: str) -> None:
    # The app enters an anyio scope of its own and never leaves it: it swallows the cancellation
    # and, closed by the harness, GeneratorExit too. Leaving the app call's scope afterwards must
    # not raise (anyio's records of the test's task still named the app's scope).
    async def stuck(scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.CancelScope():
            while True:
                try:
                    await anyio.sleep(1)
                except BaseException:  # cancellation and GeneratorExit alike
                    pass

    result = await disconnect(tolerance=0.05, patience=0.2).arun(stuck, "GET", "/", after=0.05, check=False)
    assert result.verdict == "resisted" and [record.kind for record in result.resisted] == ["app"]
    with anyio.fail_after(5):
        await anyio.sleep(0.01)  # not cancelled: the test goes on
    with anyio.CancelScope() as scope:  # the test's own scopes still work
        scope.cancel()
        await anyio.sleep(1)
    assert scope.cancelled_caught


async def test_the_referee_is_not_the_apps_work() -> None:
    async def suspends(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(0)  # the phases go on in a task of their own from here
        await answer(send)

    result = await disconnect().arun(suspends, "GET", "/", after=Trigger.never())
    assert [record.kind for record in result.work] == ["app"]


def _tasks(backend: str) -> set[object]:
    if backend == "asyncio":
        import asyncio

        return set(asyncio.all_tasks())
    import trio

    root = trio.lowlevel.current_root_task()
    assert root is not None
    found: set[object] = set()
    stack = [root]
    while stack:
        task = stack.pop()
        found.add(task)
        stack.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return found


async def refresh_forever() -> None:
    await anyio.sleep(3600)


async def test_an_allowed_continuation_of_the_app_call_runs_on_after_the_verdict() -> None:
    # allow=... may let the app call itself go on (a BackgroundTask's function): the test's task
    # cannot wait for it, so such a call keeps a task of its own and the verdict comes at once.
    async def answers_then_refreshes(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await answer(send)
        await refresh_forever()

    with anyio.fail_after(10):  # inline, this waited for the app call: for good
        result = await disconnect().arun(answers_then_refreshes, "GET", "/", allow=["refresh_forever"])
    assert result.verdict == "stopped"
    [app] = result.work
    assert (app.kind, app.allowed, app.ended_at) == ("app", True, None)
