"""A sample FastAPI app: one handler that ignores the client leaving, two that stop.

Run its tests with:  python -m pytest examples -rA
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request

app = FastAPI()


async def heavy_work() -> dict[str, str]:
    """A stand-in for 3 s of expensive work (a model call, a big query, a report)."""
    # anyio.sleep rather than asyncio.sleep, so /cancel-on-disconnect also runs on trio.
    await anyio.sleep(3)
    return {"result": "done"}


@app.get("/no-context")
async def no_context() -> dict[str, str]:
    # Never looks at the connection: if the client leaves at 0.5 s, the work still
    # runs to the end and the answer goes nowhere (uvicorn drops it silently).
    return await heavy_work()


@app.get("/with-context")
async def with_context(request: Request) -> dict[str, str] | None:
    # The common blog pattern: race the work against a task that polls for the disconnect.
    # It stops in time, but the poller busy-loops: on a real server it calls
    # is_disconnected() tens of thousands of times a second and keeps a core busy.
    async def watch() -> None:
        while not await request.is_disconnected():
            pass

    work = asyncio.create_task(heavy_work())
    watcher = asyncio.create_task(watch())
    done, pending = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()  # the loser: the work if the client left, else the watcher
    if work in done:
        return work.result()
    return None  # the client left: nobody is waiting for an answer


@asynccontextmanager
async def cancel_on_disconnect(request: Request) -> AsyncIterator[anyio.CancelScope]:
    """Run the ``async with`` body; cancel it as soon as the client disconnects.

    The watcher blocks in receive() (no polling) and works on asyncio and trio.
    It discards request body chunks, so enter it after the body was read (FastAPI
    has already read it for body parameters). Afterwards ``scope.cancelled_caught``
    tells whether the client left. Work in threads is not cancelled by this.
    """
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass  # a leftover body chunk: keep waiting
            group.cancel_scope.cancel()  # cancels the body, and this watcher

        group.start_soon(watch)
        yield group.cancel_scope
        group.cancel_scope.cancel()  # the body finished first: stop the watcher


@app.get("/cancel-on-disconnect")
async def cancel_on_disconnect_endpoint(request: Request) -> dict[str, str] | None:
    async with cancel_on_disconnect(request):
        return await heavy_work()
    return None  # the client left and the work was cancelled: nobody is waiting
