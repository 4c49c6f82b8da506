"""The watchdog thread's lock-free add()/remove() (pytest_disconnect/_watch/watchdog.py): no watch is left unticked."""

from __future__ import annotations

import threading

import pytest

from pytest_disconnect._watch import watchdog

#: Generous: the thread ticks every watchdog.PERIOD (20 ms); a loaded machine is slow, never this slow.
PATIENCE = 30.0


class Ticked:
    """Stands for a scenario's Watch: counts the watchdog's looks."""

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()
        self.closed = False
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.ticked.set()


class SleepSeen(threading.Event):
    """The watchdog's wake-up event, telling the test when the thread goes to sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.sleeping.set()
        return super().wait(timeout)


def test_a_watch_added_after_the_thread_went_to_sleep_wakes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchdog, "LINGER", 0.0)
    dog = watchdog._Watchdog()
    dog._wake = wake = SleepSeen()
    first, second = Ticked(), Ticked()
    dog.add(first)  # type: ignore[arg-type]
    assert first.ticked.wait(PATIENCE)
    dog.remove(first)  # type: ignore[arg-type]
    assert first.closed and wake.sleeping.wait(PATIENCE)
    dog.add(second)  # type: ignore[arg-type]
    assert second.ticked.wait(PATIENCE)
    dog.remove(second)  # type: ignore[arg-type]


class NeverBlocks(threading.Event):
    """The wake-up event of a thread driven by hand: wait() records whether it would have returned."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[bool] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(self.is_set())  # False: the real thread would sleep for good
        return True


def asleep_by_hand() -> tuple[watchdog._Watchdog, NeverBlocks]:
    dog = watchdog._Watchdog()
    dog._idle, dog._thread = False, threading.current_thread()  # as while its thread runs
    dog._wake = wake = NeverBlocks()
    return dog, wake


@pytest.mark.parametrize("when", ["before the thread marks itself idle", "after it looked at the list"])
def test_a_watch_added_while_the_thread_decides_to_sleep_is_never_left_unticked(when: str) -> None:
    """add() appends, then reads whether the thread is idle; the thread marks itself idle, then reads
    the list. Whichever runs between the other's two steps, the thread either sees the watch or is woken."""
    dog, wake = asleep_by_hand()
    late = Ticked()
    if when.startswith("before"):
        clear = wake.clear

        def add_on_clear() -> None:
            clear()
            dog.add(late)  # type: ignore[arg-type]

        wake.clear = add_on_clear  # type: ignore[method-assign]
    else:
        class AddsOnceRead(list[object]):
            def __len__(self) -> int:
                length = super().__len__()
                if not length:
                    dog.add(late)  # type: ignore[arg-type]
                return length

        dog._watches = AddsOnceRead()  # type: ignore[assignment]
    dog._sleep()
    assert [*dog._watches] == [late]  # type: ignore[comparison-overlap]
    assert all(wake.waits), "the thread went to sleep with a watch to tick and nobody to wake it"
    assert not dog._idle


def test_removing_twice_is_harmless() -> None:
    dog = watchdog._Watchdog()
    watch = Ticked()
    dog._idle = False  # no thread needed
    dog.add(watch)  # type: ignore[arg-type]
    dog.forget_thread(watch.loop_thread)
    dog.remove(watch)  # type: ignore[arg-type]
    assert watch.closed and dog._watches == []
