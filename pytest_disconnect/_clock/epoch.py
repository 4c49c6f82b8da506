"""Moving a running event loop's pending deadlines to a new epoch (private reach-ins, one place).

The virtual clock counts from 0 rather than from the loop's clock (``time.monotonic()``, the
machine's uptime, or trio's random offset): float sums like ``loop.time() + 0.05`` round
differently at different magnitudes, and an app's tick that ties with the client's
departure would fall either side of it depending on how long the machine has been up.
A loop that already has deadlines when the clock is installed keeps them: each is moved
by the same amount, so it falls due after the same wait as before.

What is moved, each checked against the release named:

* asyncio (CPython 3.11.7, 3.12.1, 3.13.0): every ``TimerHandle._when`` in
  ``loop._scheduled`` (shifting every entry by one amount keeps the heap ordered);
  for handles whose callback is a method of an anyio cancel scope (anyio 4.16's
  ``CancelScope._timeout``) or an ``asyncio.Timeout`` (``Timeout._on_timeout``), the
  deadline that object keeps too, since both compare it with the clock when they fire.
* trio (0.35): the entries of ``Runner.deadlines`` and the ``_deadline`` and
  ``_registered_deadline`` of each cancel scope there (entries trio left stale are dropped,
  as trio's own pruning does).

Anything else that holds a loop time read before the install (a time the test or a
lifespan stored) stays in the old epoch: the docs say so.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trio._core._run import Runner


def rebase_asyncio(loop: asyncio.AbstractEventLoop, shift: float) -> None:
    """Subtract ``shift`` from every pending timer of ``loop`` and the deadlines kept with them."""
    scheduled: list[asyncio.TimerHandle] | None = getattr(loop, "_scheduled", None)
    if scheduled is None:
        raise RuntimeError(
            f"pytest-disconnect's virtual clock cannot move the timers of this event loop "
            f"({type(loop).__qualname__}): it has no _scheduled heap. Turn the virtual clock off.")
    owners: set[int] = set()
    for handle in scheduled:
        handle._when -= shift  # type: ignore[attr-defined]
        owner = getattr(getattr(handle, "_callback", None), "__self__", None)
        if owner is not None and id(owner) not in owners:
            owners.add(id(owner))
            _rebase_owner(owner, shift)


def _rebase_owner(owner: Any, shift: float) -> None:
    module = type(owner).__module__
    if module == "anyio._backends._asyncio" and type(owner).__name__ == "CancelScope":
        owner._deadline -= shift
    elif type(owner).__module__ == "asyncio.timeouts" and type(owner).__name__ == "Timeout":
        when = owner._when
        if when is not None:
            owner._when = when - shift


def rebase_trio(runner: Runner, shift: float) -> None:
    """Subtract ``shift`` from every live deadline of a trio run."""
    deadlines = runner.deadlines
    moved = []
    seen: set[int] = set()
    for deadline, tiebreak, scope in deadlines._heap:
        if deadline != scope._registered_deadline or id(scope) in seen:
            continue  # stale or a duplicate: trio's own pruning drops these too
        seen.add(id(scope))
        scope._deadline -= shift
        scope._registered_deadline -= shift
        moved.append((deadline - shift, tiebreak, scope))
    heapq.heapify(moved)
    deadlines._heap = moved
