"""One client run in its own process: one variant blocks N SIMs, then prints one JSON line.

    python -m benchmarks._client --variant sdk --base-url http://127.0.0.1:PORT \\
        --login demo --password-env BENCH_PASSWORD --targets /tmp/t.csv -n 20000 -c 64

Variants doing identical work (the same N ``POST api/v2/sim/block/{number}?iccid=...``,
at most C in flight, one login first, outside the timed part):

- ``sdk``: ``api.bulk.block(targets, concurrency=C)`` on an ``AsyncSession(max_connections=C)``;
- ``raw``: hand-written aiohttp as a good engineer writes it: one ``ClientSession``, one
  ``TCPConnector(limit=C)``, C workers on a queue, the bearer token from one login;
- ``raw-tuned``: the same loop tuned for speed: URLs given to yarl as already encoded,
  orjson on the body's bytes, one prebuilt read-only headers object;
- ``httpx``: the same loop on one ``httpx.AsyncClient`` with ``Limits(max_connections=C)``.

Targets are the ``number,iccid`` lines the server wrote. By default the first N are read
into a list before the clock starts; ``--stream`` instead hands the SDK a generator that
reads the file lazily (the memory-scaling scenario). The line printed holds wall time,
the process CPU time of the timed part (`time.process_time`), the peak RSS
(`ru_maxrss`), the RSS before the run, and the minor and major page faults of the run
(`getrusage`), with the ``MALLOC_*`` settings the process ran under.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

Pair = tuple[str, str]


def read_targets(path: str, n: int) -> Iterator[Pair]:
    """The first `n` ``(number, iccid)`` pairs of the file, read lazily."""
    with open(path, encoding="ascii") as lines:
        for count, line in enumerate(lines):
            if count >= n:
                return
            number, iccid = line.rstrip("\n").split(",")
            yield number, iccid


def rss_mb() -> float:
    """The current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def run_sdk(args: argparse.Namespace, password: str, pairs: Any) -> tuple[int, int]:
    import simapi_async as sa

    targets: Any
    if args.stream:
        targets = (sa.Target(number, iccid=iccid) for number, iccid in pairs)
    else:
        targets = [sa.Target(number, iccid=iccid) for number, iccid in pairs]
    _clock["sdk_file"] = sa.__file__
    async with sa.AsyncSession(args.base_url, login=args.login, password=password,
                               max_connections=args.concurrency) as api:
        await api.authenticate()
        profiler = _profiler(args)
        _mark_start()
        report = await api.bulk.block(targets, concurrency=args.concurrency)
        _mark_end()
        if profiler is not None:
            _save_profile(profiler, args.profile)
    return report.succeeded, report.failed


async def run_sdk_request(args: argparse.Namespace, password: str, pairs: Any) -> tuple[int, int]:
    """Diagnostic: the raw loop's C workers on a queue, each calling ``api.request("block")``
    (the session without the bulk engine and the resource layer)."""
    import simapi_async as sa

    ok = failed = 0
    queue: asyncio.Queue[Pair] = asyncio.Queue()
    for pair in pairs:
        queue.put_nowait(pair)
    async with sa.AsyncSession(args.base_url, login=args.login, password=password,
                               max_connections=args.concurrency) as api:
        await api.authenticate()

        async def worker() -> None:
            nonlocal ok, failed
            while True:
                try:
                    number, iccid = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                body = await api.request("block", {"number": number, "iccid": iccid})
                if body is None or body.get("success", True):
                    ok += 1
                else:
                    failed += 1

        _mark_start()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        _mark_end()
    return ok, failed


async def run_raw(args: argparse.Namespace, password: str, pairs: Any) -> tuple[int, int]:
    import aiohttp

    base = args.base_url.rstrip("/")
    c = args.concurrency
    ok = failed = 0
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector) as session:
        login = {"login": args.login, "password": password}
        async with session.post(f"{base}/api/v2/login", params=login) as resp:
            resp.raise_for_status()
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "Content-Type": "application/json"}
        queue: asyncio.Queue[Pair] = asyncio.Queue()
        for pair in pairs:
            queue.put_nowait(pair)

        async def worker() -> None:
            nonlocal ok, failed
            while True:
                try:
                    number, iccid = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                url = f"{base}/api/v2/sim/block/{number}"
                async with session.post(url, params={"iccid": iccid}, headers=headers) as resp:
                    body = await resp.json()
                    if resp.status == 200 and body.get("success", True):
                        ok += 1
                    else:
                        failed += 1

        _mark_start()
        await asyncio.gather(*(worker() for _ in range(c)))
        _mark_end()
    return ok, failed


async def run_raw_tuned(args: argparse.Namespace, password: str, pairs: Any) -> tuple[int, int]:
    """The raw loop as an engineer tuning it for speed writes it: the URL handed to yarl
    as already encoded (no parsing of ``params=``, no re-quoting of digits), orjson on the
    body's bytes, one prebuilt read-only headers object (aiohttp converts a dict on every
    request). Same session, connector, queue and workers as ``raw``."""
    import aiohttp
    import orjson
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    base = args.base_url.rstrip("/")
    c = args.concurrency
    ok = failed = 0
    loads = orjson.loads
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector) as session:
        login = {"login": args.login, "password": password}
        async with session.post(f"{base}/api/v2/login", params=login) as resp:
            resp.raise_for_status()
            token = loads(await resp.read())["token"]
        headers = CIMultiDictProxy(CIMultiDict({
            "Authorization": f"Bearer {token}", "Accept": "application/json",
            "Content-Type": "application/json"}))
        prefix = f"{base}/api/v2/sim/block/"
        queue: asyncio.Queue[Pair] = asyncio.Queue()
        for pair in pairs:
            queue.put_nowait(pair)

        async def worker() -> None:
            nonlocal ok, failed
            while True:
                try:
                    number, iccid = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                url = URL(f"{prefix}{number}?iccid={iccid}", encoded=True)  # digits only
                async with session.post(url, headers=headers) as resp:
                    body = loads(await resp.read())
                    if resp.status == 200 and body.get("success", True):
                        ok += 1
                    else:
                        failed += 1

        _mark_start()
        await asyncio.gather(*(worker() for _ in range(c)))
        _mark_end()
    return ok, failed


