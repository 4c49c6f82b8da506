"""App-lifetime work: tasks and threads a request starts that belong to the app, not to the request.

Some libraries start one background task per event loop, or one thread per database, the
first time a request needs it, and keep it until the server shuts down. Counting such work
as the request's fails every request that happens to be first, and cancelling it breaks
the library (the next request starts another, or finds the dead one). The rule, as Go's goleak
has it: a short, documented list of known library infrastructure is never judged
nor cancelled; an app's own singletons are declared once for the run
(``disconnect_allow`` / ``--disconnect-allow``). See docs/app-lifetime-and-time.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal


@dataclass(frozen=True)
class Infrastructure:
    """One known piece of library infrastructure, by module and qualname: the coroutine function
    a task runs, or the function a thread runs (its target)."""

    library: str
    kind: Literal["task", "thread"]
    module: str
    function: str
    what: str

    @property
    def label(self) -> str:
        return f"{self.library}'s {self.what}"


#: The built-in list. Each entry: checked against the named release, and why it is app-lifetime.
KNOWN: Final[tuple[Infrastructure, ...]] = (
    # sse-starlette 3.x (checked on 3.7.0): the first EventSourceResponse on a loop starts
    # one `_shutdown_watcher` task that polls every 0.5 s until the server shuts down.
    Infrastructure("sse-starlette", "task", "sse_starlette.sse", "_shutdown_watcher", "per-loop shutdown watcher"),
    # datasette 0.65 (checked on 0.65.5; 1.0a37 has it too, with the thread named after the
    # database): the first write to a database starts one daemon thread running the bound
    # `Database._execute_writes`, which waits on the database's write queue for good.
    Infrastructure("datasette", "thread", "datasette.database", "Database._execute_writes",
                   "writer thread per database"),
)

_BY_NAME: Final[dict[tuple[str, object, object], Infrastructure]] = {
    (entry.kind, entry.module, entry.function): entry for entry in KNOWN}


def known_infrastructure(coro: object) -> Infrastructure | None:
    """The KNOWN entry whose coroutine function made ``coro``, if any."""
    code = getattr(coro, "cr_code", None)
    frame = getattr(coro, "cr_frame", None)
    if code is None or frame is None:
        return None
    qualname = getattr(code, "co_qualname", code.co_name)
    return _BY_NAME.get(("task", frame.f_globals.get("__name__"), qualname))


def known_thread_infrastructure(target: object) -> Infrastructure | None:
    """The KNOWN entry for a thread whose target is ``target`` (a function or a bound method), if any."""
    function = getattr(target, "__func__", target)
    return _BY_NAME.get(("thread", getattr(function, "__module__", None), getattr(function, "__qualname__", None)))


def parse_names(value: object) -> tuple[str, ...]:
    """'refresh_cache, reap_pool' (ini or CLI: commas or whitespace) or a list of names."""
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        raise ValueError("names of tasks, threads or functions, separated by commas")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip() or any(c.isspace() for c in item.strip()):
            raise ValueError("names of tasks, threads or functions, separated by commas")
        if item.strip() not in names:
            names.append(item.strip())
    return tuple(names)
