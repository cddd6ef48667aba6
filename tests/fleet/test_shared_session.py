"""Sessions of several OS processes on one account: one quota, one login (Redis)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from simapi_async.testing import Emulator, Faults

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


async def test_four_processes_share_one_quota_and_one_login(redis_url: str) -> None:
    """4 processes on one account with redis_url: 1 login per token lifetime in all and
    ≤ 1 % 429s after the first second; without it: a login each and a 429 storm."""
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

    assert alone["logins"] >= PROCESSES  # each process logs in for itself
    assert alone["throttled_after"] > 0.05 * alone["answers_after"], alone
