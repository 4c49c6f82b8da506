"""DisconnectTransport against httpx's ASGITransport: the same client code, the same app.

Each request is ``await client.get("/")`` on an ``httpx.AsyncClient`` over the transport,
back to back in one event loop; no client leaves, so this is the price an ordinary suite
pays for being auditable. Apps: a trivial Starlette endpoint (``PlainTextResponse``) and a
FastAPI ``async def`` endpoint returning a dict. Both backends.

A sync row per backend: ``client.get("/")`` on an ``httpx.Client`` over DisconnectTransport (inside
``with``: one event loop in a worker thread for the block, as the audit gives a TestClient) against
Starlette's ``TestClient`` inside ``with`` (its own portal loop), on the Starlette app.

Rounds of the two transports alternate (so machine noise hits both alike); the median
round is reported, with the spread ((slowest - fastest) / median) of the plugin's rounds.
Rates are per second of the process's CPU time (``time.process_time``), not of the wall clock:
on a busy machine, time the process waits for a core is not its cost.
The first response of every series is checked, so a broken path cannot pass as a fast one.

Then, per backend, where a DisconnectTransport request's time goes (CPU microseconds a request,
Starlette app, the four series interleaved in one loop): the httpx client alone (over a transport
that answers a canned response without calling any app), ASGITransport, DisconnectTransport, and
``arun()`` (the same scenario without a client: the app inline, no task). The client alone plus
``arun()`` is about the least a watched request through the client can cost: the figure the
transport can approach, and its ratio to ASGITransport. Last, what ASGITransport adds to the client
(the app's run included) beside what a watched scenario alone costs: while the first is the smaller,
a transport that watches each request stays below 1.0x of ASGITransport, however lean.

Run:  python benchmarks/bench_transport.py            (about 40 s)
      python benchmarks/bench_transport.py --quick    (about 12 s, rougher)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, if not installed

import anyio
import httpx
from bench_throughput import fastapi_app, starlette_app  # the same apps as the throughput benchmark

from pytest_disconnect import Disconnect, DisconnectTransport, Trigger

Batch = Callable[[int], Awaitable[None]]


def batch(transport: httpx.AsyncBaseTransport) -> Batch:
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    checked = False

    async def run(count: int) -> None:
        nonlocal checked
        for _ in range(count):
            response = await client.get("/")
            if not checked:
                assert response.status_code == 200 and response.content in (b"ok", b'{"ok":true}')
                checked = True

    return run


async def timed(run: Batch, count: int) -> float:
    start = time.process_time()
    await run(count)
    return time.process_time() - start


class Canned(httpx.AsyncBaseTransport):
    """No app at all: the response ASGITransport would give, made up at once (the client's own cost)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=[(b"content-type", b"text/plain; charset=utf-8"),
                                            (b"content-length", b"2")], content=b"ok", request=request)


def scenarios(app: object) -> Batch:
    """``arun()`` back to back: the scenario the transport runs, without a client."""
    disconnect, never = Disconnect(), Trigger.never()

    async def run(count: int) -> None:
        for _ in range(count):
            result = await disconnect.arun(app, "GET", "/", after=never, check=False)  # type: ignore[arg-type]
            assert result.verdict == "finished"
        disconnect.results.clear()

    return run


async def decompose(rounds: int, seconds: float) -> dict[str, float]:
    """CPU microseconds a request for each series, medians of interleaved rounds."""
    app = starlette_app()
    ours = DisconnectTransport(app)
    series = {"httpx client alone": batch(Canned()), "ASGITransport": batch(httpx.ASGITransport(app=app)),
              "DisconnectTransport": batch(ours), "arun() (no client)": scenarios(app)}
    for run in series.values():
        await run(50)
    count = max(20, int(50 * seconds / await timed(series["DisconnectTransport"], 50)))
    costs: dict[str, list[float]] = {name: [] for name in series}
    for _ in range(rounds):
        for name, run in series.items():
            costs[name].append(1e6 * await timed(run, count) / count)
        ours.results.clear()
    return {name: statistics.median(values) for name, values in costs.items()}


