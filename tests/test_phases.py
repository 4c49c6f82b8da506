"""The driver's phases cannot misread: work that ends, then starts again, is watched to its real end.

asyncio finalizes an async generator the app abandoned by running ``aclose()`` in a new task,
created in the request's context after the app returned: all the work had ended, and then
some started again. The verdict, the latency and the timeline must say what happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from pytest_disconnect import Disconnect, Settings
from pytest_disconnect._types import Receive, Scope, Send

STEP = 1.5  # seconds of work per step
LEAVE = 2.0  # the client leaves during the second step, which ends at 3.0 s
LIMIT_TEXT = "watch limit reached"


async def _steps() -> AsyncIterator[bytes]:
    done = 0
    while True:
        await anyio.sleep(STEP)
        done += 1
        yield f"step {done}\n".encode()


async def abandons_its_generator(scope: Scope, receive: Receive, send: Send) -> None:
    """Stops after the step in progress (send() raises at its end); the generator is left to the finalizer."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        async for chunk in _steps():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except OSError:
        return


async def ignores_the_disconnect_between_steps(scope: Scope, receive: Receive, send: Send) -> None:
    """Cancelled by the harness outside its generator, which is then left to the finalizer."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    steps = _steps()
    try:
        while True:
            await steps.__anext__()
            await anyio.sleep(0.1)  # where the harness's cancellation lands
    except BaseException:
        del steps  # its last reference: the finalizer gets the generator now, not at some later GC
        raise


def _driver(**settings: object) -> Disconnect:
    values: dict[str, object] = {"tolerance": 0.5, "patience": 5.5, "server": "asgi-2.4", **settings}
    return Disconnect(Settings(**values))  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio closes abandoned generators in a system task
async def test_a_finalizer_after_the_app_returned_is_kept_running_with_its_latency() -> None:
    result = await _driver().arun(abandons_its_generator, "GET", "/", after=LEAVE, check=False)
    assert result.verdict == "kept-running"
    assert result.cancelled_at is None and LIMIT_TEXT not in " ".join(result.timeline.texts())
    assert result.latency == pytest.approx(2 * STEP - LEAVE, abs=0.05)


def test_on_the_virtual_clock_the_latency_is_exact() -> None:
    result = _driver(clock="virtual").run(abandons_its_generator, "GET", "/", after=LEAVE, check=False)
    assert (result.verdict, result.latency) == ("kept-running", 2 * STEP - LEAVE)
    assert "task ended: async_generator_athrow" in result.timeline.texts()


def test_a_finalizer_during_the_cancel_grace_is_not_resistance() -> None:
    # Cancelled at 3.15 s, in the app's own sleep (3.10-3.20 s), outside its generator.
    result = _driver(clock="virtual", patience=1.15).run(ignores_the_disconnect_between_steps, "GET", "/",
                                                         after=LEAVE, check=False)
    assert result.verdict == "cancelled"  # not 'resisted': the finalizer's task ended too
    assert result.cancelled_at == pytest.approx(LEAVE + 1.15)
    assert "task ended: async_generator_athrow" in result.timeline.texts()
    assert result.timeline.texts().count("harness cancelled the app (watch limit reached)") == 1