async def run_httpx(args: argparse.Namespace, password: str, pairs: Any) -> tuple[int, int]:
    import httpx

    base = args.base_url.rstrip("/")
    c = args.concurrency
    ok = failed = 0
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        login = {"login": args.login, "password": password}
        resp = await client.post(f"{base}/api/v2/login", params=login)
        resp.raise_for_status()
        token = resp.json()["token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "Content-Type": "application/json"}
        queue: asyncio.Queue[Pair] = asyncio.Queue()
        for pair in pairs:
            queue.put_nowait(pair)

        async def worker() -> None:
            nonlocal ok, failed
            while True:
                try:
                    number, iccid = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                url = f"{base}/api/v2/sim/block/{number}"
                resp = await client.post(url, params={"iccid": iccid}, headers=headers)
                body = resp.json()
                if resp.status_code == 200 and body.get("success", True):
                    ok += 1
                else:
                    failed += 1

        _mark_start()
        await asyncio.gather(*(worker() for _ in range(c)))
        _mark_end()
    return ok, failed


_clock: dict[str, Any] = {}


class _GcWatch:
    """Collections per generation and seconds spent collecting (via `gc.callbacks`)."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = 0.0
        self._t = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t
            self.counts[info["generation"]] += 1


def _mark_start() -> None:
    _clock["rss_before_mb"] = rss_mb()
    _clock["gc"] = _GcWatch()
    _clock["wall"] = time.perf_counter()
    _clock["cpu"] = time.process_time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _clock["faults"], _clock["switches"] = usage.ru_minflt, usage.ru_nivcsw + usage.ru_nvcsw
    _clock["major_faults"] = usage.ru_majflt


def _mark_end() -> None:
    _clock["elapsed_s"] = time.perf_counter() - _clock["wall"]
    _clock["cpu_s"] = time.process_time() - _clock["cpu"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _clock["faults"] = usage.ru_minflt - _clock["faults"]
    _clock["major_faults"] = usage.ru_majflt - _clock["major_faults"]
    _clock["switches"] = usage.ru_nivcsw + usage.ru_nvcsw - _clock["switches"]
    _clock["utime"], _clock["stime"] = usage.ru_utime, usage.ru_stime
    watch = _clock["gc"]
    gc.callbacks.remove(watch._callback)
    _clock["gc_collections"], _clock["gc_s"] = watch.counts, watch.seconds


def _profiler(args: argparse.Namespace) -> Any:
    if not args.profile:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    profiler.start()
    return profiler


def _save_profile(profiler: Any, path: str) -> None:
    profiler.stop()
    with open(path, "w", encoding="utf-8") as out:
        out.write(profiler.output_text(unicode=True, color=False, show_all=False))


RUNNERS = {"sdk": run_sdk, "raw": run_raw, "raw-tuned": run_raw_tuned, "httpx": run_httpx,
           "sdk-request": run_sdk_request}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks._client")
    p.add_argument("--variant", choices=sorted(RUNNERS), required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--login", required=True)
    p.add_argument("--password-env", default="BENCH_PASSWORD",
                   help="the environment variable holding the password (kept off argv)")
    p.add_argument("--targets", required=True)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("-c", "--concurrency", type=int, required=True)
    p.add_argument("--stream", action="store_true", help="SDK only: a lazy generator")
    p.add_argument("--profile", default=None, help="SDK only: pyinstrument text report path")
    args = p.parse_args()
    if args.stream and args.variant != "sdk":
        p.error("--stream is for the sdk variant")
    password = os.environ[args.password_env]
    if os.environ.get("BENCH_SDK_PATH"):  # a scratch copy of simapi_async, ahead of the tree
        sys.path.insert(0, os.environ["BENCH_SDK_PATH"])
    pairs: Any = read_targets(args.targets, args.n)
    if not args.stream:
        pairs = list(pairs)
    importlib.import_module({"raw": "aiohttp", "raw-tuned": "aiohttp", "httpx": "httpx"}.get(
        args.variant, "simapi_async"))
    ok, failed = asyncio.run(RUNNERS[args.variant](args, password, pairs))
    elapsed = _clock["elapsed_s"]
    done = ok + failed
    out = {
        "variant": args.variant,
        "n": args.n,
        "concurrency": args.concurrency,
        "ok": ok,
        "failed": failed,
        "elapsed_s": elapsed,
        "ops_per_s": done / elapsed if elapsed else 0.0,
        "cpu_s": _clock["cpu_s"],
        "cpu_us_per_op": _clock["cpu_s"] / done * 1e6 if done else 0.0,
        "rss_before_mb": _clock["rss_before_mb"],
        "peak_rss_mb": peak_rss_mb(),
        "gc_collections": _clock["gc_collections"],
        "page_faults": _clock["faults"],
        "major_page_faults": _clock["major_faults"],
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "context_switches": _clock["switches"],
        "gc_us_per_op": _clock["gc_s"] / done * 1e6 if done else 0.0,
    }
    if "sdk_file" in _clock:
        out["sdk_file"] = _clock["sdk_file"]
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
