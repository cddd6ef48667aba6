"""The shared quota: one GCRA schedule in Redis for every process of an account.

    quota = RedisQuota("redis://cache:6379/0", base_url=URL, login=LOGIN)
    await asyncio.sleep(await quota.reserve(rate))       # or: await quota.acquire(rate)
    await quota.publish(rate=12.0)                       # learned from X-RateLimit-*
    await quota.publish(pause_seconds=30)                # a Retry-After: everyone waits

One Lua script takes a slot: it reads the clock from Redis (`TIME`, so hosts with
skewed clocks agree), moves the theoretical arrival time (TAT) past now and past any
shared pause, takes it and sets the next one `1/rate` later (burst 0: slots evenly
spaced). Scripts run one at a time in Redis, so processes reserving together never
exceed the rate. `sync` (a few times a second per session) adds the process's answers
to a shared count (`…:consumed`) and keeps one process at a time the leader (`…:leader`,
a lease renewed at each sync): the only one whose controller sets the shared rate, so
K processes do not each correct it (K times the gain). Keys (`PREFIX:{HASH}:quota`,
`…:learned`) expire: the TAT just after
its schedule ends, the learned state `learned_ttl` after it was last published (a
pause keeps it at least until its end), so an idle account leaves nothing behind.

`cancel(slot)` gives a slot back when it is still the last one taken (a caller
cancelled while waiting, nobody reserved after it); otherwise the slot stays used:
best effort, it only makes the schedule a little slower, never faster.

Failures: Redis unreachable, restarted or refusing (ACL) raises `FleetBackendError`;
the caller falls back to its local limiter with one warning. A restart loses the
schedule and the learned state (the next slot is "now"); the scripts are loaded again
by the client (EVALSHA, then EVAL on NOSCRIPT).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import TYPE_CHECKING, Any

from .._exceptions import InvalidInputError
from .._shared_quota import Learned, Slot
from ._errors import FleetBackendError
from ._redis import RedisBackend, scope_key, text

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisQuota"]

# Numbers: µs since the epoch (~1.8e15) are exact in Lua's doubles; string.format('%d')
# writes them back without the exponent tostring() would use.
_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""
# KEYS: quota, learned; ARGV: interval_us, idle_ms -> {wait_us, at_us, interval_us}
_RESERVE = _CLOCK + """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local pause = tonumber(redis.call('HGET', KEYS[2], 'pause_until') or '0')
if tat < pause then tat = pause end
local interval = tonumber(ARGV[1])
local ttl = math.floor((tat + interval - now) / 1000) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', string.format('%d', ttl))
return {tat - now, tat, interval}
"""
# KEYS: quota; ARGV: at_us, interval_us -> 1 if given back
_CANCEL = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat == tonumber(ARGV[1]) + tonumber(ARGV[2]) then
    redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
    return 1
end
return 0
"""
# KEYS: learned; ARGV: rate ('' = unchanged), pause_us ('' = none), ttl_ms
_PUBLISH = _CLOCK + """
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'rate', ARGV[1]) end
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause_until') or '0')
if ARGV[2] ~= '' and now + tonumber(ARGV[2]) > pause then
    pause = now + tonumber(ARGV[2])
    redis.call('HSET', KEYS[1], 'pause_until', string.format('%d', pause))
end
local ttl = tonumber(ARGV[3])
if pause > now and (pause - now) / 1000 + 1000 > ttl then ttl = (pause - now) / 1000 + 1000 end
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
return 1
"""
# KEYS: learned -> {rate or false, pause_left_us}
_SNAPSHOT = _CLOCK + """
local rate = redis.call('HGET', KEYS[1], 'rate')
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause_until') or '0')
return {rate, math.max(pause - now, 0)}
"""
# KEYS: learned, consumed, leader; ARGV: delta, owner, lease_ms, rate ('' = none), ttl_ms
# -> {rate or false, pause_left_us, consumed, leader (1/0)}
_SYNC = _CLOCK + """
local total = redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local lead = 0
local holder = redis.call('GET', KEYS[3])
if not holder then
    redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
    lead = 1
elseif holder == ARGV[2] then
    redis.call('PEXPIRE', KEYS[3], ARGV[3])
    lead = 1
end
if lead == 1 and ARGV[4] ~= '' then
    redis.call('HSET', KEYS[1], 'rate', ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
local rate = redis.call('HGET', KEYS[1], 'rate')
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause_until') or '0')
return {rate, math.max(pause - now, 0), total, lead}
"""


