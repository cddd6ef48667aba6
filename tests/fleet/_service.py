"""One service process of the shared-session tests: concurrent single calls, one account.

    python tests/fleet/_service.py CONFIG_JSON      (the password in SIMAPI_PASSWORD)

CONFIG_JSON: base_url, login, numbers, requests, concurrency, redis_url (or null). The
process prints ``ready`` once its session exists, waits for a line on stdin (so that
every process starts at once), makes `requests` calls of `api.sims.get` with
`concurrency` in flight, and prints one JSON line of counts.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time

import simapi_async as sa


async def main(config: dict[str, object]) -> None:
    numbers = list(config["numbers"])  # type: ignore[call-overload]
    total = int(config["requests"])  # type: ignore[call-overload]
    extra = {"redis_url": config["redis_url"]} if config.get("redis_url") else {}
    failed: collections.Counter[str] = collections.Counter()
    async with sa.AsyncSession(str(config["base_url"]), login=str(config["login"]),
                               password=os.environ["SIMAPI_PASSWORD"], **extra) as api:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        left = iter(range(total))

        async def worker() -> None:
            for i in left:
                try:
                    await api.sims.get(numbers[i % len(numbers)])
                except sa.SimApiError as exc:
                    failed[type(exc).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(int(config["concurrency"]))))  # type: ignore[call-overload]
        stats = api.stats
        print(json.dumps({"elapsed": time.monotonic() - started, "failed": dict(failed),
                          "logins": stats.logins, "requests": stats.requests,
                          "rate_limited": stats.rate_limited,
                          "learned": api.quota.learned}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
