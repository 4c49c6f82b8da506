"""The Hypothesis strategies: arguments, bounds, shrinking, and channel properties they drive."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from pytest_disconnect import PROFILES, Disconnect, Settings, Trigger
from pytest_disconnect import strategies as ds
from pytest_disconnect._types import Message, Receive, Scope, Send

FAST = settings(max_examples=60, deadline=None, database=None)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ds.moments(min_value=-1), "min_value=-1 must be >= 0"),
        (lambda: ds.moments(max_value=float("nan")), "max_value=nan must be a finite number"),
        (lambda: ds.moments(min_value=2, max_value=1), "min_value=2 is greater than max_value=1"),
        (lambda: ds.moments(resolution=0), "resolution=0 must be > 0"),
        (lambda: ds.moments(max_chunks=0), "max_chunks=0 must be a whole number >= 1"),
        (lambda: ds.moments(events=False, times=False), "leave no moments to draw"),
        (lambda: ds.bodies(min_size=-1), "min_size=-1 must be a whole number >= 0"),
        (lambda: ds.bodies(min_size=3, max_size=2), "min_size=3 is greater than max_size=2"),
        (lambda: ds.bodies(min_chunk_size=5, max_chunk_size=4), "min_chunk_size=5 is greater"),
        (lambda: ds.bodies(max_chunk_size=True), "max_chunk_size=True must be a whole number"),
    ],
)
def test_bad_arguments_raise_invalid_argument(build: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build()


@FAST
@given(ds.moments(min_value=0.2, max_value=0.5, resolution=0.1, times=True, events=False))
def test_times_stay_in_bounds_on_the_grid(moment: Trigger) -> None:
    assert moment.kind == "time" and moment.seconds in (0.2, 0.3, 0.4, 0.5)


@FAST
@given(ds.bodies(min_size=1, max_size=3, max_chunk_size=2))
def test_bodies_stay_in_bounds(body: list[bytes]) -> None:
    assert 1 <= len(body) <= 3 and all(len(chunk) <= 2 for chunk in body)


def test_moments_shrink_to_the_earliest_event() -> None:
    assert find(ds.moments(), lambda moment: True) == Trigger.after_request_chunks(0)
    assert find(ds.moments(), lambda moment: moment.kind == "response-chunks") == (
        Trigger.after_response_chunks(1))
    assert find(ds.moments(events=False, min_value=0.1), lambda moment: True) == Trigger.at(0.1)


def test_bodies_shrink_to_empty_and_servers_to_the_default() -> None:
    assert find(ds.bodies(), lambda body: True) == []
    assert find(ds.bodies(), lambda body: len(body) >= 2) == [b"", b""]
    assert find(ds.servers(), lambda server: True) == "uvicorn"


def test_falsifying_examples_print_as_constructor_calls() -> None:
    assert [repr(moment) for moment in (Trigger.at(0.5), Trigger.after_body_read(), Trigger.never())] == [
        "Trigger.at(0.5)", "Trigger.after_body_read()", "Trigger.never()"]


def test_module_exports() -> None:
    assert ds.__all__ == ["bodies", "moments", "servers"]


class Recorder:
    """Reads the whole body, then streams until the client leaves; records what it saw."""

    def __init__(self, repeats_disconnect: bool = True) -> None:
        self.received: list[Message] = []
        self.send_errors = 0
        self.repeats_disconnect = repeats_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        messages = [{"type": "http.response.start", "status": 200, "headers": []}]
        messages += [{"type": "http.response.body", "body": b"x", "more_body": True}] * 3
        messages += [{"type": "http.response.body", "body": b""}]  # a whole response, as a server needs
        for message in messages:
            try:
                await send(message)
            except OSError:
                self.send_errors += 1
        if self.received[-1]["type"] == "http.disconnect" and self.repeats_disconnect:
            for _ in range(3):  # once gone, receive() keeps saying so (not on hypercorn: it waits)
                self.received.append(await receive())


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(moment=ds.moments(max_value=0.02, resolution=0.01), body=ds.bodies(), server=ds.servers())
def test_channel_properties(moment: Trigger, body: list[bytes], server: str) -> None:
    app = Recorder(PROFILES[server].repeats_disconnect)
    result = Disconnect(Settings(tolerance=0.5, patience=0.5)).run(
        app, "POST", "/", after=moment, body=body, server=server, check=False)
    requests = [message for message in app.received if message["type"] == "http.request"]
    assert sum(not message["more_body"] for message in requests) <= 1
    first_gone = next((i for i, m in enumerate(app.received) if m["type"] == "http.disconnect"), None)
    if first_gone is not None:
        assert all(m["type"] == "http.disconnect" for m in app.received[first_gone:])
    if result.disconnected_at is not None:
        assert result.latency is None or result.latency >= 0
        if server == "asgi-2.4":
            assert app.send_errors == result.sends_after_disconnect
        else:
            assert app.send_errors == 0
    assert result.passed


@settings(max_examples=20, deadline=None, database=None)
@given(st.data())
def test_the_shared_fixture_starts_each_example_fresh(disconnect: Disconnect, data: st.DataObject) -> None:
    """Used inside @given without a health-check error; results do not pile up across tests."""
    moment = data.draw(ds.moments(events=False, max_value=0.01))
    before = len(disconnect.results)
    disconnect.run(Recorder(), "GET", "/", after=moment, check=False)
    assert len(disconnect.results) == before + 1
