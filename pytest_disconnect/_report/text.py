"""Pure functions: a DisconnectResult (or Settings) in, text out."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .._asgi.channel import LATE_NOTICE
from .._harness_lines import ABANDONED_APP, closed_task, unclosable_task
from .._links import docs_link
from .._result import DisconnectResult, Event, WorkRecord
from .._settings import Settings

#: Where the advice at the end of a report points: the reference page of each setting.
_TOLERANCE = docs_link("reference", "tolerance")
_PATIENCE = docs_link("reference", "patience")
_AFTER = docs_link("reference", "after")
_ALLOW = docs_link("reference", "allow")
LIFETIME_DOCS = docs_link("app-lifetime-and-time", "app-lifetime-work-is-not-request-work")
_BUSY_POLLING = docs_link("how-it-works", "busy-polling")
_KNOWN_BUGS = docs_link("how-it-works", "known-bugs-the-report-names")
_CLOCK_READS = docs_link("virtual-clock", "reads-of-the-real-clock")
#: Timelines longer than this keep their head and tail.
MAX_TIMELINE_LINES = 40


def header_line(settings: Settings) -> str:
    """The report header: 'disconnect: after=0.20 s (--disconnect-after), ...'."""
    return f"disconnect: {run_wide(settings)}"


def run_wide(settings: Settings) -> str:
    """The run's settings, true for every entry point: the default moment is run()'s and
    arun()'s only, since a DisconnectTransport request's client leaves when it gives up."""
    audit = f", audit=on ({settings.source('audit')})" if settings.audit else ""
    if "after" in settings.sources:
        return settings.describe() + audit
    rest = "".join(f", {name}={settings.show(name)} ({settings.source(name)})"
                   for name in settings.described() if name != "after")
    return (f"after={settings.show('after')} for run()/arun(), when the client gives up for "
            f"DisconnectTransport (default){rest}{audit}")


def headline(result: DisconnectResult) -> str:
    """One line with the numbers, for both passing and failing runs; says if the clock was virtual."""
    line = _headline(result)
    return f"{line} [virtual clock]" if result.clock == "virtual" else line


def _headline(result: DisconnectResult) -> str:
    target = f"{result.method} {result.path}"
    tolerance = f"(tolerance {result.settings.tolerance:.2f} s)"
    verdict = result.verdict
    if verdict == "finished":
        return f"{target} finished before the client left ({_after(result)})"
    if verdict == "not-disconnected":
        running = f"{target} was still running {result.cancelled_at or 0.0:.2f} s after the request started"
        if result.response_complete_at is not None:
            return (f"{running}, though it sent its whole response at +{result.response_complete_at:.2f} s "
                    f"(a client leaving after the response cannot be seen: {_after(result)})")
        if result.settings.after.kind == "never":
            return f"{running}, with no disconnect ({_after(result)})"
        return f"{running}, and the client never left ({_after(result)} did not happen)"
    if verdict == "leaked":
        returned = result.returned_at or 0.0
        ran = (result.stopped_at if result.stopped_at is not None else (result.cancelled_at or returned)) - returned
        return (f"{target} returned at +{returned:.2f} s but left work running {ran:.2f} s after it {tolerance}"
                + (", until the harness cancelled it" if result.cancelled_at is not None else ""))
    if verdict == "cancelled-from-outside":
        return (f"{target} was cancelled from outside the channel, not by the disconnect: "
                "nothing about its disconnect handling was shown")
    gone = result.disconnected_at or 0.0
    if verdict == "stopped":  # usually well under a second: '0.00 s' would say nothing
        if not result.looked:  # within the tolerance, but not because of the disconnect
            return (f"{target} ended {_duration(result.latency or 0.0)} after http.disconnect without "
                    f"looking at it {tolerance}")
        return f"{target} stopped {_duration(result.latency or 0.0)} after http.disconnect {tolerance}"
    if verdict == "kept-running":
        return f"{target} kept running {result.latency or 0.0:.2f} s after http.disconnect {tolerance}"
    ran = (result.cancelled_at or gone) - gone
    if verdict == "cancelled":
        return (f"{target} kept running {ran:.2f} s after http.disconnect {tolerance}, "
                "until the harness cancelled it")
    return (f"{target} kept running {ran:.2f} s after http.disconnect {tolerance}, "
            "and went on after the harness cancelled it")


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def failure_message(result: DisconnectResult) -> str:
    """The whole report carried by HandlerKeptRunning."""
    parts = [headline(result), "", *timeline_lines(result), ""]
    cause = likely_cause(result)
    if cause:
        parts += [f"  {cause}"]
    parts += _running_lines(result) + _heavy_lines(result) + _allowed_lines(result) + _poll_lines(result)
    parts += _notice_lines(result) + _clock_lines(result)
    parts += ["", f"  {result.settings.describe()}", f"  {_advice(result)}"]
    return "\n".join(parts)


def section_text(result: DisconnectResult) -> str:
    """The 'disconnect' report section (shown with -rA)."""
    if not result.passed:
        return failure_message(result)
    return "\n".join([headline(result), "", *timeline_lines(result), *_heavy_lines(result),
                      *_allowed_lines(result), *_poll_lines(result), *_notice_lines(result),
                      *_clock_lines(result), "",
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
    """Sentences on why the work kept running, from what the channel and the watchers saw."""
    if result.passed:
        return ""
    if result.verdict == "cancelled-from-outside":
        return ("Something cancelled the app call itself (a cancel scope around the test, or "
                "task.cancel()); a handler with no disconnect handling would stop that way too.")
    if result.verdict == "leaked":
        return ("Work the app started was still running after the app call returned: nothing owns it "
                "any more, so nothing will stop it when the client leaves. Await it inside the "
                "request, or allow it if it must outlive the request.")
    if result.verdict == "not-disconnected":
        if result.response_complete_at is not None:
            return ("Work the app does after its response (a BackgroundTask, a leaked task) outlived "
                    "patience. If it is meant to, allow it.")
        if result.settings.after.kind == "never":
            return "With after=never the app must finish on its own within patience."
        return (f"The disconnect was to happen {result.settings.after.describe()}, and the app never "
                "got there. Pick a trigger the app reaches, or a time (after=SECONDS).")
    sentences = [*_block_sentences(result)]
    gone = result.disconnected_at or 0.0
    raised = result.settings.server == "asgi-2.4"
    if result.receives_after_disconnect:
        first = result.first_seen_at if result.first_seen_at is not None else gone
        times = result.receives_after_disconnect
        sentences.append(f"receive() returned http.disconnect {_times(times)} (first at +{first:.3f} s), "
                         "but the work went on: whatever saw it did not stop the work.")
    elif result.sends_after_disconnect and raised and isinstance(result.app_error, OSError):
        sentences.append("The app never called receive() after the client left; it only stopped when send() "
                         "raised ClientDisconnected, after its work was done.")
    elif result.sends_after_disconnect and raised:
        sentences.append(f"send() raised ClientDisconnected {_times(result.sends_after_disconnect)}, and "
                         "the app carried on: it swallowed the OSError and never called receive().")
    else:
        sentences.append("The app never called receive() after the client left, so it could not "
                         "learn of the disconnect.")
    if result.sends_after_disconnect and not raised:
        sends = result.sends_after_disconnect
        sentences.append(f"It sent {sends} message{'s' if sends != 1 else ''} to the departed "
                         f"client ({result.settings.server} drops them silently).")
    for record in result.work:
        if record.kind == "thread" and record.owner_ended_at is not None and (
                record.ended_at is None or record.ended_at > record.owner_ended_at + result.settings.tolerance):
            until = "is still running" if record.ended_at is None else f"ran until +{record.ended_at:.2f} s"
            sentences.append(f"The task waiting for thread {record.name} ended at +{record.owner_ended_at:.2f} s, "
                             f"but the thread {until}: cancellation does not reach threads.")
    for record in result.work:
        if record.kind == "process" and (record.ended_at is None or record.ended_at > gone + result.settings.tolerance):
            fate = ("the harness killed it at the watch limit" if result.cancelled_at is not None
                    else f"it ended at +{record.ended_at or 0.0:.2f} s")
            sentences.append(f"The app left child process {record.name.split(':')[0]} running: kill it and "
                             f"wait for it when the client leaves ({fate}).")
    if result.verdict == "resisted":
        sentences.append("Some work went on after the harness cancelled the app: it caught the "
                         "cancellation, or it runs where cancellation does not reach (a thread, a "
                         "process, a task group the app does not own). It is named below.")
    return "\n  ".join(sentences)


def _block_sentences(result: DisconnectResult) -> list[str]:
    sentences = []
    for block in result.blocks:
        at = f" at {block.where}" if block.where else ""
        sentences.append(f"The event loop was blocked for {block.end - block.start:.2f} s, from "
                         f"+{block.start:.2f} s to +{block.end:.2f} s{at}: a blocking call in async "
                         "code (time.sleep(), CPU work, blocking I/O) stops everything, the disconnect too.")
    if result.delivered_at is None and result.disconnected_at is not None and not result.blocks:
        sentences.append("The event loop was blocked from before the client left until the app "
                         "finished, so the app could never see the disconnect: something blocks "
                         "the loop (time.sleep(), CPU work or blocking I/O in async code).")
    elif (result.delivery_delay or 0.0) >= LATE_NOTICE:
        sentences.append(f"http.disconnect reached the app {result.delivery_delay:.2f} s late "
                         f"(at +{result.delivered_at:.2f} s), because the event loop was busy.")
    return sentences


def _times(count: int) -> str:
    return f"{count} time{'s' if count != 1 else ''}"


def _running_lines(result: DisconnectResult) -> list[str]:
    running = result.still_running
    if not running:
        return []
    at = (result.disconnected_at or 0.0) + result.settings.tolerance
    if result.verdict == "leaked":
        at = (result.returned_at or 0.0) + result.settings.tolerance
    if result.verdict == "not-disconnected":
        lines = [f"  Still running at +{result.cancelled_at or 0.0:.2f} s:"]
    else:
        lines = [f"  Still running at +{at:.2f} s (the tolerance):"]
    closed = _closed_by_harness(result)
    for record in running:
        lines.append(f"    {_work_line(record, closed)}")
    return lines


def _heavy_lines(result: DisconnectResult) -> list[str]:
    lines = []
    gone = result.disconnected_at
    for record in result.heavy:
        if record.ended_at is None:
            fate = "still running when the harness gave up"
        else:
            verb = {"cancelled": "cancelled", "finished": "finished anyway"}.get(record.outcome or "", record.outcome)
            after = f", {record.ended_at - gone:.2f} s after http.disconnect" if gone is not None else ""
            fate = f"{verb} at +{record.ended_at:.2f} s{after}"
        beats = f"; {record.heartbeats} heartbeats" if record.heartbeats else ""
        lines.append(f"  Heavy work {record.name}: {fate}{beats}")
    return lines


#: receive() calls per second above which the app is busy-polling (a real wait makes a handful).
BUSY_POLL_RATE = 1000.0


def _poll_lines(result: DisconnectResult) -> list[str]:
    """A notice, not a failure: a poll loop stops in time but keeps a core busy meanwhile."""
    span = max((record.ended_at or 0.0) for record in result.work) if result.work else 0.0
    if result.receive_calls < 100 or span <= 0 or result.receive_calls / span < BUSY_POLL_RATE:
        return []
    return [f"  Busy-polling: receive() was called {result.receive_calls:,} times in {span:.2f} s "
            f"({result.receive_calls / span:,.0f}/s), which keeps a core busy; wait in a task that "
            f"awaits receive() until http.disconnect instead ({_BUSY_POLLING})."]


def _notice_lines(result: DisconnectResult) -> list[str]:
    """Known bugs the channel saw, whatever the verdict: a response to nobody, a lost request body."""
    lines = []
    gone, started = result.disconnected_at, result.response_started_at
    # A failing report says it already ('It sent 2 messages to the departed client').
    # An error answer only: a handler that stops and returns still answers (200 'null'), harmlessly.
    if (result.passed and gone is not None and started is not None and started >= gone
            and (result.status or 0) >= 400):
        lines.append(f"  Response to nobody: the app started a {result.status} response at +{started:.2f} s, "
                     f"{started - gone:.2f} s after the client left, and sent {result.sends_after_disconnect} "
                     f"message(s) to it; an app that notices the disconnect should stop, not answer ({_KNOWN_BUGS}).")
    if result.chunks_thrown_away:
        chunks = result.chunks_thrown_away
        lines.append(f"  Lost request body: is_disconnected() read {chunks} body chunk{'s' if chunks != 1 else ''} "
                     f"and threw it away; read the body first (await request.body()), then poll ({_KNOWN_BUGS}).")
    return lines


def _clock_lines(result: DisconnectResult) -> list[str]:
    """What the virtual clock could not reach: real-rate stretches, the app's own clock reads."""
    lines = []
    starved = sum(end - start for start, end in result.starved)
    if starved:
        lines.append(f"  Virtual clock: the event loop never slept for {starved:.2f} s in all (busy-polling "
                     "or blocking code), so time ran at the real rate then.")
    for read in result.time_reads:
        lines.append(f"  Virtual clock: the app read the real clock, {read}; it sees real time while the "
                     f"loop's jumps ahead: use anyio.current_time() or loop.time() ({_CLOCK_READS})")
    return lines


