"""Value objects: what happened in one scenario."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import TYPE_CHECKING, Literal, TypeVar

from ._asgi.servers import PROFILES
from ._settings import Settings

Actor = Literal["client", "receive", "send", "app", "task", "thread", "process", "heavy", "loop",
                "harness"]

_Frozen = TypeVar("_Frozen")

Verdict = Literal[
    "finished",        # the app finished before the client left: nothing to check
    "stopped",         # all work stopped within the tolerance after the disconnect
    "kept-running",    # work stopped on its own, but after the tolerance
    "cancelled",       # work was still running at the watch limit; the harness cancelled it
    "resisted",        # work kept running even after the harness cancelled it
    "not-disconnected",  # the trigger never fired and the app did not finish in time
    "cancelled-from-outside",  # something else cancelled the app call: nothing was proven
    "leaked",          # the app returned, but work it started ran on past the tolerance
]
PASSING: frozenset[Verdict] = frozenset({"finished", "stopped"})
#: How the test made the request: disconnect.run()/arun(), a DisconnectTransport it set up, or a
#: DisconnectTransport request under a run-wide after= (an audit of an existing suite).
Entry = Literal["fixture", "transport", "audit"]


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline; ``count`` > 1 when identical events ran in a row."""

    at: float
    actor: Actor
    text: str
    count: int = 1
    last_at: float | None = None


#: One recorded event, as data: (at, actor, text or template, the template's arguments, count, last_at).
_Raw = tuple[float, Actor, str, tuple[object, ...], int, "float | None"]


def _event(raw: _Raw) -> Event:
    at, actor, text, args, count, last_at = raw
    return Event(at, actor, text.format(*args) if args else text, count, last_at)


class Timeline:
    """The scenario's events in order, times in seconds from the request start.

    Recorded as data and turned into ``Event`` lines (their text formatted) only when read:
    most scenarios pass and nobody reads their timeline.
    """

    __slots__ = ("_events", "_raw")

    def __init__(self, events: tuple[Event, ...] = ()) -> None:
        self._events: tuple[Event, ...] | None = tuple(events)
        self._raw: list[_Raw] = []

    @classmethod
    def recorded(cls, raw: list[_Raw]) -> Timeline:
        """A timeline from a recorder's data (the recorder hands its list over and records no
        more); put in time order when first read, like the text."""
        timeline = cls.__new__(cls)
        timeline._events = None
        timeline._raw = raw
        return timeline

    @property
    def events(self) -> tuple[Event, ...]:
        if self._events is None:
            # In time order, stable: a disconnect the busy loop delivered late is dated when the
            # client left, and ties keep the order they were recorded in.
            self._events = tuple(map(_event, sorted(self._raw, key=_at)))
            self._raw = []
        return self._events

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._raw) if self._events is None else len(self._events)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeline) and self.events == other.events

    def __hash__(self) -> int:
        return hash(self.events)

    def __repr__(self) -> str:
        return f"Timeline(events={self.events!r})"

    def texts(self) -> list[str]:
        return [event.text for event in self.events]


#: An event's time (a C-level key: the sort runs once per scenario).
_at: Callable[[_Raw], float] = itemgetter(0)


class TimelineRecorder:
    """Collects events as data, folding runs of identical ones so a busy poller costs O(1).

    ``add(at, actor, text)`` records a line as it reads; ``add(at, actor, template, *args)``
    records ``template.format(*args)`` without formatting it until the timeline is read.
    """

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: list[_Raw] = []

    def add(self, at: float, actor: Actor, text: str, *args: object) -> None:
        events = self._events
        if events:
            last = events[-1]
            if last[1] == actor and ((last[2] == text and last[3] == args) or _same_text(last, text, args)):
                events[-1] = (last[0], actor, last[2], last[3], last[4] + 1, at)
                return
        events.append((at, actor, text, args, 1, None))

    def freeze(self) -> Timeline:
        """The timeline so far; the recorder starts afresh (a late line never changes a result)."""
        events, self._events = self._events, []
        return Timeline.recorded(events)


def _same_text(last: _Raw, text: str, args: tuple[object, ...]) -> bool:
    """Whether two lines that were recorded differently read the same, formatting only when that
    can happen: one template with arguments that differ but may print alike (0.101 and 0.104 at
    two decimals). Different templates or plain texts never make the same line in practice."""
    if last[2] != text or len(last[3]) != len(args):
        return False
    if all(type(arg) in _EXACT for arg in (*last[3], *args)):
        return False  # str and int print differently when they differ
    return text.format(*last[3]) == text.format(*args)


