"""The benchmark server's event loop: it busy-polls while the emulator has latency on.

Scenario 2 measures how close a client gets to C / latency, a bound that assumes the
server answers exactly `latency` after each request. A server that sleeps between events
answers later than that on this VM, and not by the client's fault:

- asyncio's timers end a sleep up to a millisecond late under load (``epoll_wait`` takes
  its timeout in whole milliseconds, rounded up);
- every wake-up of an idle process costs ~0.1-0.4 ms here (an idle vCPU is halted, and
  the first Python code after a wake-up runs several times slower on cold caches).

Measured from the emulator's handler (C=100, 50 ms): answers came 0.34-0.45 ms late
(median) with a timer thread, 0.9 ms with plain asyncio timers, and 0.035-0.07 ms when
the loop never sleeps. So `SpinSelector` polls ``epoll`` with a zero timeout until an
event arrives or the loop's next timer is due, and asyncio's own timers (which never fire
before their time) become exact. It costs the server process one core while
``spinning`` is on; `benchmarks._server` turns it on only while the latency is above 0,
so scenario 1 (no latency) runs on a loop that sleeps as usual.

    loop = spin_loop()               # a SelectorEventLoop on a SpinSelector
    loop._selector.spinning = True   # via `selector_of(loop)`
"""

from __future__ import annotations

import asyncio
import selectors
import time

__all__ = ["SpinSelector", "selector_of", "spin_loop"]

_Ready = list[tuple[selectors.SelectorKey, int]]


class SpinSelector(selectors.DefaultSelector):
    """The platform's default selector; while `spinning`, a wait is a loop of polls."""

    spinning: bool = False
    #: The clock a spinning wait ends by (the loop's own; tests give a fake one).
    clock = staticmethod(time.monotonic)

    def select(self, timeout: float | None = None) -> _Ready:
        if not self.spinning or (timeout is not None and timeout <= 0):
            ready: _Ready = super().select(timeout)
            return ready
        poll, clock = super().select, self.clock
        end = None if timeout is None else clock() + timeout
        while True:
            ready = poll(0)
            if ready or (end is not None and clock() >= end):
                return ready


def spin_loop() -> asyncio.AbstractEventLoop:
    """A new selector event loop on a `SpinSelector` (not spinning until told)."""
    return asyncio.SelectorEventLoop(SpinSelector())


def selector_of(loop: asyncio.AbstractEventLoop) -> SpinSelector:
    """The `SpinSelector` of a loop made by `spin_loop`."""
    selector = getattr(loop, "_selector", None)
    if not isinstance(selector, SpinSelector):
        raise TypeError("this loop was not made by benchmarks._loop.spin_loop()")
    return selector
