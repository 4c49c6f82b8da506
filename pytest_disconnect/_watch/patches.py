"""Global patches with one owner: installed on first use, counted, removed when the last user leaves.

The watchers wrap shared objects: ``Thread.start``, ``Popen.__init__``, anyio's
``to_thread.run_sync``, ``time.monotonic`` and friends, a function marked heavy. Each
wrapper is a ``Patch`` with one shape: ``acquire()`` installs it for the first user,
``release()`` removes it when the last one leaves, and neither touches an attribute
someone else replaced meanwhile (their wrapper is theirs to remove). Wrappers that pass
straight through outside a scenario are held for the whole run (``hold()``), so a
scenario pays a flag check, not an install and a removal; ``end_of_run()`` releases them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Patches held until the end of the run, in the order they were first held.
_held: list[Patch] = []
#: Called at the end of each run, after the held patches are released (per-loop state).
_at_end: list[Callable[[], None]] = []


class Patch:
    """``owner.name = replacement`` while anyone uses it; the original is put back after the last."""

    __slots__ = ("held", "name", "original", "owner", "replacement", "users")

    def __init__(self, owner: Any, name: str, replacement: object) -> None:
        self.owner = owner
        self.name = name
        self.replacement = replacement
        #: The attribute itself, as the owner holds it (a staticmethod stays a staticmethod).
        self.original: object = vars(owner)[name]
        self.users = 0
        self.held = False

    @property
    def installed(self) -> bool:
        return vars(self.owner).get(self.name) is self.replacement

    def acquire(self) -> None:
        self.users += 1
        if self.users == 1 and vars(self.owner).get(self.name) is self.original:
            setattr(self.owner, self.name, self.replacement)

    def release(self) -> None:
        self.users = max(0, self.users - 1)
        if self.users == 0 and self.installed:
            setattr(self.owner, self.name, self.original)

    @contextmanager
    def lease(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def hold(self) -> None:
        """Keep it installed for the rest of the run (one user, whoever asks first)."""
        if not self.held:
            self.held = True
            self.acquire()
            _held.append(self)


def at_end_of_run(callback: Callable[[], None]) -> None:
    """Run ``callback`` at the end of every run (to undo state kept per loop, say)."""
    _at_end.append(callback)


def end_of_run() -> None:
    """Release every held patch and run the end-of-run callbacks; a later run holds them anew."""
    while _held:
        patch = _held.pop()
        patch.held = False
        patch.release()
    for callback in _at_end:
        callback()
