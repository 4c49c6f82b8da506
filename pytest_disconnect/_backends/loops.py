"""Starting a fresh event loop in the calling thread: the one place that picks asyncio or trio by name.

Everything else asks the running loop's backend (``_backends.current()``); a loop
starter has no running loop to ask yet, so it is given the library's name. Handing
work to a loop once it runs is the backend's ``post()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

#: The event-loop libraries a sync run() can start.
LoopName = Literal["asyncio", "trio"]
#: Seconds a loop may take to shut down after its main coroutine, before it is left behind.
SHUTDOWN_GRACE = 1.0

Main = Callable[[], Awaitable[object]]


def loop_starter(name: LoopName) -> Callable[[Main], None]:
    """What runs ``main()`` on a new ``name`` loop in the calling thread and closes the loop after it.

    Called on the caller's thread, so that importing trio (slow, optional) happens there
    and an ImportError reaches the caller as it is.
    """
    if name == "trio":
        import trio

        def run_trio(main: Main) -> None:
            trio.run(main)

        return run_trio
    return run_asyncio


def run_asyncio(main: Main) -> None:
    """asyncio.run(), minus the wait for tasks that ignore cancellation."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers, timeout=SHUTDOWN_GRACE))
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), SHUTDOWN_GRACE))
        finally:
            loop.close()  # tasks still pending here are abandoned, never to run again
