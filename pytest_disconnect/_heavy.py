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

from ._watch import Work, current_workset

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
    work = workset.heavy_started(label, on_loop)
    token = _current_heavy.set(work)
    outcome = "finished"
    try:
        yield
    except BaseException as exc:
        outcome = "cancelled" if _is_cancellation(exc) else f"raised {type(exc).__name__}"
        raise
    finally:
        _current_heavy.reset(token)
        workset.heavy_ended(work, outcome, on_loop)


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


def _is_cancellation(exc: BaseException) -> bool:
    names = {"CancelledError", "Cancelled"}
    return type(exc).__name__ in names or isinstance(exc, GeneratorExit)


@contextmanager
def marking(target: str) -> Generator[None, None, None]:
    """Wrap the function at ``module:qualname`` in heavy() for the scenario's duration."""
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"heavy={target!r}: expected 'package.module:function'")
    owner: Any = importlib.import_module(module_name)
    *path, attribute = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, attribute)
    if getattr(original, "__pytest_disconnect_heavy__", False):  # already marked by another scenario
        yield
        return
    wrapper = _marked(original, qualname)
    setattr(owner, attribute, wrapper)
    try:
        yield
    finally:
        if getattr(owner, attribute) is wrapper:
            setattr(owner, attribute, original)


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
    wrapper.__pytest_disconnect_heavy__ = True
    return wrapper  # type: ignore[no-any-return]

