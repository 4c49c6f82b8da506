"""What every --disconnect-audit seam shares: whether this request is audited, the one
DisconnectTransport each patched transport gets, and swapping a method for the session."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from . import current as _current
from .transport import for_audit

# One DisconnectTransport per patched transport: it keeps that transport's open exchanges.
_OURS: weakref.WeakKeyDictionary[object, Any] = weakref.WeakKeyDictionary()


def auditing() -> bool:
    """Whether this request is audited: the test's settings say so (a marker may say audit=False)."""
    context = _current.current()
    if context is None:
        return True  # outside a test (a session fixture's set-up): the run asked for the audit
    try:
        return context.settings.audit
    except Exception:  # a bad marker: the test's own use of the marker reports it
        return True


def ours(transport: object, make: Callable[[], Any]) -> Any:
    """The DisconnectTransport that serves ``transport``, made by ``make`` on its first request."""
    found = _OURS.get(transport)
    if found is None:
        found = _OURS[transport] = for_audit(make())  # the run made it, not the test: advice names run-wide settings
    return found


def ours_if_any(transport: object) -> Any:
    """The DisconnectTransport serving ``transport``, or None if it has served nothing yet."""
    return _OURS.get(transport)


def swap(owner: type, name: str, new: Callable[..., Any]) -> Callable[[], None]:
    """Replace ``owner.name``; return what puts it back (deleting it if it was inherited)."""
    had_own = name in owner.__dict__
    old = owner.__dict__.get(name)
    setattr(owner, name, new)

    def undo() -> None:
        if had_own:
            setattr(owner, name, old)
        else:
            delattr(owner, name)

    return undo
