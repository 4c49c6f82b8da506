"""Global patches have one owner: installed once, counted, removed by the last user (_watch/patches.py)."""

from __future__ import annotations

import asyncio
import types

import pytest

from pytest_disconnect import Disconnect, Settings
from pytest_disconnect._watch import patches
from pytest_disconnect._watch.patches import Patch
from tests import apps


def original() -> str:
    return "original"


def replacement() -> str:
    return "replacement"


def module() -> types.ModuleType:
    owner = types.ModuleType("owner")
    setattr(owner, "f", original)  # noqa: B010 - a module made here
    return owner


def test_a_patch_is_installed_for_the_first_user_and_removed_after_the_last() -> None:
    owner = module()
    patch = Patch(owner, "f", replacement)
    patch.acquire()
    patch.acquire()
    assert owner.f is replacement
    patch.release()
    assert owner.f is replacement
    patch.release()
    assert owner.f is original


def test_a_patch_leaves_alone_what_someone_else_put_there() -> None:
    owner = module()
    patch = Patch(owner, "f", replacement)
    with patch.lease():
        setattr(owner, "f", print)  # noqa: B010 - someone else's wrapper
    assert owner.f is print


def test_a_held_patch_stays_until_the_end_of_the_run_and_is_held_anew_after() -> None:
    owner = module()
    patch = Patch(owner, "f", replacement)
    patch.hold()
    patch.hold()
    assert patch.users == 1 and owner.f is replacement
    patches.end_of_run()
    assert owner.f is original
    patch.hold()
    assert owner.f is replacement
    patches.end_of_run()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_task_factory_stays_between_scenarios_and_ignores_tasks_outside_them() -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    try:
        loop.set_task_factory(None)
        disconnect = Disconnect(Settings(tolerance=0.3, patience=3.0))
        first = await disconnect.arun(apps.well_behaved, "GET", "/", after=0.05)
        factory = loop.get_task_factory()
        assert factory is not None  # left on the loop: the next scenario does not install it again
        outside = loop.create_task(asyncio.sleep(0))
        await outside
        second = await disconnect.arun(apps.well_behaved, "GET", "/", after=0.05)
        assert loop.get_task_factory() is factory
        assert first.passed and second.passed
        assert [record.kind for record in second.work] == [record.kind for record in first.work]
        patches.end_of_run()  # the end of the run takes it off every loop
        assert loop.get_task_factory() is None
    finally:
        patches.end_of_run()
        loop.set_task_factory(previous)
