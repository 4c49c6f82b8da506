"""run()/arun() against tiny apps, on asyncio (real clock) and trio (MockClock)."""

from __future__ import annotations

import re

import pytest

from pytest_disconnect import (
    Disconnect,
    HandlerKeptRunning,
    NotAnASGIApp,
    Settings,
    Trigger,
)
from tests import apps

pytestmark = pytest.mark.anyio

# Generous bounds: a stopping handler stops in milliseconds, an ignoring one runs
# apps.WORK (1 s) more; the tolerance sits far from both.
TOLERANCE = 0.3


def disconnect(**settings: object) -> Disconnect:
    values: dict[str, object] = {"tolerance": TOLERANCE, "patience": 3.0, **settings}
    return Disconnect(Settings(**values))  # type: ignore[arg-type]


async def test_a_handler_that_stops_passes() -> None:
    result = await disconnect().arun(apps.well_behaved, "GET", "/", after=0.1)
    assert result.verdict == "stopped"
    assert result.disconnected_at == pytest.approx(0.1)
    assert result.latency is not None and 0 <= result.latency < TOLERANCE
    assert result.status == 200  # answered to nobody, after the disconnect


async def test_a_handler_that_ignores_the_disconnect_fails_with_its_overrun() -> None:
    with pytest.raises(HandlerKeptRunning) as caught:
        await disconnect().arun(apps.ignores_disconnect, "GET", "/report", after=0.1)
    result = caught.value.result
    assert result.verdict == "kept-running"
    assert result.latency == pytest.approx(apps.WORK - 0.1, abs=0.2)
    assert str(caught.value).startswith("GET /report kept running 0.")
    assert "The app never called receive() after the client left" in str(caught.value)


async def test_an_oserror_raised_before_the_app_could_know_the_client_left_is_the_apps_error() -> None:
    async def io_error(scope: object, receive: object, send: object) -> None:
        raise OSError(5, "disk on fire")

    # OSError only excuses an app that stopped for a client it could know had left.
    with pytest.raises(OSError, match="disk on fire"):
        await disconnect().arun(io_error, "GET", "/", after=Trigger.never())
    with pytest.raises(OSError, match="disk on fire") as caught:
        await disconnect().arun(io_error, "GET", "/", after=0.5)
    assert "before the app could know the client left" in str(caught.value.__notes__)


async def test_check_false_returns_the_failing_result() -> None:
    result = await disconnect().arun(apps.ignores_disconnect, "GET", "/", after=0.1, check=False)
    assert not result.passed
    assert result.still_running[0].kind == "app"
    assert "in ignores_disconnect -> await anyio.sleep(WORK)" in (result.still_running[0].where or "")


async def test_by_default_the_client_leaves_right_after_the_request_body() -> None:
    result = await disconnect().arun(apps.echo, "POST", "/", body=b"hello", check=False)
    assert result.settings.source("after") == "default"
    assert result.timeline.texts()[:2] == ["receive() -> http.request (5 B, more_body=False)",
                                           "left (after=body-read)"]
    assert result.body == b"hello"  # answered to nobody


async def test_by_default_a_request_without_body_is_left_at_once() -> None:
    result = await disconnect().arun(apps.ignores_disconnect, "GET", "/", check=False)
    assert result.disconnected_at == 0.0
    assert result.latency == pytest.approx(apps.WORK, abs=0.2)


async def test_once_gone_the_rest_of_the_body_is_dropped_as_uvicorn_does() -> None:
    result = await disconnect().arun(apps.echo, "POST", "/", body=[b"a", b"b"], after=0.0, check=False)
    assert result.body == b""
    assert result.timeline.texts()[:2] == ["left (after=0.00 s)", "receive() -> http.disconnect"]


async def test_the_app_finishing_first_passes_with_no_disconnect() -> None:
    result = await disconnect().arun(apps.instant, "GET", "/", after=0.5)
    assert result.verdict == "finished"
    assert result.disconnected_at is None and result.latency is None
    assert (result.status, result.body) == (200, b"hello")


async def test_work_that_never_ends_is_cancelled_at_the_watch_limit_and_fails() -> None:
    with pytest.raises(HandlerKeptRunning) as caught:
        await disconnect(patience=0.5).arun(apps.never_ends, "GET", "/", after=0.0)
    result = caught.value.result
    assert result.verdict == "cancelled"
    assert result.latency is None and result.stopped_at is None
    assert result.cancelled_at == pytest.approx(0.5, abs=0.2)
    assert result.work[0].outcome == "cancelled by the harness"
    assert "until the harness cancelled it" in str(caught.value)


async def test_the_harness_never_cancels_before_the_tolerance() -> None:
    result = await disconnect(tolerance=0.8, patience=0.1).arun(
        apps.never_ends, "GET", "/", after=0.0, check=False)
    # patience shorter than tolerance is raised to it: no cancellation inside the tolerance
    assert result.cancelled_at is not None and result.cancelled_at >= 0.8


