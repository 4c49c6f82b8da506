"""When the synthetic client leaves: a time, an event on the channel, or never."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

TriggerKind = Literal["time", "request-chunks", "response-start", "response-chunks", "never", "client"]

#: What the string forms of ``after`` accept, for error messages and ``--help``.
TRIGGER_SYNTAX = (
    "seconds >= 0, or one of: never, body-read, request-chunks:N, response-start, response-chunks:N"
)


@dataclass(frozen=True)
class Trigger:
    """The moment the client leaves.

    Build one with the class methods; a plain number of seconds works wherever
    a trigger does (``after=0.5`` is ``Trigger.at(0.5)``).
    """

    kind: TriggerKind
    seconds: float | None = None
    count: int | None = None

    @classmethod
    def at(cls, seconds: float) -> Trigger:
        """Leave ``seconds`` after the request started (the client sent it at 0 s)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"Trigger.at() takes seconds as a number, not {type(seconds).__name__}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"Trigger.at() takes seconds >= 0, not {seconds!r}")
        return cls("time", seconds=float(seconds))

    @classmethod
    def after_request_chunks(cls, count: int) -> Trigger:
        """Leave mid-upload: after the app read ``count`` request body chunks.

        The chunks after them are never sent, as with a real client that left.
        ``count=0`` leaves before the app read any of the body.
        """
        return cls("request-chunks", count=_count(count, "after_request_chunks"))

    @classmethod
    def after_body_read(cls) -> Trigger:
        """Leave as soon as the app has read the whole request body."""
        return cls("request-chunks")

    @classmethod
    def after_response_start(cls) -> Trigger:
        """Leave as soon as the app sent ``http.response.start``."""
        return cls("response-start")

    @classmethod
    def after_response_chunks(cls, count: int) -> Trigger:
        """Leave after the app sent ``count`` ``http.response.body`` messages."""
        return cls("response-chunks", count=_count(count, "after_response_chunks"))

    @classmethod
    def never(cls) -> Trigger:
        """Never leave: the app must finish on its own."""
        return cls("never")

    def __repr__(self) -> str:
        """The constructor call, so Hypothesis's falsifying examples can be pasted into @example()."""
        if self.kind == "time":
            return f"Trigger.at({self.seconds!r})"
        if self.kind == "request-chunks":
            return ("Trigger.after_body_read()" if self.count is None
                    else f"Trigger.after_request_chunks({self.count})")
        if self.kind == "response-start":
            return "Trigger.after_response_start()"
        if self.kind == "response-chunks":
            return f"Trigger.after_response_chunks({self.count})"
        if self.kind == "client":
            return "CLIENT_DECIDES"
        return "Trigger.never()"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis (and IPython) print dataclasses field by field unless told otherwise."""
        printer.text(repr(self))

    def __str__(self) -> str:
        """The string form that ``--disconnect-after`` and the ini file accept."""
        if self.kind == "time":
            return f"{self.seconds:g}"
        if self.kind == "request-chunks":
            return "body-read" if self.count is None else f"request-chunks:{self.count}"
        if self.kind == "response-chunks":
            return f"response-chunks:{self.count}"
        return self.kind

    def describe(self) -> str:
        """A phrase for reports: 'at 0.50 s', 'after 3 response body chunks'."""
        if self.kind == "time":
            return f"at {self.seconds:.2f} s"
        if self.kind == "request-chunks":
            if self.count is None:
                return "after the app read the request body"
            return f"after {_chunks(self.count)} of the request body"
        if self.kind == "response-start":
            return "after http.response.start"
        if self.kind == "response-chunks":
            return f"after {_chunks(self.count or 0)} of the response body"
        if self.kind == "client":
            return "when the client gives up"
        return "never"


#: No planned moment: the client leaves when it gives up (DisconnectTransport's httpx
#: timeouts and cancellation). Not a user setting: the driver waits for it without limit.
CLIENT_DECIDES = Trigger("client")


def parse_trigger(value: object) -> Trigger:
    """Read a trigger from a number, a string form or a Trigger.

    Raises ValueError naming what is accepted; callers add where the value came from.
    """
    if isinstance(value, Trigger):
        return value
    if isinstance(value, bool):
        raise ValueError(TRIGGER_SYNTAX)
    if isinstance(value, (int, float)):
        return _seconds_trigger(float(value))
    if not isinstance(value, str):
        raise ValueError(TRIGGER_SYNTAX)
    text = value.strip().lower()
    named = {"never": Trigger.never, "body-read": Trigger.after_body_read,
             "response-start": Trigger.after_response_start}
    if text in named:
        return named[text]()
    name, _, number = text.partition(":")
    counted = {"request-chunks": Trigger.after_request_chunks,
               "response-chunks": Trigger.after_response_chunks}
    if name in counted and number.isdigit():
        return counted[name](int(number))
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(TRIGGER_SYNTAX) from None
    return _seconds_trigger(seconds)


def _seconds_trigger(seconds: float) -> Trigger:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(TRIGGER_SYNTAX)
    return Trigger.at(seconds)


def _count(count: int, where: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"Trigger.{where}() takes a whole number >= 0, not {count!r}")
    return count


def _chunks(count: int) -> str:
    return "1 chunk" if count == 1 else f"{count} chunks"
