"""Finding the app's own frame in a coroutine chain or a thread's stack, for reports."""

from __future__ import annotations

import asyncio
import linecache
import os
import sys
from types import FrameType

import anyio

#: Event-loop and harness code: never 'where the app is'.
_PLUMBING = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (asyncio, anyio, sys.modules[__name__.partition(".")[0]])  # the whole package
    if module.__file__
)


def coroutine_frames(coro: object) -> list[FrameType]:
    """The frames of a suspended coroutine chain, outermost first."""
    frames: list[FrameType] = []
    seen = 0
    while coro is not None and seen < 200:
        seen += 1
        frame = (getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                 or getattr(coro, "ag_frame", None))
        if isinstance(frame, FrameType):
            frames.append(frame)
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                or getattr(coro, "ag_await", None))
    return frames


def where(coro: object) -> str | None:
    """The innermost frame of a suspended coroutine chain that is not event-loop plumbing.

    'examples/app.py:42 in no_context -> await heavy_work()'.
    """
    frames = coroutine_frames(coro)
    # The app's own code first (Starlette's run_in_threadpool is where a def endpoint waits,
    # but not what the user can change), then any library, then the plumbing itself.
    app = [frame for frame in frames if is_app_code(frame.f_code.co_filename)]
    own = [frame for frame in frames if not _is_plumbing(frame.f_code.co_filename)]
    if not (app or own or frames):
        return None
    return describe_frame((app or own or frames)[-1])


_STDLIB = os.path.dirname(os.__file__) + os.sep
_SITE = (os.path.join(_STDLIB, "site-packages"), os.path.join(_STDLIB, "dist-packages"))


def innermost_app_frame(frame: FrameType) -> FrameType:
    """From a thread's current frame outwards, the first that is neither stdlib nor plumbing."""
    current: FrameType | None = frame
    while current is not None:
        filename = current.f_code.co_filename
        stdlib = filename.startswith(_STDLIB) and not filename.startswith(_SITE)
        generated = filename.startswith("<")  # a dataclass's or namedtuple's __init__, say
        if not (stdlib or generated or _is_plumbing(filename)):
            return current
        current = current.f_back
    return frame


def outermost_app_frame(frame: FrameType) -> FrameType:
    """The frame the app's code was entered by, on a thread's stack: from the innermost app frame
    outwards, the last one before the first that is not app code (the framework that called it).

    A busy loop calling functions makes new inner frames all the time; this one stays put.
    """
    inner = innermost_app_frame(frame)
    if not is_app_code(inner.f_code.co_filename):
        return inner
    while inner.f_back is not None and is_app_code(inner.f_back.f_code.co_filename):
        inner = inner.f_back
    return inner


def is_app_code(filename: str) -> bool:
    """Not the stdlib, not an installed package, not event-loop or harness plumbing."""
    return not (filename.startswith((_STDLIB, sys.prefix, sys.base_prefix, "<")) or _is_plumbing(filename))


def describe_frame(frame: FrameType) -> str:
    filename = frame.f_code.co_filename
    line = linecache.getline(filename, frame.f_lineno).strip().split("  #", 1)[0]  # no inline comment
    location = f"{_short_path(filename)}:{frame.f_lineno} in {frame.f_code.co_name}"
    return f"{location} -> {line}" if line else location


def _is_plumbing(filename: str) -> bool:
    return filename.startswith(_PLUMBING) or "/trio/" in filename or "/sniffio/" in filename


def _short_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except (ValueError, OSError):  # another drive; or the working directory was removed (a test's tmp dir)
        return filename
    return filename if relative.startswith("..") else relative
