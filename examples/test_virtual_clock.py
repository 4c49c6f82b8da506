"""The same checks on a virtual clock: 3 s of work cost no wall time, and the numbers are exact.

Run them with:  python -m pytest examples/test_virtual_clock.py -rA
or put a whole run on it:  python -m pytest examples --disconnect-clock=virtual
"""

from __future__ import annotations

from typing import Literal

import app as sample
import escapes
import pytest

from pytest_disconnect import Disconnect, HandlerKeptRunning

Backend = Literal["asyncio", "trio"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.disconnect(clock="virtual")  # or clock="virtual" in run(), or --disconnect-clock=virtual
def test_no_context_is_caught_at_once_and_exactly(disconnect: Disconnect, backend: Backend) -> None:
    """/no-context ran on exactly 2.5 s after the client left: 3 s of work minus 0.5 s, in milliseconds."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(sample.app, "GET", "/no-context", after=0.5, backend=backend)
    result = caught.value.result
    assert (result.verdict, result.disconnected_at, result.latency) == ("kept-running", 0.5, 2.5)
    assert str(caught.value).startswith(
        "GET /no-context kept running 2.50 s after http.disconnect (tolerance 1.00 s) [virtual clock]")


# Every endpoint of the sample apps, on both clocks: the virtual clock reaches the same verdict.
# Threads, child processes and a blocked loop run in real time either way; /with-context busy-polls,
# so its clock runs at the real rate.
ENDPOINTS = [
    (sample.app, "/no-context"), (sample.app, "/with-context"), (sample.app, "/cancel-on-disconnect"),
    *((escapes.app, route.path) for route in escapes.app.routes if route.path.startswith(  # type: ignore[attr-defined]
        ("/sync", "/thread", "/process", "/blocks", "/awaits"))),
]


@pytest.mark.parametrize(("app", "path"), ENDPOINTS, ids=[path for _, path in ENDPOINTS])
def test_virtual_and_real_clocks_agree(disconnect: Disconnect, app: object, path: str) -> None:
    verdicts = {clock: disconnect.run(app, "GET", path, after=0.2, tolerance=0.3, patience=1.5,  # type: ignore[arg-type]
                                      clock=clock, check=False).verdict
                for clock in ("real", "virtual")}
    print(path, verdicts)
    assert verdicts["virtual"] == verdicts["real"]
