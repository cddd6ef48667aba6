"""Throughput of the emulator in fast mode (prints requests/s; asserts nothing).

    python tests/emulator/bench_fast.py [--requests 20000] [--concurrency 64] [--slow]

The emulator runs in its own process (one core), the client here with raw aiohttp.
Besides the wall-clock rate it prints requests per CPU-second of the emulator process
(from /proc), which does not depend on what else the machine is running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import aiohttp


async def _drive(base_url: str, numbers: list[str], total: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url + "/", connector=connector) as s:
        async with s.post("api/v2/login", params={"login": "demo",
                                                  "password": "demo-password"}) as r:
            token = (await r.json())["token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        counter = iter(range(total))

        async def worker() -> None:
            for i in counter:
                async with s.get(f"api/v2/sim/{numbers[i % len(numbers)]}",
                                 headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm-up
        counter = iter(range(total))
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - start)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--slow", action="store_true", help="without --fast")
    opts = ap.parse_args()
    cmd = [sys.executable, "-m", "simapi_async.testing", "--port", "0", "--sims", "1000"]
    proc = subprocess.Popen(cmd + ([] if opts.slow else ["--fast"]),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().split()[-1]
        from simapi_async.testing._fleet import build_fleet

        numbers = build_fleet(1000, 1).numbers[:100]
        cpu = [_cpu_seconds(proc.pid)]
        rate = asyncio.run(_drive(base_url, numbers, opts.requests, opts.concurrency))
        cpu.append(_cpu_seconds(proc.pid))
        per_cpu = 2 * opts.requests / (cpu[1] - cpu[0])  # warm-up + measured run
        mode = "normal" if opts.slow else "fast"
        print(f"{mode} mode: {rate:,.0f} requests/s wall, {per_cpu:,.0f} requests per "
              f"emulator CPU-second (GET sim/{{number}}, concurrency {opts.concurrency})")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
