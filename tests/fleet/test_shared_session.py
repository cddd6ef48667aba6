"""Sessions of several OS processes on one account: one quota, one login (Redis)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import simapi_async as sa
from simapi_async import _quota
from simapi_async.testing import Emulator, Faults

from ._servers import RedisServer

SERVICE = Path(__file__).with_name("_service.py")
QUOTA = 200.0  # requests/s of the account (the emulator's token bucket)
TOKEN_TTL = 2.0  # seconds: a few token lifetimes in one run
PROCESSES, REQUESTS, CONCURRENCY = 4, 150, 8


async def run_services(emu: Emulator, redis_url: str | None) -> dict[str, Any]:
    """4 service processes started at once on `emu`'s account; what they and it saw."""
    config = {"base_url": emu.base_url, "login": emu.login, "redis_url": redis_url,
              "numbers": emu.fleet.numbers[:50], "requests": REQUESTS,
              "concurrency": CONCURRENCY}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "SIMAPI_PASSWORD": emu.password}
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, str(SERVICE), json.dumps(config), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env=env) for _ in range(PROCESSES)]
    for proc in procs:
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"ready\n"
    emu.stats.reset()
    loop = asyncio.get_running_loop()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    started = loop.time()
    await asyncio.sleep(1.0)  # the first second: nobody knows the quota yet
    first_second = Counter(emu.stats.status_counts)
    outs = [json.loads((await p.communicate())[0]) for p in procs]
    elapsed = loop.time() - started
    assert [p.returncode for p in procs] == [0] * PROCESSES
    after = emu.stats.status_counts - first_second
    return {"outs": outs, "elapsed": elapsed, "logins": emu.stats.logins,
            "answers_after": sum(after.values()), "throttled_after": after[429]}


def lifetimes(elapsed: float) -> int:
    """Token lifetimes in a run of `elapsed` seconds (a token is renewed a tenth early)."""
    return math.ceil(elapsed / (TOKEN_TTL * 0.9))


async def test_four_processes_share_one_quota_and_one_login(
        redis_url: str, fresh_default_keys: None) -> None:
    """4 processes on one account with redis_url: 1 login per token lifetime in all and
    ≤ 1 % 429s after the first second; without it: a login each per token lifetime."""
    faults = Faults(rate_limit=QUOTA, token_ttl=TOKEN_TTL)
    async with Emulator(sims=200, faults=faults) as emu:
        shared = await run_services(emu, redis_url)
    async with Emulator(sims=200, faults=faults) as emu:
        alone = await run_services(emu, None)

    for run in (shared, alone):
        assert sum(sum(o["failed"].values()) for o in run["outs"]) <= 0.01 * \
            PROCESSES * REQUESTS, run
    assert shared["logins"] == sum(o["logins"] for o in shared["outs"])
    assert shared["logins"] <= lifetimes(shared["elapsed"]) + 1, shared
    assert shared["throttled_after"] <= 0.01 * shared["answers_after"], shared

    # Without sharing: each process logs in for itself, and each learns the quota on
    # its own (issue 14's pacer keeps each near its share once learned: the 429s are
    # those of learning, so they are only compared, not bounded from below).
    assert alone["logins"] >= PROCESSES
    assert alone["logins"] > 2 * shared["logins"], (alone, shared)
    assert alone["throttled_after"] >= shared["throttled_after"]


