"""The run-wide wrappers a scenario needs while it runs, and undoing them when pytest ends."""

from __future__ import annotations

from .._backends import watching
from .._watch import loop_interrupt as _loop_interrupt
from .._watch import patches as _patches
from .._watch import plain_threads as _plain_threads
from .._watch import processes as _processes

__all__ = ["end_of_run", "restore_patches", "watching"]


def restore_patches() -> None:
    """Undo the run-wide wrappers."""
    _loop_interrupt.uninstall()
    _patches.end_of_run()


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
