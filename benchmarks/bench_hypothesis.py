"""How long a Hypothesis property test of 100 disconnect moments takes against a Starlette app.

Run:  python benchmarks/bench_hypothesis.py

Real clock: the app reads the request body, works 30 ms and answers, stopping as soon
as the client leaves, so the drawn moments (events, and times up to 20 ms) land during
the work: every example is a full scenario (request, disconnect, verdict).

Virtual clock: the sample app's 3-second handlers (examples/app.py), moments up to 3 s.
/cancel-on-disconnect stops when the client leaves; /no-context runs its 3 s to the end
(check=False: every example records a kept-running verdict instead of failing). On the
real clock 100 of these would take 150-300 s.

Printed: the wall time of 100 examples with sync run() (a fresh loop per example) and
with arun() on one asyncio loop, median of 5 runs each.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import anyio
from hypothesis import given, settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pytest_disconnect import Disconnect, Trigger
from pytest_disconnect import strategies as ds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import app as sample

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


VIRTUAL = {"moment": ds.moments(max_value=3.0)}


def virtual_property(path: str, *, on_loop: bool) -> int:
    disconnect = Disconnect()
    check = path != "/no-context"

    @SETTINGS
    @given(**VIRTUAL)
    def prop(moment: Trigger) -> None:
        if on_loop:
            loop.run_until_complete(disconnect.arun(sample.app, "GET", path, after=moment, clock="virtual",
                                                    check=check))
        else:
            disconnect.run(sample.app, "GET", path, after=moment, clock="virtual", check=check)

    loop = asyncio.new_event_loop()
    try:
        prop()
    finally:
        loop.close()
    assert all(result.clock == "virtual" for result in disconnect.results)
    return len(disconnect.results)


def measure(run: object) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        count = run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> None:
    cases = [
        ("real clock, 30 ms handler, run()", sync_property),
        ("real clock, 30 ms handler, arun()", async_property),
        ("virtual, 3 s /cancel-on-disconnect, run()", lambda: virtual_property("/cancel-on-disconnect", on_loop=False)),
        ("virtual, 3 s /cancel-on-disconnect, arun()", lambda: virtual_property("/cancel-on-disconnect", on_loop=True)),
        ("virtual, 3 s /no-context, run()", lambda: virtual_property("/no-context", on_loop=False)),
        ("virtual, 3 s /no-context, arun()", lambda: virtual_property("/no-context", on_loop=True)),
    ]
    for name, run in cases:
        seconds, count = measure(run)
        print(f"{name:44} {EXAMPLES} examples ({count} scenarios run): {seconds:.2f} s")


if __name__ == "__main__":
    main()