def _allowed_lines(result: DisconnectResult) -> list[str]:
    return [(f"  App-lifetime work (built-in list), not judged: {record.kind} {record.name}, "
             f"{record.infrastructure} " if record.infrastructure is not None else
             f"  Allowed to outlive the request: {record.kind} {record.name} ")
            + ("(still running)" if record.ended_at is None else f"(ended at +{record.ended_at:.2f} s)")
            for record in result.allowed]


def allow_advice(result: DisconnectResult, names: list[str]) -> str:
    """Where to allow ``names``, in the form that fits how the test made its request."""
    quoted, plain = ", ".join(repr(name) for name in names), ",".join(names)
    run_wide = f"disconnect_allow = {plain} in the ini file, or --disconnect-allow={plain}"
    if result.entry == "audit":
        return (f"Intended? If it lives as long as the app (a cache refresher, a pool reaper), "
                f"declare it once for the run: {run_wide}  ({LIFETIME_DOCS})")
    call = (f"DisconnectTransport(app, allow=[{quoted}])" if result.entry == "transport"
            else f"run(..., allow=[{quoted}])")
    return (f"Intended? Let it outlive the request: {call}; if it lives as long as the app, "
            f"once for the run: {run_wide}  ({LIFETIME_DOCS})")


def _left_running(result: DisconnectResult) -> list[str]:
    """Tasks, threads and processes still running past the tolerance after the app call had ended."""
    app_ended = any(record.kind == "app" and record.ended_at is not None and (
        result.cancelled_at is None or record.ended_at < result.cancelled_at) for record in result.work)
    if not app_ended:
        return []
    return list(dict.fromkeys(_allow_name(record) for record in result.still_running if record.kind != "app"))


