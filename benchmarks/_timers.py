"""Precise sleeps for the benchmark server: one timer thread instead of the loop's timers.

asyncio's timers end a sleep late once the loop is busy: each wake-up recomputes the
remaining time and ``epoll_wait`` takes it in whole milliseconds, rounded up, so under load
(scenario 2, C=100) the emulator's "50 ms" answers were ~1 ms late (median). `precise_sleep`
hands its deadline to a background thread that sleeps with ``clock_nanosleep`` precision
(its timer slack lowered to 1 ns on Linux) and wakes the loop through
``call_soon_threadsafe``: all the futures due at one wake-up in ONE callback per loop. The
loop still has to notice that wake-up (~0.1-0.3 ms here, more when it is busy).

    from benchmarks import _timers
    _emulator._sleep = _timers.precise_sleep      # `benchmarks._server --timers precise`
    ...
    _timers.stop()

`PreciseTimer` is the thread itself (a context manager); the module functions use one
shared instance, started on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import sys
import threading
import time
from types import TracebackType

__all__ = ["PreciseTimer", "precise_sleep", "stop"]

# The condition wait (interruptible by an earlier deadline) ends this long before the
# deadline; the rest is one `time.sleep`, the most precise sleep on offer. A new entry due
# within that last stretch is resolved at most this late.
_FINAL_SLEEP = 0.0005

_Entry = tuple[float, int, asyncio.Future[None], asyncio.AbstractEventLoop]


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    """On the loop: finish every future still waiting (a cancelled sleeper is done)."""
    for fut in futures:
        if not fut.done():
            fut.set_result(None)


def _hand_over(futures: list[tuple[float, asyncio.Future[None]]]) -> None:
    """On the loop, when the thread stops: the loop's own timers take the rest."""
    loop = asyncio.get_running_loop()
    for deadline, fut in futures:
        if not fut.done():
            loop.call_at(_loop_time(loop, deadline), _resolve, [fut])


def _loop_time(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    """A `time.monotonic()` deadline on the loop's clock (the same clock by default), with
    a millisecond to spare so the loop's timers cannot end a sleep early."""
    return loop.time() + max(0.0, deadline - time.monotonic()) + 0.001


def _tighten_timer_slack() -> None:
    """Linux: this thread's timer slack from 50 µs to 1 ns (halves `time.sleep`'s overshoot
    here); best effort, a no-op elsewhere."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK


class PreciseTimer:
    """A heap of (deadline, sequence, future, loop) served by one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> PreciseTimer:
        with self._cond:
            if self._stopping:
                raise RuntimeError("this PreciseTimer was stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="precise-timer",
                                                daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """End the thread; sleepers still waiting finish on their loops' own timers."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    async def sleep(self, delay: float) -> None:
        """Return no earlier than `delay` seconds from now (``asyncio.sleep(0)`` if <= 0)."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        await self.sleep_until(time.monotonic() + delay)

    async def sleep_until(self, deadline: float) -> None:
        """Return once `time.monotonic()` >= `deadline` (which may already have passed)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._thread is None:
                raise RuntimeError("the PreciseTimer was not started")
            if self._stopping:  # shutting down: the loop's own timers will do
                loop.call_at(_loop_time(loop, deadline), _resolve, [fut])
            else:
                earliest = not self._heap or deadline < self._heap[0][0]
                heapq.heappush(self._heap, (deadline, next(self._seq), fut, loop))
                if earliest:  # the thread sleeps towards a later deadline (or none)
                    self._cond.notify()
        await fut

    def _run(self) -> None:
        _tighten_timer_slack()
        heap, cond = self._heap, self._cond
        while True:
            with cond:
                while not self._stopping:
                    if not heap:
                        cond.wait()
                        continue
                    remaining = heap[0][0] - time.monotonic()
                    if remaining <= _FINAL_SLEEP:
                        break
                    cond.wait(remaining - _FINAL_SLEEP)
                if self._stopping:
                    self._drain()
                    return
                deadline = heap[0][0]
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            due: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            with cond:
                now = time.monotonic()
                while heap and heap[0][0] <= now:
                    _, _, fut, loop = heapq.heappop(heap)
                    due.setdefault(loop, []).append(fut)
            for loop, futures in due.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits on it
                    loop.call_soon_threadsafe(_resolve, futures)

    def _drain(self) -> None:
        """Under the lock, on stop: every waiting entry back to its own loop."""
        rest: dict[asyncio.AbstractEventLoop, list[tuple[float, asyncio.Future[None]]]] = {}
        for deadline, _, fut, loop in self._heap:
            rest.setdefault(loop, []).append((deadline, fut))
        self._heap.clear()
        for loop, entries in rest.items():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_hand_over, entries)

    def __enter__(self) -> PreciseTimer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


_shared: PreciseTimer | None = None
_shared_lock = threading.Lock()


async def precise_sleep(delay: float) -> None:
    """`asyncio.sleep` on the shared `PreciseTimer` (started on first use)."""
    global _shared
    timer = _shared
    if timer is None:
        with _shared_lock:
            if _shared is None:
                _shared = PreciseTimer().start()
            timer = _shared
    await timer.sleep(delay)


def stop() -> None:
    """Stop the shared timer thread, if any; the next `precise_sleep` starts a new one."""
    global _shared
    with _shared_lock:
        timer, _shared = _shared, None
    if timer is not None:
        timer.stop()
