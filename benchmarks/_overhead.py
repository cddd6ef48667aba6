"""What the SDK itself costs per bulk target, with the HTTP exchange stubbed out.

    python -m benchmarks._overhead [-n 20000]

`AsyncSession._send` (the one place that talks to aiohttp) is replaced by a coroutine that
yields to the loop once and answers ``{"success": true, ...}``; `api.bulk.block` then runs
over N targets with 64 workers. The same loop shape without the SDK (64 workers on a
queue, one yield each) is the floor. CPU µs per target, best of 7: a quiet, exact measure
of the SDK's own Python work (validation, endpoint table, retry wrapper, models, engine),
used to weigh hot-path changes before the noisier end-to-end runs. It relies on a private
method; if that changes shape, the step reports itself skipped.

``--otel off`` (the default) runs with no instrumentation hook, as when OpenTelemetry is
not installed or not configured: the request path then pays one list check per call.
``--otel sdk`` installs the OpenTelemetry hook on an SDK tracer and meter provider with no
exporter, to show what instrumentation costs when it is on (call spans and metrics only:
the stubbed exchange fires no aiohttp trace signal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

BODY = b'{"success":true,"message":"SIM card blocked."}'


async def measure(n: int, rounds: int = 7, otel: str = "off") -> dict[str, Any]:
    from multidict import CIMultiDict, CIMultiDictProxy

    import simapi_async as sa
    from simapi_async import _session
    from simapi_async.testing._fleet import build_fleet

    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))

    async def fake_send(self: Any, method: str, url: str, query: Any, data: Any,
                        token: Any, attempt: int = 1) -> tuple[int, bytes, Any]:
        call = _session.CALL_STATS.get()
        if call is not None:
            call.attempts += 1
        await asyncio.sleep(0)
        return 200, BODY, headers

    _session.AsyncSession._send = fake_send  # type: ignore[method-assign]
    _instrumentation: Any = None
    try:
        from simapi_async import _instrumentation
    except ImportError:  # an SDK from before the hooks
        if otel != "off":
            raise
    if _instrumentation is not None:
        hooks: list[Any] = []
        if otel == "sdk":
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.trace import TracerProvider

            from simapi_async._otel import OtelHook
            hooks = [OtelHook(TracerProvider(), MeterProvider())]
        _instrumentation.set_hooks(hooks)
    fleet = build_fleet(n, 7)
    pairs = [(number, fleet.sims[number].iccid) for number in fleet.numbers]
    sdk = []
    for _ in range(rounds):
        targets = [sa.Target(number, iccid=iccid) for number, iccid in pairs]
        async with sa.AsyncSession("http://127.0.0.1:9", token="t",  # noqa: S106
                                   max_connections=64) as api:
            cpu = time.process_time()
            report = await api.bulk.block(targets, concurrency=64)
            sdk.append((time.process_time() - cpu) / n * 1e6)
            if report.succeeded != n:
                raise RuntimeError(f"stubbed run: {report.summary()}")
    floor = []
    for _ in range(rounds):
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for pair in pairs:
            queue.put_nowait(pair)

        async def worker(q: asyncio.Queue[tuple[str, str]] = queue) -> None:
            while True:
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await asyncio.sleep(0)

        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(64)))
        floor.append((time.process_time() - cpu) / n * 1e6)
    return {"n": n, "sdk_us_per_op": min(sdk), "floor_us_per_op": min(floor),
            "overhead_us_per_op": min(sdk) - min(floor), "otel": otel,
            "sdk_file": sa.__file__}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks._overhead")
    p.add_argument("-n", type=int, default=20_000)
    p.add_argument("--otel", choices=["off", "sdk"], default="off",
                   help="off: no hook (OpenTelemetry absent or unconfigured); sdk: hook on")
    args = p.parse_args()
    if os.environ.get("BENCH_SDK_PATH"):
        sys.path.insert(0, os.environ["BENCH_SDK_PATH"])
    sys.stdout.write(json.dumps(asyncio.run(measure(args.n, otel=args.otel))) + "\n")


if __name__ == "__main__":
    main()