#: The function in a "path:line in function -> code" location (_watch/frames.py's describe_frame).
_FUNCTION = re.compile(r":\d+ in ([\w.<>]+)")


def _allow_name(record: WorkRecord) -> str:
    """The name to allow ``record`` by: its own, unless that cannot stand in a comma-separated list
    on a command line (datasette names its writer threads '_execute_writes for database NAME', one
    per database); then the function it runs, which allow matches anywhere on its stack."""
    name = record.name
    if record.kind not in ("task", "thread") or not any(char.isspace() or char == "," for char in name):
        return name
    function = _FUNCTION.search(record.where or "")
    return function.group(1) if function is not None else name


def _work_line(record: WorkRecord, closed: Mapping[str, str]) -> str:
    label = "app" if record.kind == "app" else f"{record.kind} {record.name}"
    if record.ended_at is not None:
        fate = f"ended at +{record.ended_at:.2f} s ({record.outcome})"
    else:
        fate = closed.get(label, "left behind, still running")
    return f"{label}: {record.where}  [{fate}]"


def _closed_by_harness(result: DisconnectResult) -> dict[str, str]:
    """What the harness did to each piece of work it closed or parked, from the timeline: such work
    never ends on its own, so its record reads as running, though nothing of it runs any more."""
    closed = {}
    running = {("app" if record.kind == "app" else f"{record.kind} {record.name}"): record.name
               for record in result.still_running if record.ended_at is None}
    for event in result.timeline:
        if event.actor != "harness":
            continue
        for label, name in running.items():
            if event.text == (ABANDONED_APP if label == "app" else closed_task(name)):
                closed[label] = f"closed by the harness at +{event.at:.2f} s after it ignored cancellation"
            elif label != "app" and event.text == unclosable_task(name):
                closed[label] = (f"ignored cancellation and GeneratorExit: parked by the harness at "
                                 f"+{event.at:.2f} s, never to run again")
    return closed


