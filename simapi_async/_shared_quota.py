"""A quota shared by several processes: the protocol the session's limiter talks to.

The default is no shared quota: the session's own `RateLimiter` spaces its requests.
With one (the Redis one in the `fleet` extra: `simapi_async.fleet._redis_limiter.
RedisQuota`), every session of the same base URL and login takes its slots from one
schedule, and what one of them learns of the quota (a rate from `X-RateLimit-*`, a
pause from `Retry-After`) is seen by all.

`sync` is the session's periodic exchange (a few times a second, never per request):
it adds the answers this process got since the last call to a shared count (so the
one process estimating the account's refill sees what all of them consumed), renews
or takes the lease of that estimating process (the leader), stores the leader's rate
and reads back what is shared. A backend that cannot be reached raises
`simapi_async.fleet.FleetBackendError`; the session then paces on its own for a while.
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
    seconds are left of a pause (None: none known); from `sync`, also the answers
    counted by all processes (`consumed`) and whether the caller is the leader."""

    rate: float | None
    pause_left: float | None
    consumed: int = 0
    leader: bool = False


@runtime_checkable
class SharedQuota(Protocol):
    """Slots at a rate shared by every process of one account."""

    async def reserve(self, rate: float) -> float: ...

    async def reserve_slot(self, rate: float) -> Slot: ...

    async def cancel(self, slot: Slot) -> bool: ...

    async def publish(self, rate: float | None = None, *,
                      pause_seconds: float | None = None) -> None: ...

    async def snapshot(self) -> Learned: ...

    async def sync(self, consumed: int, *, owner: str, lease: float,
                   rate: float | None = None) -> Learned: ...

    async def aclose(self) -> None: ...
