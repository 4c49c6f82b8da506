"""The synthetic ASGI channel: scripted receive(), guarded send(), and the client leaving.

Behaves like real servers (docs/how-it-works.md, 'Server behaviour'): once the client has left, receive()
returns http.disconnect *without suspending*, on every call (Starlette's
is_disconnected() only sees messages that arrive without a checkpoint), and
send() is silent or raises ClientDisconnected, by server profile.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

import anyio.lowlevel

from .._compat import called_from_is_disconnected
from .._errors import ClientDisconnected, IncompleteResponse
from .._result import TimelineRecorder
from .._types import Message, WaitableEvent
from .request import Request
from .servers import ServerProfile
from .trigger import Trigger

_DISCONNECT = "http.disconnect"
#: Delivery later than this is put on the timeline (scheduling jitter is ~0.2 ms).
LATE_NOTICE = 0.01


@dataclass(slots=True)
class ChannelOptions:
    """What a channel gets from its scenario."""

    profile: ServerProfile
    trigger: Trigger
    #: Seconds since the request started, on the scenario's clock.
    now: Callable[[], float]
    timeline: TimelineRecorder
    #: Told when the client leaves and when the whole response has been sent.
    on_leave: Callable[[], None]
    new_event: Callable[[], WaitableEvent]
    #: Seconds after the disconnect from which receive() checkpoints (the watch limit).
    stall_after: float | None = None
    #: Told of every change the client can see (a client reading the response as it comes).
    on_change: Callable[[], None] | None = None
    #: When such a client gives up waiting (its read timeout, from the request's start).
    gives_up_at: float | None = None


@dataclass(frozen=True, slots=True)
class ClientSide:
    """What a client that reads the response as it comes (the transport's caller) gives its channel."""

    on_change: Callable[[], None]
    gives_up_at: float | None = None


class Channel:
    """One request's receive/send pair. Times are seconds from the request start."""

    # What every channel starts with, set on the instance when it changes (a scenario makes a
    # channel each time: two dozen assignments per scenario were a measurable part of it).
    # Set when receive() must return http.disconnect; made on first wait (most apps never wait).
    _gone: WaitableEvent | None = None
    chunks_read = 0
    disconnected_at: float | None = None
    delivered_at: float | None = None
    first_seen_at: float | None = None
    response_started = False
    response_complete = False
    status: int | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body_chunks_sent = 0
    receives_after_disconnect = 0
    sends_after_disconnect = 0
    receive_calls = 0
    chunks_thrown_away = 0
    response_started_at: float | None = None
    _disconnects_given = 0
    response_complete_at: float | None = None
    #: The first protocol violation the app made, raised into it and reported to the test.
    protocol_error: AssertionError | None = None
    #: What reached the client: parts sent after it left went to nobody.
    delivered_start = False
    delivered_complete = False
    debug_info: object = None
    #: Once a start declares trailers, the list the client reads them from, filled as they come.
    trailers: list[tuple[bytes, bytes]] | None = None
    _body_done = False

    def __init__(self, request: Request, options: ChannelOptions) -> None:
        self._pending = deque(request.chunks)
        self._stream = request.stream  # a body the client streams, read as the app asks
        self._profile = options.profile
        #: When the client leaves (read by a real client in live mode).
        self.trigger = trigger = options.trigger
        self._now = options.now
        self._timeline = options.timeline
        self._on_leave = options.on_leave
        self._new_event = options.new_event
        self.body_parts: list[bytes] = []
        self.delivered: list[bytes] = []
        #: Told of every change the client can see: the response so far, the client leaving.
        self.on_change: Callable[[], None] = options.on_change or _nothing
        #: When the client gives up waiting (its read timeout), while it waits; the transport moves it.
        self.gives_up_at: float | None = options.gives_up_at
        #: scope["extensions"] offers http.response.debug (an audited TestClient does), and what came.
        self.offers_debug = "http.response.debug" in (request.extensions or {})
        #: scope["extensions"] offers http.response.trailers (an audited Starlette 1.x TestClient does).
        self.offers_trailers = "http.response.trailers" in (request.extensions or {})
        self.stall_after = options.stall_after
        if trigger.kind == "request-chunks":
            body_empty = request.chunks == (b"",)
            # Leaving after more chunks than there are means leaving after the whole body; an
            # empty body (a GET) is 'read' before the app starts, whether it calls receive() or not.
            whole = 0 if body_empty else len(self._pending)
            self._leave_after_chunks = whole if trigger.count is None else min(trigger.count, whole)
            if self._leave_after_chunks == 0:
                self.leave(planned=0.0)
        else:
            self._leave_after_chunks = -1
            if trigger.kind == "time" and trigger.seconds == 0:
                self.leave(planned=0.0)

    def now(self) -> float:
        """Seconds since the request started, on the scenario's clock."""
        return self._now()

    @property
    def left(self) -> bool:
        return self.disconnected_at is not None

    @property
    def trailers_due(self) -> bool:
        """The whole body was sent, and the trailers it declared are not all in."""
        return self._body_done and self.trailers is not None and not self.response_complete

    def answered_by(self, moment: float) -> bool:
        """Whether the whole response had been sent by ``moment``."""
        return self.response_complete_at is not None and self.response_complete_at <= moment

    def leave(self, *, planned: float | None = None, reason: str | None = None) -> bool:
        """The client goes away now (or, when the loop delivers this late, at ``planned``).

        A no-op once the response is complete: uvicorn does not report a disconnect
        then, so the app cannot see one. ``reason`` says why, when the client itself
        decided (an httpx timeout, say). Returns whether the client left.
        """
        now = self._now()
        if self.left or self.answered_by(now if planned is None else min(planned, now)):
            return self.left
        self.disconnected_at = now if planned is None else min(planned, now)
        self.delivered_at = now
        if self.trigger.kind == "request-chunks":
            self._pending.clear()  # a client that leaves mid-upload never sends the rest
        if self._stream is not None:
            self._stream.stop()
        if reason is None:
            self._timeline.add(self.disconnected_at, "client", *_left(self.trigger))
        else:
            self._timeline.add(self.disconnected_at, "client", "left ({})", reason)
        late = now - self.disconnected_at
        if late >= LATE_NOTICE:
            self._timeline.add(now, "client", "http.disconnect delivered {:.3f} s late: the event loop was busy",
                               late)
        if self._gone is not None:
            self._gone.set()
        self._on_leave()
        self.on_change()
        return True

    def missed(self, planned: float) -> None:
        """The client left at ``planned`` but the app finished before the loop could tell it."""
        self.disconnected_at = planned
        template, *args = _left(self.trigger)
        self._timeline.add(planned, "client", template + "; the busy event loop never delivered it", *args)

    async def receive(self) -> Message:
        self.receive_calls += 1
        # As uvicorn: once the client left (or the response is complete), body still in the
        # buffer is dropped and every receive() says http.disconnect. hypercorn's queue keeps
        # the body ahead of the disconnect, gives the disconnect once, then waits forever.
        profile = self._profile
        if self._pending and not self.response_complete and (not self.left or profile.keeps_unread_body):
            return self._next_chunk()
        stream = self._stream
        if stream is not None and not stream.ended and not self.response_complete:
            streamed = await stream.next()
            if streamed is not None:
                self._record_chunk(*streamed, depth=1)
                return {"type": "http.request", "body": streamed[0], "more_body": streamed[1]}
        if not self.left and not self.response_complete:
            if self._gone is None:
                self._gone = self._new_event()
            await self._gone.wait()
        if not profile.repeats_disconnect and self._disconnects_given:
            self._timeline.add(self._now(), "receive", "receive() waits: the queue has nothing more (hypercorn)")
            await self._new_event().wait()  # never set: only cancellation ends it
        message = self._disconnect_message()
        stall_after = self.stall_after
        if stall_after is not None and self.left and self._now() - (self.disconnected_at or 0.0) >= stall_after:
            # An app calling receive() in a loop would never let the loop run (receive() must not
            # suspend, for is_disconnected()): past the watch limit, let the harness in.
            await anyio.lowlevel.checkpoint()
        return message

    def _disconnect_message(self) -> Message:
        """Record an http.disconnect the app is about to get. No checkpoint: is_disconnected() must see it."""
        self._disconnects_given += 1
        now = self._now()
        if self.left:
            self.receives_after_disconnect += 1
            if self.first_seen_at is None:
                self.first_seen_at = now
            self._timeline.add(now, "receive", "receive() -> http.disconnect")
        else:
            self._timeline.add(now, "receive", "receive() -> http.disconnect (response complete)")
        return {"type": _DISCONNECT}

    def _next_chunk(self) -> Message:
        chunk = self._pending.popleft()
        more = bool(self._pending)
        self._record_chunk(chunk, more)
        if self.chunks_read == self._leave_after_chunks:
            self.leave()
        return {"type": "http.request", "body": chunk, "more_body": more}

    def _record_chunk(self, chunk: bytes, more: bool, depth: int = 2) -> None:
        self.chunks_read += 1
        thrown_away = bool(chunk) and called_from_is_disconnected(depth=depth)  # a GET's empty body is no loss
        if thrown_away:  # B3: the chunk is lost to the app, which may then wait for it forever
            self.chunks_thrown_away += 1
        self._timeline.add(self._now(), "receive", _THROWN_AWAY if thrown_away else _CHUNK, len(chunk), more)

    async def send(self, message: Message) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        now = self._now()
        # Each kind gives its line for the timeline as a template and its arguments, formatted
        # only if the timeline is read (most scenarios pass and nobody reads it).
        if kind == "http.response.start":
            template, value = _SENT_START, self._start(message, now)
        elif kind == "http.response.body":
            value = self._body(message, now)
            template = _SENT_BODY if self._body_done else _SENT_PART
        elif kind == "http.response.trailers" and self.offers_trailers:
            template, value = _SENT_TRAILERS, self._trailers(message, now)
        elif kind == "http.response.debug" and self.offers_debug:
            # TestClient's extension (template responses send what they rendered); nothing goes out.
            self.debug_info = message.get("info")
            return
        else:
            self._violation(f"send() got a message of type {kind!r}; an HTTP app sends "
                            "'http.response.start' then 'http.response.body'")
        if self.left:
            self._sent_to_nobody(kind, template, value, now)
            return
        self._timeline.add(now, "send", template, value)
        if self._gone_by(now):
            pass  # the client has gone, though a blocked loop has not told the app yet: it reads nothing
        elif kind == "http.response.start":
            self.delivered_start = True
        else:
            if kind == "http.response.body":
                self.delivered.append(self.body_parts[-1])
            self.delivered_complete = self.response_complete
        self.on_change()
        trigger = self.trigger
        if kind == "http.response.start":
            if trigger.kind == "response-start" or (trigger.kind == "response-chunks" and trigger.count == 0):
                self.leave()
        elif trigger.kind == "response-chunks" and self.body_chunks_sent == trigger.count:
            self.leave()

    def _sent_to_nobody(self, kind: object, template: str, value: int, now: float) -> None:
        """Recorded all the same: a response sent to nobody is part of the story (B9)."""
        self.sends_after_disconnect += 1
        if self.first_seen_at is None:
            self.first_seen_at = now
        raises = self._profile.send_raises
        self._timeline.add(now, "send", template + "  {}", value,
                           "raised ClientDisconnected" if raises else "dropped: client gone")
        if raises:
            raise ClientDisconnected(f"send({kind!r}) after the client disconnected")

    def _gone_by(self, now: float) -> bool:
        """Whether the client had left by ``now``: the planned moment, or its own timeout, has passed."""
        trigger = self.trigger
        if trigger.kind == "time" and trigger.seconds is not None and now > trigger.seconds:
            return True
        return self.gives_up_at is not None and now > self.gives_up_at

    def _start(self, message: Message, now: float) -> int:
        if self.response_started:
            self._violation("send() got 'http.response.start' twice; the response had already started")
        status = message.get("status")
        if not isinstance(status, int):
            self._violation(f"send() got 'http.response.start' with status {status!r}, not an int")
        self.response_started = True
        self.response_started_at = now
        self.status = status
        self.headers = _headers(message.get("headers", ()), self._violation)
        if self.offers_trailers and message.get("trailers", False):
            self.trailers = []
        return status

    def _body(self, message: Message, now: float) -> int:
        if not self.response_started:
            self._violation("send() got 'http.response.body' before 'http.response.start'")
        if self.response_complete:
            self._violation("send() got 'http.response.body' after the response was complete "
                            "(an earlier body message had more_body=False)")
        if self._body_done:
            self._violation("send() got 'http.response.body' after body completed (an earlier body message "
                            "had more_body=False); only 'http.response.trailers' may follow")
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray, memoryview)):
            self._violation(f"send() got 'http.response.body' with body {body!r} ({type(body).__name__}); "
                            "the body must be bytes")
        body = bytes(body)
        more = bool(message.get("more_body", False))
        self.body_parts.append(body)
        self.body_chunks_sent += 1
        if not more:
            self._body_done = True
            if self.trailers is None:  # declared trailers are still to come
                self._complete(now)
        return len(body)

    def _trailers(self, message: Message, now: float) -> int:
        """Trailers, when the scope offered them; TestClient's own checks, in its words."""
        trailers = self.trailers
        if trailers is None:
            self._violation("send() got 'http.response.trailers' without declaring trailers "
                            "('http.response.start' had no trailers=True)")
        if self.response_complete:
            self._violation("send() got 'http.response.trailers' after response completed")
        if not self._body_done:
            self._violation("send() got 'http.response.trailers' before body completed "
                            "(the last body message had more_body=True)")
        trailers.extend(_headers(message.get("headers", ()), self._violation))
        if not message.get("more_trailers", False):
            self._complete(now)
        return len(trailers)

    def _complete(self, now: float) -> None:
        self.response_complete = True
        self.response_complete_at = now
        if self._gone is not None:
            self._gone.set()  # uvicorn: receive() returns http.disconnect once the response is complete
        self._on_leave()  # wakes the driver: a client-decided scenario bounds its wait from here

    def _violation(self, message: str) -> NoReturn:
        error = AssertionError(message)
        if self.protocol_error is None:
            self.protocol_error = error
        raise error

    def unfinished_response(self, returned_at: float | None) -> IncompleteResponse | None:
        """The app returned at ``returned_at``: without a whole response to a client still there
        (the planned moment counts, even if a busy loop told the app late), a real server answers
        500 (nothing sent yet) or drops the connection (a response begun): the test fails. The
        transport's client gets that 500 instead."""
        if (returned_at is None or self.response_complete or self.trigger.kind == "client"
                or (self.disconnected_at is not None and self.disconnected_at <= returned_at)):
            return None
        if not self.response_started:
            fault = ("returned without sending a response (no 'http.response.start'); a real server "
                     "answers 500 Internal Server Error")
        else:
            fault = ("returned after 'http.response.start' without finishing the response (no "
                     "'http.response.body' with more_body=False); a real server drops the connection")
        return IncompleteResponse(f"the app {fault}")



