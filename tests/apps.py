"""Tiny ASGI apps with known disconnect behaviour, shared by the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from pytest_disconnect._types import Message, Receive, Scope, Send

WORK = 1.0  # seconds of stand-in heavy work


async def respond(send: Send, body: bytes = b"ok", status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


async def cancel_on_disconnect(receive: Receive, work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work``; cancel it as soon as receive() says the client left."""
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        await work()
        group.cancel_scope.cancel()


async def well_behaved(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body, then races the work against receive(); stops when the client leaves."""
    await read_body(receive)
    await cancel_on_disconnect(receive, lambda: anyio.sleep(WORK))
    await respond(send)


async def ignores_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    """Does all its work whatever happens, then answers to nobody (B1)."""
    await anyio.sleep(WORK)
    await respond(send)


async def instant(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, b"hello")


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, await read_body(receive))


async def never_ends(scope: Scope, receive: Receive, send: Send) -> None:
    """Works forever and never looks at receive(); only cancellation ends it."""
    await anyio.sleep_forever()


async def leaks_a_task(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers at once but leaves a task behind that works on."""
    import asyncio

    async def background_work() -> None:
        await asyncio.sleep(WORK)

    leak = asyncio.get_running_loop().create_task(background_work())
    leaks_a_task.tasks.add(leak)  # type: ignore[attr-defined]
    await respond(send)


leaks_a_task.tasks = set()  # type: ignore[attr-defined]


async def spawns_children(scope: Scope, receive: Receive, send: Send) -> None:
    """A task group whose child ignores the disconnect while the parent waits."""

    async def child_work() -> None:
        await anyio.sleep(WORK)

    async with anyio.create_task_group() as group:
        group.start_soon(child_work)
    await respond(send)


async def raises_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("bad handler")


async def body_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.body", "body": b"x"})


async def start_twice(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def swallows_oserror_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams 20 chunks, ignoring send() errors: never notices the client left."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(20):
        with suppress(OSError):
            await send({"type": "http.response.body", "body": b"x" * 8, "more_body": True})
        await anyio.sleep(WORK / 10)
    with suppress(OSError):
        await send({"type": "http.response.body", "body": b""})


async def stops_on_oserror_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams until send() raises: stops under asgi-2.4, runs on under uvicorn (B4)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(20):
        await send({"type": "http.response.body", "body": b"x" * 8, "more_body": True})
        await anyio.sleep(WORK / 10)
    await send({"type": "http.response.body", "body": b""})


class Resister:
    """An app whose work catches cancellation and carries on until released.

    Released by the test after the verdict, so the suite's event loops can shut down.
    """

    def __init__(self) -> None:
        self.released = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while not self.released.is_set():
            try:
                await anyio.sleep(0.05)
            except BaseException:  # swallowing cancellation, the bug under test
                await anyio.lowlevel.cancel_shielded_checkpoint()
                if self.released.is_set():
                    return
                time.sleep(0.001)  # keep a cancellation-swallowing spin from burning the core


# --- Starlette apps: the patterns measured against real servers -------------------------------


async def _poll_until_disconnected(request: Request) -> Response:
    for _ in range(int(WORK / 0.01)):
        if await request.is_disconnected():
            return PlainTextResponse("client left")
        await anyio.sleep(0.01)
    return PlainTextResponse("done")


async def _stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8
            await anyio.sleep(WORK / 10)

    return StreamingResponse(chunks())


class _PassThrough(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


starlette_app = Starlette(routes=[Route("/poll", _poll_until_disconnected), Route("/stream", _stream)])
starlette_behind_middleware = Starlette(
    routes=[Route("/poll", _poll_until_disconnected)], middleware=[Middleware(_PassThrough)]
)


def received(messages: list[Message]) -> list[str]:
    return [message["type"] for message in messages]


# --- work that cancellation does not reach -------------------------------------------


def crunch(seconds: float = WORK) -> None:
    """Blocking stand-in for CPU work; ignores the world."""
    time.sleep(seconds)


def crunch_cooperatively(seconds: float = WORK) -> None:
    """Blocking work in slices that stops when the awaiting task is cancelled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        anyio.from_thread.check_cancelled()
        time.sleep(0.005)


async def thread_outlives_task(scope: Scope, receive: Receive, send: Send) -> None:
    """Cancels the waiting task on disconnect, but the thread runs on (abandon_on_cancel)."""
    await cancel_on_disconnect(receive, lambda: anyio.to_thread.run_sync(crunch, abandon_on_cancel=True))


async def thread_stops_cooperatively(scope: Scope, receive: Receive, send: Send) -> None:
    await cancel_on_disconnect(receive, lambda: anyio.to_thread.run_sync(crunch_cooperatively))


async def executor_thread(scope: Scope, receive: Receive, send: Send) -> None:
    """asyncio's default executor: the task is cancelled, the thread is not."""
    import asyncio

    await cancel_on_disconnect(receive, lambda: asyncio.get_running_loop().run_in_executor(None, crunch))


async def leaves_a_child_process(scope: Scope, receive: Receive, send: Send) -> None:
    """Runs the work in a child process, and forgets it when the client leaves."""
    import asyncio
    import sys

    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
    leaves_a_child_process.pids.append(child.pid)  # type: ignore[attr-defined]
    await cancel_on_disconnect(receive, child.wait)


leaves_a_child_process.pids = []  # type: ignore[attr-defined]


async def kills_its_child_process(scope: Scope, receive: Receive, send: Send) -> None:
    """The 'nuclear option' done right: kill the child when the client leaves."""
    import asyncio
    import sys

    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
    try:
        await cancel_on_disconnect(receive, child.wait)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


#: Seconds of heavy work marks_heavy_work does if nothing stops it: far past any tolerance.
HEAVY_WORK = 10.0


async def marks_heavy_work(scope: Scope, receive: Receive, send: Send) -> None:
    """Marks its heavy work in a thread, with heartbeats; it looks for the disconnect once the work
    has begun, so a loop held up by a busy machine past the disconnect cannot cancel the work before
    its thread starts (the report would then have no heavy work to show)."""
    from pytest_disconnect import heartbeat, heavy

    begun = anyio.Event()

    def work() -> None:
        with heavy("index"):
            heartbeat()
            anyio.from_thread.run_sync(begun.set)
            for _ in range(int(HEAVY_WORK / 0.005)):
                heartbeat()
                anyio.from_thread.check_cancelled()
                time.sleep(0.005)

    async with anyio.create_task_group() as group:

        async def run() -> None:
            await anyio.to_thread.run_sync(work)
            group.cancel_scope.cancel()

        group.start_soon(run)
        await begun.wait()
        while (await receive())["type"] != "http.disconnect":
            pass
        group.cancel_scope.cancel()


async def awaits_heavy_helper(scope: Scope, receive: Receive, send: Send) -> None:
    """Calls a module-level helper a test can mark heavy by its import path."""
    await cancel_on_disconnect(receive, heavy_helper)


async def heavy_helper() -> None:
    await anyio.sleep(WORK)


async def cancels_itself(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for anything that cancels the app call from outside the channel."""
    import asyncio

    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    await asyncio.sleep(WORK)
