"""What watching worker threads costs.

Run:  python benchmarks/bench_threads.py

Measures, on asyncio, a Starlette `def` endpoint (run in the threadpool by Starlette)
driven by the plugin against the same requests through httpx's ASGITransport, and
the cost of one `anyio.to_thread.run_sync` hop inside a scenario with the thread
watcher on versus the bare anyio function. Medians of several rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pytest_disconnect import Disconnect, Trigger
from pytest_disconnect._watch.threads import _original_run_sync, _watched_run_sync
from pytest_disconnect._watch.workset import WorkSet, current_workset

ROUNDS = 7
N = 400


def sync_endpoint(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", sync_endpoint)])


async def plugin_round() -> float:
    disconnect = Disconnect()
    started = time.perf_counter()
    for _ in range(N):
        await disconnect.arun(app, "GET", "/", after=Trigger.never(), check=False)
    return (time.perf_counter() - started) / N


async def httpx_round() -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        started = time.perf_counter()
        for _ in range(N):
            await client.get("/")
        return (time.perf_counter() - started) / N


async def hop_round(watched: bool) -> float:
    from pytest_disconnect._result import TimelineRecorder

    loop = asyncio.get_running_loop()
    def post(callback: Callable[[], None]) -> None:
        loop.call_soon_threadsafe(callback)

    workset = WorkSet(lambda: loop.time(), TimelineRecorder(), asyncio.Event, post)
    workset.started(None, None, "app", "app")
    token = current_workset.set(workset if watched else None)
    run = _watched_run_sync if watched else _original_run_sync
    try:
        started = time.perf_counter()
        for _ in range(N):
            await run(int)
        return (time.perf_counter() - started) / N
    finally:
        current_workset.reset(token)


async def main() -> None:
    await plugin_round(), await httpx_round()  # warm-up
    plugin = statistics.median([await plugin_round() for _ in range(ROUNDS)])
    plain = statistics.median([await httpx_round() for _ in range(ROUNDS)])
    bare = statistics.median([await hop_round(False) for _ in range(ROUNDS)])
    watched = statistics.median([await hop_round(True) for _ in range(ROUNDS)])
    print(f"Starlette def endpoint: plugin {1 / plugin:,.0f}/s, httpx {1 / plain:,.0f}/s, "
          f"ratio {plain / plugin:.2f}x")
    print(f"one to_thread hop: bare {bare * 1e6:.1f} us, watched {watched * 1e6:.1f} us, "
          f"overhead {(watched - bare) * 1e6:.1f} us")


if __name__ == "__main__":
    asyncio.run(main())
