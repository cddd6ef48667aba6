"""A fixed rate limit: GCRA with no burst, so requests are evenly spaced; cancel-safe.

`RateLimiter` paces a bulk run's own `rate_limit`; the session's `Pacer` (`_quota.py`),
whose rate changes as it learns the server's quota, lets its waiters go in turn instead.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Awaitable, Callable

from ._exceptions import InvalidInputError

__all__ = ["RateLimiter", "check_rate"]


def check_rate(value: object, field: str = "rate_limit") -> float:
    """A finite number of requests per second > 0, as a float."""
    reason = "must be a finite number of requests/s > 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(field, value, reason)
    try:
        rate = float(value)
    except OverflowError:
        raise InvalidInputError(field, value, reason) from None
    if not 0 < rate < math.inf:
        raise InvalidInputError(field, value, reason)
    return rate


class RateLimiter:
    """Spaces acquisitions `1/rate` seconds apart (generic cell rate algorithm, burst 0).

    Each caller is given the next free slot on a virtual schedule and sleeps until it; no
    lock is needed because slot assignment happens without an `await`. A caller cancelled
    while it waits gives its slot back: the next caller takes it, so cancelled waiters do
    not slow everybody down. The rate can be changed while running.
    """

    __slots__ = ("_clock", "_freed", "_interval", "_sleep", "_tat")

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 0.0
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tat = 0.0  # theoretical arrival time of the next request
        self._freed: list[float] = []  # slots given back by cancelled waiters (a heap)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    @rate.setter
    def rate(self, value: float) -> None:
        self._interval = 1.0 / check_rate(value)

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it (seconds, >= 0)."""
        now = self._clock()
        return self._take(now) - now

    def _take(self, now: float) -> float:
        freed = self._freed
        while freed:
            slot = heapq.heappop(freed)
            if slot >= now:  # a slot given back that is still ahead: take it
                return slot
        slot = self._tat if self._tat > now else now
        self._tat = slot + self._interval
        return slot

    def give_back(self, slot: float) -> None:
        """A caller that took `slot` will not use it (it was cancelled while waiting)."""
        if abs(self._tat - self._interval - slot) < 1e-9:
            self._tat = slot  # the last slot handed out: simply step back
        elif slot > self._clock():
            heapq.heappush(self._freed, slot)

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        now = self._clock()
        slot = self._take(now)
        if slot > now:
            try:
                await self._sleep(slot - now)
            except asyncio.CancelledError:
                self.give_back(slot)
                raise
