"""``python -m benchmarks.journal_fsync [N] [ROUNDS]``: what ``durable=True`` costs.

Bulk runs of N targets (default 5,000, with ICCIDs: no lookups) against the emulator in
its own process, journal in the current directory, alternating `durable=False/True`
for `block` (fsync: none / every line) and `send_sms` (fsync: the write-ahead lines /
every line); prints the median targets per second of each. The fsync runs on the event
loop, so its latency on this disk is paid once per line by the whole run.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import simapi_async as sa

from ._runner import Server

CASES = (("block", {}), ("send_sms", {"type": "internet"}))


async def _rounds(server: Server, targets: list[sa.Target], rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {}
    async with sa.AsyncSession(server.base_url, login=server.login,
                               password=server._password) as api:
        await api.authenticate()
        for _ in range(rounds):
            for op, kwargs in CASES:
                for durable in (False, True):
                    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
                        started = time.perf_counter()
                        report = await api.bulk.run(
                            op, targets, journal=Path(folder) / "j.jsonl", durable=durable,
                            concurrency=50, **kwargs)
                        elapsed = time.perf_counter() - started
                    rates.setdefault(f"{op} durable={durable}", []).append(
                        report.succeeded / elapsed)
    return rates


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    logging.getLogger("simapi_async").setLevel(logging.ERROR)
    with Server(count) as server:
        with open(server.targets, encoding="utf-8") as f:
            targets = [sa.Target(number, iccid=iccid) for number, iccid in csv.reader(f)]
        rates = asyncio.run(_rounds(server, targets[:count], rounds))
    for case, values in rates.items():
        print(f"{case:24s} {statistics.median(values):8.0f} targets/s "
              f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")


if __name__ == "__main__":
    main()
