"""Scenario `fleet`: K service processes on one account and one quota, with and without
the shared quota and login (Redis).

    python -m benchmarks.fleet [--seconds 20] [--warmup 5] [--quotas 50,200]
                               [--processes 1,2,4] [--out FILE]

For each quota Q (the emulator's token bucket, `--rate-limit Q`, tokens living
`--token-ttl` seconds, in its own process) and K, K client processes start at once, each
with one `AsyncSession` (`redis_url=` a throwaway `redis-server`, or none) and
`--concurrency` tasks making single calls (`api.sims.get`) until `--seconds` have
passed. From the emulator's own counters (``GET /_emulator/stats``), after the first
`--warmup` seconds: answered requests/s ÷ Q (the share of the quota filled), the share
of `429` answers; logins over the whole run; next to the same K without sharing.

The rows go to `results/fleet.json` (`_report.save`: the machine, the commit and the load
at the start), or to `--out FILE`, and `RESULTS.md` is re-rendered (section "Fleet").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .quota import PASSWORD, SEED, EmulatorProcess

CLIENT = '''
import asyncio, json, os, sys, time
import simapi_async as sa

async def main(cfg):
    extra = {"redis_url": cfg["redis_url"]} if cfg["redis_url"] else {}
    failed = {}
    async with sa.AsyncSession(cfg["base_url"], login="demo",
                               password=os.environ["SIMAPI_PASSWORD"], **extra) as api:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        end = time.monotonic() + cfg["seconds"]
        numbers = cfg["numbers"]

        async def worker(i):
            while time.monotonic() < end:
                i += cfg["concurrency"]
                try:
                    await api.sims.get(numbers[i % len(numbers)])
                except sa.SimApiError as exc:
                    failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1

        await asyncio.gather(*(worker(i) for i in range(cfg["concurrency"])))
        stats, quota = api.stats, api.quota
    print(json.dumps({"logins": stats.logins, "requests": stats.requests,
                      "failed": failed, "learned": quota.learned,
                      "remaining": quota.remaining, "leader": api._pacer._leader}), flush=True)

asyncio.run(main(json.loads(sys.argv[1])))
'''


def _stats(base: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{base}_emulator/stats", timeout=10) as resp:  # noqa: S310
        data: dict[str, Any] = json.loads(resp.read())
    return data


def run_one(base: str, k: int, quota: float, redis_url: str | None, args: argparse.Namespace,
            numbers: list[str]) -> dict[str, Any]:
    """K clients at once on `base`; the emulator's counts between warmup and the end."""
    config = {"base_url": base, "redis_url": redis_url, "numbers": numbers,
              "seconds": args.seconds, "concurrency": args.concurrency}
    env = {**os.environ, "SIMAPI_PASSWORD": PASSWORD,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                          *sys.path])}
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, json.dumps(config)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(k)]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", "a client did not start"
    start_stats = _stats(base)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    go = time.monotonic()
    time.sleep(args.warmup)
    s1, t1 = _stats(base), time.monotonic()
    time.sleep(max(0.0, go + args.seconds - 0.2 - time.monotonic()))
    s2, t2 = _stats(base), time.monotonic()
    outs = [json.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in procs]

    def count(s: dict[str, Any], status: str) -> int:
        return int(s["status_counts"].get(status, 0))

    answered = sum(s2["status_counts"].values()) - sum(s1["status_counts"].values())
    ok = count(s2, "200") - count(s1, "200")
    return {"quota": quota, "processes": k, "shared": redis_url is not None,
            "filled": ok / (t2 - t1) / quota,
            "share_429": (count(s2, "429") - count(s1, "429")) / max(1, answered),
            "share_429_warmup": (count(s1, "429") - count(start_stats, "429"))
            / max(1, sum(s1["status_counts"].values())
                  - sum(start_stats["status_counts"].values())),
            "logins": s2["logins"] - start_stats["logins"],
            "logins_by_process": [o["logins"] for o in outs],
            "failed": sum(sum(o["failed"].values()) for o in outs),
            "failures": [o["failed"] for o in outs],
            "learned": [o["learned"] for o in outs], "leader": [o["leader"] for o in outs],
            "remaining": [o["remaining"] for o in outs],
            "status_counts": {k: v - s1["status_counts"].get(k, 0)
                              for k, v in s2["status_counts"].items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--quotas", default="50,200")
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--token-ttl", type=float, default=5.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--out", default=None,
                        help="write the JSON here instead of results/fleet.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fleet._servers import RedisServer, find_redis

    from . import _report

    measured = {**_report.machine(), "mode": "full"}  # the commit, the date, the load

    binary = find_redis()
    if binary is None:
        print("redis-server not found: apt-get install redis-server", file=sys.stderr)
        return 2
    redis = RedisServer(binary)
    redis.start()
    rows = []
    try:
        for quota in (float(q) for q in args.quotas.split(",")):
            for k in (int(p) for p in args.processes.split(",")):
                for shared in (True, False):
                    emulator = EmulatorProcess(500, quota, 0)
                    emulator.args += ["--token-ttl", str(args.token_ttl)]
                    with emulator as base:
                        from simapi_async.testing._fleet import build_fleet

                        numbers = build_fleet(500, SEED).numbers[:200]
                        row = run_one(base, k, quota, redis.url if shared else None, args,
                                      numbers)
                    rows.append(row)
                    print(f"Q={quota:>4.0f}/s K={k} {'shared' if shared else 'alone ':<6} "
                          f"filled {row['filled']:.3f}  429s {row['share_429']:.3%} "
                          f"(warm-up {row['share_429_warmup']:.1%})  "
                          f"logins {row['logins']} {row['logins_by_process']}  "
                          f"failed {row['failed']}", flush=True)
                    if args.verbose:
                        print(f"    learned {row['learned']} remaining {row['remaining']} "
                              f"leader {row['leader']} statuses {row['status_counts']} "
                              f"failures {row['failures']}", flush=True)
    finally:
        redis.close()
    data = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds": args.seconds, "warmup": args.warmup, "concurrency": args.concurrency,
            "token_ttl": args.token_ttl, "cpus": os.cpu_count(), "rows": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"machine": measured, **data}, indent=1,
                                             default=str) + "\n")
    else:
        print(f"-> {_report.save('fleet', data, measured)}", flush=True)
        _report.markdown_path(False).write_text(_report.render(_report.load_all(), "full"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
