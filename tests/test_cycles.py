"""A scenario that ended clean is freed by reference counting: no cyclic garbage per scenario
(the cyclic GC's pauses grew with every scenario of a long loop)."""

from __future__ import annotations

import gc

import pytest

from pytest_disconnect import Disconnect, Trigger
from pytest_disconnect._scenario.machine import Scenario

from .apps import instant, spawns_children, well_behaved


@pytest.mark.anyio
@pytest.mark.parametrize("clock", ["real", "virtual"])
@pytest.mark.parametrize(("app", "after"), [(instant, Trigger.never()), (well_behaved, Trigger.at(0.0)),
                                            (spawns_children, Trigger.never())])
async def test_a_clean_scenario_leaves_no_cycle(monkeypatch: pytest.MonkeyPatch, app: object, after: Trigger,
                                                clock: str) -> None:
    # The scenarios' parts by identity (a weak reference is cleared when the GC finds its object
    # unreachable); what the watchdog thread still holds for a moment is reachable, not garbage.
    parts: dict[int, str] = {}  # an id freed by reference counting may come back for a later part
    released: list[None] = []
    release = Scenario.release

    def watched_release(scenario: Scenario) -> None:
        released.append(None)
        for part in (scenario, scenario.workset, scenario.channel, scenario.call):
            parts[id(part)] = type(part).__qualname__
        release(scenario)

    monkeypatch.setattr(Scenario, "release", watched_release)
    disconnect = Disconnect()
    gc.collect()
    gc.disable()  # no collection until the one below, which keeps what it finds in gc.garbage
    try:
        for _ in range(3):
            await disconnect.arun(app, "GET", "/", after=after, clock=clock)  # type: ignore[arg-type]
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cyclic = sorted({parts[id(thing)] for thing in gc.garbage
                         if parts.get(id(thing)) == type(thing).__qualname__})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(released) == 3
    assert cyclic == []
