"""An opt-in virtual clock: an app's ``sleep(3)`` costs milliseconds and reports the same latency every run.

The event loop asks its clock how long it may wait for I/O. When a scenario is active
and no real work is in flight, the clock moves its own time forward by that wait and
answers "don't wait": the next timer is due at once, at exactly its deadline. Three
things keep virtual time honest:

* Real work (a worker thread, a child process, a socket): the scenario's
  ``real_pending()`` says so, and while it does the clock neither jumps nor freezes;
  it runs at the real rate, so a ``sleep(10)`` cannot end before a 0.2 s thread.
* Between two loop sleeps the clock stands still (so callbacks cost no virtual time
  and numbers are exact), but only for ``STARVE_AFTER`` real seconds. A handler that
  busy-polls never lets the loop sleep, and one that calls ``time.sleep()`` blocks it:
  past that limit the clock switches to the real rate and counts the whole stretch
  since the loop last slept, so virtual time never lags a busy or blocked loop. The
  stretch is reported as a ``Starvation`` span.
* Exact and the same on every machine: an installed clock counts from 0, not from the
  loop's clock (``time.monotonic()`` is the machine's uptime), and each scenario starts
  on a multiple of ``ALIGN`` (2**-10 s). The app's own float sums (``loop.time() + 0.05``)
  then round the same way on every machine and every run, so a tie between an app's tick
  and the client's departure is decided the same way everywhere. A loop that already has
  timers keeps them: ``_compat.rebase_asyncio`` and ``rebase_trio`` move them (and the
  deadlines kept with them) to the new epoch. Otherwise time never goes backwards.

How it hooks in. asyncio: ``loop.time`` is shadowed and ``loop._selector`` wrapped, so
``select(timeout)`` first asks the clock (the selector loop only; uvloop and the
proactor have no such seam). trio: a ``trio.abc.Clock`` whose
``deadline_to_sleep_time`` asks the clock; a run already in progress gets it by
swapping ``Runner.clock`` (private API). Jumps land exactly on the deadline: the loop
computes ``timeout = deadline - now`` and the clock moves to ``now + timeout``, which
is ``deadline`` exactly for floats of the same magnitude (Sterbenz), so "sleep 3 s,
disconnect at 0.5 s" gives a latency of exactly 2.5 s.

Measured (CPython 3.11.7, Linux, 2 cores; best of 5): 100 scenarios of "sleep 3 s with
a timer at 0.5 s", all exact, take 6 ms of wall time on asyncio and 9 ms on trio, for
300 s of virtual time. The price is paid per loop iteration, active or not, mostly for
the lock that keeps reads consistent across threads: 100k ``sleep(0)`` go from 0.23 s
to 0.27 s on asyncio and from 0.37 s to 0.42 s on trio (+0.4 us an iteration; an
iteration of a real ASGI app costs tens of us).
"""

from __future__ import annotations

import asyncio
import math
import selectors
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, overload

from .._compat import rebase_asyncio, rebase_trio, selector_and_self_pipe, swap_selector, trio_runner

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike
    from trio.abc import Clock as _TrioClockBase
else:  # trio is optional and slow to import: TrioClock registers itself as a trio Clock on first use
    _TrioClockBase = object

#: Real seconds the loop may go without sleeping before the virtual clock counts real time.
#: Matches the watchdog's BLOCK_NOTICE: a stretch it reports as a block is a stretch the
#: clock counts. Much lower, and an import or a GC pause on a healthy scenario would cost
#: it its exact numbers; higher only delays a busy-polling scenario (the stretch is
#: counted retroactively either way, so no virtual time is lost).
STARVE_AFTER = 0.05

#: A scenario starts on a multiple of this many virtual seconds (a power of two, so the
#: alignment itself is exact): what ran on the loop before cannot leave its start with
#: stray low bits that would change how the app's float sums round.
ALIGN = 2.0 ** -10


class Starvation(NamedTuple):
    """A stretch (virtual seconds) in which the loop never slept: the clock ran at the real rate."""

    start: float
    end: float


@dataclass(eq=False)
class _Activation:
    real_pending: Callable[[], bool]
    on_starved: Callable[[Starvation], None] | None
    since: float  # virtual time at activation: a starvation span is clipped to it


@dataclass(eq=False)
class _Notice:
    activation: _Activation
    span: Starvation


