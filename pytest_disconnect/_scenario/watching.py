"""The run-wide wrappers a scenario needs while it runs, and undoing them when pytest ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from .._watch import heavy as _heavy
from .._watch import loop_interrupt as _loop_interrupt
from .._watch import plain_threads as _plain_threads
from .._watch import processes as _processes
from .._watch import threads as _threads
from .._watch.workset import WorkSet


@contextmanager
def watching(backend: str, workset: WorkSet, heavy: tuple[str, ...]) -> Iterator[bool]:
    """Watch the scenario's tasks, threads, processes and heavy functions; yields whether tasks are tracked."""
    _threads.install()
    _plain_threads.install()
    _processes.install()
    with ExitStack() as stack:
        for target in heavy:
            stack.enter_context(_heavy.marking(target))
        if backend == "trio":
            from .._watch import trio_tasks as _watch_trio

            yield stack.enter_context(_watch_trio.watching(workset))
        else:
            import asyncio

            from .._watch import asyncio_tasks as _watch_asyncio

            loop = asyncio.get_running_loop()
            _threads.watch_executor(loop)
            yield stack.enter_context(_watch_asyncio.watching(loop))


def restore_patches() -> None:
    """Undo the run-wide wrappers."""
    _loop_interrupt.uninstall()
    _threads.uninstall()
    _plain_threads.uninstall()
    _processes.uninstall()


def end_of_run() -> list[str]:
    """When pytest finishes: undo the wrappers, kill the apps' child processes still running
    (a test interrupted by Ctrl-C, say), and name the threads left behind."""
    restore_patches()
    notes = []
    killed = _processes.kill_all()
    if killed:
        notes.append(f"killed {len(killed)} child process(es) an app left running: "
                     + ", ".join(f"pid {pid}" for pid in killed))
    threads = _plain_threads.left_running()
    if threads:
        notes.append(f"{len(threads)} thread(s) an app started are still running and are left "
                     f"behind (daemon threads: they do not delay exit): {', '.join(threads)}")
    return notes
