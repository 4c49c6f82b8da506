"""Finding verdicts a test's own code raised over (a ``finally:`` assertion replacing ClientLeft)."""

from __future__ import annotations

from .._errors import ClientLeft, HandlerKeptRunning

Verdict = ClientLeft | HandlerKeptRunning


def verdicts_in(exc: BaseException) -> list[Verdict]:
    """The verdicts ``exc`` is made of (itself, or every leaf of an exception group), or [] if
    it holds anything else."""
    if isinstance(exc, (ClientLeft, HandlerKeptRunning)):
        return [exc]
    if not isinstance(exc, BaseExceptionGroup):
        return []
    found: list[Verdict] = []
    for inner in exc.exceptions:
        leaves = verdicts_in(inner)
        if not leaves:
            return []
        found += leaves
    return found


def replaced_verdicts(exc: BaseException) -> list[Verdict]:
    """The verdicts that ``exc`` was raised while handling, if any.

    Python chains them as ``__context__``: the verdict came first (alone, or in a task group's
    exception group), the test's own code raised over it. Only the nearest one counts; a loop
    guards against chains that cycle.
    """
    seen: set[int] = set()
    inner = exc.__context__
    while inner is not None and id(inner) not in seen:
        found = verdicts_in(inner)
        if found:
            return found
        seen.add(id(inner))
        inner = inner.__context__
    return []