@dataclass
class _State:
    """Everything guarded by VirtualClock's lock."""

    virtual: float  # virtual time at `real` (frozen: the time, real: the base)
    real: float  # frozen: when the loop last slept; real mode: the base
    frozen: bool = False
    last_read: float = 0.0  # what the loop last read: its timeouts are computed from it
    starved_since: float | None = None  # virtual start of the open starvation span
    active: list[_Activation] = field(default_factory=list)


class VirtualClock:
    """Virtual seconds for one event loop; see the module docstring. Reads are thread-safe."""

    def __init__(self, real: Callable[[], float] = time.monotonic, *, start: float | None = None) -> None:
        """Virtual time starts at ``start`` (default: ``real()``), then runs at the real rate."""
        self._real = real
        base = real()
        virtual = base if start is None else start
        self._state = _State(virtual=virtual, real=base, last_read=virtual)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._read()

    @property
    def active(self) -> bool:
        return bool(self._state.active)

    def activate(self, real_pending: Callable[[], bool], *,
                 on_starved: Callable[[Starvation], None] | None = None,
                 align: float | None = None) -> Callable[[], None]:
        """Start virtual time for one scenario; returns the function that ends it (idempotent).

        ``real_pending()`` is called on the loop thread each time the loop is about to
        sleep; ``on_starved`` gets each span, clipped to this activation, once it closes.
        With ``align`` (a power of two), time first moves forward to the next multiple of
        it, unless another scenario is active.
        """
        with self._lock:
            now = self._read()
            if align is not None and not self._state.active:
                now = (math.floor(now / align) + 1) * align
            activation = _Activation(real_pending, on_starved, since=now)
            if not self._state.active:
                self._freeze(now)
            self._state.active.append(activation)
        return lambda: self._deactivate(activation)

    @overload
    def sleep_time(self, timeout: float) -> float: ...
    @overload
    def sleep_time(self, timeout: None) -> None: ...

    def sleep_time(self, timeout: float | None) -> float | None:
        """The loop is about to wait up to ``timeout`` seconds (None: forever) for I/O.

        Returns how long it should really wait: 0 after a jump of exactly ``timeout``,
        else ``timeout`` unchanged.
        """
        if timeout is not None and timeout <= 0:
            return timeout  # a poll, not a sleep: the loop is busy
        state = self._state
        if not state.active:
            return timeout
        # Outside the lock: a predicate may take its own locks or read the loop.
        pending = any(activation.real_pending() for activation in list(state.active))
        with self._lock:
            result, notices = self._slept(timeout, pending)
        _notify(notices)
        return result

    # Everything below runs with the lock held, except _deactivate and _notify.

    def _read(self) -> float:
        state, real = self._state, self._real()
        if state.frozen and real - state.real > STARVE_AFTER:
            # The loop has not slept for too long: count the whole stretch, from its last sleep.
            state.frozen = False
            state.starved_since = state.virtual
        value = state.virtual if state.frozen else state.virtual + (real - state.real)
        state.last_read = value
        return value

    def _slept(self, timeout: float | None, pending: bool) -> tuple[float | None, list[_Notice]]:
        state = self._state
        computed_from = state.last_read
        now = self._read()
        notices = self._span_notices(now, state.active)
        state.starved_since = None  # the loop sleeps: the stretch is over
        if pending or timeout is None or not math.isfinite(timeout):
            self._run_at_real_rate(now)
            return timeout, notices
        # Land exactly on the deadline the loop computed the timeout from.
        self._freeze(max(now, computed_from + timeout))
        return 0.0, notices

    def _freeze(self, value: float) -> None:
        state = self._state
        state.virtual, state.real, state.frozen, state.last_read = value, self._real(), True, value

    def _run_at_real_rate(self, now: float) -> None:
        state = self._state
        if state.frozen:  # in real mode already: keep the base, so no rounding creeps in
            state.virtual, state.real, state.frozen = now, self._real(), False

    def _span_notices(self, now: float, activations: list[_Activation]) -> list[_Notice]:
        start = self._state.starved_since
        if start is None:
            return []
        return [_Notice(activation, Starvation(max(start, activation.since), now))
                for activation in activations if activation.on_starved is not None]

    def _deactivate(self, activation: _Activation) -> None:
        with self._lock:
            state = self._state
            if activation not in state.active:
                return
            now = self._read()
            notices = self._span_notices(now, [activation])
            state.active.remove(activation)
            if not state.active:
                state.starved_since = None
                self._run_at_real_rate(now)
        _notify(notices)


