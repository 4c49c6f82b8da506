"""Throughput of pytest-disconnect scenarios, next to plain httpx requests to the same app.

What it measures (scenarios per second, wall clock, ``time.perf_counter``):

  a  trivial Starlette endpoint (``PlainTextResponse("ok")``), ``after=Trigger.never()``:
     ``await Disconnect().arun(app, "GET", "/", after=..., check=False)`` back to back in one
     event loop, vs ``await client.get("/")`` on an
     ``httpx.AsyncClient(transport=httpx.ASGITransport(app=app))`` in the same loop.
  b  the same with a FastAPI ``async def`` endpoint returning a dict.
  c  the default scenario (``after=0``: the client sends the request and leaves at once)
     on the trivial Starlette endpoint. httpx cannot disconnect, so its column is the
     plain request again: the ratio is what a real disconnect scenario costs relative to
     an ordinary in-process request.
  e  DisconnectTransport: ``await client.get("/")`` on an ``httpx.AsyncClient`` over
     ``DisconnectTransport(app)`` (no client leaves: the price an ordinary suite pays for being
     auditable), vs the same client over ``ASGITransport``; trivial Starlette endpoint.
  f  case a through the fixture's result hook (``TestContext.record``, what the ``disconnect``
     fixture hands ``Disconnect``): each scenario is also folded into the test's summary and
     kept for its report section, which is written when the test's report is made (once per
     round here, as once per test). a is ``Disconnect()`` without the hook; f - a is what a
     real fixture test pays on top.
  d  the sync API: ``Disconnect().run(app, "GET", "/", check=False)`` (default ``after=0``),
     which starts a fresh event loop in a new thread per call. Its baseline is the sync
     httpx-based ``starlette.testclient.TestClient(app).get("/")`` used without ``with``,
     which also starts a new loop and thread (an anyio blocking portal) per request.

Every case runs on asyncio and on trio. Each (case, backend) pair is warmed up, a batch
size is calibrated so one round lasts about ``--round-seconds``, then plugin and baseline
rounds alternate (so machine noise hits both alike) and the median round is reported.
Each plugin round uses a fresh ``Disconnect()`` (as one test's fixture would), so the
results list it keeps does not grow across rounds.

Reading the table:
  plugin/s, httpx/s   median scenarios (requests) per second; higher is better.
  ratio               plugin/s divided by httpx/s: > 1 means the plugin is faster.
  us/scen             median microseconds per plugin scenario (1e6 / plugin/s).
  spread, httpx sp    (slowest - fastest round) / median for the plugin's and the baseline's
                      rounds; a large spread means the machine was busy and the figures are rough.

Then each target of issue 14 with its figure: met or MISSED.

The first result of every series is checked (status 200, expected body and verdict),
so a broken path cannot pass as a fast one.

Run:  python benchmarks/bench_throughput.py            (about 40-60 s)
      python benchmarks/bench_throughput.py --quick    (about 10 s, rougher)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, if not installed

import httpx
import trio
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

with warnings.catch_warnings():  # starlette 1.x: "Using `httpx` with TestClient is deprecated"
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import pytest

import pytest_disconnect
from pytest_disconnect import Disconnect, DisconnectTransport, Settings, Trigger
from pytest_disconnect._fronts.current import TestContext

BACKENDS = ("asyncio", "trio")
NEVER = Trigger.never()
LEAVE_AT_ONCE = Trigger.at(0.0)


def starlette_app() -> Starlette:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", ok)])


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, bool]:
        return {"ok": True}

    return app


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    make_app: Callable[[], object]
    after: Trigger
    body: bytes | None  # the body the plugin records (None: not checked; it depends on
    # whether sends after the disconnect are recorded)
    verdict: str  # what the plugin's verdict must be
    sync: bool = False
    transport: bool = False  # through DisconnectTransport instead of arun()
    hooked: bool = False  # through the fixture's result hook (TestContext.record)


CASES = (
    Case("a", "Starlette PlainText, after=never", starlette_app, NEVER, b"ok", "finished"),
    Case("b", "FastAPI async def -> dict, never", fastapi_app, NEVER, b'{"ok":true}', "finished"),
    Case("c", "Starlette, after=0 (disconnects)", starlette_app, LEAVE_AT_ONCE, None, "stopped"),
    Case("f", "Starlette, never, report hook", starlette_app, NEVER, b"ok", "finished",
         hooked=True),
    Case("e", "DisconnectTransport / ASGITransport", starlette_app, NEVER, b"ok", "finished",
         transport=True),
    Case("d", "sync run() after=0 / TestClient", starlette_app, LEAVE_AT_ONCE, None, "stopped",
         sync=True),
)


@dataclass
class Series:
    """Per-round rates of one side (plugin or baseline) of one (case, backend) pair."""

    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> float:
        return (max(self.rates) - min(self.rates)) / self.median


@dataclass(frozen=True)
class Budget:
    rounds: int
    round_seconds: float
    warmup_seconds: float


# --- async cases (a, b, c): one event loop per backend, many scenarios per loop ---------

Batch = Callable[[int], Awaitable[float]]  # run n scenarios, return elapsed seconds


def _check(case: Case, result: pytest_disconnect.DisconnectResult) -> None:
    body_ok = case.body is None or result.body == case.body
    if result.verdict != case.verdict or result.status != 200 or not body_ok:
        raise SystemExit(f"case {case.key}: unexpected plugin result: verdict={result.verdict} "
                         f"status={result.status} body={result.body!r} error={result.app_error!r}")


def _check_response(case: Case, status: int, body: bytes) -> None:
    expected = b"ok" if case.make_app is starlette_app else b'{"ok":true}'
    if status != 200 or body != expected:
        raise SystemExit(f"case {case.key}: unexpected baseline response {status} {body!r}")


def plugin_batch(case: Case, app: object) -> Batch:
    if case.transport:
        return transport_batch(case, app)

    async def batch(n: int) -> float:
        context = TestContext(_Item(), Settings()) if case.hooked else None  # type: ignore[arg-type]
        disconnect = Disconnect(on_result=None if context is None else context.record)
        start = time.perf_counter()
        for _ in range(n):
            await disconnect.arun(app, "GET", "/", after=case.after, check=False)  # type: ignore[arg-type]
        if context is not None:
            context.store_properties()  # the test's end: its summary and report sections
        elapsed = time.perf_counter() - start
        _check(case, disconnect.results[0])
        return elapsed

    return batch


class _Item:
    """The little of a pytest item that TestContext uses (where the test's report goes)."""

    def __init__(self) -> None:
        self.config = argparse.Namespace(stash=pytest.Stash())
        self.user_properties: list[tuple[str, object]] = []

    def add_report_section(self, when: str, key: str, content: str) -> None:
        pass


def transport_batch(case: Case, app: object) -> Batch:
    async def batch(n: int) -> float:
        transport = DisconnectTransport(app)  # type: ignore[arg-type]  # fresh, as one test's would be
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            start = time.perf_counter()
            for _ in range(n):
                response = await client.get("/")
            elapsed = time.perf_counter() - start
        _check_response(case, response.status_code, response.content)
        _check(case, transport.results[0])
        return elapsed

    return batch


def httpx_batch(case: Case, client: httpx.AsyncClient) -> Batch:
    async def batch(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            response = await client.get("/")
        elapsed = time.perf_counter() - start
        _check_response(case, response.status_code, response.content)
        return elapsed

    return batch


async def _calibrate(batch: Batch, budget: Budget) -> int:
    """Warm up for about warmup_seconds; return a batch size lasting about round_seconds."""
    n, spent, rate = 20, 0.0, 0.0
    while spent < budget.warmup_seconds:
        elapsed = await batch(n)
        spent += elapsed
        rate = n / elapsed
        n = max(20, min(int(rate * budget.warmup_seconds / 2), 50_000))
    return max(20, int(rate * budget.round_seconds))


async def _interleave(plugin: Batch, baseline: Batch, budget: Budget) -> tuple[Series, Series]:
    n_plugin = await _calibrate(plugin, budget)
    n_base = await _calibrate(baseline, budget)
    ours, theirs = Series(), Series()
    for _ in range(budget.rounds):
        ours.rates.append(n_plugin / await plugin(n_plugin))
        theirs.rates.append(n_base / await baseline(n_base))
    return ours, theirs


async def run_async_cases(cases: list[Case], budget: Budget) -> list[tuple[Series, Series]]:
    out = []
    for case in cases:
        app = case.make_app()
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            out.append(await _interleave(plugin_batch(case, app), httpx_batch(case, client), budget))
    return out


# --- sync case (d): a new loop and thread per call, on both sides ---------------------

def run_sync_case(case: Case, backend: str, budget: Budget) -> tuple[Series, Series]:
    app = case.make_app()
    client = TestClient(app, backend=backend)  # type: ignore[arg-type]  # no `with`: a new portal (loop + thread) per request

    def plugin(n: int) -> float:
        disconnect = Disconnect()
        start = time.perf_counter()
        for _ in range(n):
            disconnect.run(app, "GET", "/", after=case.after, check=False,  # type: ignore[arg-type]
                           backend=backend)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        _check(case, disconnect.results[0])
        return elapsed

    def baseline(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            response = client.get("/")
        elapsed = time.perf_counter() - start
        _check_response(case, response.status_code, response.content)
        return elapsed

    def calibrate(batch: Callable[[int], float]) -> int:
        n, spent, rate = 5, 0.0, 0.0
        while spent < budget.warmup_seconds:
            elapsed = batch(n)
            spent += elapsed
            rate = n / elapsed
            n = max(5, int(rate * budget.warmup_seconds / 2))
        return max(5, int(rate * budget.round_seconds))

    n_plugin, n_base = calibrate(plugin), calibrate(baseline)
    ours, theirs = Series(), Series()
    for _ in range(budget.rounds):
        ours.rates.append(n_plugin / plugin(n_plugin))
        theirs.rates.append(n_base / baseline(n_base))
    return ours, theirs


# --- report ---------------------------------------------------------------------------

def _rate(value: float) -> str:
    return f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="about 10 s instead of about 60 s")
    parser.add_argument("--rounds", type=int, help="measured rounds per series (default 9, quick 5)")
    parser.add_argument("--round-seconds", type=float,
                        help="target length of one round (default 0.25, quick 0.1)")
    parser.add_argument("--cases", default="abcfed", help="which cases to run, e.g. 'ac' (default abcfed)")
    args = parser.parse_args(argv)

    budget = Budget(rounds=args.rounds or (5 if args.quick else 9),
                    round_seconds=args.round_seconds or (0.1 if args.quick else 0.25),
                    warmup_seconds=0.08 if args.quick else 0.3)
    chosen = [case for case in CASES if case.key in args.cases]
    async_cases = [case for case in chosen if not case.sync]
    sync_cases = [case for case in chosen if case.sync]

    import fastapi
    import starlette

    print(f"pytest-disconnect {pytest_disconnect.__version__} | Python {platform.python_version()} | "
          f"{os.cpu_count()} CPUs | starlette {starlette.__version__} fastapi {fastapi.__version__} "
          f"httpx {httpx.__version__} trio {trio.__version__}")
    print(f"{budget.rounds} rounds of ~{budget.round_seconds:g} s per series, median reported",
          flush=True)
    wall = time.perf_counter()

    results: dict[tuple[str, str], tuple[Series, Series]] = {}
    for backend in BACKENDS:
        if async_cases:
            if backend == "asyncio":
                measured = asyncio.run(run_async_cases(async_cases, budget))
            else:
                measured = trio.run(run_async_cases, async_cases, budget)
            for case, pair in zip(async_cases, measured, strict=True):
                results[case.key, backend] = pair
        for case in sync_cases:
            results[case.key, backend] = run_sync_case(case, backend, budget)

    header = (f"{'case':<38} {'backend':<8} {'plugin/s':>9} {'httpx/s':>9} {'ratio':>6} "
              f"{'us/scen':>8} {'spread':>7} {'httpx sp':>8}")
    print()
    print(header)
    print("-" * len(header))
    for case in chosen:
        for backend in BACKENDS:
            ours, theirs = results[case.key, backend]
            print(f"{case.key}  {case.label:<35} {backend:<8} {_rate(ours.median):>9} "
                  f"{_rate(theirs.median):>9} {ours.median / theirs.median:>5.2f}x "
                  f"{1e6 / ours.median:>8.1f} {ours.spread:>6.0%} {theirs.spread:>8.0%}")
    print("-" * len(header))
    if "a" in args.cases and "f" in args.cases:
        for backend in BACKENDS:
            extra = 1e6 / results["f", backend][0].median - 1e6 / results["a", backend][0].median
            print(f"f - a ({backend}): {extra:+.1f} us a scenario for the fixture's report hook")
    if "c" in args.cases or "d" in args.cases:
        print("c, d: the httpx column is a plain request (httpx cannot disconnect); d's baseline is "
              "TestClient without `with` (new loop + thread per request).")
    print("Targets (issue 14), medians:")
    print("\n".join(targets(results)) or "  nothing run")
    print(f"[{time.perf_counter() - wall:.1f} s]")
    return 0


#: Issue 14's targets: (what, case, minimum ratio to the baseline).
TARGETS = (("arun, trivial Starlette", "a", 2.0), ("arun, FastAPI", "b", 1.5),
           ("DisconnectTransport", "e", 1.0), ("sync run() vs TestClient", "d", 3.0))
#: A scenario that really disconnects may cost at most this many microseconds more than one that does not.
DISCONNECT_BUDGET_US = 20.0


def targets(results: dict[tuple[str, str], tuple[Series, Series]]) -> list[str]:
    """One line per target and backend: the figure, the target, met or not."""
    lines = []
    for what, key, minimum in TARGETS:
        for backend in BACKENDS:
            if (key, backend) in results:
                ours, theirs = results[key, backend]
                ratio = ours.median / theirs.median
                lines.append(f"  {what:<28} {backend:<8} {ratio:5.2f}x  (target >= {minimum:.1f}x)  "
                             + ("met" if ratio >= minimum else "MISSED"))
    for backend in BACKENDS:
        if ("a", backend) in results and ("c", backend) in results:
            extra = 1e6 / results["c", backend][0].median - 1e6 / results["a", backend][0].median
            lines.append(f"  {'a real disconnect (c - a)':<28} {backend:<8} {extra:+5.1f} us (target <= "
                         f"{DISCONNECT_BUDGET_US:.0f} us)  " + ("met" if extra <= DISCONNECT_BUDGET_US else "MISSED"))
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
