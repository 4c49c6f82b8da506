"""A scenario that ended clean is freed by reference counting: no cyclic garbage per scenario
(the cyclic GC's pauses grew with every scenario of a long loop)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pytest_disconnect import Disconnect, Trigger

from .apps import instant, spawns_children, well_behaved


@contextmanager
def garbage() -> Iterator[list[object]]:
    """The objects the cyclic GC would have freed, while the block runs."""
    for _ in range(3):  # earlier tests' garbage, freed in stages (finalizers, weak references)
        gc.collect()
    gc.garbage.clear()
    gc.disable()  # collected once, at the end
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _ours(objects: list[object]) -> list[str]:
    return sorted({type(thing).__qualname__ for thing in objects
                   if type(thing).__module__.startswith("pytest_disconnect")})


@pytest.mark.anyio
@pytest.mark.parametrize("clock", ["real", "virtual"])
@pytest.mark.parametrize(("app", "after"), [(instant, Trigger.never()), (well_behaved, Trigger.at(0.0)),
                                            (spawns_children, Trigger.never())])
async def test_a_clean_scenario_leaves_no_cycle(app: object, after: Trigger, clock: str) -> None:
    disconnect = Disconnect()
    await disconnect.arun(app, "GET", "/", after=after, clock=clock)  # type: ignore[arg-type]  # installs the loop's clock
    with garbage() as found:
        for _ in range(3):
            await disconnect.arun(app, "GET", "/", after=after, clock=clock)  # type: ignore[arg-type]
        gc.collect()
        left = list(found)
    assert _ours(left) == []
