"""The timeline is recorded as data and formatted when read (pytest_disconnect/_result.py)."""

from __future__ import annotations

from pytest_disconnect import Event, Timeline
from pytest_disconnect._result import TimelineRecorder


class Loud:
    """An argument that counts how often it is formatted."""

    formatted = 0

    def __format__(self, spec: str) -> str:
        Loud.formatted += 1
        return "loud"


def test_arguments_are_formatted_only_when_the_timeline_is_read() -> None:
    recorder = TimelineRecorder()
    recorder.add(0.0, "task", "task ended: {}", Loud())
    timeline = recorder.freeze()
    assert Loud.formatted == 0 and len(timeline) == 1
    assert timeline.texts() == ["task ended: loud"]
    assert Loud.formatted == 1


def test_identical_lines_fold_however_they_were_recorded() -> None:
    recorder = TimelineRecorder()
    recorder.add(0.1, "loop", "event loop blocked for {:.2f} s", 0.101)
    recorder.add(0.2, "loop", "event loop blocked for {:.2f} s", 0.104)  # prints the same
    recorder.add(0.3, "loop", "event loop blocked for {:.2f} s", 0.2)
    recorder.add(0.4, "send", "send() <- {}", "http.response.body 2 B")
    recorder.add(0.5, "send", "send() <- {}", "http.response.body 3 B")
    assert recorder.freeze() == Timeline((
        Event(0.1, "loop", "event loop blocked for 0.10 s", 2, 0.2),
        Event(0.3, "loop", "event loop blocked for 0.20 s"),
        Event(0.4, "send", "send() <- http.response.body 2 B"),
        Event(0.5, "send", "send() <- http.response.body 3 B"),
    ))


def test_events_are_in_time_order_and_a_timeline_reads_as_before() -> None:
    recorder = TimelineRecorder()
    recorder.add(0.2, "client", "left (after=0.10 s)")
    recorder.add(0.1, "app", "app {}", "returned")
    timeline = recorder.freeze()
    assert [event.at for event in timeline] == [0.1, 0.2]
    assert repr(Timeline((Event(0.1, "app", "x"),))) == (
        "Timeline(events=(Event(at=0.1, actor='app', text='x', count=1, last_at=None),))")
