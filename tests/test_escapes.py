"""Work that cancellation does not reach: threads, processes, a blocked loop, marked heavy work."""

from __future__ import annotations

import time

import pytest

from pytest_disconnect import Disconnect, HandlerKeptRunning, Settings
from pytest_disconnect._report.text import section_text
from pytest_disconnect._types import Receive, Scope, Send
from pytest_disconnect._watch.processes import state
from tests import apps

# Real clocks throughout: a MockClock would jump past threads and processes, which run in real time.
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])]


def disconnect(**settings: object) -> Disconnect:
    values: dict[str, object] = {"tolerance": 0.3, "patience": 3.0, **settings}
    return Disconnect(Settings(**values))  # type: ignore[arg-type]


async def test_a_thread_that_outlives_its_task_fails_and_is_named() -> None:
    with pytest.raises(HandlerKeptRunning) as caught:
        await disconnect().arun(apps.thread_outlives_task, "GET", "/", after=0.1)
    result = caught.value.result
    thread = next(record for record in result.work if record.kind == "thread")
    assert thread.name == "crunch"
    assert thread.owner_ended_at is not None and thread.owner_ended_at < 0.3  # the task stopped...
    assert thread.ended_at is not None and thread.ended_at > 0.8  # ...the thread did not
    assert result.latency is not None and result.latency > 0.6
    report = str(caught.value)
    assert "The task waiting for thread crunch ended at +0.1" in report
    assert "cancellation does not reach threads" in report
    assert "thread crunch: tests/apps.py:" in report and "time.sleep(seconds)" in report


async def test_a_thread_that_checks_for_cancellation_passes() -> None:
    result = await disconnect().arun(apps.thread_stops_cooperatively, "GET", "/", after=0.1)
    assert [record.kind for record in result.work].count("thread") == 1
    assert result.latency is not None and result.latency < 0.3


async def test_a_sync_endpoint_runs_in_a_watched_thread() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def report(request: object) -> PlainTextResponse:
        apps.crunch()
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/report", report)])
    result = await disconnect().arun(app, "GET", "/report", after=0.1, check=False)
    assert result.verdict == "kept-running"
    assert [record.name for record in result.work if record.kind == "thread"] == ["report"]


