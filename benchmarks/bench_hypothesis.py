"""How long a Hypothesis property test of 100 disconnect moments takes against a Starlette app.

Run:  python benchmarks/bench_hypothesis.py

The app reads the request body, works 30 ms and answers, stopping as soon as the
client leaves, so the drawn moments (events, and times up to 20 ms) land during the
work: every example is a full scenario (request, disconnect, verdict). Printed: the wall
time of 100 examples with sync run() (a fresh loop per example) and with arun()
on one asyncio loop, median of 5 runs each.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import anyio
from hypothesis import given, settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pytest_disconnect import Disconnect, Trigger
from pytest_disconnect import strategies as ds

EXAMPLES = 100
ROUNDS = 5


async def upload(request: Request) -> Response:
    """Reads the body, then 30 ms of work that a disconnect cancels."""
    body = await request.body()
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        await anyio.sleep(0.03)
        group.cancel_scope.cancel()
    return Response(body)


app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
STRATEGIES = {"moment": ds.moments(max_value=0.02), "body": ds.bodies()}
SETTINGS = settings(max_examples=EXAMPLES, database=None, deadline=None)


def sync_property() -> int:
    disconnect = Disconnect()

    @SETTINGS
    @given(**STRATEGIES)
    def prop(moment: Trigger, body: list[bytes]) -> None:
        disconnect.run(app, "POST", "/upload", after=moment, body=body)

    prop()
    return len(disconnect.results)


def async_property() -> int:
    disconnect = Disconnect()

    @SETTINGS
    @given(**STRATEGIES)
    def prop(moment: Trigger, body: list[bytes]) -> None:
        loop.run_until_complete(disconnect.arun(app, "POST", "/upload", after=moment, body=body))

    loop = asyncio.new_event_loop()
    try:
        prop()
    finally:
        loop.close()
    return len(disconnect.results)


def measure(run: object) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count = run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> None:
    for name, run in (("sync run(), new loop per example", sync_property),
                      ("arun() on one asyncio loop", async_property)):
        seconds, count = measure(run)
        print(f"{name:34} {EXAMPLES} examples ({count} scenarios run): {seconds:.2f} s")


if __name__ == "__main__":
    main()
