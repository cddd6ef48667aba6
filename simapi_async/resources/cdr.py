"""`api.cdr`: call detail records, streamed in date order over any date range.

A long range is split into windows of `window_days` days and a long `numbers` list into
batches of `batch_size` (so URLs stay short); each (window, batch) is one request. At most
`concurrency` requests are in flight, and only windows ``k .. k + concurrency`` are fetched
while window ``k`` is being waited for, so memory is bounded by those windows, not by the
range. Window ``k``'s records are yielded, sorted by `started_at`, as soon as all of its
requests are done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from operator import attrgetter, methodcaller
from typing import Any, Final

from .._config import DEFAULT_MAX_RESPONSE_BYTES
from .._converter import structure_list
from .._envelopes import PageRepeats, unwrap_list
from .._jsonstream import BYTES_READ, ListDecoder, loads
from .._validation import check_positive_int, date_range, normalize_inn, normalize_numbers
from ..models import InternetCdr
from ._base import Resource
from ._sync import SyncProgress, SyncReport, sync_cdr

__all__ = ["CdrResource"]

log = logging.getLogger("simapi_async")

#: Numbers per request at most: 200 ``numbers[]=7918...`` pairs are about 5 KB of URL.
MAX_BATCH_SIZE: Final = 200
MAX_CONCURRENCY: Final = 64
MAX_WINDOW_DAYS: Final = 366

_Unit = tuple[int, int, dict[str, Any]]  # (window index, batch index, request params)

#: A window answered by one request is sorted by `started_at` when it holds up to this
#: many records; past that its records are passed on in the server's order as they
#: arrive (the server sends them in time order), so memory stays bounded at any size.
SORT_BUFFER: Final = 20_000
#: Record batches read ahead of the consumer for the window being yielded.
_AHEAD: Final = 4
#: Page 1 is kept (to tell a repeated page) only up to this many records.
_KEEP_FOR_REPEATS: Final = 10_000
#: A chunk of the body is decoded, structured and handed on this many bytes at a time
#: (about 100 records): the records are still in the CPU's cache when they become models
#: and when the consumer gets them (a whole 256 KiB chunk at a time was slower; 32 KiB
#: against 16 KiB: 4 % fewer instructions and cache misses a record, by callgrind).
_SLICE: Final = 32_768


class _Feed:
    """Record batches of one request, from the task reading it to the consumer.

    A feed of a window fetched ahead keeps what arrives (as before: bounded by the windows
    fetched ahead); once claimed (its window is being yielded) the reader waits while
    `_AHEAD` batches are not taken yet, so a huge answer is never held whole.
    """

    __slots__ = ("_batches", "_claimed", "_room", "_wake")

    def __init__(self, wake: asyncio.Event) -> None:
        self._batches: deque[list[InternetCdr]] = deque()
        self._claimed = False
        self._room = asyncio.Event()
        self._room.set()
        self._wake = wake

    async def put(self, batch: list[InternetCdr]) -> None:
        if batch:
            self._batches.append(batch)
            self._wake.set()
        while self._claimed and len(self._batches) >= _AHEAD:
            self._room.clear()
            await self._room.wait()

    def claim(self) -> None:
        self._claimed = True
        if len(self._batches) < _AHEAD:
            self._room.set()

    def take(self) -> list[InternetCdr] | None:
        if not self._batches:
            return None
        batch = self._batches.popleft()
        if len(self._batches) < _AHEAD:
            self._room.set()
        return batch

    def drain(self) -> list[InternetCdr]:
        out = [r for batch in self._batches for r in batch]
        self._batches.clear()
        return out


class CdrResource(Resource):
    """Call detail records: ``api.cdr``."""

    __slots__ = ()

    def internet(
        self,
        date_from: Any,
        date_to: Any = None,
        *,
        numbers: Sequence[str | int] | None = None,
        inn: str | None = None,
        window_days: int = 1,
        batch_size: int = 50,
        concurrency: int = 4,
    ) -> AsyncIterator[InternetCdr]:
        """Internet sessions from `date_from` to `date_to` (both inclusive; `date_to`
        defaults to `date_from`: one day), in date order.

        `numbers` limits them to those numbers (an empty list yields nothing); `inn` to one
        client's numbers. Arguments are checked when this is called, before any request.
        Leaving the loop early cancels the requests still in flight; to do that at once
        rather than when the iterator is garbage-collected, close it::

            async with contextlib.aclosing(api.cdr.internet("2024-03-01", "2024-03-31")) as it:
                async for record in it:
                    ...
        """
        start, end = date_range(date_from, date_from if date_to is None else date_to)
        size = check_positive_int(batch_size, "batch_size", maximum=MAX_BATCH_SIZE)
        batches: list[list[str] | None] = [None]
        if numbers is not None:
            wanted = normalize_numbers(numbers)
            batches = [wanted[i:i + size] for i in range(0, len(wanted), size)]
        days = check_positive_int(window_days, "window_days", maximum=MAX_WINDOW_DAYS)
        limit = check_positive_int(concurrency, "concurrency", maximum=MAX_CONCURRENCY)
        client = None if inn is None else normalize_inn(inn)
        return self._stream(_units(start, end, days, batches, client), len(batches), limit)

    async def sync(
        self,
        dest: Any,
        *,
        date_from: Any = None,
        date_until: Any = None,
        lookback_days: int = 2,
        numbers: Sequence[str | int] | None = None,
        inn: str | None = None,
        table: str | None = None,
        on_progress: Callable[[SyncProgress], Awaitable[None] | None] | None = None,
    ) -> SyncReport:
        """Bring the warehouse `dest` up to date with internet CDR, day by day.

        `dest`: a directory (a hive-partitioned Parquet dataset, ``date=YYYY-MM-DD/``), a
        ``postgresql://…`` URL (table `table`, default ``simapi_internet_cdr``) or a path
        ending in ``.duckdb``. The destination keeps its own watermark (the last complete
        day); a run fetches from `lookback_days` before it (late records) — or from
        `date_from` when given, which the first sync into an empty destination needs — to
        `date_until` (inclusive; yesterday by default). Each day replaces what the
        destination held for it in one atomic step, so reruns, overlaps and crashes leave
        no duplicate and no hole. A destination holds one selection (`numbers`/`inn`);
        another selection is refused. `on_progress` (a function or coroutine function)
        gets a `SyncProgress` after each day. Returns a `SyncReport`.
        """
        return await sync_cdr(self, dest, date_from=date_from, date_until=date_until,
                              lookback_days=lookback_days, numbers=numbers, inn=inn,
                              table=table, on_progress=on_progress)

    async def _stream(
        self, units: Iterator[_Unit], per_window: int, concurrency: int
    ) -> AsyncIterator[InternetCdr]:
        if per_window == 0:
            return
        feeds: dict[int, list[tuple[_Feed, asyncio.Task[None]]]] = {}
        running: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []
        wake = asyncio.Event()

        def landed(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]
            wake.set()

        upcoming = next(units, None)
        current = 0
        held: list[InternetCdr] = []
        passing = False  # the window's answer outgrew SORT_BUFFER: records go as they come
        try:
            while True:
                while (upcoming is not None and len(running) < concurrency
                       and upcoming[0] <= current + concurrency):
                    window, batch, params = upcoming
                    feed = _Feed(wake)
                    task = asyncio.create_task(
                        self._fill(params, feed),
                        name=f"simapi cdr {params['from']}..{params['to']} #{batch}",
                    )
                    running.add(task)
                    task.add_done_callback(landed)
                    feeds.setdefault(window, []).append((feed, task))
                    upcoming = next(units, None)
                if failures:
                    raise failures[0]  # a failure ends the stream
                unit = feeds.get(current)
                if unit is None:
                    if upcoming is None:
                        return
                elif per_window == 1:
                    feed, task = unit[0]
                    feed.claim()
                    got = feed.take()
                    if got is not None:
                        if passing:
                            for record in got:
                                yield record
                        else:
                            held.extend(got)
                            if len(held) > SORT_BUFFER:
                                for record in _merged([held]):
                                    yield record
                                held, passing = [], True
                        continue
                    if task.done() and task not in running:
                        task.result()
                        for record in _merged([held]):
                            yield record
                        held, passing = [], False
                        del feeds[current]
                        current += 1
                        continue
                elif len(unit) == per_window and all(task.done() for _, task in unit):
                    for _, task in unit:
                        task.result()
                    parts = [r for feed, _ in unit for r in feed.drain()]
                    del feeds[current]
                    for record in _merged([parts]):
                        yield record
                    current += 1
                    continue
                wake.clear()
                await wake.wait()
        finally:
            for task in running:
                task.cancel()
            if running:  # wait for them to end, so none is left pending
                await asyncio.gather(*running, return_exceptions=True)

    async def _fill(self, params: dict[str, Any], feed: _Feed) -> None:
        """Read one (window, batch) into `feed`: as the body arrives when the session can
        stream (`AsyncSession`), else from `request` (a fake, a custom requester)."""
        stream = getattr(self._session, "_stream", None)
        if stream is None:
            await feed.put(await self._fetch(params))
            return
        limit = getattr(self._session, "_max_bytes", DEFAULT_MAX_RESPONSE_BYTES)
        pages = PageRepeats()
        page = 1
        while True:
            asked = params if page == 1 else {**params, "page": page}
            decoder = ListDecoder(loads, max_whole_bytes=limit)
            kept: list[InternetCdr] | None = []
            seen = 0
            counter = BYTES_READ.get()
            async with stream("cdr_internet", asked) as chunks:
                async for chunk in chunks:
                    if counter is not None:
                        counter[0] += len(chunk)
                    step = _SLICE if decoder.streaming else max(1, len(chunk))  # whole: at once
                    for at in range(0, len(chunk), step):
                        items = decoder.feed(chunk, at, at + step)  # read in place
                        if not items:
                            continue
                        got = structure_list(items, InternetCdr, where=decoder.where,
                                             start=seen, exact=True)
                        seen += len(got)
                        if page == 1:
                            await feed.put(got)
                        if kept is not None:
                            kept.extend(got)
                            if page == 1 and len(kept) > _KEEP_FOR_REPEATS:
                                kept = None  # too big to compare: no server pages that much
                body = decoder.close()
            items, info = unwrap_list(body)
            got = structure_list(items, InternetCdr, where=info.where, body=body, start=seen,
                                 exact=True)
            if page == 1:
                await feed.put(got)
                if not info.more_pages:
                    return
                if kept is None:
                    return
                pages.repeats(tuple(kept + got))
                page = 2 if info.page is None else info.page + 1
                continue
            assert kept is not None
            got = kept + got
            if (info.page not in (None, page)) or pages.repeats(tuple(got)):
                log.warning(
                    "cdr/internet %s..%s: asked for page %d, the answer repeats an earlier "
                    "page (the server may ignore `page`); the window's later pages were "
                    "not read (use a smaller window_days)", params["from"], params["to"], page,
                )
                return
            await feed.put(got)
            if not got or not info.more_pages:
                return
            page = page + 1 if info.page is None else info.page + 1

    async def _fetch(self, params: dict[str, Any]) -> list[InternetCdr]:
        """Every record of one (window, batch): page 1, then ``page=2, 3...`` for as long
        as the answer is a paginator saying more pages exist.

        The API documents no page parameter for CDR, so a server that paginates anyway is
        asked with Laravel's ``page``. One that ignores it (answering a page it already
        sent) ends the reading with a warning instead of repeating records or looping.
        """
        records: list[InternetCdr] = []
        pages = PageRepeats()
        page = 1
        while True:
            asked = params if page == 1 else {**params, "page": page}
            body = await self._session.request("cdr_internet", asked)
            items, info = unwrap_list(body)
            got = structure_list(items, InternetCdr, where=info.where, body=body)
            if page == 1 and not info.more_pages:
                return got  # the usual answer: one page, nothing to remember
            if (page > 1 and info.page not in (None, page)) or pages.repeats(tuple(got)):
                log.warning(
                    "cdr/internet %s..%s: asked for page %d, the answer repeats an earlier "
                    "page (the server may ignore `page`); the window's later pages were "
                    "not read (use a smaller window_days)", params["from"], params["to"], page,
                )
                return records
            records.extend(got)
            if not got or not info.more_pages:
                return records
            page = page + 1 if info.page is None else info.page + 1


def _units(
    start: dt.date, end: dt.date, days: int, batches: list[list[str] | None], inn: str | None
) -> Iterator[_Unit]:
    """Every request, window by window (oldest first), batch by batch."""
    step = dt.timedelta(days=days)
    window = 0
    first = start
    while first <= end:
        last = min(first + step - dt.timedelta(days=1), end)
        for index, batch in enumerate(batches):
            yield window, index, {
                "from": first.isoformat(), "to": last.isoformat(),
                "numbers[]": batch, "inn": inn,
            }
        window += 1
        first = last + dt.timedelta(days=1)


_by_start = attrgetter("started_at")
_zone = attrgetter("tzinfo")
_in_utc = methodcaller("astimezone", dt.UTC)


def _merged(parts: list[list[InternetCdr] | None]) -> list[InternetCdr]:
    """One window's records, sorted by `started_at` (stable; records without one last).

    Aware times are compared in UTC: two aware datetimes of distinct `tzinfo` objects
    (every parsed ``+03:00`` has its own) compare through a subtraction, far slower than
    two of the same one, so the keys are the times moved to UTC, once a record.
    """
    records = [r for part in parts if part for r in part] if len(parts) > 1 else parts[0] or []
    starts = list(map(_by_start, records))
    try:
        zones = set(map(_zone, starts))
    except AttributeError:  # a missing start
        zones = set()
    if zones and None not in zones:  # all aware: the order of comparing them as they are
        keys = list(map(_in_utc, starts))
    elif zones == {None}:  # all naive
        keys = starts
    else:  # naive and aware times mixed, or a missing start
        records.sort(key=_robust_start)
        return records
    order = sorted(range(len(records)), key=keys.__getitem__)  # stable, as list.sort
    return list(map(records.__getitem__, order))


_UTC_MIN: Final = dt.datetime.min


def _robust_start(record: InternetCdr) -> tuple[bool, dt.datetime]:
    t = record.started_at
    if t is None:
        return True, _UTC_MIN
    if t.tzinfo is not None:  # compare aware times in UTC with naive ones as given
        return False, t.astimezone(dt.UTC).replace(tzinfo=None)
    return False, t
