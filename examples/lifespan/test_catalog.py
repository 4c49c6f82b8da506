"""The lifespan runs under disconnect.run()/arun(), so handlers reach their real work.

Run with:  python -m pytest examples/lifespan -rA
"""

from __future__ import annotations

import pytest
from catalog import app

from pytest_disconnect import Disconnect, HandlerKeptRunning, WrongRoute


def test_careless_keeps_fetching_for_a_departed_client(disconnect: Disconnect) -> None:
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/careless/book", after=0.5)
    assert caught.value.result.verdict == "kept-running"  # it reached the upstream call: the state was there


def test_careful_stops(disconnect: Disconnect) -> None:
    result = disconnect.run(app, "GET", "/careful/book", after=0.5)
    assert result.verdict == "stopped"


def test_one_lifespan_per_test(disconnect: Disconnect) -> None:
    """Startup once, before the first request: the cache it made is shared by the test's requests."""
    first = disconnect.run(app, "GET", "/careful/pen", after=5.0)
    again = disconnect.run(app, "GET", "/careful/pen", after=0.5)
    assert (first.body, again.body) == (b'{"price":42}', b'{"price":42}')
    assert again.verdict == "finished"  # from the cache: answered before the client left


@pytest.mark.anyio
async def test_careful_stops_on_the_tests_own_loop(disconnect: Disconnect) -> None:
    result = await disconnect.arun(app, "GET", "/careful/book", after=0.5)
    assert result.verdict == "stopped"


def test_without_the_lifespan_the_handler_never_runs(disconnect: Disconnect) -> None:
    result = disconnect.run(app, "GET", "/careless/book", after=0.5, lifespan="off", check=False)
    assert result.status == 500
    assert "'State' object has no attribute 'cache'" in str(result.app_error)


def test_a_typo_fails(disconnect: Disconnect) -> None:
    with pytest.raises(WrongRoute, match=r"GET /carless/book was answered 404 Not Found"):
        disconnect.run(app, "GET", "/carless/book", after=0.5)