_EXACT = (str, int, bool)


@dataclass(frozen=True, slots=True)
class Block:
    """The event loop did not answer from ``start`` to ``end`` (seconds from the request start)."""

    start: float
    end: float
    #: The app frame the loop thread was in meanwhile, e.g. 'app.py:12 in report -> time.sleep(3)'.
    where: str | None
    #: Past the scenario's longest time the harness interrupted it: how ('signal', 'async-exc'),
    #: or 'impossible' where it could not; None for a block that ended by itself in time.
    interrupted: str | None = None


@dataclass(frozen=True, slots=True)
class WorkRecord:
    """One piece of watched work: the app call or a task it spawned."""

    name: str
    kind: Literal["app", "task", "thread", "process", "heavy"]
    started_at: float
    ended_at: float | None
    #: 'returned', 'raised ValueError', 'cancelled', 'exited'; None while running.
    outcome: str | None
    #: Innermost app frame when it was seen running past the tolerance, e.g.
    #: 'app.py:42 in stream -> await sleep(0.05)'.
    where: str | None = None
    #: For a thread: when the task that waited for it ended (it may have been cancelled first).
    owner_ended_at: float | None = None
    #: Allowed to outlive the request (run(allow=...)): listed, not judged.
    allowed: bool = False
    #: heartbeat() calls made inside heavy work.
    heartbeats: int = 0
    #: Known library infrastructure (app-lifetime work, never judged): "sse-starlette's per-loop
    #: shutdown watcher"; None for anything else.
    infrastructure: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DisconnectResult:
    """Everything one ``run()``/``arun()`` saw. Times are seconds from the request start."""

    method: str
    path: str
    settings: Settings
    #: When the client left; None if the app finished first.
    disconnected_at: float | None
    #: When the app could first have seen it (later than disconnected_at if the
    #: event loop was blocked); None if it never could.
    delivered_at: float | None
    #: When the app first looked: a receive() that returned http.disconnect, or a send() after it.
    first_seen_at: float | None
    #: When the last watched work ended on its own; None if the harness had to cancel it.
    stopped_at: float | None
    #: When the harness cancelled work that outran the watch limit; None if it did not.
    cancelled_at: float | None
    status: int | None
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    timeline: Timeline
    work: tuple[WorkRecord, ...]
    verdict: Verdict
    #: The exception the app call raised, if any (after a disconnect that is often how it stops).
    app_error: BaseException | None = None
    #: When the app call returned (or raised), even if work it started ran on.
    returned_at: float | None = None
    #: The first ASGI protocol violation the app made (send() raised it into the app).
    protocol_error: AssertionError | None = None
    #: When the app sent the last body message (more_body=False), even to nobody.
    response_complete_at: float | None = None
    #: Stretches when the event loop did not answer the watchdog (a blocking call in async code).
    blocks: tuple[Block, ...] = ()
    #: How often the app called receive(), in all and after the client left.
    receive_calls: int = 0
    receives_after_disconnect: int = 0
    sends_after_disconnect: int = 0
    #: When the app sent http.response.start (after the disconnect, a response to nobody: B9).
    response_started_at: float | None = None
    #: Request body chunks Starlette's is_disconnected() read and threw away (B3).
    chunks_thrown_away: int = 0
    #: The route template the app's router matched ('/items/{item_id}'), when it says.
    route: str | None = None
    #: The app's router gave the request to a handler (Starlette and FastAPI say so in scope["route"]).
    handler_matched: bool = False
    #: Virtual clock only: stretches (start, end) the loop never slept, when time ran at the real rate.
    starved: tuple[tuple[float, float], ...] = ()
    #: Virtual clock only: the app's own reads of the real clock ('time.monotonic() at app.py:3 in f').
    time_reads: tuple[str, ...] = ()
    #: How the test made the request; the report's advice names the setting that fits it.
    entry: Entry = "fixture"

    @property
    def clock(self) -> str:
        """'real' or 'virtual': the clock the times were measured on."""
        return self.settings.clock

    @property
    def endpoint(self) -> str:
        """'GET /items/{item_id}': the method and the route, or the path when no router said."""
        return f"{self.method} {self.route or self.path.split('?', 1)[0]}"

    @property
    def latency(self) -> float | None:
        """Seconds from the client leaving until all watched work had stopped on its own."""
        if self.disconnected_at is None or self.stopped_at is None:
            return None
        # To the nanosecond: on the virtual clock 0.6 - 0.1 is 0.5, not 0.49999999999999994.
        return round(max(0.0, self.stopped_at - self.disconnected_at), 9)

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING

    @property
    def looked(self) -> bool | None:
        """Whether the app learnt of the disconnect while working: receive() returned it, or a send()
        in the middle of a response raised it. None if the client never left.

        Work that ends in time without looking only shows it was short, and a response started
        after the client left (a response to nobody) shows the work was already done.
        """
        if self.disconnected_at is None:
            return None
        if self.receives_after_disconnect:
            return True
        started = self.response_started_at
        return (self.sends_after_disconnect > 0 and PROFILES[self.settings.server].send_raises
                and started is not None and started < self.disconnected_at)

    @property
    def still_running(self) -> tuple[WorkRecord, ...]:
        """Work that was running past the tolerance, with where it was."""
        return tuple(record for record in self.work if record.where is not None)

    @property
    def resisted(self) -> tuple[WorkRecord, ...]:
        """Judged work still running when the harness gave up on it (left behind)."""
        return tuple(record for record in self.work if record.ended_at is None and not record.allowed)

    @property
    def allowed(self) -> tuple[WorkRecord, ...]:
        """Work the test allowed to outlive the request (run(allow=...))."""
        return tuple(record for record in self.work if record.allowed)

    @property
    def heavy(self) -> tuple[WorkRecord, ...]:
        """Work marked heavy (heavy() or run(heavy=...)): what became of it, and when."""
        return tuple(record for record in self.work if record.kind == "heavy")

    @property
    def delivery_delay(self) -> float | None:
        """How late the app could see the disconnect, because its event loop was busy."""
        if self.disconnected_at is None or self.delivered_at is None:
            return None
        return self.delivered_at - self.disconnected_at


