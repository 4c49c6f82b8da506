"""App-lifetime work: tasks a request starts that belong to the app, not to the request.

Some libraries start one background task per event loop the first time a request
needs it, and keep it until the server shuts down. Counting such a task as the
request's work fails every request that happens to be first, and cancelling it
breaks the library (the next request starts another). The rule, as Go's goleak
has it: a short, documented list of known library infrastructure is never judged
nor cancelled; an app's own singletons are declared once for the run
(``disconnect_allow`` / ``--disconnect-allow``). See docs/app-lifetime-and-time.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Infrastructure:
    """One known piece of library infrastructure: a coroutine function, by module and qualname."""

    library: str
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
    Infrastructure("sse-starlette", "sse_starlette.sse", "_shutdown_watcher", "per-loop shutdown watcher"),
)

_BY_NAME: Final = {(entry.module, entry.function): entry for entry in KNOWN}


def known_infrastructure(coro: object) -> Infrastructure | None:
    """The KNOWN entry whose coroutine function made ``coro``, if any."""
    code = getattr(coro, "cr_code", None)
    frame = getattr(coro, "cr_frame", None)
    if code is None or frame is None:
        return None
    qualname = getattr(code, "co_qualname", code.co_name)
    return _BY_NAME.get((frame.f_globals.get("__name__"), qualname))


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
