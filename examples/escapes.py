"""Where cancellation does not reach: threads, child processes, a blocked event loop.

A FastAPI app with four pairs of endpoints. In each pair the first is a bug a user
meets in real code, the second its fix. Cancelling a request's task (what
``cancel_on_disconnect()`` in app.py does) stops ``await``s, but not:

1. a sync ``def`` endpoint: FastAPI runs it in a worker thread, to the end;
2. work in a thread behind the blog's /with-context pattern: the task is cancelled,
   the thread is not;
3. a child process (the "nuclear option"): it runs on unless the handler kills it;
4. a blocking call in an ``async def`` handler: it holds the whole event loop, so
   the disconnect cannot even be delivered until it returns.

Every heavy job here is a short stand-in (about 1 s of ``time.sleep`` steps, a 5 s
child process), so the tests in test_escapes.py run in a few seconds.
Run them with:  python -m pytest examples/test_escapes.py -rA
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable

import anyio
import anyio.from_thread
import anyio.to_thread
from app import cancel_on_disconnect
from fastapi import FastAPI, Request

app = FastAPI()

STEP = 0.05  # seconds per step of crunch()
STEPS = 24  # 24 x 50 ms: 1.2 s of blocking work
BLOCK = 1.5  # seconds /blocks-loop holds the event loop
#: The child process of case 3: 5 s of work in another process.
CHILD = [sys.executable, "-c", "import time; time.sleep(5)"]


def keep_going() -> None:
    """The check of work that never stops early."""


def crunch(check: Callable[[], None] = keep_going) -> dict[str, int]:
    """A stand-in for 1.2 s of blocking work (CPU, a sync driver), in 50 ms steps.

    It calls ``check()`` between steps; a check that raises stops the work there.
    """
    for _ in range(STEPS):
        check()
        time.sleep(STEP)
    return {"steps": STEPS}


class Stopped(Exception):
    """Raised in crunch() by a check that was asked to stop."""


def until(stop: threading.Event) -> Callable[[], None]:
    """A check for crunch(): raise Stopped once ``stop`` is set (works in any thread)."""

    def check() -> None:
        if stop.is_set():
            raise Stopped

    return check


# 1. A sync `def` endpoint --------------------------------------------------------------


@app.get("/sync-def")
def sync_def() -> dict[str, int]:
    # FastAPI runs a `def` endpoint in a worker thread (run_in_threadpool). Nothing can
    # stop a thread from outside: the client leaves at 0.2 s, the work runs its 1.2 s.
    return crunch()


@app.get("/thread-checks-cancel")
async def thread_checks_cancel(request: Request) -> dict[str, int] | None:
    # The fix: an `async def` endpoint that runs the work in a thread itself, inside
    # cancel_on_disconnect(). The cancel reaches the awaiting task, and the thread learns
    # of it at its next anyio.from_thread.check_cancelled(), which raises the cancellation
    # in the thread. run_sync() waits for the thread (abandon_on_cancel=False, the
    # default), so the request ends when the work has really stopped. asyncio and trio.
    async with cancel_on_disconnect(request):
        return await anyio.to_thread.run_sync(crunch, anyio.from_thread.check_cancelled)
    return None  # the client left and the work stopped: nobody is waiting


# 2. The blog's /with-context pattern, with the work in a thread -------------------------


@app.get("/thread-with-context")
async def thread_with_context(request: Request) -> dict[str, int] | None:
    # app.py's /with-context, with the heavy work moved into asyncio.to_thread(). When the
    # client leaves, task.cancel() ends the task awaiting the thread at once; the thread
    # does not notice and crunches on for another second. asyncio only.
    async def watch() -> None:
        while not await request.is_disconnected():
            pass

    work = asyncio.create_task(asyncio.to_thread(crunch))
    watcher = asyncio.create_task(watch())
    done, pending = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()  # BUG: cancels the task, not the thread
    if work in done:
        return work.result()
    return None


@app.get("/thread-with-stop-event")
async def thread_with_stop_event(request: Request) -> dict[str, int] | None:
    # The fix with a threading.Event the work checks between steps. When the client
    # leaves, set the event and *await* the work (do not cancel it): the request ends
    # once the thread has stopped, not before. asyncio only, like the pattern it fixes.
    async def watch() -> None:
        while not await request.is_disconnected():
            pass

    stop = threading.Event()
    work = asyncio.create_task(asyncio.to_thread(crunch, until(stop)))
    watcher = asyncio.create_task(watch())
    await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if not work.done():
        stop.set()  # the client left: ask the thread to stop...
        try:
            await work  # ...and wait until it has (within one 50 ms step)
        except Stopped:
            return None
    watcher.cancel()
    return work.result()


# 3. Work in a child process: the "nuclear option" -------------------------------------


@app.get("/process-left-running")
async def process_left_running(request: Request) -> dict[str, int | None] | None:
    # The work runs in a child process so that it can be killed, but on disconnect the
    # handler only stops *waiting* for it: the child runs on with nobody to reap it.
    # asyncio only (asyncio.create_subprocess_exec).
    process = await asyncio.create_subprocess_exec(*CHILD)
    async with cancel_on_disconnect(request) as scope:
        await process.wait()
    if scope.cancelled_caught:
        return None  # BUG: the child is still running
    return {"exit": process.returncode}


@app.get("/process-killed")
async def process_killed(request: Request) -> dict[str, int | None] | None:
    # The fix: kill the child when the client leaves, and wait for it (reaping it, so no
    # zombie is left). anyio's `async with process` also kills it if the handler itself
    # is cancelled (server shutdown). asyncio and trio.
    async with await anyio.open_process(CHILD, stdin=None, stdout=None, stderr=None) as process:
        async with cancel_on_disconnect(request) as scope:
            await process.wait()
        if scope.cancelled_caught:
            process.kill()
            await process.wait()
            return None
        return {"exit": process.returncode}


# 4. A blocking call in an `async def` handler -------------------------------------------


@app.get("/blocks-loop")
async def blocks_loop() -> dict[str, str]:
    # BUG: a blocking call in async code holds the event loop: nothing else runs, and the
    # disconnect cannot be delivered until it returns. (The report quotes the next line.)
    time.sleep(BLOCK)
    return {"result": "done"}


@app.get("/awaits-sleep")
async def awaits_sleep(request: Request) -> dict[str, str] | None:
    # The fix: await instead of blocking (anyio.sleep for time.sleep, an async driver for
    # blocking I/O, a thread as in /thread-checks-cancel for CPU work), so the loop stays
    # free and the disconnect can cancel the wait. asyncio and trio.
    async with cancel_on_disconnect(request):
        await anyio.sleep(BLOCK)
        return {"result": "done"}
    return None
