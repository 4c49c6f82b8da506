"""run(): a fresh loop in a worker thread, which the caller can give up on."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_disconnect import Disconnect, EventLoopBlocked, HandlerKeptRunning, Settings
from pytest_disconnect._types import Receive, Scope, Send
from tests import apps


def loop_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate()
            if thread.name.startswith("pytest-disconnect") and "watchdog" not in thread.name]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_on_each_backend(backend: str) -> None:
    result = Disconnect().run(apps.well_behaved, "GET", "/", after=0.05, backend=backend)  # type: ignore[arg-type]
    assert result.verdict == "stopped"
    assert not loop_threads()


def test_work_that_resists_cancellation_is_abandoned_with_its_loop() -> None:
    app = apps.Resister()  # never released: run() must not wait for it
    started = time.monotonic()
    with pytest.raises(HandlerKeptRunning) as caught:
        Disconnect(Settings(tolerance=0.1, patience=0.2)).run(app, "GET", "/")
    assert caught.value.result.verdict == "resisted"
    assert time.monotonic() - started < 10  # bounded: patience + cancel grace + shutdown grace
    assert "went on after the harness cancelled it" in str(caught.value)
    for thread in loop_threads():
        thread.join(5)
    assert not loop_threads()  # the loop was closed, not left spinning


def test_a_loop_blocked_past_the_tolerance_delivers_the_disconnect_late() -> None:
    async def blocks(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(0.4)  # the bug under test: blocking call in async code
        await apps.respond(send)

    result = Disconnect(Settings(tolerance=0.1)).run(blocks, "GET", "/", after=0.1, check=False)
    assert result.verdict == "kept-running"
    assert result.disconnected_at == pytest.approx(0.1)
    assert result.delivered_at is None  # the app finished before the loop could tell it
    assert result.latency is not None and result.latency > 0.2
    texts = result.timeline.texts()
    assert any("the busy event loop never delivered it" in text for text in texts)
    assert any(text.startswith("event loop blocked for 0.") and "in blocks -> time.sleep(0.4)" in text
               for text in texts)
    assert result.blocks and result.blocks[0].end - result.blocks[0].start >= 0.3


def test_a_loop_blocked_for_good_fails_in_bounded_time() -> None:
    release = threading.Event()

    async def hangs(scope: Scope, receive: Receive, send: Send) -> None:
        release.wait(30)  # blocks the loop until the test lets go

    started = time.monotonic()
    try:
        with pytest.raises(EventLoopBlocked) as caught:
            Disconnect(Settings(tolerance=0.1, patience=0.1)).run(hangs, "GET", "/hang")
    finally:
        release.set()
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert message.startswith("GET /hang: the event loop stopped answering for 5.20 s")
    assert "test_sync_run.py" in message and "in hangs -> release.wait(30)" in message


def test_a_thread_that_never_returns_fails_in_bounded_time() -> None:
    """Sync run(): the thread is named and left behind; the next scenario runs normally."""
    release = threading.Event()

    async def stuck(scope: Scope, receive: Receive, send: Send) -> None:
        import anyio.to_thread

        await anyio.to_thread.run_sync(release.wait, 60)

    started = time.monotonic()
    try:
        with pytest.raises(HandlerKeptRunning) as caught:
            Disconnect(Settings(tolerance=0.1, patience=0.3)).run(stuck, "GET", "/stuck")
    finally:
        release.set()
    assert time.monotonic() - started < 10
    assert caught.value.result.verdict == "resisted"
    assert "thread Event.wait:" in str(caught.value) and "left behind, still running" in str(caught.value)
    assert Disconnect().run(apps.well_behaved, "GET", "/", after=0.05).passed