async def test_tasks_the_app_spawned_are_watched() -> None:
    result = await disconnect().arun(apps.spawns_children, "GET", "/", check=False)
    assert result.verdict == "kept-running"
    names = [record.name for record in result.work]
    assert any("child_work" in name for name in names), names


async def test_a_task_leaked_past_the_response_is_named(anyio_backend: object) -> None:
    if anyio_backend[0] != "asyncio":  # type: ignore[index]
        pytest.skip("plain asyncio task")
    result = await disconnect().arun(apps.leaks_a_task, "GET", "/", after=0.05, check=False)
    assert result.verdict == "leaked"
    leaked = [record for record in result.still_running if record.kind == "task"]
    assert leaked and "background_work" in leaked[0].name
    assert result.work[0].outcome == "returned"
    allowed = await disconnect().arun(apps.leaks_a_task, "GET", "/", allow=["background_work"])
    assert allowed.passed and allowed.allowed[0].name == "background_work"


# Real clocks: work that swallows cancellation never blocks, so a MockClock would never advance.
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_harness_names_work_that_resists_cancellation() -> None:
    app = apps.Resister()
    try:
        result = await disconnect(patience=0.3).arun(app, "GET", "/", check=False)
    finally:
        app.released.set()
    assert result.verdict == "resisted"
    assert [record.kind for record in result.resisted] == ["app"]


async def test_an_error_before_the_disconnect_is_raised_as_is() -> None:
    with pytest.raises(ValueError, match="bad handler") as caught:
        await disconnect().arun(apps.raises_at_once, "GET", "/", after=0.5)
    assert any("never tested" in note for note in caught.value.__notes__)


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (apps.body_before_start, "send() got 'http.response.body' before 'http.response.start'"),
        (apps.start_twice, "send() got 'http.response.start' twice"),
    ],
)
async def test_protocol_violations_fail_the_test_whatever_the_verdict(app: object, message: str) -> None:
    with pytest.raises(AssertionError) as caught:
        await disconnect().arun(app, "GET", "/", check=False)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert "broke the ASGI protocol" in caught.value.__notes__[0]


class TestTriggers:
    async def test_after_body_read(self) -> None:
        result = await disconnect().arun(apps.well_behaved, "POST", "/", body=[b"a", b"b"],
                                         after=Trigger.after_body_read())
        assert result.timeline.texts()[:3] == [
            "receive() -> http.request (1 B, more_body=True)",
            "receive() -> http.request (1 B, more_body=False)",
            "left (after=body-read)",
        ]

    async def test_mid_upload_the_rest_of_the_body_never_arrives(self) -> None:
        result = await disconnect().arun(apps.echo, "POST", "/", body=[b"a", b"b", b"c"],
                                         after=Trigger.after_request_chunks(1), check=False)
        assert result.body == b"a"
        assert result.timeline.texts()[:3] == [
            "receive() -> http.request (1 B, more_body=True)",
            "left (after=request-chunks:1)",
            "receive() -> http.disconnect",
        ]

    async def test_after_response_chunks(self) -> None:
        result = await disconnect().arun(apps.swallows_oserror_stream, "GET", "/",
                                         after=Trigger.after_response_chunks(2), check=False)
        assert result.disconnected_at is not None
        assert result.verdict == "kept-running"
        assert result.sends_after_disconnect == 19

    async def test_after_response_start(self) -> None:
        result = await disconnect(server="asgi-2.4").arun(
            apps.stops_on_oserror_stream, "GET", "/", after=Trigger.after_response_start())
        assert result.verdict == "stopped"
        assert isinstance(result.app_error, OSError)

    async def test_an_event_that_never_comes_fails_in_bounded_time(self) -> None:
        result = await disconnect(patience=0.5).arun(
            apps.never_ends, "GET", "/", after=Trigger.after_response_start(), check=False)
        assert result.verdict == "not-disconnected"
        assert result.disconnected_at is None

    async def test_never(self) -> None:
        result = await disconnect().arun(apps.instant, "GET", "/", after="never")
        assert result.verdict == "finished"


class TestServerProfiles:
    async def test_uvicorn_drops_late_sends_silently(self) -> None:
        result = await disconnect().arun(apps.stops_on_oserror_stream, "GET", "/",
                                         after=Trigger.after_response_chunks(1), check=False)
        assert result.verdict == "kept-running"
        assert result.app_error is None

    async def test_asgi_2_4_raises_client_disconnected(self) -> None:
        result = await disconnect(server="asgi-2.4").arun(
            apps.stops_on_oserror_stream, "GET", "/", after=Trigger.after_response_chunks(1))
        assert result.verdict == "stopped"
        assert type(result.app_error).__name__ == "ClientDisconnected"

    async def test_the_scope_advertises_the_profiles_spec_version(self) -> None:
        seen = {}

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            seen.update(scope["asgi"])
            await apps.respond(send)

        await disconnect(server="asgi-2.4").arun(app, "GET", "/")
        assert seen == {"version": "3.0", "spec_version": "2.4"}


