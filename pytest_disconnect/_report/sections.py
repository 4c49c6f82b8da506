"""A failed test's report shows each disconnect report once.

A scenario's report goes to the test's "disconnect" section (for ``-rA`` and for tests
that catch the failure), and a failing one is also HandlerKeptRunning's message: where
the failure shows it, the section would repeat it word for word.
"""

from __future__ import annotations

import pytest

from .._errors import HandlerKeptRunning

SECTION_TITLE = "Captured disconnect call"


def shown_reports(exc: BaseException) -> set[str]:
    """The messages of every HandlerKeptRunning in ``exc``, its groups and its chain."""
    found: set[str] = set()
    pending, seen = [exc], set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, HandlerKeptRunning):
            found.add(str(error))
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        pending.extend(e for e in (error.__cause__, error.__context__) if e is not None)
    return found


def drop_repeated_reports(report: pytest.TestReport, exc: BaseException) -> None:
    shown = shown_reports(exc)
    if shown:
        report.sections = [(title, text) for title, text in report.sections
                           if not (title == SECTION_TITLE and text in shown)]
