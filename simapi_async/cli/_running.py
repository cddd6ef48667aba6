"""Driving a bulk run for the CLI: every result to a callback, and a report's costs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .._session import AsyncSession, SessionStats
from ..bulk import BulkReport, ItemResult, Target

__all__ = ["fill_report", "run_stream"]


async def run_stream(api: AsyncSession, op: str, targets: Iterable[Target] | None,
                     on_result: Callable[[ItemResult], None], *,
                     shard: tuple[int, int] | None = None, **options: Any) -> BulkReport:
    """Run bulk `op` over `targets`, calling `on_result` with each result as it finishes.

    Cancelling it stops the run; the journal keeps every finished result. No targets:
    join the ledger run given by `journal=` and `run=`. Returns the engine's report (its
    `stopped` says why a run stopped early).
    """
    return await api.bulk.run(op, targets, on_result=on_result, shard=shard, **options)


def fill_report(report: BulkReport, api: AsyncSession, before: SessionStats,
                started: float) -> BulkReport:
    """Set the report's time and what the run cost (requests, retries, re-logins)."""
    stats = api.stats
    report.elapsed = time.monotonic() - started
    report.requests = stats.requests - before.requests
    report.retries = stats.retries - before.retries
    report.relogins = stats.relogins - before.relogins
    return report