class TestStarlette:
    async def test_is_disconnected_sees_the_disconnect(self) -> None:
        result = await disconnect().arun(apps.starlette_app, "GET", "/poll", after=0.1)
        assert result.verdict == "stopped"
        assert result.body == b"client left"

    async def test_base_http_middleware_hides_the_disconnect(self) -> None:
        """True of real servers too (the bug catalogue's B2): the poll spins to the end of the work."""
        result = await disconnect().arun(apps.starlette_behind_middleware, "GET", "/poll",
                                         after=0.1, check=False)
        assert result.verdict == "kept-running"

    async def test_streaming_response_stops_under_both_profiles(self) -> None:
        for server in ("uvicorn", "asgi-2.4"):
            result = await disconnect(server=server).arun(
                apps.starlette_app, "GET", "/stream", after=Trigger.after_response_chunks(2))
            assert result.verdict == "stopped", server


class TestBadInput:
    async def test_not_callable(self) -> None:
        with pytest.raises(NotAnASGIApp, match="is not an ASGI app: it is not callable"):
            await disconnect().arun(object(), "GET", "/")  # type: ignore[arg-type]

    async def test_wrong_signature(self) -> None:
        def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
            return []

        with pytest.raises(NotAnASGIApp, match=r"cannot be called as app\(scope, receive, send\)"):
            await disconnect().arun(wsgi, "GET", "/")  # type: ignore[arg-type]

    async def test_not_awaitable(self) -> None:
        def sync_app(scope, receive, send):  # type: ignore[no-untyped-def]
            return None

        with pytest.raises(NotAnASGIApp, match="returned NoneType, not an awaitable"):
            await disconnect().arun(sync_app, "GET", "/")

    async def test_bad_path(self) -> None:
        with pytest.raises(ValueError, match="path must start with '/'"):
            await disconnect().arun(apps.instant, "GET", "report")


async def test_a_repeated_call_takes_the_settings_of_its_own_test_and_checks_its_values() -> None:
    """arun() reuses the last call's settings for an identical call: never across tests, never for a bad value."""
    shared = disconnect()
    first = await shared.arun(apps.instant, "GET", "/", after=Trigger.never(), tolerance=1)
    assert first.settings.tolerance == 1.0
    shared.settings = Settings(tolerance=0.7)  # what the plugin does at the next test's setup
    second = await shared.arun(apps.instant, "GET", "/", after=Trigger.never(), tolerance=1)
    assert (second.settings.tolerance, second.settings.patience) == (1.0, Settings().patience)
    with pytest.raises(Exception) as fresh:
        await disconnect().arun(apps.instant, "GET", "/", after=Trigger.never(), tolerance=True)
    with pytest.raises(type(fresh.value), match=re.escape(str(fresh.value))):  # 1 == True, but True is no number
        await shared.arun(apps.instant, "GET", "/", after=Trigger.never(), tolerance=True)


async def test_a_repeated_call_checks_a_new_app_and_the_extras() -> None:
    """The reused settings skip no check of what changed: another object for the app, allow=/heavy= values."""
    shared = disconnect()
    await shared.arun(apps.instant, "GET", "/", after=Trigger.never())
    with pytest.raises(NotAnASGIApp, match="is not an ASGI app: it is not callable"):
        await shared.arun(object(), "GET", "/", after=Trigger.never())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allow= takes a list of names, not the string ''"):
        await shared.arun(apps.instant, "GET", "/", after=Trigger.never(), allow="")
    result = await shared.arun(apps.instant, "GET", "/", after=Trigger.never(), allow=[], heavy=[])
    assert result.verdict == "finished"


async def test_the_backend_is_found_outside_sniffios_search_and_named_outside_a_loop() -> None:
    """current() takes a shortcut to asyncio's loop; trio and no loop at all still go through sniffio."""
    import sniffio

    from pytest_disconnect._backends import current

    assert current().name == sniffio.current_async_library()
    assert current() is current()
    with pytest.raises(sniffio.AsyncLibraryNotFoundError):
        await _in_a_thread(current)


async def _in_a_thread(function: object) -> object:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(function)  # type: ignore[arg-type]


async def test_scenarios_sharing_a_trigger_keep_their_own_server_and_limits() -> None:
    """What a scenario takes from its settings alone is reused only for the same settings object."""
    leave_at_once = Trigger.at(0.0)
    silent = await Disconnect(Settings(server="uvicorn")).arun(apps.instant, "GET", "/", after=leave_at_once,
                                                               check=False)
    raising = await Disconnect(Settings(server="asgi-2.4")).arun(apps.instant, "GET", "/", after=leave_at_once,
                                                                 check=False)
    assert any("dropped: client gone" in event.text for event in silent.timeline)
    assert any("raised ClientDisconnected" in event.text for event in raising.timeline)