def _advice(result: DisconnectResult) -> str:
    if result.verdict == "leaked":
        names = list(dict.fromkeys(_allow_name(record) for record in result.still_running if record.kind != "app"))
        return allow_advice(result, names)
    if result.verdict == "cancelled-from-outside":
        return "Let the plugin decide: do not cancel the test around run()/arun() before it returns."
    left_running = _left_running(result)
    if left_running and result.verdict in ("not-disconnected", "cancelled", "resisted"):
        return allow_advice(result, left_running)  # the app call had ended: what ran on is not the handler
    if result.verdict == "not-disconnected" and (
            result.settings.after.kind == "never" or result.response_complete_at is not None):
        return ("Intended? Watch longer: @pytest.mark.disconnect(patience=SECONDS)  "
                f"({_PATIENCE})")
    if result.verdict == "not-disconnected":
        return f"Intended? Choose another moment: @pytest.mark.disconnect(after=...)  ({_AFTER})"
    latency = result.latency
    if latency is not None:
        suggestion = math.ceil(latency * 1.25 * 10) / 10
        return (f"Intended? Raise the limit: @pytest.mark.disconnect(tolerance={suggestion:g})  "
                f"({_TOLERANCE})")
    return ("Intended? Watch longer before the harness cancels: "
            f"@pytest.mark.disconnect(patience=SECONDS)  ({_PATIENCE})")


def _after(result: DisconnectResult) -> str:
    return f"after={result.settings.show('after')}"
