"""Exact virtual time: a verdict, a latency and a timeline never depend on the loop clock's epoch.

asyncio's loop clock is ``time.monotonic()``, the machine's uptime; trio's adds a random
offset. Float sums at those magnitudes round differently, so a tie between an app's tick
(0.05 s added four times) and the client leaving (0.20 s added once) used to fall either
side depending on how long the machine had been up. Here the real clock starts at very
different values and the results must be identical.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from pytest_disconnect import Disconnect, DisconnectResult, Settings
from pytest_disconnect._clock.virtual import ALIGN, VirtualClock
from pytest_disconnect._types import Receive, Scope, Send

#: Seconds of machine uptime to pretend: 5 min, 22 min, 50 min (the issue's), 58 days.
UPTIMES = (300.0, 1300.0, 3000.0, 5e6)
TICK = 0.05
LEAVE = 0.2  # on the app's fifth tick: a tie


async def ticks(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends a tick every 0.05 s (time read from the loop, as an app's sleep does) for 1 s."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(20):
        await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
        await anyio.sleep(TICK)
    await send({"type": "http.response.body", "body": b""})


def _outcome(result: DisconnectResult) -> tuple[object, ...]:
    return (result.verdict, result.latency, result.disconnected_at, result.stopped_at,
            result.sends_after_disconnect, tuple((event.at, event.text, event.count) for event in result.timeline))


class _LoopUpFor(asyncio.SelectorEventLoop):
    """An event loop whose clock reads as if the machine had been up for ``uptime`` seconds."""

    def __init__(self, uptime: float) -> None:
        super().__init__()
        self._offset = uptime - super().time()

    def time(self) -> float:
        return super().time() + self._offset


def _driver() -> Disconnect:
    return Disconnect(Settings(clock="virtual", tolerance=0.3))


def _run(server: str, backend: str = "asyncio") -> DisconnectResult:
    return _driver().run(ticks, "GET", "/ticks", after=LEAVE, server=server, backend=backend,  # type: ignore[arg-type]
                         check=False)


def _run_up_for(uptime: float, server: str) -> DisconnectResult:
    loop = _LoopUpFor(uptime)
    try:
        return loop.run_until_complete(_driver().arun(ticks, "GET", "/ticks", after=LEAVE, server=server,
                                                      check=False))
    finally:
        loop.close()


@pytest.mark.parametrize("server", ["uvicorn", "asgi-2.4"])
def test_the_same_results_whatever_the_uptime(server: str) -> None:
    outcomes = [_outcome(_run_up_for(uptime, server)) for uptime in UPTIMES]
    assert outcomes == [outcomes[0]] * len(UPTIMES)
    # At the tie the app's tick runs first, then the client leaves: the next send is the first it sees.
    verdict, latency = outcomes[0][:2]
    assert (verdict, latency) == (("stopped", TICK) if server == "asgi-2.4" else ("kept-running", 1.0 - LEAVE))


def test_the_same_results_on_trio_whose_clock_starts_at_a_random_offset() -> None:
    outcomes = {_outcome(_run("asgi-2.4", "trio")) for _ in range(3)}
    assert len(outcomes) == 1
    assert next(iter(outcomes))[:2] == ("stopped", TICK)


def test_a_scenario_starts_on_an_aligned_moment_after_what_ran_before() -> None:
    real = [100.0]
    clock = VirtualClock(lambda: real[0], start=0.0)
    real[0] += 0.123456789  # time at the real rate before the scenario: stray low bits
    clock.activate(lambda: False, align=ALIGN)
    assert clock.now() == 127 * ALIGN  # the next multiple of 2**-10 s after 0.123456789


# The catalogue's virtual-clock examples under several uptimes, in a subprocess each ----------------

ROOT = Path(__file__).resolve().parent.parent

OFFSET_PLUGIN = '''
"""Pretend the machine has been up for UPTIME seconds; keep only the virtual-clock tests."""
import os
import time

_real = time.monotonic
_began = _real()
_uptime = float(os.environ["UPTIME"])
time.monotonic = lambda: _uptime + (_real() - _began)


def pytest_collection_modifyitems(config, items):
    def virtual(item):
        return any(mark.kwargs.get("clock") == "virtual" for mark in item.iter_markers("disconnect"))

    kept = [item for item in items if virtual(item)]
    config.hook.pytest_deselected(items=[item for item in items if not virtual(item)])
    items[:] = kept
'''


@pytest.mark.parametrize("uptime", UPTIMES[:3])
def test_the_catalogues_virtual_clock_examples_pass_whatever_the_uptime(tmp_path: Path, uptime: float) -> None:
    (tmp_path / "uptime_offset.py").write_text(OFFSET_PLUGIN)
    env = {**os.environ, "UPTIME": str(uptime), "PYTHONPATH": str(tmp_path)}
    # From the project's root, as `make examples` runs them: the reports name files relative to it.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "uptime_offset", "-p", "no:cacheprovider", "-q",
         "examples/test_catalogue.py", "examples/test_virtual_clock.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b(3\d|[4-9]\d) passed", run.stdout), run.stdout[-500:]  # the virtual ones ran
