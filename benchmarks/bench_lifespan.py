"""What running the lifespan costs run() and arun(): scenarios per second with it and without.

Run:  python benchmarks/bench_lifespan.py

A FastAPI app whose lifespan yields state and whose handler answers at once (the client leaves
after the response). run() with the lifespan keeps one loop thread per app for the whole test;
without it (lifespan="off") every scenario gets a fresh loop thread. arun() runs on one loop
either way; with the lifespan, the state is copied into each scope. Printed: scenarios per
second for each, and the ratio.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request

from pytest_disconnect import Disconnect

RUNS = 300


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
    yield {"greeting": "hello"}


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def hello(request: Request) -> dict[str, str]:
    return {"greeting": getattr(request.state, "greeting", "none")}


def sync_rate(backend: str, mode: str) -> float:
    disconnect = Disconnect()
    started = time.perf_counter()
    for _ in range(RUNS):
        disconnect.run(app, "GET", "/", after=1.0, lifespan=mode, backend=backend)  # type: ignore[arg-type]
    rate = RUNS / (time.perf_counter() - started)
    disconnect.close()
    return rate


def async_rate(backend: str, mode: str) -> float:
    async def main() -> float:
        disconnect = Disconnect()
        started = time.perf_counter()
        for _ in range(RUNS):
            await disconnect.arun(app, "GET", "/", after=1.0, lifespan=mode)
        rate = RUNS / (time.perf_counter() - started)
        await disconnect.aclose()
        return rate

    return anyio.run(main, backend=backend)


def main() -> None:
    print(f"{'api':<6} {'backend':<8} {'lifespan on':>14} {'off':>14} {'ratio':>6}")
    for name, measure in (("run", sync_rate), ("arun", async_rate)):
        for backend in ("asyncio", "trio"):
            on, off = measure(backend, "on"), measure(backend, "off")
            print(f"{name:<6} {backend:<8} {on:>10.0f} /s {off:>10.0f} /s {on / off:>6.2f}")


if __name__ == "__main__":
    main()
