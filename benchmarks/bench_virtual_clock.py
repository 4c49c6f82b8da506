"""Wall time of the sample app's /no-context (3 s of work, client gone at 0.5 s) on the virtual clock.

Run:  python benchmarks/bench_virtual_clock.py

For each backend and API (sync run() with a fresh loop, arun() on one loop), 20 scenarios;
printed: the median and worst wall time of one scenario, and the latencies seen (on the
virtual clock they are exactly 2.5 s every run).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import app as sample

from pytest_disconnect import Disconnect

RUNS = 20


def sync_runs(backend: str) -> tuple[list[float], set[float | None]]:
    disconnect, walls = Disconnect(), []
    for _ in range(RUNS):
        started = time.perf_counter()
        disconnect.run(sample.app, "GET", "/no-context", after=0.5, clock="virtual", check=False,
                       backend=backend)  # type: ignore[arg-type]
        walls.append(time.perf_counter() - started)
    return walls, {result.latency for result in disconnect.results}


async def async_runs() -> tuple[list[float], set[float | None]]:
    disconnect, walls = Disconnect(), []
    for _ in range(RUNS):
        started = time.perf_counter()
        await disconnect.arun(sample.app, "GET", "/no-context", after=0.5, clock="virtual", check=False)
        walls.append(time.perf_counter() - started)
    return walls, {result.latency for result in disconnect.results}


def main() -> None:
    for name, backend in [(f"{api}, {backend}", backend) for api in ("run()", "arun()")
                          for backend in ("asyncio", "trio")]:
        walls, latencies = sync_runs(backend) if name.startswith("run") else anyio.run(async_runs, backend=backend)
        print(f"{name:16} median {statistics.median(walls) * 1000:6.1f} ms, worst {max(walls) * 1000:6.1f} ms; "
              f"latencies {sorted(latencies)}")  # type: ignore[type-var]


if __name__ == "__main__":
    main()
