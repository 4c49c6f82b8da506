"""What a scenario's end means: the verdict, and what the app's router chose."""

from __future__ import annotations

from .._asgi.channel import Channel
from .._result import Verdict
from .._settings import Settings
from .._types import Scope
from .._watch.workset import WorkSet


def route(scope: Scope) -> str | None:
    """The route template the app's router matched, when it says (Starlette and FastAPI do)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return None
    return f"{scope.get('root_path') or ''}{path}"  # under a Mount, the prefix it matched


def verdict(channel: Channel, workset: WorkSet, settings: Settings, cancelled_at: float | None,
            not_disconnected: bool, from_outside: bool, leaked_from: float | None) -> Verdict:
    if from_outside:
        return "cancelled-from-outside"
    if not_disconnected:
        return "not-disconnected"
    if leaked_from is not None:
        stopped = workset.stopped_at
        if cancelled_at is None and stopped is not None and stopped - leaked_from <= settings.tolerance:
            return "finished"
        return "leaked"
    if cancelled_at is not None:
        return "cancelled" if workset.done else "resisted"
    if channel.disconnected_at is None:
        return "finished"
    stopped = workset.stopped_at
    assert stopped is not None
    if stopped - channel.disconnected_at <= settings.tolerance:
        return "stopped"
    return "kept-running"
