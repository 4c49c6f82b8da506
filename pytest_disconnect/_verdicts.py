"""Finding a verdict a test's own code raised over (a ``finally:`` assertion replacing ClientLeft)."""

from __future__ import annotations

from ._errors import ClientLeft, HandlerKeptRunning


def replaced_verdict(exc: BaseException) -> ClientLeft | HandlerKeptRunning | None:
    """The ClientLeft or HandlerKeptRunning that ``exc`` was raised while handling, if any.

    Python chains it as ``__context__``: the verdict came first, the test's own code raised
    over it. Only the nearest one counts; a loop guards against chains that cycle.
    """
    seen: set[int] = set()
    inner = exc.__context__
    while inner is not None and id(inner) not in seen:
        if isinstance(inner, (ClientLeft, HandlerKeptRunning)):
            return inner
        seen.add(id(inner))
        inner = inner.__context__
    return None
