"""The GCRA rate limiter: even spacing, no bursts, rate changes."""

from __future__ import annotations

import asyncio

import pytest

import simapi_async as sa
from simapi_async._ratelimit import RateLimiter


class FakeTime:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


async def test_concurrent_acquires_are_evenly_spaced() -> None:
    """Ten simultaneous callers at 10/s get slots 0.0, 0.1, ... 0.9 s from now."""
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    await asyncio.gather(*(limiter.acquire() for _ in range(10)))
    assert sorted(round(s, 6) for s in t.sleeps) == [round(0.1 * i, 6) for i in range(1, 10)]


async def test_idle_time_does_not_build_a_burst() -> None:
    """After a long idle spell, requests are still spaced: no saved-up burst."""
    t = FakeTime()
    limiter = RateLimiter(2, clock=t.clock, sleep=t.sleep)
    await limiter.acquire()
    t.now += 60.0
    delays = [limiter.reserve() for _ in range(3)]
    assert delays == [0.0, 0.5, 1.0]


def test_rate_can_be_changed_and_must_be_positive() -> None:
    """The rate is adjustable at run time; zero or negative rates are refused."""
    limiter = RateLimiter(5)
    limiter.rate = 50
    assert limiter.rate == 50
    with pytest.raises(sa.InvalidInputError):
        limiter.rate = 0
    with pytest.raises(sa.InvalidInputError):
        RateLimiter(-1)
