"""A session-wide rate limit: GCRA with no burst, so requests are evenly spaced."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from ._exceptions import InvalidInputError

__all__ = ["RateLimiter"]


class RateLimiter:
    """Spaces acquisitions `1/rate` seconds apart (generic cell rate algorithm, burst 0).

    Each caller is given the next free slot on a virtual schedule and sleeps until it; no
    lock is needed because slot assignment happens without an `await`. The rate can be
    changed while running (the bulk engine slows down on `429`).
    """

    __slots__ = ("_clock", "_interval", "_sleep", "_tat")

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

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    @rate.setter
    def rate(self, value: float) -> None:
        reason = "must be a finite number of requests/s > 0"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError("rate_limit", value, reason)
        try:
            rate = float(value)
        except OverflowError:
            raise InvalidInputError("rate_limit", value, reason) from None
        if not 0 < rate < math.inf:
            raise InvalidInputError("rate_limit", value, reason)
        self._interval = 1.0 / rate

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it (seconds, >= 0)."""
        now = self._clock()
        slot = self._tat if self._tat > now else now
        self._tat = slot + self._interval
        return slot - now

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)
