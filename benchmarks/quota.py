"""Scenario `quota`: a bulk run under the server's quota, next to the ideal loop.

    python -m benchmarks.quota [--seconds 30] [--warmup 5] [--quotas 5,50,500]
                               [--latencies 0,200] [--out benchmarks/results/quota.json]

For each quota Q (the emulator's token bucket, `--rate-limit Q`, in its own process) and
server latency, two target kinds (numbers only; numbers with iccid) are blocked by:

- the SDK with default settings, not told Q (it learns it), for `--seconds`;
- the ideal: a hand-written aiohttp loop that is *told* Q and every ICCID, pacing its
  requests exactly at Q with the same pool size (100 connections).

Printed per row, after the first `--warmup` seconds: targets/s ÷ Q, the share of `429`
answers, requests per target (over the whole run), and the SDK ÷ ideal ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEED = 9
PASSWORD = "demo-password"  # noqa: S105 - the emulator's own demo credentials
POOL = 100


class EmulatorProcess:
    """`python -m simapi_async.testing` with a quota, on a free loopback port."""

    def __init__(self, sims: int, quota: float, latency_ms: float) -> None:
        self.args = [sys.executable, "-m", "simapi_async.testing", "--port", "0",
                     "--sims", str(sims), "--seed", str(SEED), "--fast",
                     "--rate-limit", str(quota), "--latency-ms", str(latency_ms)]

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        match = re.search(r"base URL: (\S+)", self.proc.stdout.readline())
        assert match, "the emulator did not start"
        return match.group(1).rstrip("/") + "/"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _fleet(sims: int) -> list[tuple[str, str]]:
    from simapi_async.testing._fleet import build_fleet

    fleet = build_fleet(sims, SEED)
    return [(n, fleet.sims[n].iccid) for n in fleet.numbers]


async def run_sdk(base: str, pairs: list[tuple[str, str]], with_iccid: bool,
                  seconds: float, warmup: float) -> dict[str, Any]:
    import simapi_async as sa

    def targets() -> Iterator[Any]:
        for number, iccid in pairs:
            yield sa.Target(number, iccid=iccid) if with_iccid else number

    async with sa.AsyncSession(base, login="demo", password=PASSWORD) as api:
        mark: dict[str, float] = {}

        def progress(p: sa.BulkProgress) -> None:
            if "t" not in mark and p.elapsed >= warmup:
                stats = api.stats
                mark.update(t=p.elapsed, done=p.done, requests=stats.requests,
                            limited=stats.rate_limited)

        report = await api.bulk.block(targets(), max_duration=seconds, on_progress=progress,
                                      progress_interval=0.05)
        stats = api.stats
        quota = api.quota
    steady = report.elapsed - mark["t"]
    return {
        "targets_per_s": (report.succeeded - mark["done"]) / steady,
        "share_429": (stats.rate_limited - mark["limited"])
        / max(1, stats.requests - mark["requests"]),
        "requests_per_target": stats.requests / max(1, report.succeeded),
        "failed": report.failed - report.not_attempted,
        "learned": quota.learned,
    }


async def run_ideal(base: str, pairs: list[tuple[str, str]], quota: float,
                    seconds: float, warmup: float) -> dict[str, Any]:
    """What a user writes when told Q and the ICCIDs: requests paced exactly at Q."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL)) as http:
        async with http.post(f"{base}api/v2/login",
                             params={"login": "demo", "password": PASSWORD}) as r:
            token = (await r.json())["token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        queue = iter(pairs)
        interval = 1.0 / quota
        start = time.monotonic()
        next_slot = [start]
        counts = {"ok": 0, "429": 0, "requests": 0}
        marks: dict[str, float] = {}
        end = start + seconds

        async def worker() -> None:
            while True:
                now = time.monotonic()
                if now >= end:
                    return
                slot = max(next_slot[0], now)
                if slot >= end:
                    return
                next_slot[0] = slot + interval
                if slot > now:
                    await asyncio.sleep(slot - now)
                pair = next(queue, None)
                if pair is None or time.monotonic() >= end:
                    return
                if "t" not in marks and time.monotonic() - start >= warmup:
                    marks.update(t=time.monotonic(), **{k: float(v) for k, v in counts.items()})
                number, iccid = pair
                async with http.post(f"{base}api/v2/sim/block/{number}",
                                     params={"iccid": iccid}, headers=headers) as resp:
                    await resp.read()
                    counts["requests"] += 1
                    if resp.status == 429:
                        counts["429"] += 1
                    elif resp.status < 300:
                        counts["ok"] += 1

        await asyncio.gather(*(worker() for _ in range(POOL)))
        steady = min(time.monotonic(), end) - marks["t"]
    return {
        "targets_per_s": (counts["ok"] - marks["ok"]) / steady,
        "share_429": (counts["429"] - marks["429"]) / max(1.0, counts["requests"]
                                                          - marks["requests"]),
        "requests_per_target": (counts["requests"] + 1) / max(1, counts["ok"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quota")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--quotas", default="5,50,500")
    parser.add_argument("--latencies", default="0,200", help="server latency, ms")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    from ._report import machine

    measured = machine()  # the commit, the date and the load at the start
    rows = []
    for quota in (float(q) for q in args.quotas.split(",")):
        sims = max(2000, int(quota * args.seconds * 1.3))
        pairs = _fleet(sims)
        for latency in (float(x) for x in args.latencies.split(",")):
            with EmulatorProcess(sims, quota, latency) as base:
                ideal = asyncio.run(run_ideal(base, pairs, quota, args.seconds, args.warmup))
            for with_iccid in (False, True):
                with EmulatorProcess(sims, quota, latency) as base:
                    sdk = asyncio.run(run_sdk(base, pairs, with_iccid, args.seconds,
                                              args.warmup))
                row = {"quota": quota, "latency_ms": latency,
                       "targets": "with iccid" if with_iccid else "numbers only",
                       "sdk": sdk, "ideal": ideal,
                       "sdk_vs_ideal": sdk["targets_per_s"] / ideal["targets_per_s"]}
                rows.append(row)
                print(f"Q={quota:>5.0f}/s latency={latency:>3.0f} ms {row['targets']:<12} "
                      f"SDK {sdk['targets_per_s'] / quota:.3f} Q "
                      f"(429 {sdk['share_429']:.2%}, {sdk['requests_per_target']:.3f} req/"
                      f"target) | ideal {ideal['targets_per_s'] / quota:.3f} Q "
                      f"(429 {ideal['share_429']:.2%}) | SDK/ideal {row['sdk_vs_ideal']:.3f}",
                      flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": measured, "seconds": args.seconds,
                                              "warmup": args.warmup, "rows": rows},
                                             indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
