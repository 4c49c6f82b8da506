"""``disconnect.results`` in a long loop: the first failing results and the last ones, in flat memory."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc

import pytest

from pytest_disconnect import Disconnect, DisconnectResult, DisconnectTransport
from pytest_disconnect._report.kept_results import FAILING_KEPT, LAST_KEPT, Results

from .apps import ignores_disconnect, instant


@pytest.fixture(scope="module")
def passing() -> DisconnectResult:
    return Disconnect().run(instant, "GET", "/", after=0.5, clock="virtual")


@pytest.fixture(scope="module")
def failing() -> DisconnectResult:
    return Disconnect().run(ignores_disconnect, "GET", "/", after=0.0, tolerance=0.0, patience=0.0,
                            clock="virtual", check=False)


def test_a_short_test_keeps_every_result_as_a_list_would(passing: DisconnectResult) -> None:
    results = Results()
    made = [dataclasses.replace(passing, path=f"/{number}") for number in range(LAST_KEPT)]
    for result in made:
        results.append(result)
    assert results == made and list(results) == made and results[-1] is made[-1]
    assert (len(results), results.total, results.dropped) == (LAST_KEPT, LAST_KEPT, 0)
    results.clear()
    assert results == [] and results.total == 0
    assert isinstance(DisconnectTransport(instant).results, Results)  # the transport's keep the same way


def test_a_long_loop_keeps_the_first_failing_results_and_the_last_ones(
        passing: DisconnectResult, failing: DisconnectResult) -> None:
    results = Results()
    total = 3 * LAST_KEPT
    made = [dataclasses.replace(failing if number % 3 == 0 else passing, path=f"/{number}")
            for number in range(total)]
    for result in made:
        results.append(result)
    early_failing = [result for result in made[:-LAST_KEPT] if not result.passed][:FAILING_KEPT]
    assert list(results) == early_failing + made[-LAST_KEPT:]  # in run order
    assert results.total == total and results.dropped == total - FAILING_KEPT - LAST_KEPT
    assert repr(results) == f"<results: {FAILING_KEPT + LAST_KEPT} kept of {total}, {results.dropped} dropped>"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_two_thousand_scenarios_in_one_test_keep_memory_flat(disconnect: Disconnect, anyio_backend: str) -> None:
    """Each result is about 2 KB: the second thousand scenarios would add 2 MB if all were kept."""
    async def scenarios(count: int) -> None:
        for _ in range(count):
            await disconnect.arun(instant, "GET", "/", after=0.5, clock="virtual")

    tracemalloc.start()
    try:
        await scenarios(1000)  # past LAST_KEPT: the window is full from here on
        gc.collect()
        first = tracemalloc.get_traced_memory()[0]
        await scenarios(1000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - first
    finally:
        tracemalloc.stop()
    assert grown < 250_000, f"the second 1,000 scenarios kept {grown} bytes"
    assert disconnect.results.total == 2000 and len(disconnect.results) == LAST_KEPT
