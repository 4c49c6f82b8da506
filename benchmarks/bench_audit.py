"""--disconnect-audit's price per request: the same client code with the audit patch installed
and without, for Starlette's TestClient (inside ``with``, as most suites use it) and for
``httpx.AsyncClient`` over ``httpx.ASGITransport``.

The patch is the one ``--disconnect-audit`` installs (outside a test, as here, every request
is audited); no client leaves, so this is what an unmodified suite pays for being audited.
Apps: a trivial Starlette endpoint and a FastAPI ``async def`` endpoint. Rounds with and
without the patch alternate, and the median round is reported; the first response of every
series is checked, so a broken path cannot pass as a fast one.

Run:  python benchmarks/bench_audit.py            (about 30 s)
      python benchmarks/bench_audit.py --quick    (about 8 s, rougher)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, if not installed

import anyio
import httpx
from bench_throughput import fastapi_app, starlette_app  # the same apps as the throughput benchmark
from starlette.testclient import TestClient

from pytest_disconnect._fronts.audit import LEASE

Batch = Callable[[int], None]
OK = (b"ok", b'{"ok":true}')


def testclient_batch(app: object) -> tuple[Batch, Callable[[], None]]:
    client = TestClient(app)  # type: ignore[arg-type]
    client.__enter__()
    checked = False

    def run(count: int) -> None:
        nonlocal checked
        for _ in range(count):
            response = client.get("/")
            if not checked:
                assert response.status_code == 200 and response.content in OK, response
                checked = True

    return run, lambda: client.__exit__(None, None, None)


def asyncclient_batch(app: object) -> tuple[Batch, Callable[[], None]]:
    async def series(count: int) -> None:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for index in range(count):
                response = await client.get("/")
                if index == 0:
                    assert response.status_code == 200 and response.content in OK, response

    return (lambda count: anyio.run(series, count)), lambda: None


def timed(run: Batch, count: int, audited: bool) -> float:
    if audited:
        LEASE.acquire()
    try:
        start = time.perf_counter()
        run(count)
        return time.perf_counter() - start
    finally:
        if audited:
            LEASE.release()


def compare(make: Callable[[object], tuple[Batch, Callable[[], None]]], app: object, rounds: int,
            seconds: float) -> tuple[float, float, float]:
    run, close = make(app)
    try:
        timed(run, 20, True)
        timed(run, 20, False)
        count = max(20, int(20 * seconds / timed(run, 20, True)))
        audited, plain = [], []
        for _ in range(rounds):
            audited.append(timed(run, count, True) / count)
            plain.append(timed(run, count, False) / count)
    finally:
        close()
    median = statistics.median(audited)
    return median, statistics.median(plain), (max(audited) - min(audited)) / median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    rounds, seconds = (3, 0.3) if args.quick else (7, 0.6)
    print(f"{'case':<24}{'audited us':>11}{'plain us':>10}{'+us/req':>9}{'ratio':>7}{'spread':>8}")
    for client_name, make in (("TestClient", testclient_batch), ("AsyncClient", asyncclient_batch)):
        for app_name, factory in (("starlette", starlette_app), ("fastapi", fastapi_app)):
            audited, plain, spread = compare(make, factory(), rounds, seconds)
            print(f"{client_name + ' ' + app_name:<24}{audited * 1e6:>11,.0f}{plain * 1e6:>10,.0f}"
                  f"{(audited - plain) * 1e6:>9,.0f}{audited / plain:>7.2f}{spread:>8.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
