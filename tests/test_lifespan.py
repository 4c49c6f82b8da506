"""Lifespan in run()/arun(): startup once per app and test, state per request, shutdown after."""

from __future__ import annotations

import anyio
import pytest

from pytest_disconnect import Disconnect, HandlerKeptRunning, LifespanError, Settings
from pytest_disconnect._asgi.lifespan import shutdown_failed_message, startup_failed_message
from pytest_disconnect._fronts.sync_runner import Backend
from pytest_disconnect._types import Receive, Scope, Send
from tests import lifespan_apps

TOLERANCE = 0.3


def disconnect(**settings: object) -> Disconnect:
    values: dict[str, object] = {"tolerance": TOLERANCE, "patience": 2.0, **settings}
    return Disconnect(Settings(**values))  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_arun_handlers_read_the_lifespan_state_careless_fails_careful_passes() -> None:
    events: list[str] = []
    app = lifespan_apps.make_app(events)
    runner = disconnect()
    good = await runner.arun(app, "GET", "/careful", after=0.1)
    assert (good.verdict, events) == ("stopped", ["startup"])  # the poller is not the request's work
    with pytest.raises(HandlerKeptRunning) as caught:
        await runner.arun(app, "GET", "/careless", after=0.1)
    assert caught.value.result.verdict == "kept-running"
    assert [work.name for work in caught.value.result.work if work.kind == "task"] == []
    assert events == ["startup"]  # once per app and test
    await runner.arun(app, "GET", "/careless", after=5.0)  # answered: it read request.state.greeting
    assert runner.results[-1].body == b'{"greeting":"hello"}'
    await runner.aclose()
    assert events == ["startup", "shutdown"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_keeps_one_loop_per_app_so_lifespan_objects_work(backend: Backend) -> None:
    events: list[str] = []
    app = lifespan_apps.make_app(events)
    runner = disconnect()
    assert runner.run(app, "GET", "/careful", after=0.1, backend=backend).verdict == "stopped"
    with pytest.raises(HandlerKeptRunning):
        runner.run(app, "GET", "/careless", after=0.1, backend=backend)
    # The lock made at startup is bound to the lifespan's loop: a fresh loop per scenario would break it.
    answered = runner.run(app, "GET", "/careless", after=5.0, backend=backend)
    assert (answered.status, answered.body) == (200, b'{"greeting":"hello"}')
    assert events == ["startup"]
    runner.close()
    assert events == ["startup", "shutdown"]


def test_each_request_gets_a_shallow_copy_of_the_state() -> None:
    app = lifespan_apps.make_app([])
    runner = disconnect()
    bodies = [runner.run(app, "GET", "/count", after=1.0).body for _ in range(2)]
    runner.close()
    assert bodies == [b'{"seen":1}', b'{"seen":1}']


def test_lifespan_off_leaves_the_state_empty() -> None:
    events: list[str] = []
    runner = disconnect()
    result = runner.run(lifespan_apps.make_app(events), "GET", "/careless", after=5.0, lifespan="off",
                        check=False)
    runner.close()
    assert (result.status, events) == (500, [])
    assert "'State' object has no attribute 'lock'" in str(result.app_error)


@pytest.mark.anyio
async def test_a_startup_failure_names_the_app() -> None:
    runner = disconnect()
    with pytest.raises(LifespanError) as caught:
        await runner.arun(lifespan_apps.failing_startup_app(), "GET", "/", after=0.1)
    detail = str(caught.value).split("\n", 1)[1].rsplit("\n", 1)[0]
    assert "ConnectionError: database unreachable" in detail  # Starlette's traceback text
    assert str(caught.value) == startup_failed_message("the FastAPI app 'Shop'", "auto", "default", detail)
    assert str(caught.value).startswith("the FastAPI app 'Shop': lifespan startup failed, so no request was "
                                        "sent (lifespan=auto, default).\nTraceback")


def test_a_startup_failure_fails_run_too() -> None:
    with pytest.raises(LifespanError, match="lifespan startup failed"):
        disconnect().run(lifespan_apps.failing_startup_app(), "GET", "/", after=0.1)


def test_a_shutdown_failure_is_raised_by_close() -> None:
    runner = disconnect()
    runner.run(lifespan_apps.failing_shutdown_app(), "GET", "/", after=1.0)
    with pytest.raises(LifespanError) as caught:
        runner.close()
    detail = str(caught.value).split("\n", 1)[1]
    assert str(caught.value) == shutdown_failed_message("the Starlette app", detail)
    assert "RuntimeError: pool would not close" in detail


def test_auto_skips_an_app_that_raises_on_the_lifespan_scope_and_on_fails_it() -> None:
    assert disconnect().run(lifespan_apps.raises_on_lifespan, "GET", "/", after=1.0).status == 200
    with pytest.raises(LifespanError, match="ValueError: only HTTP here"):
        disconnect().run(lifespan_apps.raises_on_lifespan, "GET", "/", after=1.0, lifespan="on")


def test_auto_does_not_call_a_plain_function_that_never_mentions_the_lifespan() -> None:
    scopes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    disconnect().run(app, "GET", "/", after=1.0)
    assert scopes == ["http"]


@pytest.mark.anyio
async def test_auto_gives_up_on_an_app_whose_first_wait_is_not_for_the_startup() -> None:
    scopes: list[str] = []

    class Sleepy:  # says 'lifespan', so auto mode asks it
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            import anyio

            scopes.append(scope["type"])
            if scope["type"] == "lifespan":
                await anyio.sleep(30)  # would hold the startup up for 30 s, then send HTTP messages
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    with anyio.fail_after(10):  # on asyncio's real clock: far below the sleep
        result = await disconnect().arun(Sleepy(), "GET", "/", after=1.0)
    assert (scopes, result.status) == (["lifespan", "http"], 200)


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_live_mode_gives_the_real_servers_requests_the_state(server: str) -> None:
    events: list[str] = []
    app = lifespan_apps.make_app(events)
    runner = disconnect()
    assert runner.run(app, "GET", "/careful", after=0.2, server=server, live="fin").verdict == "stopped"
    answered = runner.run(app, "GET", "/careless", after=5.0, server=server, live="fin")
    runner.close()
    assert (answered.status, answered.body, events) == (200, b'{"greeting":"hello"}', ["startup", "shutdown"])


def test_auto_skips_apps_whose_lifespan_does_nothing_or_that_never_mention_it() -> None:
    from fastapi import FastAPI
    from starlette.middleware.cors import CORSMiddleware

    from pytest_disconnect._asgi.lifespan import lifespan_does_nothing, may_speak_lifespan
    from tests import apps

    plain = FastAPI()
    assert lifespan_does_nothing(plain) and lifespan_does_nothing(CORSMiddleware(plain))
    plain.router.on_startup.append(lambda: None)
    assert not lifespan_does_nothing(plain)
    assert not lifespan_does_nothing(lifespan_apps.make_app([]))
    assert may_speak_lifespan(CORSMiddleware(lifespan_apps.make_app([])))
    assert not may_speak_lifespan(apps.Resister())  # would run its HTTP code, and resist the cancel
    assert not may_speak_lifespan(apps.well_behaved)


def test_whether_a_lifespan_runs_is_found_once_per_test() -> None:
    """Lifespans looks at an app once (not on every scenario of a loop), and again after close()."""
    from fastapi import FastAPI

    from pytest_disconnect._asgi.lifespan_hosts import Lifespans

    app, lifespans = FastAPI(), Lifespans()
    assert not lifespans.wanted(app, "auto") and lifespans.wanted(app, "on")
    app.router.on_startup.append(lambda: None)
    lifespans.close()  # the next test
    assert lifespans.wanted(app, "auto") and not lifespans.wanted(app, "off")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_virtual_clock_on_a_lifespan_apps_loop(backend: Backend) -> None:
    events: list[str] = []
    app = lifespan_apps.make_app(events)
    runner = disconnect(clock="virtual")
    with pytest.raises(HandlerKeptRunning) as caught:
        runner.run(app, "GET", "/careless", after=0.1, backend=backend)
    assert caught.value.result.latency == pytest.approx(0.9)  # exact on the virtual clock: 1 s - 0.1 s
    assert runner.run(app, "GET", "/careful", after=0.1, backend=backend).verdict == "stopped"
    runner.close()
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_startup_and_shutdown_are_not_the_scenarios_time() -> None:
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    @asynccontextmanager
    async def slow_lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.sleep(0.5)  # a slow startup...
        yield
        await anyio.sleep(0.5)  # ...and shutdown

    async def work(request: Request) -> PlainTextResponse:
        await anyio.sleep(0.3)
        return PlainTextResponse("done")

    app = Starlette(lifespan=slow_lifespan, routes=[Route("/", work)])
    runner = disconnect()
    result = await runner.arun(app, "GET", "/", after=1.0)
    await runner.aclose()
    assert result.verdict == "finished"
    assert result.returned_at is not None and result.returned_at < 0.45  # 0.3 s of work, not 0.8
    assert [event.text for event in result.timeline][-1] == "app returned"


@pytest.mark.anyio
async def test_ctrl_c_is_not_taken_for_a_lifespan_error(anyio_backend_name: str) -> None:
    """The lifespan's task catches everything the app raises (a server does), so Ctrl-C must not land
    there: trio keeps KeyboardInterrupt out of it, asyncio delivers it to the test's task, not this one."""
    import asyncio

    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if anyio_backend_name == "trio":
                import trio

                seen.append(trio.lowlevel.currently_ki_protected())
            else:
                seen.append(asyncio.current_task() is not test_task)
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            seen.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    test_task = asyncio.current_task() if anyio_backend_name == "asyncio" else None
    runner = disconnect()
    await runner.arun(app, "GET", "/", after=1.0, lifespan="on")
    await runner.aclose()
    assert seen == [True, "shutdown"]


def test_the_lifespan_asks_the_backend_not_the_library_name() -> None:
    """What differs between asyncio and trio is behind the backend seam (_backends), not switched on here."""
    import inspect

    from pytest_disconnect._asgi import lifespan

    source = inspect.getsource(lifespan)
    assert "sniffio" not in source and "import trio" not in source and "import asyncio" not in source
