"""What the watch costs a scenario, piece by piece (best of several rounds, microseconds).

  watch      entering and leaving ``_backends.watching()`` (the task hooks, the run-wide
             wrappers), which the driver does once per scenario; the task factory and the
             trio instrument are installed by the first scenario and stay, so this is a
             look-up and a count.
  timeline   recording a trivial scenario's six lines and freezing them, as the driver does,
             then (``+ read``) formatting them, as a report does.
  task       ``loop.create_task()`` outside any scenario, with the tracking factory left on the
             loop by an earlier scenario, next to a loop without it.

Run:  python benchmarks/bench_watch.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, if not installed

import trio

from pytest_disconnect._backends import current, watching
from pytest_disconnect._result import TimelineRecorder
from pytest_disconnect._watch import patches
from pytest_disconnect._watch.workset import WorkSet

N = 20_000


def best(run: Callable[[], None], rounds: int = 7) -> float:
    """Best microseconds per call of ``run`` over ``rounds`` rounds of N calls."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(N):
            run()
        times.append((time.perf_counter() - began) / N * 1e6)
    return min(times)


def workset() -> WorkSet:
    return WorkSet(lambda: 0.0, TimelineRecorder(), asyncio.Event)


_WORKSET: list[WorkSet] = []


def watch_once() -> None:
    scenario = _WORKSET[0]
    scenario.watched = True
    with watching(current(), scenario):
        pass


def timeline(read: bool) -> Callable[[], None]:
    def record() -> None:
        recorder = TimelineRecorder()
        recorder.add(0.0, "receive", "receive() -> http.request ({} B, more_body={})", 0, False)
        recorder.add(0.001, "send", "send() <- {}", "http.response.start 200")
        recorder.add(0.002, "send", "send() <- {}", "http.response.body 2 B")
        recorder.add(0.003, "app", "app {}", "returned")
        recorder.add(0.004, "task", "{} {}: {}", "task", "ended", "child")
        recorder.add(0.005, "client", "left (after=0.10 s)")
        frozen = recorder.freeze()
        if read:
            frozen.texts()

    return record


async def on_asyncio() -> dict[str, float]:
    loop = asyncio.get_running_loop()

    async def nothing() -> None:
        pass

    def task() -> None:
        loop.create_task(nothing()).cancel()

    bare = best(task)
    _WORKSET[:] = [workset()]
    watch_once()  # the first scenario installs the factory; it stays
    results = {"watch (asyncio)": best(watch_once),
               "task, no factory": bare, "task, factory left on": best(task)}
    patches.end_of_run()
    return results


async def on_trio() -> dict[str, float]:
    _WORKSET[:] = [workset()]
    return {"watch (trio)": best(watch_once)}


def main() -> None:
    results = asyncio.run(on_asyncio())
    results.update(trio.run(on_trio))
    results["timeline, record + freeze"] = best(timeline(read=False))
    results["timeline, record + freeze + read"] = best(timeline(read=True))
    for name, micros in results.items():
        print(f"{name:<36} {micros:7.2f} us")


if __name__ == "__main__":
    main()