def print_decomposition(backend: str, costs: dict[str, float]) -> None:
    print(f"\nwhere a request's time goes, {backend} (CPU us a request, medians)")
    for name, cost in costs.items():
        print(f"  {name:<34}{cost:>7.0f}")
    reachable = costs["httpx client alone"] + costs["arun() (no client)"]
    plain = costs["ASGITransport"]
    print(f"  {'client alone + arun(): reachable':<34}{reachable:>7.0f}   ratio to ASGITransport "
          f"{plain / reachable:.2f} (DisconnectTransport now: {plain / costs['DisconnectTransport']:.2f})")
    # What ASGITransport adds to the client, the app's own run included, against a watched scenario
    # alone: while the second is the larger, no transport that watches each request can match it.
    layer = plain - costs["httpx client alone"]
    print(f"  {'ASGITransport over the client':<34}{layer:>7.0f}   (the app's run included; a watched "
          f"scenario alone: {costs['arun() (no client)']:.0f})")


async def compare(app_factory: Callable[[], object], rounds: int, seconds: float) -> tuple[float, float, float]:
    app = app_factory()
    ours = DisconnectTransport(app)  # type: ignore[arg-type]
    plugin, plain = batch(ours), batch(httpx.ASGITransport(app=app))  # type: ignore[arg-type]
    await plugin(50)
    await plain(50)
    count = max(20, int(50 * seconds / await timed(plugin, 50)))
    plugin_rates, plain_rates = [], []
    for _ in range(rounds):
        plugin_rates.append(count / await timed(plugin, count))
        plain_rates.append(count / await timed(plain, count))
        ours.results.clear()  # as a fresh transport per test would
    median = statistics.median(plugin_rates)
    spread = (max(plugin_rates) - min(plugin_rates)) / median
    return median, statistics.median(plain_rates), spread


def sync_compare(backend: str, rounds: int, seconds: float) -> tuple[float, float, float]:
    """The sync client over DisconnectTransport against TestClient, both inside ``with``."""
    import warnings

    with warnings.catch_warnings():  # starlette 1.x: "Using `httpx` with TestClient is deprecated"
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = starlette_app()
    ours = DisconnectTransport(app, backend=backend)
    with httpx.Client(transport=ours, base_url="http://testserver") as plugin, \
            TestClient(app, backend=cast(Literal["asyncio", "trio"], backend)) as plain:

        def timed_sync(client: Any, count: int) -> float:  # httpx.Client, or TestClient (httpx2's when installed)
            start = time.process_time()
            for _ in range(count):
                client.get("/")
            return time.process_time() - start

        for client in (plugin, plain):
            response = client.get("/")
            assert response.status_code == 200 and response.content == b"ok"
        count = max(20, int(50 * seconds / timed_sync(plugin, 50)))
        plugin_rates, plain_rates = [], []
        for _ in range(rounds):
            plugin_rates.append(count / timed_sync(plugin, count))
            plain_rates.append(count / timed_sync(plain, count))
            ours.results.clear()
    median = statistics.median(plugin_rates)
    return median, statistics.median(plain_rates), (max(plugin_rates) - min(plugin_rates)) / median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    rounds, seconds = (3, 0.3) if args.quick else (7, 0.6)
    print(f"{'case':<22}{'plugin/s':>10}{'httpx/s':>10}{'ratio':>8}{'+us/req':>9}{'spread':>8}")
    for backend in ("asyncio", "trio"):
        for name, factory in (("starlette", starlette_app), ("fastapi", fastapi_app)):
            ours, plain, spread = anyio.run(compare, factory, rounds, seconds, backend=backend)
            extra = 1e6 / ours - 1e6 / plain
            print(f"{name + ' ' + backend:<22}{ours:>10,.0f}{plain:>10,.0f}{ours / plain:>8.2f}"
                  f"{extra:>9.0f}{spread:>8.0%}")
        ours, plain, spread = sync_compare(backend, rounds, seconds)
        print(f"{'sync/TestClient ' + backend:<22}{ours:>10,.0f}{plain:>10,.0f}{ours / plain:>8.2f}"
              f"{1e6 / ours - 1e6 / plain:>9.0f}{spread:>8.0%}")
    for backend in ("asyncio", "trio"):
        print_decomposition(backend, anyio.run(decompose, rounds, seconds, backend=backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
