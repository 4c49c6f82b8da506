"""Pure functions: a DisconnectResult (or Settings) in, text out."""

from __future__ import annotations

import math

from ._channel import LATE_NOTICE
from ._result import DisconnectResult, Event, WorkRecord
from ._settings import Settings

README = "README.md#"
#: Timelines longer than this keep their head and tail.
MAX_TIMELINE_LINES = 40


def header_line(settings: Settings) -> str:
    """The report header: 'disconnect: after=0.00 s (default), ...'."""
    return f"disconnect: {settings.describe()}"


def headline(result: DisconnectResult) -> str:
    """One line with the numbers, for both passing and failing runs."""
    target = f"{result.method} {result.path}"
    tolerance = f"(tolerance {result.settings.tolerance:.2f} s)"
    verdict = result.verdict
    if verdict == "finished":
        return f"{target} finished before the client left ({_after(result)})"
    if verdict == "not-disconnected":
        return (f"{target} was still running {result.cancelled_at or 0.0:.2f} s after the request "
                f"started, and the client never left ({_after(result)} did not happen)")
    gone = result.disconnected_at or 0.0
    if verdict == "stopped":
        return f"{target} stopped {result.latency or 0.0:.2f} s after http.disconnect {tolerance}"
    if verdict == "kept-running":
        return f"{target} kept running {result.latency or 0.0:.2f} s after http.disconnect {tolerance}"
    ran = (result.cancelled_at or gone) - gone
    if verdict == "cancelled":
        return (f"{target} kept running {ran:.2f} s after http.disconnect {tolerance}, "
                "until the harness cancelled it")
    return (f"{target} kept running {ran:.2f} s after http.disconnect {tolerance}, "
            "and went on after the harness cancelled it")


def failure_message(result: DisconnectResult) -> str:
    """The whole report carried by HandlerKeptRunning."""
    parts = [headline(result), "", *timeline_lines(result), ""]
    cause = likely_cause(result)
    if cause:
        parts += [f"  {cause}"]
    parts += _running_lines(result)
    parts += ["", f"  {result.settings.describe()}", f"  {_advice(result)}"]
    return "\n".join(parts)


def section_text(result: DisconnectResult) -> str:
    """The 'disconnect' report section (shown with -rA and in JUnit XML)."""
    if not result.passed:
        return failure_message(result)
    return "\n".join([headline(result), "", *timeline_lines(result), "",
                      f"  {result.settings.describe()}"])


def timeline_lines(result: DisconnectResult) -> list[str]:
    """The timeline, repeats folded; a long one keeps its head, its tail and every key event."""
    rendered: list[tuple[bool, str]] = []
    seen_disconnect = False
    for event in result.timeline:
        key = event.actor in ("client", "app", "harness")
        if event.text == "receive() -> http.disconnect" and not seen_disconnect:
            key = seen_disconnect = True
        rendered += [(key, line) for line in _event_lines(event)]
    if len(rendered) > MAX_TIMELINE_LINES:
        head, tail = 20, 12
        kept: list[str] = []
        skipped = 0
        for index, (key, line) in enumerate(rendered):
            if key or index < head or index >= len(rendered) - tail:
                if skipped:
                    kept.append(f"  ...     ({skipped} more lines)")
                    skipped = 0
                kept.append(line)
            else:
                skipped += 1
        return ["  t (s)   event", *kept]
    return ["  t (s)   event", *(line for _, line in rendered)]


def _event_lines(event: Event) -> list[str]:
    first = f"  {event.at:.3f}   {event.actor:<8} {event.text}"
    if event.count == 1:
        return [first]
    more = event.count - 1
    last = event.last_at if event.last_at is not None else event.at
    return [first, f"  {last:.3f}   {event.actor:<8} ... {more} more, the same"]


def likely_cause(result: DisconnectResult) -> str:
    """A sentence on why the work kept running, from what the channel saw."""
    if result.passed:
        return ""
    if result.verdict == "not-disconnected":
        return (f"The disconnect was to happen {result.settings.after.describe()}, and the app never "
                "got there. Pick a trigger the app reaches, or a time (after=SECONDS).")
    sentences = []
    gone = result.disconnected_at or 0.0
    if result.delivered_at is None:
        sentences.append("The event loop was blocked from before the client left until the app "
                         "finished, so the app could never see the disconnect: something blocks "
                         "the loop (time.sleep(), CPU work or blocking I/O in async code).")
    elif (result.delivery_delay or 0.0) >= LATE_NOTICE:
        sentences.append(f"The event loop was busy, so http.disconnect reached the app "
                         f"{result.delivery_delay:.2f} s late (at +{result.delivered_at:.2f} s): "
                         "something blocks the loop (time.sleep(), CPU work or blocking I/O in async code).")
    if result.receives_after_disconnect == 0:
        sentences.append("The app never called receive() after the client left, so it could not "
                         "learn of the disconnect.")
    else:
        first = result.first_seen_at if result.first_seen_at is not None else gone
        times = result.receives_after_disconnect
        sentences.append(f"receive() returned http.disconnect {times} time{'s' if times != 1 else ''} "
                         f"(first at +{first:.3f} s), but the work went on: whatever saw it did "
                         "not stop the work.")
    if result.sends_after_disconnect:
        sends = result.sends_after_disconnect
        if result.settings.server == "asgi-2.4":
            sentences.append(f"send() raised ClientDisconnected {sends} time{'s' if sends != 1 else ''}, "
                             "and the app carried on.")
        else:
            sentences.append(f"It sent {sends} message{'s' if sends != 1 else ''} to the departed "
                             f"client ({result.settings.server} drops them silently).")
    if result.verdict == "resisted":
        sentences.append("Some work caught the harness's cancellation and carried on; it is left "
                         "behind, named below.")
    return "\n  ".join(sentences)


def _running_lines(result: DisconnectResult) -> list[str]:
    running = result.still_running
    if not running:
        return []
    at = (result.disconnected_at or 0.0) + result.settings.tolerance
    if result.verdict == "not-disconnected":
        lines = [f"  Still running at +{result.cancelled_at or 0.0:.2f} s:"]
    else:
        lines = [f"  Still running at +{at:.2f} s (the tolerance):"]
    for record in running:
        lines.append(f"    {_work_line(record)}")
    return lines


def _work_line(record: WorkRecord) -> str:
    label = "app" if record.kind == "app" else f"task {record.name}"
    if record.ended_at is None:
        fate = "left behind, still running"
    else:
        fate = f"ended at +{record.ended_at:.2f} s ({record.outcome})"
    return f"{label}: {record.where}  [{fate}]"


def _advice(result: DisconnectResult) -> str:
    if result.verdict == "not-disconnected":
        return f"Intended? Choose another moment: @pytest.mark.disconnect(after=...)  ({README}after)"
    latency = result.latency
    if latency is not None:
        suggestion = math.ceil(latency * 1.25 * 10) / 10
        return (f"Intended? Raise the limit: @pytest.mark.disconnect(tolerance={suggestion:g})  "
                f"({README}tolerance)")
    return ("Intended? Watch longer before the harness cancels: "
            f"@pytest.mark.disconnect(patience=SECONDS)  ({README}patience)")


def _after(result: DisconnectResult) -> str:
    return f"after={result.settings.show('after')}"