async def test_the_default_executor_is_watched(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("asyncio's executor")
    result = await disconnect().arun(apps.executor_thread, "GET", "/", after=0.1, check=False)
    assert result.verdict == "kept-running"
    assert [record.name for record in result.work if record.kind == "thread"] == ["crunch"]


async def test_a_child_process_left_running_fails_and_is_killed(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the app uses asyncio's subprocess API")
    apps.leaves_a_child_process.pids.clear()  # type: ignore[attr-defined]
    result = await disconnect(patience=0.5).arun(apps.leaves_a_child_process, "GET", "/", after=0.1,
                                                 check=False)
    assert not result.passed
    process = next(record for record in result.work if record.kind == "process")
    pid = apps.leaves_a_child_process.pids[0]  # type: ignore[attr-defined]
    assert process.name.startswith(f"pid {pid}: ") and "time.sleep(30)" in process.name
    for _ in range(100):  # the harness killed it; give the kernel a moment to report it
        if state(pid) != "running":
            break
        time.sleep(0.01)
    assert state(pid) != "running"


async def test_a_child_process_killed_on_disconnect_passes(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the app uses asyncio's subprocess API")
    result = await disconnect().arun(apps.kills_its_child_process, "GET", "/", after=0.1)
    process = next(record for record in result.work if record.kind == "process")
    assert process.ended_at is not None and process.ended_at < 0.4


async def test_heavy_work_marked_in_the_app_reports_its_fate() -> None:
    # A generous tolerance: a busy machine can hold the loop or the thread up for a while, and the
    # work's 10 s are far beyond it either way.
    result = await disconnect(tolerance=2.0).arun(apps.marks_heavy_work, "GET", "/", after=0.1)
    [heavy] = result.heavy
    assert (heavy.name, heavy.outcome) == ("index", "cancelled")
    assert heavy.heartbeats > 0 and heavy.ended_at is not None and heavy.ended_at < apps.HEAVY_WORK / 2


async def test_heavy_work_named_by_import_path() -> None:
    result = await disconnect().arun(apps.awaits_heavy_helper, "GET", "/", after=0.1,
                                     heavy="tests.apps:heavy_helper")
    [heavy] = result.heavy
    assert (heavy.name, heavy.outcome) == ("heavy_helper", "cancelled")
    assert not hasattr(apps.heavy_helper, "__wrapped__")  # restored after the scenario


async def test_cancellation_from_outside_the_channel_is_not_a_pass(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("task.cancel() is asyncio's")
    with pytest.raises(HandlerKeptRunning, match="was cancelled from outside the channel, not by the disconnect"):
        await disconnect().arun(apps.cancels_itself, "GET", "/", after=0.5)


async def test_a_blocked_loop_is_reported_with_where(anyio_backend: str) -> None:
    async def blocks(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(0.4)  # the bug under test

    result = await disconnect(tolerance=0.1).arun(blocks, "GET", "/", after=0.1, check=False)
    assert result.verdict == "kept-running"
    [block] = result.blocks
    assert block.end - block.start >= 0.3
    assert block.where is not None and "in blocks -> time.sleep(0.4)" in block.where


async def test_a_background_task_can_be_allowed_to_outlive_the_request() -> None:
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def send_receipt() -> None:
        import anyio

        await anyio.sleep(1.0)

    async def order(request: object) -> PlainTextResponse:
        return PlainTextResponse("ordered", background=BackgroundTask(send_receipt))

    app = Starlette(routes=[Route("/order", order)])
    judged = await disconnect().arun(app, "GET", "/order", check=False)
    assert judged.verdict == "kept-running"
    allowed = await disconnect().arun(app, "GET", "/order", allow=["send_receipt"])
    assert allowed.passed and [record.kind for record in allowed.allowed] == ["app"]
    assert "Allowed to outlive the request: app" in section_text(allowed)


async def test_work_shielded_from_cancellation_is_named(anyio_backend: str) -> None:
    async def shields(scope: Scope, receive: Receive, send: Send) -> None:
        import anyio

        with anyio.CancelScope(shield=True):
            await anyio.sleep(1.0)

    result = await disconnect(patience=0.4).arun(shields, "GET", "/", check=False)
    assert result.verdict == "cancelled"  # it ended within the cancel grace, shielded to the last
    assert result.work[0].ended_at is not None and result.work[0].ended_at >= 0.9
    assert "in shields -> await anyio.sleep(1.0)" in (result.still_running[0].where or "")


async def test_a_sync_generator_stream_stops_without_phantom_threads() -> None:
    """B5: Starlette runs each next() in a thread; calls cancelled before starting are not 'running'."""
    from collections.abc import Iterator

    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    def rows() -> Iterator[bytes]:
        for _ in range(200):
            time.sleep(0.005)
            yield b"row\n"

    async def export(request: object) -> StreamingResponse:
        return StreamingResponse(rows())

    app = Starlette(routes=[Route("/export", export)])
    result = await disconnect(server="asgi-2.4").arun(app, "GET", "/export", after=0.1)
    assert result.verdict == "stopped"
    assert all(record.ended_at is not None for record in result.work)


async def test_a_disconnect_during_a_blocked_loop_is_not_forgotten() -> None:
    async def blocks_then_finishes_slowly(scope: Scope, receive: Receive, send: Send) -> None:
        import anyio

        time.sleep(0.5)  # the client leaves at 0.1, while the loop is blocked
        await apps.respond(send)
        await anyio.sleep(0.01)

    result = await disconnect(tolerance=0.1).arun(blocks_then_finishes_slowly, "GET", "/", after=0.1,
                                                  check=False)
    assert result.verdict == "kept-running"
    assert result.disconnected_at == pytest.approx(0.1)


async def test_raising_cancellation_after_seeing_the_disconnect_is_a_normal_stop(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("asyncio.CancelledError")

    async def sse(scope: Scope, receive: Receive, send: Send) -> None:
        import asyncio

        while (await receive())["type"] != "http.disconnect":
            pass
        raise asyncio.CancelledError  # a common SSE idiom

    result = await disconnect().arun(sse, "GET", "/events", after=0.1)
    assert result.verdict == "stopped"


async def test_heavy_in_a_sync_generator() -> None:
    from collections.abc import Iterator

    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from pytest_disconnect import heavy

    def rows() -> Iterator[bytes]:
        with heavy("rows"):
            yield b"a"
            yield b"b"

    async def export(request: object) -> StreamingResponse:
        return StreamingResponse(rows())

    app = Starlette(routes=[Route("/export", export)])
    result = await disconnect().arun(app, "GET", "/export", after="never")
    assert result.app_error is None
    assert [(record.name, record.outcome) for record in result.heavy] == [("rows", "finished")]


async def test_a_child_process_started_on_trio_is_watched(anyio_backend: str) -> None:
    import subprocess
    import sys

    children: list[subprocess.Popen[bytes]] = []

    async def starts_and_returns(scope: Scope, receive: Receive, send: Send) -> None:
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))

    result = await disconnect(patience=0.3).arun(starts_and_returns, "GET", "/", check=False)
    children[0].wait(5)  # reap the child the harness killed
    assert result.verdict in ("leaked", "cancelled")
    [process] = [record for record in result.work if record.kind == "process"]
    pid = int(process.name.split()[1].rstrip(":"))
    for _ in range(100):
        if state(pid) != "running":
            break
        time.sleep(0.01)
    assert state(pid) != "running"


async def test_allowing_a_def_endpoints_thread_does_not_allow_the_request_itself() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/report")
    def report() -> dict[str, str]:
        apps.crunch()
        return {}

    result = await disconnect().arun(app, "GET", "/report", after=0.1, allow=["report"], check=False)
    assert next(record.name for record in result.work if record.kind == "thread") == "report"
    assert result.verdict == "kept-running"  # the thread is allowed; the app waiting for it is not
