"""Example tests for app.py: does each handler stop working when the client leaves?

Run them with:  python -m pytest examples -rA
(-rA prints each test's "disconnect" report section, also for passing tests.)
"""

from __future__ import annotations

from typing import Literal

import pytest
from app import app

from pytest_disconnect import Disconnect, HandlerKeptRunning


@pytest.mark.xfail(
    raises=HandlerKeptRunning,
    strict=True,
    reason="/no-context ignores the disconnect and runs its 3 s of work to the end",
)
def test_no_context_keeps_running(disconnect: Disconnect) -> None:
    """/no-context is caught: the client leaves at 0.5 s, the work runs on (an expected failure)."""
    disconnect.run(app, "GET", "/no-context", after=0.5)


def test_no_context_report(disconnect: Disconnect) -> None:
    """The failure report says how long /no-context ran on, where, and why it never noticed."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/no-context", after=0.5)
    report = str(caught.value)
    print(report)  # shown with -rA or -s

    result = caught.value.result
    assert result.verdict == "kept-running"
    assert result.latency is not None and 2.0 < result.latency < 3.5  # 3 s of work - 0.5 s
    assert "app.py:" in report and "in heavy_work -> await anyio.sleep(3)" in report
    assert "never called receive()" in report


@pytest.mark.disconnect(after=0.5)  # settings can also come from the marker
def test_with_context_stops(disconnect: Disconnect) -> None:
    """The blog's polling pattern stops in time (it uses asyncio APIs, so asyncio only)."""
    result = disconnect.run(app, "GET", "/with-context")
    assert result.verdict == "stopped"
    # It stops, but its poll loop called receive() thousands of times: the report notices.
    assert result.receive_calls > 1000


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancel_on_disconnect_stops(disconnect: Disconnect, backend: Literal["asyncio", "trio"]) -> None:
    """The non-polling pattern stops in time, on asyncio and on trio, from a sync test."""
    disconnect.run(app, "GET", "/cancel-on-disconnect", after=0.5, backend=backend)


@pytest.mark.anyio
async def test_cancel_on_disconnect_stops_async(disconnect: Disconnect) -> None:
    """The same check from an async test, on the test's own event loop (asyncio and trio)."""
    await disconnect.arun(app, "GET", "/cancel-on-disconnect", after=0.5)


def test_cancel_on_disconnect_latency(disconnect: Disconnect) -> None:
    """With check=False you get the result to inspect instead of a pass/fail."""
    result = disconnect.run(app, "GET", "/cancel-on-disconnect", after=0.5, check=False)
    assert result.passed
    assert result.latency is not None and result.latency < 0.5  # measured: well under 10 ms
