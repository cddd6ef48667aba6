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
from collections.abc import AsyncIterator, Iterator, Sequence
from operator import attrgetter
from typing import Any, Final

from .._converter import structure_list
from .._envelopes import PageRepeats, unwrap_list
from .._validation import check_positive_int, date_range, normalize_inn, normalize_numbers
from ..models import InternetCdr
from ._base import Resource

__all__ = ["CdrResource"]

log = logging.getLogger("simapi_async")

#: Numbers per request at most: 200 ``numbers[]=7918...`` pairs are about 5 KB of URL.
MAX_BATCH_SIZE: Final = 200
MAX_CONCURRENCY: Final = 64
MAX_WINDOW_DAYS: Final = 366

_Unit = tuple[int, int, dict[str, Any]]  # (window index, batch index, request params)


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

    async def _stream(
        self, units: Iterator[_Unit], per_window: int, concurrency: int
    ) -> AsyncIterator[InternetCdr]:
        if per_window == 0:
            return
        parts: dict[int, list[list[InternetCdr] | None]] = {}
        running: dict[asyncio.Task[list[InternetCdr]], tuple[int, int]] = {}
        upcoming = next(units, None)
        current = 0
        try:
            while True:
                while (upcoming is not None and len(running) < concurrency
                       and upcoming[0] <= current + concurrency):
                    window, batch, params = upcoming
                    task = asyncio.create_task(
                        self._fetch(params),
                        name=f"simapi cdr {params['from']}..{params['to']} #{batch}",
                    )
                    running[task] = (window, batch)
                    parts.setdefault(window, [None] * per_window)
                    upcoming = next(units, None)
                slots = parts.get(current)
                if slots is not None and all(s is not None for s in slots):
                    del parts[current]
                    for record in _merged(slots):
                        yield record
                    current += 1
                    continue
                if not running:
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    window, batch = running.pop(task)
                    parts[window][batch] = task.result()  # a failure ends the stream
        finally:
            for task in running:
                task.cancel()
            if running:  # wait for them to end, so none is left pending
                await asyncio.gather(*running, return_exceptions=True)

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


def _merged(parts: list[list[InternetCdr] | None]) -> list[InternetCdr]:
    """One window's records, sorted by `started_at` (stable; records without one last)."""
    records = [r for part in parts if part for r in part] if len(parts) > 1 else parts[0] or []
    try:
        records.sort(key=_by_start)
    except TypeError:  # a missing start, or naive and aware times mixed
        records.sort(key=_robust_start)
    return records


_UTC_MIN: Final = dt.datetime.min


def _robust_start(record: InternetCdr) -> tuple[bool, dt.datetime]:
    t = record.started_at
    if t is None:
        return True, _UTC_MIN
    if t.tzinfo is not None:  # compare aware times in UTC with naive ones as given
        return False, t.astimezone(dt.UTC).replace(tzinfo=None)
    return False, t
