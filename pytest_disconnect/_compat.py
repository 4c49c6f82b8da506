"""Python-version differences the asyncio watcher rests on, each with the versions it was checked on."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

#: CPython 3.13.0-3.13.2: with a custom task factory, ``loop.create_task()`` does not pass
#: ``name`` to the factory and calls ``task.set_name(name)`` after it returns, even when no
#: name was given (CPython issue 130033), so an unnamed task reads ``'None'``. Checked on
#: 3.11.7, 3.12.1 and 3.13.0; 3.13.3 sets the name only when one was given.
SET_NAME_NONE = (3, 13) <= sys.version_info[:3] < (3, 13, 3)


def given_name(name: str) -> str:
    """The name a task was given, or ``''`` when the only name it has is the 3.13.0-3.13.2 ``'None'``."""
    return "" if SET_NAME_NONE and name == "None" else name


#: The code object of ``asyncio.create_eager_task_factory``'s factories (Python 3.12+). anyio
#: recognises an eager factory by this code object and, to set up a task's cancel scope before
#: it first runs, calls the task constructor held in the factory's closure instead of the
#: factory. Checked on 3.12.1 and 3.13.0 with anyio 4.16.
_EAGER_CODE = getattr(getattr(asyncio, "eager_task_factory", None), "__code__", None)

TaskConstructor = Callable[..., "asyncio.Task[Any]"]


def eager_constructor(factory: object) -> TaskConstructor | None:
    """The task constructor inside an eager task factory, or None if ``factory`` is not one."""
    if _EAGER_CODE is None or getattr(factory, "__code__", None) is not _EAGER_CODE:
        return None
    closure = getattr(factory, "__closure__", None)
    if not closure:  # pragma: no cover - a CPython release that reshaped the factory
        raise RuntimeError("pytest-disconnect: asyncio.create_eager_task_factory() no longer keeps its "
                           "task constructor in its closure; please report this with your Python version")
    constructor = closure[0].cell_contents
    assert callable(constructor)
    return constructor  # type: ignore[no-any-return]


def eager_factory(constructor: TaskConstructor) -> Callable[..., asyncio.Task[Any]]:
    """An eager task factory around ``constructor``, one that anyio recognises as eager."""
    create: Callable[[TaskConstructor], Callable[..., asyncio.Task[Any]]] = (
        asyncio.create_eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    return create(constructor)


# Two more reach-ins live in modules of their own, each with the versions it was checked on and
# what happens where it is missing: _watch/loop_interrupt.py (a SIGURG handler and
# PyThreadState_SetAsyncExc, to end app code that blocks its event loop for good) and
# _watch/close_tasks.py (closing a suspended asyncio task's coroutine from outside it, for a task
# that swallows cancellation; asyncio.tasks._unregister_task for one that cannot be closed).
