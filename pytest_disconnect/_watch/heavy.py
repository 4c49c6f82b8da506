"""Marking the request's heavy work, so the verdict can say what became of it.

``with heavy():`` around the expensive part (in a task or a worker thread) and
``heartbeat()`` inside its loop cost one ContextVar read when no scenario runs,
so they can stay in production code. ``run(..., heavy="pkg.mod:func")`` marks a
function without editing the app.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .._compat import is_cancellation
from .patches import Patch
from .work import Work
from .workset import WorkSet, current_workset, post_quietly

_current_heavy: ContextVar[Work | None] = ContextVar("pytest_disconnect_heavy", default=None)


@contextmanager
def heavy(name: str | None = None) -> Iterator[None]:
    """Mark the enclosed block as the request's heavy work (a no-op outside a scenario)."""
    workset = current_workset.get()
    if workset is None:
        yield
        return
    label = name or _caller_name()
    on_loop = threading.get_ident() == workset.loop_thread
    work = _started(workset, label, on_loop)
    token = _current_heavy.set(work)
    outcome = "finished"
    try:
        yield
    except BaseException as exc:
        outcome = "cancelled" if is_cancellation(exc) else f"raised {type(exc).__name__}"
        raise
    finally:
        _ended(workset, work, outcome, on_loop)
        try:
            _current_heavy.reset(token)
        except ValueError:  # a generator resumed in another context (iterate_in_threadpool)
            pass


def _started(workset: WorkSet, name: str, on_loop: bool) -> Work:
    """On the loop directly; from a worker thread through a post."""
    if on_loop:
        return workset.started(None, None, name, "heavy")
    work = Work(None, None, name, "heavy", workset.thread_now())
    work.thread_ident = threading.get_ident()
    post_quietly(workset.post, lambda: workset.register(work))
    return work


def _ended(workset: WorkSet, work: Work, outcome: str, on_loop: bool) -> None:
    if on_loop:
        workset.ended(work, outcome)
    else:
        ended = workset.thread_now()
        post_quietly(workset.post, lambda: workset.ended(work, outcome, at=ended))


def heartbeat() -> None:
    """Record that the current heavy work is still making progress (a no-op outside a scenario)."""
    work = _current_heavy.get()
    if work is not None:
        work.heartbeats += 1


def _caller_name() -> str:
    frame = inspect.currentframe()
    # heavy() -> contextmanager __enter__ -> the caller
    caller = frame.f_back.f_back.f_back if frame and frame.f_back and frame.f_back.f_back else None
    return caller.f_code.co_name if caller is not None else "heavy work"


#: Marked targets, by (owner id, attribute): shared by the scenarios marking the same function.
_marked_targets: dict[tuple[int, str], Patch] = {}


@contextmanager
def marking(target: str) -> Generator[None, None, None]:
    """Wrap the function at ``module:qualname`` in heavy() for the scenario's duration.

    Only calls that look the name up at call time are caught (``module.func()`` or a
    bare ``func()`` inside that module), not a copy taken by ``from module import func``.
    """
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"heavy={target!r}: expected 'package.module:function'")
    owner: Any = importlib.import_module(module_name)
    *path, attribute = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    key = (id(owner), attribute)
    patch = _marked_targets.get(key)
    if patch is None:  # the first scenario to mark it; later ones share the wrapper
        raw = vars(owner)[attribute]  # the descriptor itself: staticmethod, classmethod
        patch = _marked_targets[key] = Patch(owner, attribute, _rewrap(raw, qualname))
    patch.acquire()
    try:
        yield
    finally:
        patch.release()
        if patch.users == 0:
            del _marked_targets[key]


def _rewrap(raw: Any, name: str) -> Any:
    func = getattr(raw, "__func__", raw)
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(f"heavy={name!r} is a generator function: its work runs after the call "
                        "returns, so it cannot be marked from outside; use `with heavy():` inside it")
    if isinstance(raw, staticmethod):
        return staticmethod(_marked(raw.__func__, name))
    if isinstance(raw, classmethod):
        return classmethod(_marked(raw.__func__, name))
    return _marked(raw, name)


def _marked(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with heavy(name):
                return await func(*args, **kwargs)

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            with heavy(name):
                return func(*args, **kwargs)

        wrapper = sync_wrapper
    return wrapper  # type: ignore[no-any-return]

