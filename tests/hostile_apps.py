"""Apps that try to hang or poison the harness: each must end its test with a failing verdict.

They are run by tests/test_hostile.py in a pytester subprocess bounded by a timeout, so a
regression fails instead of hanging the suite. Each releases what it holds when the test
process exits (daemon work only where the bug under test is not the thread itself).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import anyio
import anyio.to_thread

from pytest_disconnect._types import Receive, Scope, Send

#: Seconds the endless work would run for: longer than any test may take.
FOREVER = 3600.0


async def _read_body(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def swallows_cancellation(scope: Scope, receive: Receive, send: Send) -> None:
    """Catches cancellation forever: `while True: try: await sleep(1) except CancelledError: pass`."""
    cancelled = anyio.get_cancelled_exc_class()
    while True:
        try:
            await anyio.sleep(1)
        except cancelled:
            pass


async def receive_loop(scope: Scope, receive: Receive, send: Send) -> None:
    """Calls receive() in a tight loop after the disconnect: it never suspends, so nothing else runs."""
    while True:
        await receive()


async def blocks_loop_busy(scope: Scope, receive: Receive, send: Send) -> None:
    """An async handler that never yields: a pure-Python busy loop holds its event loop for good."""
    while True:
        pass


async def blocks_loop_sleeping(scope: Scope, receive: Receive, send: Send) -> None:
    """An async handler that calls time.sleep(): a C call holds its event loop for good."""
    time.sleep(FOREVER)


async def thread_sleeps_forever(scope: Scope, receive: Receive, send: Send) -> None:
    """Waits for a worker thread that never returns (abandon_on_cancel=False: cancellation waits too)."""
    await anyio.to_thread.run_sync(time.sleep, FOREVER)


def _sleep_forever() -> None:
    time.sleep(FOREVER)


async def starts_a_thread(scope: Scope, receive: Receive, send: Send) -> None:
    """Starts a plain non-daemon threading.Thread that outlives the request."""
    threading.Thread(target=_sleep_forever, name="hand-started").start()
    await _until_disconnect(receive)


async def starts_a_short_thread(scope: Scope, receive: Receive, send: Send) -> None:
    """Starts a plain thread whose work outlives the disconnect by 1 s, then ends."""
    threading.Thread(target=time.sleep, args=(1.0,), name="hand-started-short").start()
    await _until_disconnect(receive)


async def starts_a_child(scope: Scope, receive: Receive, send: Send) -> None:
    """Starts a child process and waits for it without ever looking at the disconnect."""
    child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({FOREVER})"])
    pid_file = os.environ.get("HOSTILE_PID_FILE")
    if pid_file:  # for a test that interrupts the run and then looks for the child
        with open(pid_file, "w") as out:
            out.write(str(child.pid))
    while child.poll() is None:
        await anyio.sleep(0.05)


async def returns_without_response(scope: Scope, receive: Receive, send: Send) -> None:
    await _read_body(receive)


async def sends_only_start(scope: Scope, receive: Receive, send: Send) -> None:
    await _read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def int_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": 5})


async def str_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": "text"})


async def str_header(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [("content-type", "text/plain")]})
    await send({"type": "http.response.body", "body": b""})


async def _swallows_cancellation_forever() -> None:
    cancelled = anyio.get_cancelled_exc_class()
    while True:
        try:
            await anyio.sleep(1)
        except cancelled:
            pass


async def spawns_a_stubborn_task(scope: Scope, receive: Receive, send: Send) -> None:
    """asyncio: spawns a task outside any task group that swallows cancellation forever."""
    import asyncio

    STUBBORN.add(asyncio.get_running_loop().create_task(_swallows_cancellation_forever()))
    await _until_disconnect(receive)


async def _swallows_everything_forever() -> None:
    while True:
        try:
            await anyio.sleep(1)
        except BaseException:  # cancellation and GeneratorExit alike
            pass


async def spawns_an_unclosable_task(scope: Scope, receive: Receive, send: Send) -> None:
    """asyncio: spawns a task outside any task group that catches GeneratorExit too."""
    import asyncio

    STUBBORN.add(asyncio.get_running_loop().create_task(_swallows_everything_forever()))
    await _until_disconnect(receive)


#: asyncio keeps only weak references to tasks: the app keeps its own, as apps must.
STUBBORN: set[object] = set()