@pytest.fixture
async def fresh_default_keys(redis_url: str) -> AsyncIterator[None]:
    """No key of the default prefix left by an earlier test (an emulator's port may come
    round again, and with it the same base URL and login)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match="simapi:*"):
            await client.delete(key)
        yield
    finally:
        await client.aclose()


def session(emu: Emulator, **kw: Any) -> sa.AsyncSession:
    return sa.AsyncSession(emu.base_url, login=emu.login, password=emu.password, **kw)


async def test_revoked_token_is_replaced_once_for_everybody(
        redis_url: str, fresh_default_keys: None) -> None:
    """4 sessions sharing a login: one login at first; after the server revokes the
    token (every session gets a 401), one more login in all, not one each."""
    async with Emulator(sims=50) as emu:
        number = emu.fleet.numbers[0]
        sessions = [session(emu, redis_url=redis_url) for _ in range(4)]
        try:
            await asyncio.gather(*(s.sims.get(number) for s in sessions))
            assert emu.stats.logins == 1
            emu.revoke_tokens()
            await asyncio.gather(*(s.sims.get(number) for s in sessions for _ in range(3)))
            assert emu.stats.logins == 2
            assert sum(s.stats.logins for s in sessions) == 2
        finally:
            for s in sessions:
                await s.aclose()


async def test_a_rate_limit_set_by_the_user_is_shared(
        redis_url: str, fresh_default_keys: None) -> None:
    """Two sessions with rate_limit=50 and one redis_url take their slots from one
    schedule: together they wait as one session would for the same number of calls."""
    async with Emulator(sims=50) as emu:
        number = emu.fleet.numbers[0]
        a, b = session(emu, rate_limit=50, redis_url=redis_url), \
            session(emu, rate_limit=50, redis_url=redis_url)
        try:
            await asyncio.gather(*(s.sims.get(number) for s in (a, b) for _ in range(10)))
            # 20 calls at 50/s: 0.02 s * (0 + 1 + ... + 19) waited in all (0.9 s each alone)
            assert a.stats.rate_limit_wait + b.stats.rate_limit_wait > 0.75 * 0.02 * 190
        finally:
            await a.aclose()
            await b.aclose()


async def test_redis_down_at_start_falls_back_with_one_warning(
        own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """Redis unreachable from the start: every call goes through on the session's own
    pacing and login, one WARNING from each shared piece, the Redis password never shown."""
    await asyncio.to_thread(own_redis_server.stop)
    url = f"redis://:hunter2@127.0.0.1:{own_redis_server.port}/0"
    caplog.set_level(logging.INFO, "simapi_async")
    async with Emulator(sims=50) as emu, session(emu, redis_url=url) as api:
        assert "hunter2" not in repr(api._pacer._shared)
        for number in emu.fleet.numbers[:20]:
            await api.sims.get(number)
        assert (api.stats.logins, emu.stats.logins) == (1, 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, caplog.text
    assert "shared quota failed" in caplog.text
    assert "shared token store failed" in caplog.text
    assert "hunter2" not in caplog.text
    assert "***" in caplog.text  # the URL is shown, redacted


async def test_redis_stopped_and_restarted_mid_run(
        own_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Redis stopped mid-run, then restarted empty: every target gets exactly one result,
    none is sent twice, one warning for the outage, and the session paces by Redis again."""
    monkeypatch.setattr(_quota, "_BACKEND_RETRY", 0.2)
    caplog.set_level(logging.INFO, "simapi_async")
    async with Emulator(sims=600, faults=Faults(rate_limit=400)) as emu:
        targets = [sa.Target(n, iccid=emu.fleet.sims[n].iccid) for n in emu.fleet.numbers]
        async with session(emu, redis_url=own_redis_server.url) as api:
            done = 0
            stop, start = asyncio.Event(), asyncio.Event()

            def on_result(_: object) -> None:
                nonlocal done
                done += 1
                if done == 150:
                    stop.set()
                elif done == 300:
                    start.set()

            async def outage() -> None:
                await stop.wait()
                await asyncio.to_thread(own_redis_server.stop)
                await start.wait()
                await asyncio.to_thread(own_redis_server.start)

            chaos = asyncio.create_task(outage())
            report = await api.bulk.block(targets, concurrency=16, on_result=on_result)
            await chaos
            pacer = api._pacer
            assert (report.succeeded, report.failed, report.total) == (600, 0, 600)
            assert emu.stats.duplicates("block") == {}
            assert emu.stats.writes
            assert max(emu.stats.writes.values()) == 1
            assert not pacer._down  # back on the shared schedule
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "shared quota failed" in warnings[0]
    assert "shared quota is back" in caplog.text


def test_the_cli_shares_its_login_through_redis(redis_url: str, fresh_default_keys: None) -> None:
    """Two `simapi sims get --redis URL` runs (two sessions, as two processes would be)
    log in once in all: the second takes the token the first stored."""
    from click.testing import CliRunner

    from simapi_async.cli import cli
    from tests.cli.conftest import EmulatorThread, env_for

    with EmulatorThread(sims=50) as emu:
        number = emu.fleet.numbers[0]
        for _ in range(2):
            result = CliRunner().invoke(cli, ["sims", "get", number, "--json",
                                              "--redis", redis_url],
                                        env=env_for(emu), catch_exceptions=False)
            assert result.exit_code == 0, result.output
        assert emu.stats.logins == 1
