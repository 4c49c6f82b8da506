"""Wakes a waiting scenario when anything changes: the client left, the app returned, work ended."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from .._types import WaitableEvent


class Waker:
    """A reusable wake-up: set() from callbacks, wait_until() from the scenario."""

    def __init__(self, new_event: Callable[[], WaitableEvent]) -> None:
        self._new_event = new_event
        self._event: WaitableEvent | None = None
        self._pending = False

    def set(self) -> None:
        self._pending = True
        if self._event is not None:
            self._event.set()

    async def wait_until(self, deadline: float) -> bool:
        """Wait for the next change, until ``deadline``; False if the deadline came first."""
        if not self._pending:
            self._event = self._new_event()
            with anyio.move_on_at(deadline):
                await self._event.wait()
        woken, self._pending, self._event = self._pending, False, None
        return woken