def _slot_filler(cls: type[_Frozen]) -> Callable[..., _Frozen]:
    """A function taking every field by position and setting the frozen slots one by one: what the
    class's ``__init__`` does, without its keyword parsing and its ``object.__setattr__`` per field.
    Generated from the fields, as ``dataclasses`` generates ``__init__`` (a loop cost twice as much)."""
    names = [field.name for field in fields(cls)]  # type: ignore[arg-type]  # a dataclass, by use
    setters = {f"_set_{name}": getattr(cls, name).__set__ for name in names}
    source = (f"def fill({', '.join(names)}):\n    result = _new(_cls)\n"
              + "".join(f"    _set_{name}(result, {name})\n" for name in names) + "    return result\n")
    namespace: dict[str, object] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # the source is made above from the class's own field names
    fill = namespace["fill"]
    assert callable(fill)
    return fill


if TYPE_CHECKING:
    # What the generated builders take, for the type checker (a test holds these parameters to
    # the fields, in order): every field by position.
    def scenario_result(
            method: str, path: str, settings: Settings, disconnected_at: float | None, delivered_at: float | None,
            first_seen_at: float | None, stopped_at: float | None, cancelled_at: float | None, status: int | None,
            headers: tuple[tuple[bytes, bytes], ...], body: bytes, timeline: Timeline, work: tuple[WorkRecord, ...],
            verdict: Verdict, app_error: BaseException | None, returned_at: float | None,
            protocol_error: AssertionError | None, response_complete_at: float | None, blocks: tuple[Block, ...],
            receive_calls: int, receives_after_disconnect: int, sends_after_disconnect: int,
            response_started_at: float | None, chunks_thrown_away: int, route: str | None, handler_matched: bool,
            starved: tuple[tuple[float, float], ...], time_reads: tuple[str, ...], entry: Entry) -> DisconnectResult:
        ...

    work_record = WorkRecord
else:
    #: ``DisconnectResult(...)`` with every field given by position, for the end of each scenario:
    #: the keyword call of the frozen class's ``__init__`` (29 keywords, each set through
    #: ``object.__setattr__``) cost more than the rest of the result together. Same object.
    scenario_result = _slot_filler(DisconnectResult)
    #: ``WorkRecord(...)`` by position, the same way: one per piece of work per scenario.
    work_record = _slot_filler(WorkRecord)