def _notify(notices: list[_Notice]) -> None:
    for notice in notices:
        assert notice.activation.on_starved is not None
        notice.activation.on_starved(notice.span)


# asyncio ------------------------------------------------------------------------------

_ASYNCIO_CLOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock] = \
    weakref.WeakKeyDictionary()


class _ClockedSelector(selectors.BaseSelector):
    """The loop's selector, asking the clock before each wait. Holds no reference to the loop."""

    def __init__(self, selector: selectors.BaseSelector, clock: VirtualClock) -> None:
        self.selector = selector
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self.selector.select(self.clock.sleep_time(timeout))

    def register(self, fileobj: FileDescriptorLike, events: int,
                 data: object = None) -> selectors.SelectorKey:
        return self.selector.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self.selector.unregister(fileobj)

    def modify(self, fileobj: FileDescriptorLike, events: int,
               data: object = None) -> selectors.SelectorKey:
        return self.selector.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self.selector.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self.selector.get_map()

    def close(self) -> None:
        self.selector.close()


def install_asyncio(loop: asyncio.AbstractEventLoop) -> VirtualClock:
    """Put ``loop`` (running or not) on a VirtualClock, once; later calls return the same clock.

    The clock stays installed for the loop's life; inactive, it runs at the real rate.
    Call on the loop's thread.
    """
    clock = _ASYNCIO_CLOCKS.get(loop)
    if clock is not None:
        return clock
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        raise RuntimeError(
            f"pytest-disconnect's virtual clock needs asyncio's selector event loop, not "
            f"{type(loop).__module__}.{type(loop).__qualname__}: it times the loop's waits "
            "through loop._selector. Use the default loop policy (not uvloop or the Windows "
            "proactor loop), or turn the virtual clock off."
        )
    real = loop.time
    clock = VirtualClock(real=real, start=0.0)
    rebase_asyncio(loop, real())  # timers already scheduled fall due after the same waits
    swap_selector(loop, lambda selector: _ClockedSelector(selector, clock))
    loop.time = clock.now  # type: ignore[method-assign]  # call_at, _run_once, anyio all read it
    _ASYNCIO_CLOCKS[loop] = clock
    return clock


def asyncio_io_pending(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` waits on any file descriptor besides its own self-pipe: real I/O."""
    selector, own = selector_and_self_pipe(loop)
    if selector is None or own is None:  # closed, or not a selector loop
        return False
    keys = selector.get_map()  # None once the selector is closed
    own_fd = own.fileno()
    return keys is not None and any(key.fd != own_fd for key in keys.values())


# trio ---------------------------------------------------------------------------------

class TrioClock(_TrioClockBase):
    """A trio clock reading a VirtualClock: ``trio.run(main, clock=TrioClock())``.

    A trio.abc.Clock (registered on first use, so importing this module imports no trio).
    """

    def __init__(self, virtual: VirtualClock | None = None) -> None:
        _register_trio_clock()
        self.virtual = virtual if virtual is not None else VirtualClock(start=0.0)

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self.virtual.now()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        # Only called when no task is runnable: trio's runq is empty.
        return self.virtual.sleep_time(deadline - self.virtual.now())


_trio_registered = False


def _register_trio_clock() -> None:
    global _trio_registered
    if not _trio_registered:
        import trio

        trio.abc.Clock.register(TrioClock)
        _trio_registered = True


def install_trio() -> VirtualClock:
    """Put the trio run in progress on a VirtualClock, once per run; returns it.

    Swaps trio's private ``Runner.clock``. The clock it replaces (trio's SystemClock or
    a MockClock) is no longer read: time restarts from 0 (the run's deadlines move with
    it) at the real rate, and a MockClock's jump(), rate and autojump stop having effect.
    """
    import trio

    current = trio.lowlevel.current_clock()  # RuntimeError outside a run
    if isinstance(current, TrioClock):
        return current.virtual
    runner = trio_runner(current)
    started = time.perf_counter()
    base = current.current_time()

    def real() -> float:
        return time.perf_counter() - started

    clock = TrioClock(VirtualClock(real=real, start=0.0))
    rebase_trio(runner, base)  # the run's deadlines fall due after the same waits
    runner.clock = clock
    # A MockClock's autojump threshold, left set, makes trio assert its clock is a MockClock.
    runner.clock_autojump_threshold = math.inf
    return clock.virtual
