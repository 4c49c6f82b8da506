"""Where a sync run() spends its time: the fresh loop, the fresh thread, the scenario.

A sync ``run()`` starts a new thread per call and a new event loop in it (see
``_fronts/sync_runner.py``). This prints, per call, for asyncio and trio:

  loop inline          start and close an empty loop in the calling thread
  loop, fresh thread   the same in a new thread per call, as run() does (start, hand-off, join)
  loop, parked thread  the same in one long-lived thread that takes a call at a time
  run()                Disconnect().run(app, "GET", "/", check=False) on a trivial Starlette app

each as process CPU time and wall time (medians of interleaved rounds), and what the fresh
thread costs over a parked one. A parked thread is not what run() does: it would outlive
the call, and run() leaves no thread behind; the row shows what that choice costs.

Run:  python benchmarks/bench_loop_thread.py [rounds]
"""

from __future__ import annotations

import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, if not installed

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pytest_disconnect import Disconnect
from pytest_disconnect._backends.loops import LoopName, loop_starter

CALLS = 60


async def _nothing() -> None:
    pass


def _app() -> Starlette:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", ok)])


def _fresh_thread(job: Callable[[], None]) -> None:
    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    thread.join()


class _Parked:
    """One thread that runs the jobs it is given, one at a time."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], threading.Lock]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            job, done = self._jobs.get()
            job()
            done.release()

    def __call__(self, job: Callable[[], None]) -> None:
        done = threading.Lock()
        done.acquire()
        self._jobs.put((job, done))
        done.acquire()


def _variants(name: LoopName) -> dict[str, Callable[[], object]]:
    start = loop_starter(name)
    parked = _Parked()
    app = _app()
    disconnect = Disconnect()

    def empty_loop() -> None:
        start(_nothing)

    return {
        "loop inline": empty_loop,
        "loop, fresh thread": lambda: _fresh_thread(empty_loop),
        "loop, parked thread": lambda: parked(empty_loop),
        "run()": lambda: disconnect.run(app, "GET", "/", check=False, backend=name),
    }


def measure(name: LoopName, rounds: int) -> dict[str, tuple[float, float]]:
    """Median (cpu, wall) microseconds per call of each variant, rounds interleaved."""
    variants = _variants(name)
    cpu: dict[str, list[float]] = {key: [] for key in variants}
    wall: dict[str, list[float]] = {key: [] for key in variants}
    for _ in range(rounds):
        for key, call in variants.items():
            began_cpu, began = time.process_time(), time.perf_counter()
            for _ in range(CALLS):
                call()
            cpu[key].append((time.process_time() - began_cpu) / CALLS * 1e6)
            wall[key].append((time.perf_counter() - began) / CALLS * 1e6)
    return {key: (statistics.median(cpu[key]), statistics.median(wall[key])) for key in variants}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    for name in ("asyncio", "trio"):
        figures = measure(name, rounds)
        for key, (cpu, wall) in figures.items():
            print(f"{name:<8} {key:<22} cpu {cpu:6.0f} us   wall {wall:6.0f} us")
        fresh, parked, run = figures["loop, fresh thread"], figures["loop, parked thread"], figures["run()"]
        print(f"{name:<8} a fresh thread over a parked one: cpu +{fresh[0] - parked[0]:.0f} us, wall "
              f"+{fresh[1] - parked[1]:.0f} us, that is {(fresh[1] - parked[1]) / run[1]:.0%} of run()'s wall time")


if __name__ == "__main__":
    main()
