"""What a test does to the root logger ends with the test.

Some libraries configure logging when an app is built: Litestar's default ``LoggingConfig`` puts a
queue handler on the root logger (level INFO) whose listener thread writes to a ``StreamHandler``
bound to ``sys.stderr`` as it is at that moment. Built inside a pytester run, that is the inner
run's capture file, closed when the run ends; from then on every INFO line of any logger (httpx
logs one per request) printed "Logging error ... I/O operation on closed file" from the listener's
thread, in whatever test came next.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def root_logger_restored() -> Iterator[None]:
    """Put the root logger's handlers and level back as they were before the block: Litestar's
    ``dictConfig`` also removes the handlers it finds there, pytest's among them. The handlers pytest
    adds and removes around each phase of a test (``LogCaptureHandler``) are left to pytest."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers and not type(handler).__module__.startswith("_pytest."):
                root.removeHandler(handler)
                handler.close()
                _stop_listener(handler)
        for handler in handlers:
            if handler not in root.handlers and type(handler).__name__ != "LogCaptureHandler":
                root.addHandler(handler)
        root.setLevel(level)


def _stop_listener(handler: logging.Handler) -> None:
    """A queue handler's listener thread (Litestar's keeps one, stopped only at exit) ends with it:
    left running, it wrote to a closed capture file, or raised, in a later test."""
    listener = getattr(handler, "listener", None)
    stop = getattr(listener, "stop", None)
    if callable(stop) and getattr(listener, "_thread", None) is not None:
        stop()
        atexit.unregister(stop)  # stopping twice fails on Python 3.11
