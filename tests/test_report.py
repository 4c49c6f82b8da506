"""Report texts, compared whole, from hand-built results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

import pytest_disconnect
from pytest_disconnect import DisconnectResult, Event, Settings, Timeline, Trigger, WorkRecord, _links, _report
from pytest_disconnect._links import DOCS_URL
from pytest_disconnect._report.text import failure_message, headline, section_text, timeline_lines

SETTINGS = Settings(after=Trigger.at(0.1), tolerance=0.5,
                    sources={"after": "--disconnect-after", "tolerance": "disconnect_tolerance in pyproject.toml"})

KEPT_RUNNING = DisconnectResult(
    method="GET", path="/events", settings=SETTINGS,
    disconnected_at=0.1, delivered_at=0.1, first_seen_at=0.101, stopped_at=3.0, cancelled_at=None,
    status=200, headers=(), body=b"",
    timeline=Timeline((
        Event(0.0, "receive", "receive() -> http.request (0 B, more_body=False)"),
        Event(0.003, "send", "send() <- http.response.start 200"),
        Event(0.1, "client", "left (after=0.10 s)"),
        Event(0.101, "send", "send() <- http.response.body 512 B (more_body=True)  raised ClientDisconnected",
              count=58, last_at=2.95),
        Event(3.0, "app", "app returned"),
    )),
    work=(WorkRecord("_AppRunner.run", "app", 0.0, 3.0, "returned",
                     "app/events.py:42 in stream -> await sleep(0.05)"),),
    verdict="kept-running", receive_calls=1, receives_after_disconnect=0, sends_after_disconnect=58,
)


def test_kept_running() -> None:
    settings = replace(SETTINGS, server="asgi-2.4")
    assert failure_message(replace(KEPT_RUNNING, settings=settings)) == "\n".join([
        "GET /events kept running 2.90 s after http.disconnect (tolerance 0.50 s)",
        "",
        "  t (s)   event",
        "  0.000   receive  receive() -> http.request (0 B, more_body=False)",
        "  0.003   send     send() <- http.response.start 200",
        "  0.100   client   left (after=0.10 s)",
        "  0.101   send     send() <- http.response.body 512 B (more_body=True)  raised ClientDisconnected",
        "  2.950   send     ... 57 more, the same",
        "  3.000   app      app returned",
        "",
        "  send() raised ClientDisconnected 58 times, and the app carried on: it swallowed the OSError "
        "and never called receive().",
        "  Still running at +0.60 s (the tolerance):",
        "    app: app/events.py:42 in stream -> await sleep(0.05)  [ended at +3.00 s (returned)]",
        "",
        "  after=0.10 s (--disconnect-after), tolerance=0.50 s (disconnect_tolerance in pyproject.toml), "
        "patience=5.00 s (default), server=asgi-2.4 (default), clock=real (default), live=off (default), "
        "lifespan=auto (default)",
        f"  Intended? Raise the limit: @pytest.mark.disconnect(tolerance=3.7)  ({DOCS_URL}reference/#tolerance)",
    ])


def test_the_virtual_clock_is_named_with_what_it_could_not_reach() -> None:
    settings = replace(SETTINGS, clock="virtual", sources={**SETTINGS.sources, "clock": "--disconnect-clock"})
    result = replace(KEPT_RUNNING, settings=settings, starved=((0.1, 0.35), (1.0, 1.25)),
                     time_reads=("time.monotonic() at app.py:7 in poll -> if time.monotonic() > t:",))
    message = failure_message(result).split("\n")
    assert message[0] == "GET /events kept running 2.90 s after http.disconnect (tolerance 0.50 s) [virtual clock]"
    assert message[-5:-3] == [
        "  Virtual clock: the event loop never slept for 0.50 s in all (busy-polling or blocking code), "
        "so time ran at the real rate then.",
        "  Virtual clock: the app read the real clock, time.monotonic() at app.py:7 in poll -> if "
        "time.monotonic() > t:; it sees real time while the loop's jumps ahead: use anyio.current_time() "
        f"or loop.time() ({DOCS_URL}virtual-clock/#reads-of-the-real-clock)",
    ]
    assert message[-2].endswith("clock=virtual (--disconnect-clock), live=off (default), lifespan=auto (default)")


def test_cancelled_resisting_and_late_delivery() -> None:
    result = replace(
        KEPT_RUNNING, delivered_at=0.4, first_seen_at=0.45, stopped_at=None, cancelled_at=5.1,
        verdict="resisted", receives_after_disconnect=3, sends_after_disconnect=0,
        timeline=Timeline((Event(0.1, "client", "left (after=0.10 s)"),)),
        work=(WorkRecord("_AppRunner.run", "app", 0.0, None, None, "app.py:3 in spin -> await x()"),
              WorkRecord("tick", "task", 0.01, 5.2, "cancelled", "app.py:9 in tick -> await y()")),
    )
    assert failure_message(result).split("\n")[0] == (
        "GET /events kept running 5.00 s after http.disconnect (tolerance 0.50 s), "
        "and went on after the harness cancelled it")
    assert failure_message(result).split("\n")[5:14] == [
        "  http.disconnect reached the app 0.30 s late (at +0.40 s), because the event loop was busy.",
        "  receive() returned http.disconnect 3 times (first at +0.450 s), but the work went on: "
        "whatever saw it did not stop the work.",
        "  Some work went on after the harness cancelled the app: it caught the cancellation, or it runs "
        "where cancellation does not reach (a thread, a process, a task group the app does not own). "
        "It is named below.",
        "  Still running at +0.60 s (the tolerance):",
        "    app: app.py:3 in spin -> await x()  [left behind, still running]",
        "    task tick: app.py:9 in tick -> await y()  [ended at +5.20 s (cancelled)]",
        "",
        "  after=0.10 s (--disconnect-after), tolerance=0.50 s (disconnect_tolerance in pyproject.toml), "
        "patience=5.00 s (default), server=uvicorn (default), clock=real (default), live=off (default), "
        "lifespan=auto (default)",
        "  Intended? Watch longer before the harness cancels: @pytest.mark.disconnect(patience=SECONDS)  "
        f"({DOCS_URL}reference/#patience)",
    ]
    assert headline(replace(result, verdict="cancelled")).endswith("until the harness cancelled it")


def test_passing_headlines_and_section() -> None:
    stopped = replace(KEPT_RUNNING, stopped_at=0.1004, verdict="stopped", receives_after_disconnect=1)
    assert headline(stopped) == "GET /events stopped 0.4 ms after http.disconnect (tolerance 0.50 s)"
    unaware = replace(stopped, receives_after_disconnect=0)
    assert headline(unaware) == ("GET /events ended 0.4 ms after http.disconnect without looking at it "
                                 "(tolerance 0.50 s)")
    finished = replace(KEPT_RUNNING, disconnected_at=None, verdict="finished")
    assert headline(finished) == "GET /events finished before the client left (after=0.10 s)"
    assert section_text(stopped).split("\n")[-1] == "  " + SETTINGS.describe()
    assert section_text(KEPT_RUNNING) == failure_message(KEPT_RUNNING)


def test_busy_polling_is_noticed_on_passing_runs_too() -> None:
    stopped = replace(KEPT_RUNNING, stopped_at=0.5, verdict="stopped", receive_calls=20_000,
                      work=(replace(KEPT_RUNNING.work[0], ended_at=0.5),))
    assert section_text(stopped).split("\n")[-3] == (
        "  Busy-polling: receive() was called 20,000 times in 0.50 s (40,000/s), which keeps a core busy; "
        f"wait in a task that awaits receive() until http.disconnect instead ({DOCS_URL}how-it-works/#busy-polling).")
    assert "Busy-polling" not in section_text(replace(stopped, receive_calls=50))


def test_not_disconnected() -> None:
    settings = replace(SETTINGS, after=Trigger.after_response_start())
    result = replace(KEPT_RUNNING, settings=settings, disconnected_at=None, delivered_at=None,
                     stopped_at=None, cancelled_at=5.0, verdict="not-disconnected",
                     timeline=Timeline(()))
    lines = failure_message(result).split("\n")
    assert lines[0] == ("GET /events was still running 5.00 s after the request started, and the client "
                        "never left (after=response-start did not happen)")
    assert lines[4] == ("  The disconnect was to happen after http.response.start, and the app never got "
                        "there. Pick a trigger the app reaches, or a time (after=SECONDS).")
    assert lines[-1] == ("  Intended? Choose another moment: @pytest.mark.disconnect(after=...)  "
                         f"({DOCS_URL}reference/#after)")


def test_long_timelines_keep_the_key_events() -> None:
    noise = [Event(0.001 * i, "task", f"task exited: child {i}") for i in range(100)]
    events = (*noise[:50], Event(0.1, "client", "left (after=0.10 s)"),
              Event(0.101, "receive", "receive() -> http.disconnect"), *noise[50:])
    lines = timeline_lines(replace(KEPT_RUNNING, timeline=Timeline(events)))
    assert "  0.100   client   left (after=0.10 s)" in lines
    assert "  0.101   receive  receive() -> http.disconnect" in lines
    assert lines[21] == "  ...     (30 more lines)"
    assert len(lines) <= 40


def test_reports_link_to_the_docs_site_only() -> None:
    source = Path(_report.__file__).read_text()
    assert "README" not in source
    assert set(_links.LINKED) >= {("reference", "tolerance"), ("reference", "patience"),
                                                ("reference", "after"), ("reference", "allow"),
                                                ("how-it-works", "busy-polling")}
    assert _links.docs_link("reference", "tolerance") == f"{DOCS_URL}reference/#tolerance"


def test_public_names() -> None:
    public = {name for name in dir(pytest_disconnect)
              if name.isidentifier() and not name.startswith("_")
              and not isinstance(getattr(pytest_disconnect, name), ModuleType)}
    public.add("__version__")
    assert sorted(pytest_disconnect.__all__) == sorted(public)


def test_loading_the_plugin_leaves_the_driver_unimported() -> None:
    import subprocess
    import sys

    code = "import pytest_disconnect.plugin, sys; print('pytest_disconnect._scenario.driver' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("name", pytest_disconnect.__all__)
def test_public_classes_name_the_public_module(name: str) -> None:
    value = getattr(pytest_disconnect, name)
    if isinstance(value, type) and issubclass(value, BaseException):
        assert value.__module__ == "pytest_disconnect"


def test_work_the_harness_closed_says_so_where_it_is_listed() -> None:
    """A task closed at its await, one that could not be closed, and an abandoned app call each
    read as what the harness did, not as work left running."""
    result = replace(
        KEPT_RUNNING, stopped_at=None, cancelled_at=5.1, verdict="resisted",
        timeline=Timeline((
            Event(0.1, "client", "left (after=0.10 s)"),
            Event(6.1, "harness", "harness closed task tick: it went on after the cancellation"),
            Event(6.1, "harness", "harness could not close task stubborn: it caught GeneratorExit too; "
                                  "it is parked, never to run again, and left out of the loop's shutdown"),
            Event(6.2, "harness", "harness abandoned the app call: it went on after the cancellation"),
        )),
        work=(WorkRecord("_AppRunner.run", "app", 0.0, None, None, "app.py:3 in spin -> await x()"),
              WorkRecord("tick", "task", 0.01, None, None, "app.py:9 in tick -> await y()"),
              WorkRecord("stubborn", "task", 0.01, None, None, "app.py:14 in stubborn -> await z()"),
              WorkRecord("thread", "thread", 0.02, None, None, "app.py:20 in work -> time.sleep(9)")),
    )
    message = failure_message(result).split("\n")
    start = message.index("  Still running at +0.60 s (the tolerance):")
    assert message[start + 1:start + 5] == [
        "    app: app.py:3 in spin -> await x()  [closed by the harness at +6.20 s after it ignored cancellation]",
        "    task tick: app.py:9 in tick -> await y()  "
        "[closed by the harness at +6.10 s after it ignored cancellation]",
        "    task stubborn: app.py:14 in stubborn -> await z()  [ignored cancellation and GeneratorExit: "
        "parked by the harness at +6.10 s, never to run again]",
        "    thread thread: app.py:20 in work -> time.sleep(9)  [left behind, still running]",
    ]
