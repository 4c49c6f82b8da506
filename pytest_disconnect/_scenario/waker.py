"""Wakes a waiting scenario when anything changes: the client left, the app returned, work ended.

Built on the backend's own primitives (a future and a timer on asyncio, an event in a trio
cancel scope): anyio's cancel scope per wait cost more than the rest of the wait.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Protocol


class Waker(Protocol):
    def set(self) -> None:
        """Something changed: the next (or current) wait returns True."""

    async def wait_until(self, deadline: float) -> bool:
        """Wait for the next change, until ``deadline`` on the loop's clock; False if the deadline came first."""


def waker_for(backend: str) -> Waker:
    if backend == "trio":
        return TrioWaker()
    return AsyncioWaker()


class AsyncioWaker:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._future: Any = None
        self._pending = False

    def set(self) -> None:
        self._pending = True
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait_until(self, deadline: float) -> bool:
        if not self._pending:
            loop = self._loop
            future = self._future = loop.create_future()
            # call_at reads loop.time(), which the virtual clock shadows: deadlines are on the scenario's clock.
            timer = None if deadline == math.inf else loop.call_at(deadline, _expire, future)
            try:
                await future
            finally:
                self._future = None
                if timer is not None:
                    timer.cancel()
        woken, self._pending = self._pending, False
        return woken


def _expire(future: Any) -> None:
    if not future.done():
        future.set_result(None)


class TrioWaker:
    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._event: Any = None
        self._pending = False

    def set(self) -> None:
        self._pending = True
        if self._event is not None:
            self._event.set()

    async def wait_until(self, deadline: float) -> bool:
        if not self._pending:
            trio = self._trio
            self._event = trio.Event()
            try:
                with trio.move_on_at(deadline):
                    await self._event.wait()
            finally:
                self._event = None
        woken, self._pending = self._pending, False
        return woken
