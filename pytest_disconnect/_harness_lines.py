"""The timeline lines the harness writes when it gives up on work that ignored cancellation.

The watchers write them (``_watch/close_tasks.py``, ``_scenario/app_call.py``) and the report
reads them back to say, where it lists that work, what the harness did to it
(``_report/text.py``): one wording for both, so changing it cannot break the report unnoticed.
"""

from __future__ import annotations

from typing import Final

#: The app call resisted the harness's cancellation and was abandoned where it was suspended.
ABANDONED_APP: Final = "harness abandoned the app call: it went on after the cancellation"


def closed_task(name: str) -> str:
    """A task that swallowed cancellation, closed at its ``await`` (see _watch/close_tasks.py)."""
    return f"harness closed task {name}: it went on after the cancellation"


def unclosable_task(name: str) -> str:
    """A task that swallowed ``GeneratorExit`` too, parked instead (see _watch/close_tasks.py)."""
    return (f"harness could not close task {name}: it caught GeneratorExit too; "
            "it is parked, never to run again, and left out of the loop's shutdown")
