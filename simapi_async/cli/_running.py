"""Driving `api.bulk.stream` for the CLI: every result to a callback, and a report.

The engine promises exactly one result per target read (targets of other shards get
none). `run_stream` counts what it feeds and what comes back, and stops as soon as every
target has its result, closing the stream (which cancels the idle workers and closes the
journal). That guards against a worker pool that does not wind down by itself: after a
429 the engine's adaptive gate can leave workers waiting for a turn that never comes once
the input is exhausted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from typing import Any, cast

from .._session import AsyncSession, SessionStats
from ..bulk import BulkReport, ItemResult, Target
from ..bulk._targets import in_shard

__all__ = ["fill_report", "run_stream"]


class _Tally:
    """Targets fed (of this shard) and results received."""

    def __init__(self) -> None:
        self.fed = 0
        self.received = 0
        self.exhausted = False
        self.stopped_early = False

    @property
    def complete(self) -> bool:
        return self.exhausted and self.received >= self.fed


async def run_stream(api: AsyncSession, op: str, targets: Iterable[Target],
                     on_result: Callable[[ItemResult], None], *,
                     shard: tuple[int, int] | None = None, **options: Any) -> None:
    """Run bulk `op` over `targets`, calling `on_result` with each result; returns when
    every target has its result. Cancelling it stops the run (the journal keeps every
    finished result)."""
    tally = _Tally()
    jobs: list[asyncio.Task[None]] = []

    def feed() -> Iterator[Target]:
        for target in targets:
            if shard is None or in_shard(target.number, shard):
                tally.fed += 1
            yield target
        tally.exhausted = True
        if tally.complete:
            # Every result is in and the consumer waits for the next one, inside the
            # stream, while this worker has not returned: the stream cannot be ending on
            # its own yet, so cancelling lands in its wait and its cleanup runs whole.
            tally.stopped_early = True
            jobs[0].cancel()

    async def consume() -> None:
        results = cast(AsyncGenerator[ItemResult, None],
                       api.bulk.stream(op, feed(), shard=shard, **options))
        async with contextlib.aclosing(results) as it:
            async for result in it:
                tally.received += 1
                on_result(result)
                if tally.complete:
                    break  # closing the stream cancels the idle workers, closes the journal

    job = asyncio.create_task(consume())
    jobs.append(job)
    try:
        await asyncio.wait([job])
    except asyncio.CancelledError:
        job.cancel()
        await asyncio.wait([job])
        raise
    if job.cancelled() and tally.stopped_early:
        return
    job.result()  # what stopped the run (another operation's journal, ...)


def fill_report(report: BulkReport, api: AsyncSession, before: SessionStats,
                started: float) -> BulkReport:
    """Set the report's time and what the run cost (requests, retries, re-logins)."""
    stats = api.stats
    report.elapsed = time.monotonic() - started
    report.requests = stats.requests - before.requests
    report.retries = stats.retries - before.retries
    report.relogins = stats.relogins - before.relogins
    return report
