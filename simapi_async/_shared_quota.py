"""A quota shared by several processes: the protocol the session's limiter talks to.

The default is no shared quota: the session's own `RateLimiter` spaces its requests.
With one (the Redis one in the `fleet` extra: `simapi_async.fleet._redis_limiter.
RedisQuota`), every session of the same base URL and login takes its slots from one
schedule, and what one of them learns of the quota (a rate from `X-RateLimit-*`, a
pause from `Retry-After`) is seen by all.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Learned", "SharedQuota", "Slot"]


@attrs.frozen(slots=True)
class Slot:
    """A reserved send time: wait `wait` seconds; `at`/`interval` (µs, the shared
    clock's) identify it for `cancel`."""

    wait: float
    at: int
    interval: int


@attrs.frozen(slots=True)
class Learned:
    """What the processes sharing a quota learned: a rate (requests/s) and how many
    seconds are left of a pause (None: none known)."""

    rate: float | None
    pause_left: float | None


@runtime_checkable
class SharedQuota(Protocol):
    """Slots at a rate shared by every process of one account."""

    async def reserve(self, rate: float) -> float: ...

    async def reserve_slot(self, rate: float) -> Slot: ...

    async def cancel(self, slot: Slot) -> bool: ...

    async def publish(self, rate: float | None = None, *,
                      pause_seconds: float | None = None) -> None: ...

    async def snapshot(self) -> Learned: ...

    async def aclose(self) -> None: ...
