"""The shared quota in a real Redis: one schedule for many clients and processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from simapi_async._exceptions import InvalidInputError
from simapi_async._shared_quota import SharedQuota, Slot
from simapi_async.fleet import FleetBackendError
from simapi_async.fleet._redis import scope_key
from simapi_async.fleet._redis_limiter import RedisQuota

from ._servers import RedisServer

BASE_URL = "https://sim.example/api/v2"


@pytest.fixture
async def quotas(redis_url: str, redis_prefix: str) -> AsyncIterator[Callable[..., RedisQuota]]:
    made: list[RedisQuota] = []

    def make(**kw: object) -> RedisQuota:
        quota = RedisQuota(redis_url, base_url=BASE_URL, login="acme", prefix=redis_prefix,
                           **kw)  # type: ignore[arg-type]
        made.append(quota)
        return quota

    yield make
    for quota in made:
        await quota.aclose()


def assert_spaced(slots: list[int], interval: int) -> None:
    """No two granted slots closer than `interval` µs: never above the rate in any window."""
    ordered = sorted(slots)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert len(set(ordered)) == len(ordered)
    assert min(gaps) >= interval


async def test_four_clients_reserving_together_never_exceed_the_rate(
        quotas: Callable[..., RedisQuota]) -> None:
    """4 tasks, each with its own Redis client, 50 slots each at 200/s: evenly spaced."""
    clients = [quotas() for _ in range(4)]
    assert all(isinstance(c, SharedQuota) for c in clients)

    async def take(quota: RedisQuota) -> list[Slot]:
        return [await quota.reserve_slot(200.0) for _ in range(50)]

    slots = [s for batch in await asyncio.gather(*(take(c) for c in clients)) for s in batch]
    assert all(s.wait >= 0 and s.interval == 5_000 for s in slots)
    assert_spaced([s.at for s in slots], 5_000)
    # the waits are relative to Redis's clock when each was granted: at = now + wait
    assert max(s.wait for s in slots) >= (200 - 1) * 0.005 - 0.5


PROCESS_SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from simapi_async.fleet._redis_limiter import RedisQuota

    async def main(url, prefix):
        quota = RedisQuota(url, base_url="https://sim.example/api/v2", login="acme",
                           prefix=prefix)
        slots = [(await quota.reserve_slot(400.0)).at for _ in range(40)]
        await quota.aclose()
        print(json.dumps(slots))

    asyncio.run(main(*sys.argv[1:3]))
""")


async def test_three_processes_share_one_schedule(redis_url: str, redis_prefix: str,
                                                  tmp_path: Path) -> None:
    """3 OS processes reserving at 400/s together: the union of their slots is spaced."""
    script = tmp_path / "reserve.py"
    script.write_text(PROCESS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, str(script), redis_url, redis_prefix,
        stdout=asyncio.subprocess.PIPE, env=env) for _ in range(3)]
    outs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    slots = [at for out, _ in outs for at in json.loads(out)]
    assert len(slots) == 120
    assert_spaced(slots, 2_500)


async def test_publish_and_snapshot_round_trip(quotas: Callable[..., RedisQuota]) -> None:
    """A rate and a pause one process publishes are what another one reads."""
    a, b = quotas(), quotas()
    assert (await b.snapshot()).rate is None
    await a.publish(12.5)
    learned = await b.snapshot()
    assert learned.rate == 12.5
    assert learned.pause_left is None
    await a.publish(pause_seconds=2.0)
    await b.publish(pause_seconds=0.5)  # a shorter pause never shortens the longer one
    learned = await b.snapshot()
    assert learned.rate == 12.5
    assert learned.pause_left is not None
    assert 1.0 < learned.pause_left <= 2.0


