"""`api.cdr.sync`: keep a warehouse table of internet CDR up to date, day by day.

Each run reads the destination's watermark (the last complete day, kept in the
destination itself), goes back `lookback_days` from it (records arrive late) and fetches
day after day up to `date_until` (yesterday by default). Every day is put in place of
what the destination held for it (`Destination.replace_day`: one transaction or one
renamed file), so a rerun, an overlap or a crash between or inside days never leaves a
duplicate or a hole: the unit of idempotence is (day, selection). A day's records go to
the destination in batches as they arrive; memory holds a batch, not the day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._exceptions import InvalidInputError
from .._jsonstream import BYTES_READ
from .._validation import normalize_inn, normalize_numbers, to_date
from ..destinations import Row, open_destination

if TYPE_CHECKING:
    from .cdr import CdrResource

__all__ = ["SyncProgress", "SyncReport", "sync_cdr"]

#: Records per batch handed to the destination.
BATCH: Final = 5_000
MAX_LOOKBACK: Final = 366


@attrs.frozen(slots=True)
class SyncProgress:
    """Where a sync is, after each day: `day` just written with `day_records` records."""

    day: dt.date
    day_records: int
    days_done: int
    days_total: int
    records: int
    bytes: int
    elapsed: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.elapsed if self.elapsed > 0 else 0.0


@attrs.frozen(slots=True)
class SyncReport:
    """What a sync did: the days it (re)wrote, `date_from`..`date_until` (None: none)."""

    date_from: dt.date | None
    date_until: dt.date
    days: int
    records: int
    bytes: int
    elapsed: float
    watermark: dt.date | None


def scope_of(numbers: Sequence[str] | None, inn: str | None) -> str:
    """The selection a destination holds, as a short stable text."""
    parts = []
    if inn is not None:
        parts.append(f"inn={inn}")
    if numbers is not None:
        digest = hashlib.sha256(",".join(sorted(set(numbers))).encode()).hexdigest()[:16]
        parts.append(f"numbers={len(set(numbers))}:{digest}")
    return " ".join(parts) or "all"


async def sync_cdr(
    cdr: CdrResource, dest: Any, *, date_from: Any = None, date_until: Any = None,
    lookback_days: int = 2, numbers: Sequence[str | int] | None = None,
    inn: str | None = None, table: str | None = None,
    on_progress: Callable[[SyncProgress], Awaitable[None] | None] | None = None,
    today: dt.date | None = None,
) -> SyncReport:
    """The body of `CdrResource.sync` (see there)."""
    first = None if date_from is None else to_date(date_from, "date_from")
    yesterday = (today or dt.date.today()) - dt.timedelta(days=1)
    last = yesterday if date_until is None else to_date(date_until, "date_until")
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int) \
            or not 0 <= lookback_days <= MAX_LOOKBACK:
        raise InvalidInputError("lookback_days", lookback_days,
                                f"must be an int from 0 to {MAX_LOOKBACK}")
    wanted = None if numbers is None else normalize_numbers(numbers)
    client = None if inn is None else normalize_inn(inn)
    scope = scope_of(wanted, client)
    destination = open_destination(dest, table=table)
    started = time.monotonic()
    read = [0]
    try:
        mark = await destination.watermark(scope)
        if first is None:
            if mark is None:
                raise InvalidInputError(
                    "date_from", None, "the destination is empty: the first sync needs "
                    "date_from (--from), the first day to fetch")
            first = mark + dt.timedelta(days=1 - lookback_days)
        if first > last:
            return SyncReport(None, last, 0, 0, 0, time.monotonic() - started, mark)
        total = (last - first).days + 1
        records = 0
        token = BYTES_READ.set(read)
        try:
            for done in range(total):
                day = first + dt.timedelta(days=done)
                batches = _batches(cdr, day, wanted, client)
                async with contextlib.aclosing(batches):  # type: ignore[type-var]
                    count = await destination.replace_day(day, batches, scope)
                records += count
                mark = day if mark is None else max(mark, day)
                if on_progress is not None:
                    shown = on_progress(SyncProgress(day, count, done + 1, total, records,
                                                     read[0], time.monotonic() - started))
                    if shown is not None:
                        await shown
        finally:
            BYTES_READ.reset(token)
        return SyncReport(first, last, total, records, read[0],
                          time.monotonic() - started, mark)
    finally:
        await destination.aclose()


async def _batches(cdr: CdrResource, day: dt.date, numbers: list[str] | None,
                   inn: str | None) -> AsyncIterator[list[Row]]:
    """`day`'s records as destination rows, `BATCH` at a time; `seq` numbers each
    number's records of the day in the order the server gives them (by start time)."""
    seqs: dict[str | None, int] = {}
    batch: list[Row] = []
    records = cdr.internet(day, day, numbers=numbers, inn=inn)
    async with contextlib.aclosing(records) as it:  # type: ignore[type-var]
        async for r in it:
            seq = seqs.get(r.number, 0)
            seqs[r.number] = seq + 1
            batch.append((day, r.number or "", seq, _utc(r.started_at), _utc(r.ended_at),
                          r.volume_bytes, r.upload_bytes, r.download_bytes, r.apn, r.imsi,
                          r.iccid))
            if len(batch) >= BATCH:
                yield batch
                batch = []
    yield batch


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
