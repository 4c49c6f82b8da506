"""The names the report gives watched work: a task's, a coroutine's, a callable's."""

from __future__ import annotations

from .._compat import given_name, sync_endpoint


def callable_name(func: object) -> str:
    inner = getattr(func, "func", func)  # functools.partial, as run_in_threadpool makes
    if getattr(inner, "__qualname__", "") == "Context.run":  # asyncio.to_thread's partial(ctx.run, f)
        inner = getattr(func, "args", (inner,))[0]
    wrapped = sync_endpoint(func)  # FastAPI's _run_sync_endpoint(function=...)
    if wrapped is not None:
        inner = wrapped
    return code_name(inner)


def code_name(coro: object) -> str:
    """A coroutine's or a function's qualified name, without its enclosing functions."""
    qualname = str(getattr(coro, "__qualname__", None) or type(coro).__name__)
    return qualname.rsplit(".<locals>.", 1)[-1]


def task_name(given: str, coro: object) -> str:
    """The name a task was given (anyio passes the function's), else its coroutine's."""
    given = given_name(given)  # 3.13.0-3.13.2 name an unnamed task 'None'
    if not given or given.startswith("Task-"):
        return code_name(coro)
    return given.rsplit(".<locals>.", 1)[-1] if ".<locals>." in given else given