async def test_a_shared_pause_holds_every_reservation(quotas: Callable[..., RedisQuota]) -> None:
    """After a published pause the next slot of any client is at its end or later."""
    a, b = quotas(), quotas()
    await a.publish(pause_seconds=3.0)
    learned = await b.snapshot()
    slot = await b.reserve_slot(100.0)
    assert learned.pause_left is not None
    assert slot.wait >= learned.pause_left - 0.5


async def test_keys_expire_when_idle(quotas: Callable[..., RedisQuota], redis_url: str,
                                     redis_prefix: str) -> None:
    """The schedule key lives until just after its last slot, the learned state learned_ttl."""
    import redis.asyncio

    quota = quotas(learned_ttl=30.0)
    scope = scope_key(BASE_URL, "acme", redis_prefix)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await quota.reserve(10.0)
        assert 0 < await client.pttl(scope + ":quota") <= 100 + 1000
        await quota.publish(5.0)
        assert 25_000 < await client.pttl(scope + ":learned") <= 30_000
        await quota.publish(pause_seconds=60.0)  # a pause outlives the TTL it would cut
        assert 59_000 < await client.pttl(scope + ":learned") <= 61_000
    finally:
        await client.aclose()


async def test_cancel_gives_back_only_the_last_slot(quotas: Callable[..., RedisQuota]) -> None:
    """The last slot taken can be given back (the next caller gets it); an earlier one not."""
    quota = quotas()
    first = await quota.reserve_slot(1.0)
    second = await quota.reserve_slot(1.0)
    assert not await quota.cancel(first)
    assert await quota.cancel(second)
    again = await quota.reserve_slot(1.0)
    assert again.at == second.at


async def test_acquire_cancelled_while_waiting_gives_the_slot_back(
        quotas: Callable[..., RedisQuota]) -> None:
    """A caller cancelled during its wait returns its slot to the schedule."""
    quota = quotas()
    first = await quota.reserve_slot(0.5)
    reserved = asyncio.Event()
    real = quota.reserve_slot

    async def spy(rate: float) -> Slot:
        slot = await real(rate)
        reserved.set()
        return slot

    quota.reserve_slot = spy  # type: ignore[method-assign]
    waiter = asyncio.ensure_future(quota.acquire(0.5))  # its slot: 2 s after `first`
    await reserved.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    nxt = await real(0.5)
    assert nxt.at == first.at + 2_000_000


async def test_bad_rates_are_refused_before_redis(quotas: Callable[..., RedisQuota]) -> None:
    """A rate of 0, a negative or infinite one is an InvalidInputError."""
    quota = quotas()
    for rate in (0, -1.0, float("inf"), True):
        with pytest.raises(InvalidInputError):
            await quota.reserve(rate)  # type: ignore[arg-type]


async def test_redis_stopped_then_restarted(own_redis_server: RedisServer) -> None:
    """Redis down: FleetBackendError; back up (scripts and state lost): reservations work."""
    quota = RedisQuota(own_redis_server.url, base_url=BASE_URL, login="acme")
    try:
        assert await quota.reserve(100.0) == 0.0
        await asyncio.to_thread(own_redis_server.stop)
        with pytest.raises(FleetBackendError, match="cannot reserve a slot"):
            await quota.reserve(100.0)
        await asyncio.to_thread(own_redis_server.start)
        assert await quota.reserve(100.0) == 0.0
        await quota.publish(3.0)
        assert (await quota.snapshot()).rate == 3.0
    finally:
        await quota.aclose()


async def test_redis_restarted_between_two_calls_is_ridden_out(
        own_redis_server: RedisServer) -> None:
    """A Redis restarted while the client's pooled connection was idle: the next call
    reconnects and succeeds (no error for a restart nobody was calling through)."""
    quota = RedisQuota(own_redis_server.url, base_url=BASE_URL, login="acme")
    try:
        assert await quota.reserve(100.0) == 0.0
        await asyncio.to_thread(own_redis_server.restart)
        assert await quota.reserve(100.0) == 0.0
    finally:
        await quota.aclose()