class RedisQuota:
    """A `SharedQuota` in Redis for `base_url` + `login` (see the module docstring).

    `client` is a `redis://` / `rediss://` URL or a `redis.asyncio.Redis`.
    """

    def __init__(self, client: Redis | str, *, base_url: str, login: str,
                 prefix: str = "simapi", learned_ttl: float = 600.0) -> None:
        if not learned_ttl > 0:
            raise InvalidInputError("learned_ttl", learned_ttl, "must be > 0")
        self._redis = RedisBackend(client)
        scope = scope_key(base_url, login, prefix)
        self._quota_key, self._learned_key = f"{scope}:quota", f"{scope}:learned"
        self._consumed_key, self._leader_key = f"{scope}:consumed", f"{scope}:leader"
        self.learned_ttl = learned_ttl
        c = self._redis.client
        self._reserve = c.register_script(_RESERVE)
        self._cancel = c.register_script(_CANCEL)
        self._publish = c.register_script(_PUBLISH)
        self._snapshot = c.register_script(_SNAPSHOT)
        self._sync = c.register_script(_SYNC)

    def __repr__(self) -> str:
        return f"<RedisQuota {self._redis!r} key={self._quota_key!r}>"

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def reserve_slot(self, rate: float) -> Slot:
        """Take the next slot at `rate` requests/s of the shared schedule."""
        interval = _interval(rate)
        reply: Any = await self._redis.call("reserve a slot", lambda: self._reserve(
            keys=[self._quota_key, self._learned_key], args=[interval, 1000]))
        wait, at, step = (int(v) for v in reply)
        return Slot(wait / 1e6, at, step)

    async def reserve(self, rate: float) -> float:
        """Take the next slot; the seconds to wait before sending (>= 0)."""
        return (await self.reserve_slot(rate)).wait

    async def cancel(self, slot: Slot) -> bool:
        """Give `slot` back if nobody reserved after it (best effort); True if given."""
        done: Any = await self._redis.call("give a slot back", lambda: self._cancel(
            keys=[self._quota_key], args=[slot.at, slot.interval]))
        return bool(int(done))

    async def acquire(self, rate: float) -> None:
        """Reserve and wait for the slot; cancelled while waiting, give it back."""
        slot = await self.reserve_slot(rate)
        if slot.wait <= 0:
            return
        try:
            await asyncio.sleep(slot.wait)
        except asyncio.CancelledError:
            with contextlib.suppress(FleetBackendError):
                await asyncio.shield(self.cancel(slot))
            raise

    async def publish(self, rate: float | None = None, *,
                      pause_seconds: float | None = None) -> None:
        """Share what was learned: a rate (requests/s) and/or a pause of
        `pause_seconds` from now (Redis time; never shortens a longer pause)."""
        if rate is not None:
            _interval(rate)  # the same checks as a reservation's
        rate_arg = "" if rate is None else repr(float(rate))
        if pause_seconds is not None and not (0 <= pause_seconds < math.inf):
            raise InvalidInputError("pause_seconds", pause_seconds, "must be >= 0")
        pause_arg = "" if pause_seconds is None else str(int(pause_seconds * 1e6))
        await self._redis.call("publish the quota", lambda: self._publish(
            keys=[self._learned_key], args=[rate_arg, pause_arg, int(self.learned_ttl * 1000)]))

    async def snapshot(self) -> Learned:
        """The shared rate and the seconds left of a shared pause (None if none)."""
        reply: Any = await self._redis.call("read the quota", lambda: self._snapshot(
            keys=[self._learned_key]))
        rate_text, pause_left = text(reply[0]), int(reply[1])
        return Learned(float(rate_text) if rate_text else None,
                       pause_left / 1e6 if pause_left > 0 else None)

    async def sync(self, consumed: int, *, owner: str, lease: float,
                   rate: float | None = None) -> Learned:
        """Add `consumed` answers to the shared count, take or renew the leader's lease
        for `owner` (`lease` seconds), store `rate` if the caller leads; what is shared."""
        rate_arg = "" if rate is None else repr(float(rate))
        reply: Any = await self._redis.call("sync the quota", lambda: self._sync(
            keys=[self._learned_key, self._consumed_key, self._leader_key],
            args=[int(consumed), owner, max(int(lease * 1000), 1), rate_arg,
                  int(self.learned_ttl * 1000)]))
        rate_text, pause_left = text(reply[0]), int(reply[1])
        return Learned(float(rate_text) if rate_text else None,
                       pause_left / 1e6 if pause_left > 0 else None,
                       consumed=int(reply[2]), leader=bool(int(reply[3])))


def _interval(rate: float) -> int:
    """µs between two slots at `rate` (at least 1)."""
    reason = "must be a finite number of requests/s > 0"
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise InvalidInputError("rate_limit", rate, reason)
    if not 0 < rate < math.inf:
        raise InvalidInputError("rate_limit", rate, reason)
    return max(round(1e6 / rate), 1)