def _left(trigger: Trigger) -> tuple[str, *tuple[object, ...]]:
    """The timeline's line for a client leaving by ``trigger``: a template and its arguments."""
    if trigger.kind == "client":
        return ("left (the client gave up)",)
    if trigger.kind == "time":
        return "left (after={:.2f} s)", trigger.seconds
    return "left (after={})", trigger  # a frozen Trigger: it reads the same when formatted later


#: The timeline's lines for what the app sent and read, formatted only when read.
_SENT_START = "send() <- http.response.start {}"
_SENT_PART = "send() <- http.response.body {} B (more_body=True)"
_SENT_BODY = "send() <- http.response.body {} B"
_SENT_TRAILERS = "send() <- http.response.trailers ({} in all)"
_CHUNK = "receive() -> http.request ({} B, more_body={})"
_THROWN_AWAY = _CHUNK + "  taken by is_disconnected(), which throws it away"


def _nothing() -> None:
    pass


def _headers(headers: object, violation: Callable[[str], NoReturn]) -> tuple[tuple[bytes, bytes], ...]:
    """The response headers, or a protocol violation naming the first that is not a pair of bytes."""
    if type(headers) is list:  # what Starlette and FastAPI send: a list of pairs of bytes, taken as is
        for header in headers:
            if type(header) is not tuple or len(header) != 2 or type(header[0]) is not bytes \
                    or type(header[1]) is not bytes:
                break  # checked (and named) one by one below
        else:
            return tuple(headers)
    if isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        violation(f"send() got 'http.response.start' with headers {headers!r}; "
                  "headers are an iterable of [name, value] pairs of bytes")
    pairs = []
    for header in headers:
        if (isinstance(header, (str, bytes)) or not isinstance(header, (tuple, list)) or len(header) != 2
                or not all(isinstance(part, bytes) for part in header)):
            violation(f"send() got 'http.response.start' with header {header!r}; "
                      "a header is a [name, value] pair of bytes")
        pairs.append((bytes(header[0]), bytes(header[1])))
    return tuple(pairs)
